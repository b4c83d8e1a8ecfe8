//! `anonsweep run`: apply the plan in batches and print the summary.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::ArgMatches;

use crate::output::hooks::Hooks;
use crate::archive::{Archive, Header};
use crate::exec::audit::AuditLog;
use crate::cli::args::RunArgs;
use crate::sql::conn::Values;
use crate::error::{capped, exit, usage};
use crate::exec::lock::{self, LockSpec};
use crate::output::progress::Progress;
use crate::output::report;
use crate::exec::batches::{self, Archiving, Control, RunOptions, RunOutcome, StopKind};
use crate::config::settings::OutputFormat;
use crate::config::settings::Settings;
use crate::exec::stats;
use crate::exec::stats::PlanStats;

pub fn run_run_command(args: &RunArgs, m: &ArgMatches) -> anyhow::Result<i32> {
    let mut inputs = super::rule_inputs(&args.rule, Some(&args.db), m);
    inputs.needs_database = true;
    inputs.batch_size = super::given(
        &args.batch_size,
        m,
        "batch_size",
        "--batch-size",
        "ANONSWEEP_BATCH_SIZE",
    );
    inputs.lock_timeout_ms = super::given(
        &args.lock_timeout_ms,
        m,
        "lock_timeout_ms",
        "--lock-timeout-ms",
        "ANONSWEEP_LOCK_TIMEOUT_MS",
    );
    inputs.max_failures = super::given(
        &args.max_failures,
        m,
        "max_failures",
        "--max-failures",
        "ANONSWEEP_MAX_FAILURES",
    );
    inputs.max_deletions = super::given(
        &args.max_deletions,
        m,
        "max_deletions",
        "--max-deletions",
        "ANONSWEEP_MAX_DELETIONS",
    );
    inputs.max_fraction = super::given(
        &args.max_fraction,
        m,
        "max_fraction",
        "--max-fraction",
        "ANONSWEEP_MAX_FRACTION",
    );
    if args.dry_run {
        return super::plan::dry_run(inputs, args.sql_out.as_deref(), 10, false);
    }
    let started = Instant::now();
    let settings = super::resolve(&inputs)?;
    let hooks = Hooks::new(args, &settings)?;
    let result = execute(args, &settings, started);
    hooks.after(&settings, &result, started.elapsed().as_secs_f64());
    let done = result?;
    let s = &settings;
    let (before, outcome, run_id) = (&done.before, &done.outcome, &done.run_id);
    let elapsed = started.elapsed().as_secs_f64();
    match s.format {
        OutputFormat::Text => print!("{}", report::run_text(s, before, outcome, run_id, elapsed)),
        OutputFormat::Json => println!("{}", report::run_json(s, before, outcome, run_id, elapsed)),
    }
    if outcome.aborted {
        let why = outcome.stopped.clone().unwrap_or_default();
        eprintln!(
            "anonsweep: error: the run stopped after deleting {} users in committed batches: {why}",
            outcome.deleted_users
        );
    } else if let Some(why) = &outcome.stopped {
        crate::warn!("{why}");
    }
    Ok(exit_code(outcome))
}

/// The exit code of a run that got to its batches.
pub(crate) fn exit_code(o: &RunOutcome) -> i32 {
    if o.aborted {
        return if o.deleted_users > 0 {
            exit::ABORTED
        } else {
            exit::ERROR
        };
    }
    match o.stop_kind {
        Some(StopKind::LockLost) => exit::LOCK_LOST,
        Some(StopKind::Signal) | Some(StopKind::MaxRuntime) => exit::STOPPED,
        _ if !o.failed.is_empty() => exit::PARTIAL,
        None => exit::OK,
    }
}

/// What a run that reached its batches did.
pub(crate) struct Executed {
    pub before: PlanStats,
    pub outcome: RunOutcome,
    pub run_id: String,
}

/// Lock, check, count, cap, archive, run: everything between the settings and the summary.
fn execute(args: &RunArgs, settings: &Settings, started: Instant) -> anyhow::Result<Executed> {
    let now = chrono::Utc::now();
    if settings.as_of > now && !args.allow_future_as_of {
        return Err(capped(format!(
            "--as-of {} is later than this machine's clock ({}): nothing deleted; fix the time, or pass --allow-future-as-of if you mean it",
            crate::config::settings::fmt_time(settings.as_of),
            crate::config::settings::fmt_time(now)
        ), None));
    }
    let deadline = match &args.max_runtime {
        Some(v) => {
            let bad = |why: String| {
                usage(format!(
                    "cannot read --max-runtime {v:?} ({why}): use e.g. 90s, 30m or 2h"
                ))
            };
            let d = humantime::parse_duration(v.trim()).map_err(|e| bad(e.to_string()))?;
            Some(
                started
                    .checked_add(d)
                    .ok_or_else(|| bad("too long".into()))?,
            )
        }
        None => None,
    };
    let db = settings.database.clone().expect("run requires a database");
    // The lock first: a second instance leaves before reading anything.
    let guard = match &args.lock {
        Some(l) => {
            let spec = LockSpec::parse(l)?;
            let g = lock::acquire(&spec, &db, Duration::from_millis(args.lock_ttl_ms))?;
            crate::info!("holding the {}", g.description);
            Some(g)
        }
        None => None,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // A second signal ends the process at once; the first stops after the batch in flight.
        signal_hook::flag::register_conditional_shutdown(sig, 1, interrupted.clone())?;
        signal_hook::flag::register(sig, interrupted.clone())?;
    }
    let result = execute_locked(args, settings, guard.as_ref(), interrupted, deadline);
    if let Some(g) = guard {
        g.release();
    }
    result
}

