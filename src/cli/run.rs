//! `anonsweep run` (and `run --dry-run`): fill the typed run options and call the pipeline.

use std::time::Duration;

use clap::ArgMatches;

use crate::cli::args::RunArgs;
use crate::error::usage;
use crate::exec::lock::LockSpec;
use crate::exec::replicas::LagOptions;
use crate::ops::run::{self, ArchiveTo, ListTarget, RunOptions};
use crate::output::hooks::HookOptions;
use crate::sql::dburl::DbUrl;

pub fn run_run_command(args: &RunArgs, m: &ArgMatches) -> anyhow::Result<i32> {
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
    let replica_lag = replica_lag(args)?;
    if replica_lag.is_some() {
        crate::exec::replicas::refuse_sqlite(settings.backend)?;
    }
    let max_runtime = duration("--max-runtime", &args.max_runtime, "90s, 30m or 2h")?;
    let number = |flag: &str, v: &Option<String>, min: f64, max: f64, example: &str| {
        v.as_deref()
            .map(|raw| {
                raw.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite() && (min..=max).contains(n))
                    .ok_or_else(|| {
                        usage(format!(
                            "{flag} must be a number from {min} to {max}, got {raw:?}: use e.g. {flag} {example}"
                        ))
                    })
            })
            .transpose()
    };
    let whole = |flag: &str, v: &Option<String>, max: f64, example: &str| {
        number(flag, v, 1.0, max, example)?
            .map(|n| {
                if n.fract() == 0.0 {
                    Ok(n as u64)
                } else {
                    Err(usage(format!(
                        "{flag} must be a whole number, got {n}: use e.g. {flag} {example}"
                    )))
                }
            })
            .transpose()
    };
    let sleep_coef = number("--sleep-coef", &args.sleep_coef, 0.0, 100.0, "1.0")?.unwrap_or(0.0);
    // 0 turns the time target off (fixed batches of --batch-size).
    let target_batch = match number(
        "--target-batch-ms",
        &args.target_batch_ms,
        0.0,
        600_000.0,
        "100",
    )? {
        None => run::default_target_batch(settings.backend),
        Some(0.0) => None,
        Some(ms) => Some(Duration::from_millis(ms.round() as u64)),
    };
    let max_per_run = whole("--max-per-run", &args.max_per_run, 1e12, "50000")?;
    let opts = RunOptions {
        dry_run: args.dry_run,
        allow_future_as_of: args.limits.allow_future_as_of,
        lock: args.lock.as_deref().map(LockSpec::parse).transpose()?,
        lock_ttl: Duration::from_millis(args.lock_ttl_ms),
        max_runtime,
        sleep: Duration::from_millis(args.sleep_ms),
        sleep_coef,
        stop_file: args.stop_file.clone(),
        max_per_run,
        target_batch,
        replica_lag,
        audit_log: args.audit_log.clone(),
        archive: match (&args.archive_dir, args.archive_to_table) {
            (Some(dir), _) => Some(ArchiveTo::Dir {
                dir: dir.clone(),
                compress: args.archive_compress,
            }),
            (None, true) => Some(ArchiveTo::Table),
            (None, false) => None,
        },
        quiet: args.quiet,
        handle_signals: true,
        hooks: HookOptions {
            metrics_file: args.metrics_file.clone(),
            pushgateway: args.pushgateway.clone(),
            notify_email: args.notify_email.clone(),
            notify_webhook: args.notify_webhook.clone(),
            notify_threshold: args.notify_threshold,
        },
        sample: args.sample,
        per_table_counts: true,
        explain: args.explain,
        sql_out: args.sql_out.clone(),
        list,
        pause_before_commit: fault_pause_before_commit(),
    };
    let report = run::run(&settings, &opts)?;
    crate::output::report::print(&report);
    Ok(report.exit_code())
}

/// A `DURATION` flag (`90s`, `30m`, `2h`), read with humantime.
fn duration(flag: &str, v: &Option<String>, example: &str) -> anyhow::Result<Option<Duration>> {
    let Some(v) = v else {
        return Ok(None);
    };
    let bad = |why: String| {
        usage(format!(
            "cannot read {flag} {v:?} ({why}): use e.g. {example}"
        ))
    };
    let d = humantime::parse_duration(v.trim()).map_err(|e| bad(e.to_string()))?;
    std::time::Instant::now()
        .checked_add(d)
        .ok_or_else(|| bad("too long".into()))?;
    Ok(Some(d))
}

/// `--max-replica-lag`, `--max-lag-wait` and `--replica`.
fn replica_lag(args: &RunArgs) -> anyhow::Result<Option<LagOptions>> {
    let Some(max_lag) = duration("--max-replica-lag", &args.max_replica_lag, "5s or 1m")? else {
        return Ok(None);
    };
    if max_lag.is_zero() {
        return Err(usage(
            "--max-replica-lag must be more than 0 (a replica is always a little behind): use e.g. --max-replica-lag 5s",
        ));
    }
    let max_wait = duration("--max-lag-wait", &args.max_lag_wait, "10m or 1h")?
        .unwrap_or(DEFAULT_MAX_LAG_WAIT);
    let replicas = args
        .replicas
        .iter()
        .filter(|r| !r.trim().is_empty())
        .map(|r| {
            DbUrl::parse(r).map_err(|e| usage(format!("--replica: {}", crate::error::one_line(&e))))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(LagOptions {
        max_lag,
        max_wait,
        replicas,
    }))
}

/// How long one wait for lagging replicas may last before the run stops (`--max-lag-wait`).
const DEFAULT_MAX_LAG_WAIT: Duration = Duration::from_secs(600);

/// Fault injection for the archive crash tests: sleep after the archive is written, before the
/// batch commits. Compiled into debug builds only (the test builds); a release build never
/// reads it.
#[cfg(debug_assertions)]
fn fault_pause_before_commit() -> Option<Duration> {
    std::env::var("ANONSWEEP_FAULT_PAUSE_BEFORE_COMMIT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
}

#[cfg(not(debug_assertions))]
fn fault_pause_before_commit() -> Option<Duration> {
    None
}
