//! `anonsweep migrate run | revert | status | sql`: resolve the settings, call the operation.

use clap::ArgMatches;

use crate::cli::args::{MigrateAction, MigrateArgs, MigrateCommon};
use crate::config::settings::{Inputs, Settings};
use crate::ops::migrate::{migrate_revert, migrate_run, migrate_sql, migrate_status};

pub fn run_migrate_command(args: &MigrateArgs, m: &ArgMatches) -> anyhow::Result<i32> {
    match &args.action {
        MigrateAction::Run(c) => migrate_run(&resolve(change(&c.common, m), true, None)?),
        MigrateAction::Revert(c) => migrate_revert(&resolve(change(&c.common, m), true, None)?),
        MigrateAction::Status(a) => {
            let inputs = super::with_format(common(&a.common, m), &a.output);
            migrate_status(&resolve(inputs, true, None)?)
        }
        MigrateAction::Sql(a) => {
            let settings = resolve(common(&a.common, m), false, a.backend.clone())?;
            migrate_sql(&settings, a.out.as_deref())
        }
    }
}

/// The tables and the database.
fn common(c: &MigrateCommon, m: &ArgMatches) -> Inputs {
    super::schema_inputs(&c.schema, Some(&c.db), m)
}

/// `run` and `revert` also take the lock timeout for their DDL.
fn change(c: &MigrateCommon, m: &ArgMatches) -> Inputs {
    let mut inputs = common(c, m);
    inputs.numbers.extend(super::number_given(
        m,
        &[&crate::config::defs::LOCK_TIMEOUT_MS],
    ));
    inputs
}

fn resolve(
    mut inputs: Inputs,
    needs_db: bool,
    backend: Option<String>,
) -> anyhow::Result<Settings> {
    inputs.needs_database = needs_db;
    inputs.backend = backend.map(|b| (b, crate::config::settings::Origin::Flag("--backend")));
    super::resolve(&inputs)
}