fn execute_locked(
    args: &RunArgs,
    settings: &Settings,
    guard: Option<&lock::Guard>,
    interrupted: Arc<AtomicBool>,
    deadline: Option<Instant>,
) -> anyhow::Result<Executed> {
    let mut audit = match &args.audit_log {
        Some(path) => Some(AuditLog::open(path)?),
        None => None,
    };
    let mut p = super::prepare(settings.clone())?;
    p.check()?;
    let s = settings;
    let values = Values {
        cutoff: s.cutoff,
        limit: s.batch_size as i64,
    };
    let before = stats::collect(&mut p.conn, &p.plan, values, 0, false)?;
    check_caps(s, before.eligible, before.total_anonymous)?;
    let run_id = uuid::Uuid::new_v4().to_string();
    crate::info!(
        "run {run_id}: {} eligible of {} anonymous users, cutoff {}, batches of {}",
        before.eligible,
        before.total_anonymous,
        crate::config::settings::fmt_time(s.cutoff),
        s.batch_size
    );
    for n in &p.notes {
        crate::info!("note: {n}");
    }
    let opts = RunOptions {
        batch_size: s.batch_size,
        lock_timeout_ms: s.lock_timeout_ms,
        max_failures: s.max_failures,
        max_deletions: s.max_deletions,
        run_id: run_id.clone(),
        control: Control {
            interrupted: Some(interrupted),
            lock_lost: guard.map(|g| g.lost_flag()),
            deadline,
            sleep: Duration::from_millis(args.sleep_ms),
        },
    };
    let mut archive = if let Some(dir) = &args.archive_dir {
        let header = Header {
            kind: "header".into(),
            format: crate::archive::FORMAT.into(),
            run_id: run_id.clone(),
            backend: s.backend.name().into(),
            database: s.database_shown(),
            started_at: crate::config::settings::fmt_time(chrono::Utc::now()),
            users_table: s.schema.users.to_string(),
            users_id: s.schema.users_id.clone(),
            delete_order: p.plan.deletes.iter().map(|d| d.table.clone()).collect(),
        };
        Some(Archive::to_dir(dir, args.archive_compress, &header)?)
    } else if args.archive_to_table {
        Some(Archive::to_table(&mut p.conn)?)
    } else {
        None
    };
    if let Some(a) = &archive {
        crate::info!("archiving every deleted user to {}", a.describe());
    }
    let pause_before_commit = std::env::var("ANONSWEEP_FAULT_PAUSE_BEFORE_COMMIT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis);
    let archiving = archive.as_mut().map(|a| Archiving {
        archive: a,
        pause_before_commit,
    });
    let mut progress = Progress::new(before.eligible, args.quiet);
    let mut on_batch = |o: &RunOutcome| progress.update(o.deleted_users, o.batches);
    let mut outcome = batches::run(
        &mut p.conn,
        &p.plan,
        s.cutoff,
        &opts,
        audit.as_mut(),
        archiving,
        Some(&mut on_batch),
    )?;
    progress.finish();
    if let Some(a) = archive {
        let what = a.describe();
        if let Err(e) = a.finish() {
            // Every batch's records were already fsync'd; only the gzip trailer may be missing.
            crate::warn!("{e:#}: the records of every committed batch are on disk");
        }
        outcome.archive = Some(what);
    }
    Ok(Executed {
        before,
        outcome,
        run_id,
    })
}

/// The safety caps: refuse (exit 4, nothing deleted) when the plan goes beyond them.
fn check_caps(s: &Settings, eligible: u64, anonymous: u64) -> anyhow::Result<()> {
    let origin = |name: &str| {
        s.effective
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.origin.clone())
            .unwrap_or_default()
    };
    if let Some(max) = s.max_deletions {
        if eligible > max {
            return Err(capped(format!(
                "{eligible} users are eligible, more than max_deletions {max} (from {}): nothing deleted; check the rule with `anonsweep plan`, then raise the cap if this is expected",
                origin("max_deletions")
            ), Some(eligible)));
        }
    }
    if let Some(max) = s.max_fraction {
        let share = if anonymous == 0 {
            0.0
        } else {
            eligible as f64 / anonymous as f64
        };
        if share > max {
            return Err(capped(format!(
                "{eligible} of {anonymous} anonymous users ({:.1}%) are eligible, more than max_fraction {max} (from {}): nothing deleted; check the rule with `anonsweep plan`, then raise the cap if this is expected",
                share * 100.0,
                origin("max_fraction")
            ), Some(eligible)));
        }
    }
    Ok(())
}
