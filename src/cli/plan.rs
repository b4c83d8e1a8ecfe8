//! `anonsweep plan` (and `run --dry-run`): counts, a sample and the SQL; changes nothing.

use std::path::Path;
use std::time::Instant;

use clap::ArgMatches;

use crate::cli::args::PlanArgs;
use crate::sql::conn::Values;
use crate::error::exit;
use crate::output::report;
use crate::config::settings::{Inputs, OutputFormat};
use crate::exec::stats;

pub fn run_plan_command(args: &PlanArgs, m: &ArgMatches) -> anyhow::Result<i32> {
    let mut inputs = super::rule_inputs(&args.rule, Some(&args.db), m);
    inputs.needs_database = true;
    super::run_settings_from_env(&mut inputs);
    dry_run(inputs, args.sql_out.as_deref(), args.sample, args.explain)
}

/// The dry run shared by `plan` and `run --dry-run`.
pub(crate) fn dry_run(
    inputs: Inputs,
    sql_out: Option<&Path>,
    sample: usize,
    explain: bool,
) -> anyhow::Result<i32> {
    let started = Instant::now();
    let settings = super::resolve(&inputs)?;
    let mut p = super::prepare(settings)?;
    p.check()?;
    let values = Values {
        cutoff: p.settings.cutoff,
        limit: p.settings.batch_size as i64,
    };
    let found = stats::collect(&mut p.conn, &p.plan, values, sample, true)?;
    let mut notes = p.notes.clone();
    notes.extend(super::migrate::index_notes(
        &mut p.conn,
        &p.settings,
        &p.plan.formats,
        &p.plan.children,
    )?);
    let explained = if explain {
        Some(p.conn.explain(&p.plan.count_eligible, values)?)
    } else {
        None
    };
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
                report::plan_text(&p.settings, &found, &notes, elapsed)
            );
            if let Some(lines) = &explained {
                println!("\n-- The database's plan for the eligibility query:");
                for l in lines {
                    println!("-- {l}");
                }
            }
            println!("\n{sql}");
        }
        OutputFormat::Json => {
            let mut j = report::plan_json(&p.settings, &found, &notes, &sql, elapsed);
            if let Some(lines) = explained {
                j["explain"] = serde_json::json!(lines);
            }
            println!("{j}");
        }
    }
    Ok(exit::OK)
}
