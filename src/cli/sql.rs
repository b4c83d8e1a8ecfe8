//! `anonsweep sql`: render the SQL `run` executes, without connecting.

use clap::ArgMatches;

use crate::cli::args::SqlArgs;
use crate::error::exit;
use crate::plan::{Formats, Plan};

pub fn run_sql_command(args: &SqlArgs, m: &ArgMatches) -> anyhow::Result<i32> {
    let mut inputs = super::rule_inputs(&args.rule, Some(&args.db), m);
    inputs.backend = args
        .backend
        .clone()
        .map(|b| (b, crate::config::settings::Origin::Flag("--backend")));
    let settings = super::resolve(&inputs)?;
    let formats = Formats::assumed(
        settings.backend,
        settings.timestamp_format.fixed(),
        settings.schema.sessions_activity.len(),
        settings.schema.users_activity.len(),
    );
    let children = crate::preflight::children::from_config(&settings.schema);
    let plan = Plan::build(&settings, formats, &children, &[], &[]);
    let text = plan.overview(&settings);
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            crate::info!(
                "wrote {} SQL for preset {} to {}",
                settings.backend.name(),
                settings.preset,
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(exit::OK)
}
