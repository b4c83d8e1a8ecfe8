//! `anonsweep plan`: the dry run of `run`, through the same pipeline.

use clap::ArgMatches;

use crate::cli::args::PlanArgs;
use crate::ops::run::{self, ListTarget, RunOptions};

pub fn run_plan_command(args: &PlanArgs, m: &ArgMatches) -> anyhow::Result<i32> {
    let list = args
        .list
        .clone()
        .map(|path| ListTarget::new(path, args.list_format.as_deref()))
        .transpose()?;
    let mut inputs = super::with_format(
        super::rule_inputs(&args.rule, Some(&args.db), m),
        &args.output,
    );
    inputs.needs_database = true;
    super::run_inputs(&mut inputs, m);
    let settings = super::resolve(&inputs)?;
    let opts = RunOptions {
        dry_run: true,
        allow_future_as_of: args.limits.allow_future_as_of,
        sample: args.sample,
        per_table_counts: true,
        explain: args.explain,
        sql_out: args.sql_out.clone(),
        list,
        ..RunOptions::default()
    };
    let report = run::run(&settings, &opts)?;
    crate::output::report::print(&report);
    Ok(report.exit_code())
}
