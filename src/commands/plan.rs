//! `anonsweep plan` (and `run --dry-run`): counts, a sample and the SQL; changes nothing.

use std::path::Path;
use std::time::Instant;

use clap::ArgMatches;

use crate::cli::PlanArgs;
use crate::conn::Values;
use crate::error::exit;
use crate::report;
use crate::settings::{Inputs, OutputFormat};
use crate::stats;

pub fn run_plan_command(args: &PlanArgs, m: &ArgMatches) -> anyhow::Result<i32> {
    let mut inputs = super::rule_inputs(&args.rule, Some(&args.db), m);
    inputs.needs_database = true;
    dry_run(inputs, args.sql_out.as_deref(), args.sample)
}

/// The dry run shared by `plan` and `run --dry-run`.
pub(crate) fn dry_run(
    inputs: Inputs,
    sql_out: Option<&Path>,
    sample: usize,
) -> anyhow::Result<i32> {
    let started = Instant::now();
    let settings = super::resolve(&inputs)?;
    let mut p = super::prepare(settings)?;
    let values = Values {
        cutoff: p.settings.cutoff,
        limit: p.settings.batch_size as i64,
    };
    let found = stats::collect(&mut p.conn, &p.plan, values, sample)?;
    let sql = p.plan.overview(&p.settings);
    if let Some(path) = sql_out {
        let script = p.plan.script(&p.settings, Some(found.eligible));
        std::fs::write(path, script)
            .map_err(|e| anyhow::anyhow!("cannot write SQL script {}: {e}", path.display()))?;
        crate::info!("wrote the standalone SQL script to {}", path.display());
    }
    let elapsed = started.elapsed().as_secs_f64();
    match p.settings.format {
        OutputFormat::Text => {
            print!(
                "{}",
                report::plan_text(&p.settings, &found, &p.notes, elapsed)
            );
            println!("\n{sql}");
        }
        OutputFormat::Json => {
            println!(
                "{}",
                report::plan_json(&p.settings, &found, &p.notes, &sql, elapsed)
            );
        }
    }
    Ok(exit::OK)
}
