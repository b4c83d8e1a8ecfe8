//! The thin command layer: turn what the user typed into `Settings`, call the library, print.
//! One module per command, each exposing `run_*_command`.

pub mod args;

pub mod completions;
pub mod demo;
pub mod doctor;
pub mod init;
pub mod migrate;
pub mod plan;
pub mod restore;
pub mod run;
pub mod schedule;
pub mod sql;

use std::ffi::OsString;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::args::{Cli, Command, DbArgs, FormatArgs, RuleArgs, SchemaArgs};
use crate::config::defs::{self, Def};
use crate::config::file;
use crate::config::settings::{Given, Inputs, Origin, Settings};
use crate::error::{exit, exit_code_for, one_line};

/// Runs the program with `args`; returns the process exit code.
pub fn main_with_args(args: Vec<OsString>) -> i32 {
    crate::logger::init_from_env();
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            crate::warn!("ignoring .env: {e}");
        }
    }
    let matches = match Cli::command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let Some((_, sub)) = matches.subcommand() else {
        return exit::USAGE;
    };
    let result = match &cli.command {
        Command::Sql(a) => sql::run_sql_command(a, sub),
        Command::Plan(a) => plan::run_plan_command(a, sub),
        Command::Run(a) => run::run_run_command(a, sub),
        Command::Demo(a) => demo::run_demo_command(a),
        Command::Doctor(a) => doctor::run_doctor_command(a, sub),
        Command::Restore(a) => restore::run_restore_command(a, sub),
        Command::Schedule(a) => schedule::run_schedule_command(a),
        Command::Init(a) => init::run_init_command(a, sub),
        Command::Completions(a) => completions::run_completions_command(a),
        Command::Man(a) => completions::run_man_command(a),
        Command::Migrate(a) => match sub.subcommand() {
            Some((_, inner)) => migrate::run_migrate_command(a, inner),
            None => return exit::USAGE,
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("anonsweep: error: {}", one_line(&e));
            exit_code_for(&e)
        }
    }
}

/// A value with its origin: command line or environment, as clap saw it.
pub(crate) fn given(
    value: &Option<String>,
    m: &ArgMatches,
    id: &str,
    flag: &'static str,
    env: &'static str,
) -> Given {
    let v = value.clone()?;
    let origin = match m.value_source(id) {
        Some(ValueSource::EnvVariable) => Origin::Env(env),
        _ => Origin::Flag(flag),
    };
    Some((v, origin))
}

/// The inputs of every command that reads the application's tables: the database and the
/// schema (preset, config file, timestamp storage).
pub(crate) fn schema_inputs(schema: &SchemaArgs, db: Option<&DbArgs>, m: &ArgMatches) -> Inputs {
    Inputs {
        database_url: db.and_then(|d| {
            given(
                &d.database_url,
                m,
                "database_url",
                "--database-url",
                "DATABASE_URL",
            )
        }),
        preset: given(&schema.preset, m, "preset", "--preset", "ANONSWEEP_PRESET"),
        config: schema.config.clone(),
        timestamp_format: given(
            &schema.timestamp_format,
            m,
            "timestamp_format",
            "--timestamp-format",
            "ANONSWEEP_TIMESTAMP_FORMAT",
        ),
        ..Inputs::default()
    }
}

/// The inputs of the commands that decide who is eligible: the schema plus the rule's clock
/// (retention, as-of).
pub(crate) fn rule_inputs(rule: &RuleArgs, db: Option<&DbArgs>, m: &ArgMatches) -> Inputs {
    Inputs {
        as_of: given(&rule.as_of, m, "as_of", "--as-of", "ANONSWEEP_AS_OF"),
        numbers: number_given(m, &[&defs::RETENTION_DAYS]),
        ..schema_inputs(&rule.schema, db, m)
    }
}

/// The summary format (`--format`) of commands that print one.
pub(crate) fn with_format(inputs: Inputs, output: &FormatArgs) -> Inputs {
    Inputs {
        format: Some(output.format.clone()),
        ..inputs
    }
}

/// The numeric settings of `defs` given on the command line or in the environment, as clap
/// saw them (each flag's clap id is its definition's key).
pub(crate) fn number_given(
    m: &ArgMatches,
    defs: &[&Def],
) -> std::collections::BTreeMap<&'static str, (String, Origin)> {
    defs.iter()
        .filter_map(|d| {
            let v = m.try_get_one::<String>(d.key).ok().flatten()?.clone();
            let origin = match m.value_source(d.key) {
                Some(ValueSource::EnvVariable) => Origin::Env(d.env),
                _ => Origin::Flag(d.flag),
            };
            Some((d.key, (v, origin)))
        })
        .collect()
}

/// The run's limits, from their flags or environment variables (as clap saw them).
pub(crate) fn run_inputs(inputs: &mut Inputs, m: &ArgMatches) {
    inputs.numbers.extend(number_given(m, &defs::RUN_LIMITS));
}

/// Commands that check the run's settings without running (`doctor`) read the run-only
/// settings from the environment too, so they show what `run` would use.
pub(crate) fn run_settings_from_env(inputs: &mut Inputs) {
    for d in defs::RUN_LIMITS {
        if let Ok(v) = std::env::var(d.env) {
            if !v.is_empty() {
                inputs
                    .numbers
                    .entry(d.key)
                    .or_insert((v, Origin::Env(d.env)));
            }
        }
    }
}

/// Loads the config file and resolves the settings.
pub(crate) fn resolve(inputs: &Inputs) -> anyhow::Result<Settings> {
    let loaded = file::load(inputs.config.as_deref())?;
    Settings::resolve(inputs, loaded.as_ref())
}
