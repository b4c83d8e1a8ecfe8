//! `anonsweep migrate run | revert | status | sql`: resolve the settings, call the operation.

use clap::ArgMatches;

use crate::cli::args::{MigrateAction, MigrateArgs, MigrateCommon};
use crate::config::settings::{Inputs, Settings};
use crate::ops::migrate::{migrate_revert, migrate_run, migrate_sql, migrate_status};

pub fn run_migrate_command(args: &MigrateArgs, m: &ArgMatches) -> anyhow::Result<i32> {
    match &args.action {
        MigrateAction::Run(c) => migrate_run(&resolve(c, m, true, None)?),
        MigrateAction::Revert(c) => migrate_revert(&resolve(c, m, true, None)?),
        MigrateAction::Status(c) => migrate_status(&resolve(c, m, true, None)?),
        MigrateAction::Sql(a) => {
            let settings = resolve(&a.common, m, false, a.backend.clone())?;
            migrate_sql(&settings, a.out.as_deref())
        }
    }
}

fn resolve(
    c: &MigrateCommon,
    m: &ArgMatches,
    needs_db: bool,
    backend: Option<String>,
) -> anyhow::Result<Settings> {
    let mut inputs: Inputs = super::rule_inputs(&c.rule, Some(&c.db), m);
    inputs.needs_database = needs_db;
    inputs.backend = backend.map(|b| (b, crate::config::settings::Origin::Flag("--backend")));
    inputs.numbers.extend(super::number_given(
        m,
        &[&crate::config::defs::LOCK_TIMEOUT_MS],
    ));
    super::resolve(&inputs)
}
