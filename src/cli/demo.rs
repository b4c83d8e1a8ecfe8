//! `anonsweep demo`: a whole cleanup on a synthetic population, in one command.

use crate::cli::args::DemoArgs;
use crate::config::settings::{Inputs, Origin, OutputFormat};
use crate::error::{exit, usage};
use crate::ops::population;
use crate::ops::run::{self, RunOptions};
use crate::output::report;
use crate::sql::dburl::DbUrl;

const DEFAULT_FILE: &str = "anonsweep-demo.db";

pub fn run_demo_command(args: &DemoArgs) -> anyhow::Result<i32> {
    if args.users == 0 || args.users > 50_000_000 {
        return Err(usage("--users must be between 1 and 50000000"));
    }
    let raw = args
        .database_url
        .clone()
        .unwrap_or_else(|| DEFAULT_FILE.to_string());
    let url = DbUrl::parse(&raw)?;
    let now = match &args.as_of {
        Some(v) => crate::config::settings::parse_as_of(v).ok_or_else(|| {
            usage(format!(
                "cannot read --as-of {v:?}: use RFC 3339 like 2026-11-01T00:00:00Z"
            ))
        })?,
        None => chrono::Utc::now(),
    };
    let now = chrono::Timelike::with_nanosecond(&now, 0).unwrap_or(now);
    let mut conn = population::open_target(&url)?;
    crate::info!("creating {} demo users in {url}", args.users);
    let started = std::time::Instant::now();
    let pop = population::fill(&mut conn, args.users, now)?;
    crate::info!(
        "filled {} users ({} anonymous), {} sessions, {} accounts in {:.1}s",
        pop.users,
        pop.anonymous,
        pop.sessions,
        pop.accounts,
        started.elapsed().as_secs_f64()
    );
    drop(conn);
    if args.fill_only {
        return Ok(exit::OK);
    }

    let inputs = Inputs {
        database_url: Some((raw.clone(), Origin::Flag("--database-url"))),
        numbers: args
            .batch_size
            .map(|n| {
                let d = &crate::config::defs::BATCH_SIZE;
                (d.key, (n.to_string(), Origin::Flag(d.flag)))
            })
            .into_iter()
            .collect(),
        as_of: Some((now.to_rfc3339(), Origin::Default)),
        format: Some(args.output.format.clone()),
        needs_database: true,
        ..Inputs::default()
    };
    let settings = super::resolve(&inputs)?;
    // The demo's data is spread over the 120 days before its own clock, whatever that is.
    let plan = run::run(
        &settings,
        &RunOptions {
            dry_run: true,
            allow_future_as_of: true,
            sample: 5,
            per_table_counts: true,
            ..RunOptions::default()
        },
    )?;
    let done = run::run(
        &settings,
        &RunOptions {
            allow_future_as_of: true,
            quiet: true,
            target_batch: run::default_target_batch(settings.backend),
            ..RunOptions::default()
        },
    )?;
    let s = &settings;
    let outcome = done
        .outcome
        .as_ref()
        .expect("a run that is not dry reaches its batches");
    match s.format {
        OutputFormat::Text => {
            println!("== 1. plan: what would be deleted (nothing changed yet)\n");
            print!(
                "{}",
                report::plan_text(s, &plan.before, &plan.notes, plan.elapsed)
            );
            println!("\n== 2. the SQL the run executes, each statement marked with when it runs (see `anonsweep sql`)\n");
            println!("{}", plan.plan.overview(s));
            println!("== 3. run: the summary\n");
            print!(
                "{}",
                report::run_text(s, &done.before, outcome, &done.run_id, done.elapsed)
            );
            println!(
                "\nThe demo database is {url}. Try: {} plan --database-url {raw}",
                invocation()
            );
        }
        OutputFormat::Json => {
            println!(
                "{}",
                report::run_json(s, &done.before, outcome, &done.run_id, done.elapsed)
            );
        }
    }
    Ok(done.exit_code())
}

/// How to run this binary again from the shell: `anonsweep` when that is what PATH finds, the
/// cargo command when it is a build of this repository (`cargo run --release --`), else its path.
fn invocation() -> String {
    let Ok(me) = std::env::current_exe().and_then(|p| p.canonicalize()) else {
        return "anonsweep".into();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| {
            d.join("anonsweep")
                .canonicalize()
                .is_ok_and(|found| found == me)
        })
    });
    if on_path {
        return "anonsweep".into();
    }
    let shown = me.display().to_string();
    if shown.contains("/target/release/") {
        "cargo run --release --".into()
    } else if shown.contains("/target/debug/") {
        "cargo run --".into()
    } else {
        shown
    }
}
