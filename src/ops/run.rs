//! The one pipeline behind `run`, `run --dry-run`, `plan` and `demo`: future as-of check, lock,
//! audit log, pre-flight, plan, counts, caps, archive, batches. The dry run walks the same
//! steps and stops before the first write: every refusal `run` would make is reported with the
//! same exit code, and each side effect is described instead of done.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::archive::{Archive, Header};
use crate::config::settings::{fmt_time, Settings};
use crate::error::capped;
use crate::exec::audit::AuditLog;
use crate::exec::batches::{self, Archiving, BatchOptions, Control, RunOutcome, Work};
pub use crate::exec::list::{ListFormat, ListTarget};
use crate::exec::lock::{self, LockSpec};
use crate::exec::replicas::{self, LagOptions};
use crate::exec::stats::{self, PlanStats};
use crate::output::hooks::{HookOptions, Hooks};
use crate::output::progress::Progress;
pub use crate::output::result::{exit_code, Intent, Report};
use crate::plan::Plan;
use crate::preflight;
use crate::sql::conn::{Conn, Values};
use crate::sql::dialect::Backend;

/// Where deleted users are archived.
#[derive(Clone, Debug)]
pub enum ArchiveTo {
    /// A per-run JSON-lines file in this directory (gzip'd with `compress`).
    Dir { dir: PathBuf, compress: bool },
    /// The table `anonsweep_archive`, in each batch's transaction.
    Table,
}

/// The batch time target when `--target-batch-ms` is not given: 100 ms on PostgreSQL, where the
/// live-traffic benchmark measured the application's p99 within 2× of idle with it and 2.2× (at
/// 100k users 9.7×) with fixed 5000-user batches (BENCHMARKS.md, "Live traffic"); none elsewhere
/// (not measured there yet).
pub fn default_target_batch(backend: Backend) -> Option<Duration> {
    (backend == Backend::Postgres).then(|| Duration::from_millis(100))
}

/// Everything a run was asked to do besides the rule (which is in `Settings`).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Stop before the first write and report instead.
    pub dry_run: bool,
    pub allow_future_as_of: bool,
    pub lock: Option<LockSpec>,
    pub lock_ttl: Duration,
    pub max_runtime: Option<Duration>,
    pub sleep: Duration,
    /// `--sleep-coef`: also pause this many times the last batch's duration.
    pub sleep_coef: f64,
    /// `--stop-file`: stop cleanly between batches once it exists (exit 6).
    pub stop_file: Option<PathBuf>,
    /// `--max-per-run`: delete at most this many users, then stop (exit 0).
    pub max_per_run: Option<u64>,
    /// `--target-batch-ms`: size batches toward this duration (at most the batch size).
    pub target_batch: Option<Duration>,
    /// `--max-replica-lag`: wait between batches while a replica lags (`--replica`,
    /// `--max-lag-wait`).
    pub replica_lag: Option<LagOptions>,
    pub audit_log: Option<PathBuf>,
    pub archive: Option<ArchiveTo>,
    pub quiet: bool,
    /// Stop after the batch in flight on SIGINT/SIGTERM.
    pub handle_signals: bool,
    pub hooks: HookOptions,
    /// Dry run: how many eligible ids to show, and whether to count each table's rows.
    pub sample: usize,
    pub per_table_counts: bool,
    /// Dry run: the database's own plan for the eligibility count.
    pub explain: bool,
    /// Dry run: write the standalone SQL script here.
    pub sql_out: Option<PathBuf>,
    /// Dry run: write every eligible user here (`--list`), in the counts' snapshot.
    pub list: Option<ListTarget>,
    /// Fault injection for tests: sleep this long after the archive is written, before commit.
    pub pause_before_commit: Option<Duration>,
}

/// Runs (or dry-runs) the cleanup. Hooks fire after a real run, whatever its result.
pub fn run(settings: &Settings, opts: &RunOptions) -> anyhow::Result<Report> {
    let started = Instant::now();
    let hooks = Hooks::new(&opts.hooks)?;
    let result = pipeline(settings, opts, started);
    if !opts.dry_run {
        hooks.after(settings, &result, started.elapsed().as_secs_f64());
    }
    result
}

/// Refusals: a real run stops with the error; a dry run keeps the first and goes on.
struct Refusals {
    dry_run: bool,
    first: Option<anyhow::Error>,
}

impl Refusals {
    fn refuse(&mut self, e: anyhow::Error) -> anyhow::Result<()> {
        if !self.dry_run {
            return Err(e);
        }
        if self.first.is_none() {
            self.first = Some(e);
        }
        Ok(())
    }
}

fn pipeline(s: &Settings, opts: &RunOptions, started: Instant) -> anyhow::Result<Report> {
    let dry = opts.dry_run;
    let mut refusals = Refusals {
        dry_run: dry,
        first: None,
    };
    refuse_sqlite_workers(s)?;
    let mut intent = Intent::default();
    let now = chrono::Utc::now();
    if s.as_of > now && !opts.allow_future_as_of {
        refusals.refuse(capped(format!(
            "--as-of {} is later than this machine's clock ({}): nothing deleted; fix the time, or pass --allow-future-as-of if you mean it",
            fmt_time(s.as_of),
            fmt_time(now)
        ), None))?;
    }
    let deadline = opts.max_runtime.map(|d| started + d);
    let db = s.database.clone().expect("run requires a database");
    // Through a transaction-mode pooler the database's own lock cannot hold (the batches are
    // fine: each is a self-contained transaction). `--lock database` needs the answer before
    // the lock; otherwise the probe runs beside the pre-flight, on its own connections.
    let database_lock = matches!(opts.lock, Some(LockSpec::Database));
    let probe = PoolerProbe::start(s, &db, database_lock)?;
    let pooler = probe.known();
    let lock_spec = match (&opts.lock, &pooler) {
        (Some(LockSpec::Database), Some(evidence)) => {
            refusals.refuse(lock::pooled_lock_refused(evidence))?;
            intent.lock = Some("the database lock: refused through the pooler".into());
            None
        }
        (spec, _) => spec.as_ref(),
    };
    // The lock first: a second instance leaves before reading anything.
    let guard = match lock_spec {
        Some(spec) if !dry => {
            let g = lock::acquire(spec, &db, opts.lock_ttl)?;
            info!("holding the {}", g.description);
            Some(g)
        }
        Some(spec) => {
            let (what, held) = lock::probe(spec, &db)?;
            intent.lock = Some(match &held {
                None => format!("{what}: free now (not taken by the dry run)"),
                Some(_) => format!("{what}: held by another run"),
            });
            if let Some(e) = held {
                refusals.refuse(e)?;
            }
            None
        }
        None => None,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    if opts.handle_signals && !dry {
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            // A second signal ends the process at once; the first stops after the batch in flight.
            signal_hook::flag::register_conditional_shutdown(sig, 1, interrupted.clone())?;
            signal_hook::flag::register(sig, interrupted.clone())?;
        }
    }
    let ctx = Locked {
        s,
        opts,
        pooler: std::cell::RefCell::new(probe),
        guard: guard.as_ref(),
        interrupted,
        deadline,
        started,
    };
    let result = ctx.go(&mut refusals, intent);
    // A dry run that recorded a refusal and then failed at a later step: the run would have
    // stopped at the refusal first, so that is the answer (the later error is still said).
    let result = match (result, refusals.first.take()) {
        (Err(later), Some(first)) => {
            warn!("the dry run also found: {}", crate::error::one_line(&later));
            Err(first)
        }
        (result, _) => result,
    };
    if let Some(g) = guard {
        g.release();
    }
    result
}

struct Locked<'a> {
    s: &'a Settings,
    opts: &'a RunOptions,
    /// How a transaction-mode pooler showed itself, if one did (the probe may still run).
    pooler: std::cell::RefCell<PoolerProbe>,
    guard: Option<&'a lock::Guard>,
    interrupted: Arc<AtomicBool>,
    deadline: Option<Instant>,
    started: Instant,
}

impl Locked<'_> {
    /// The pooler probe's answer, waiting for it if it still runs.
    fn pooler(&self) -> Option<String> {
        self.pooler.borrow_mut().finish()
    }

    fn go(&self, refusals: &mut Refusals, mut intent: Intent) -> anyhow::Result<Report> {
        let (s, opts, dry) = (self.s, self.opts, self.opts.dry_run);
        let mut audit = None;
        if let Some(path) = &opts.audit_log {
            if dry {
                match audit_writable(path) {
                    Ok(()) => intent.audit_log = Some(path.display().to_string()),
                    Err(e) => refusals.refuse(e)?,
                }
            } else {
                audit = Some(AuditLog::open(path)?);
            }
        }
        let (mut conn, plan, notes) = prepare(s)?;
        // SQLite: a database the batches could not write is refused once, here. The probe
        // writes nothing (a rolled-back no-op), so the dry run makes it too.
        if let Some(db) = &s.database {
            if let Err(e) = conn.check_writable(db) {
                refusals.refuse(e)?;
            }
        }
        let values = Values {
            cutoff: s.cutoff,
            limit: s.batch_size as i64,
        };
        let sample = if dry { opts.sample } else { 0 };
        // `plan` counts each table's rows too; a run with one worker lists few eligible users
        // (its batches then take exactly those; on SQLite it lists them all, in a table, which
        // the dry run does not write); with workers the count alone.
        let counts = if dry && opts.per_table_counts {
            stats::Counts::PerTable
        } else if s.workers <= 1 && !(dry && plan.listed_table.is_some()) {
            stats::Counts::Listed
        } else {
            stats::Counts::Total
        };
        // The dry run's list, in the same snapshot as its counts (never written by `run`).
        let list = opts.list.as_ref().filter(|_| dry);
        // The anonymous users are a full count of their own (a scan of every user on SQLite):
        // the dry run shows them; a run needs them only for its `max_fraction` cap.
        let anonymous = dry || s.max_fraction.is_some();
        let (before, listed) = stats::collect_then(
            &mut conn,
            &plan,
            values,
            sample,
            counts,
            anonymous,
            |conn, _| {
                list.map(|t| crate::exec::list::write(conn, &plan, values, t))
                    .transpose()
            },
        )?;
        intent.list = listed;
        if let Err(e) = check_caps(s, before.eligible, before.total_anonymous) {
            refusals.refuse(e)?;
        }
        // The replicas are reached (and each `--replica` checked) before the first batch; the
        // dry run reports them with their lag now.
        let mut watch = None;
        if let (Some(lag), Some(db)) = (&opts.replica_lag, &s.database) {
            match replicas::Watch::open(db, &plan, lag) {
                Ok(w) => watch = Some(w),
                Err(e) => refusals.refuse(e)?,
            }
        }
        let run_id = uuid::Uuid::new_v4().to_string();
        let report = |plan: Plan,
                      notes: Vec<String>,
                      outcome: Option<RunOutcome>,
                      intent: Option<Intent>,
                      refusal: Option<anyhow::Error>| Report {
            settings: s.clone(),
            plan,
            notes,
            before: before.clone(),
            run_id: run_id.clone(),
            elapsed: self.started.elapsed().as_secs_f64(),
            outcome,
            intent,
            refusal,
        };
        if dry {
            intent.pooler = self.pooler();
            intent.replicas = watch.as_mut().map(|w| w.watched());
            intent.archive = opts.archive.as_ref().map(|a| match a {
                ArchiveTo::Dir { dir, compress } => format!(
                    "a new file anonsweep-archive-<time>-<run>.jsonl{} in {}",
                    if *compress { ".gz" } else { "" },
                    dir.display()
                ),
                ArchiveTo::Table => format!(
                    "table {} (created if missing), in each batch's transaction",
                    crate::archive::TABLE
                ),
            });
            if let Some(ArchiveTo::Dir { dir, .. }) = &opts.archive {
                if let Err(e) = Archive::can_create_dir(dir) {
                    refusals.refuse(e)?;
                }
            }
            if opts.explain {
                intent.explain = Some(conn.explain(&plan.count_eligible, values)?);
            }
            if let Some(path) = &opts.sql_out {
                let script = plan.script(s, Some(before.eligible));
                std::fs::write(path, script).map_err(|e| {
                    anyhow::anyhow!("cannot write SQL script {}: {e}", path.display())
                })?;
                info!("wrote the standalone SQL script to {}", path.display());
            }
            return Ok(report(
                plan,
                notes,
                None,
                Some(intent),
                refusals.first.take(),
            ));
        }
        info!(
            "run {run_id}: {} eligible{}{}, cutoff {}, batches of {}",
            before.eligible,
            match before.total_anonymous {
                Some(n) => format!(" of {n} anonymous users"),
                None => " users (the anonymous users are counted only for max_fraction)".into(),
            },
            if before.listed.is_some() {
                " (listed: the batches take these users, by id)"
            } else {
                ""
            },
            fmt_time(s.cutoff),
            match opts.target_batch {
                Some(t) => format!(
                    "up to {} users sized toward {} ms (--target-batch-ms)",
                    s.batch_size,
                    t.as_millis()
                ),
                None => s.batch_size.to_string(),
            }
        );
        for n in &notes {
            info!("note: {n}");
        }
        if let (Some(w), Some(lag)) = (&watch, &opts.replica_lag) {
            info!(
                "watching {}: waiting between batches while one lags more than {} (at most {} per wait)",
                w.source(),
                replicas::fmt_duration(lag.max_lag),
                replicas::fmt_duration(lag.max_wait)
            );
        }
        let outcome = self.batches(&mut conn, &plan, &run_id, &before, audit.as_mut(), watch)?;
        Ok(report(plan, notes, Some(outcome), None, None))
    }

    fn batches(
        &self,
        conn: &mut Conn,
        plan: &Plan,
        run_id: &str,
        before: &PlanStats,
        audit: Option<&mut AuditLog>,
        watch: Option<replicas::Watch>,
    ) -> anyhow::Result<RunOutcome> {
        let (s, opts) = (self.s, self.opts);
        let bopts = BatchOptions {
            batch_size: s.batch_size,
            max_failures: s.max_failures,
            max_deletions: s.max_deletions,
            run_id: run_id.to_string(),
            control: Control {
                interrupted: Some(self.interrupted.clone()),
                lock_lost: self.guard.map(|g| g.lost_flag()),
                deadline: self.deadline,
                sleep: opts.sleep,
                sleep_coef: opts.sleep_coef,
                stop_file: opts.stop_file.clone(),
                replicas: watch.map(|w| Arc::new(Mutex::new(w))),
            },
            max_per_run: opts.max_per_run,
            target_batch: opts.target_batch,
            listed: before.listed.as_ref().and_then(|l| l.ids()).cloned(),
            listed_version: match &before.listed {
                Some(stats::Listing::Table { version, .. }) => Some(*version),
                _ => None,
            },
        };
        let mut archive = match &opts.archive {
            Some(ArchiveTo::Dir { dir, compress }) => {
                let header = Header {
                    kind: "header".into(),
                    format: crate::archive::FORMAT.into(),
                    run_id: run_id.to_string(),
                    backend: s.backend.name().into(),
                    database: s.database_shown(),
                    started_at: fmt_time(chrono::Utc::now()),
                    users_table: s.schema.users.to_string(),
                    users_id: s.schema.users_id.clone(),
                    delete_order: plan.deletes.iter().map(|d| d.table.clone()).collect(),
                };
                Some(Archive::to_dir(dir, *compress, &header)?)
            }
            Some(ArchiveTo::Table) => Some(Archive::to_table(conn)?),
            None => None,
        };
        if let Some(a) = &archive {
            info!("archiving every deleted user to {}", a.describe());
        }
        let archiving = archive.as_mut().map(|a| Archiving {
            archive: a,
            pause_before_commit: opts.pause_before_commit,
        });
        let work = s.database.as_ref().map(|db| Work {
            db,
            workers: s.workers,
        });
        let mut progress = Progress::new(before.eligible, opts.quiet);
        let mut on_batch = |o: &RunOutcome| {
            progress.lag_waited(o.lag_waited_seconds);
            progress.update(o.deleted_users, o.batches)
        };
        let mut outcome = batches::run(
            conn,
            plan,
            s.cutoff,
            &bopts,
            work,
            audit,
            archiving,
            Some(&mut on_batch),
        )?;
        progress.finish();
        // Count again: every user eligible at the start is accounted for in the summary.
        let values = Values {
            cutoff: s.cutoff,
            limit: s.batch_size as i64,
        };
        match stats::account(
            conn,
            plan,
            values,
            before.eligible,
            outcome.deleted_users,
            outcome.kept_changed,
            outcome.failed.len() as u64,
            before.listed.as_ref(),
        ) {
            Ok(a) => {
                // Listed users that changed before their batch was picked are kept too.
                outcome.kept_changed = a.kept_changed;
                if a.gone_before_batch > 0 {
                    warn!(
                        "{} users eligible at the start were gone before their batch (deleted by someone else meanwhile)",
                        a.gone_before_batch
                    );
                }
                outcome.accounting = Some(a);
            }
            Err(e) => warn!(
                "cannot count the users still eligible after the run: {}",
                crate::error::one_line(&e)
            ),
        }
        if let (Some(stats::Listing::Table { .. }), Some(t)) = (&before.listed, &plan.listed_table)
        {
            if let Err(e) = conn.execute(&t.drop, values) {
                // It goes with the connection anyway.
                warn!(
                    "cannot drop the run's list of eligible users: {}",
                    crate::error::one_line(&e.into())
                );
            }
        }
        outcome.pooler = self.pooler();
        if let Some(a) = archive {
            let what = a.describe();
            if let Err(e) = a.finish() {
                // Every batch's records were already fsync'd; only the gzip trailer may be missing.
                warn!("{e:#}: the records of every committed batch are on disk");
            }
            outcome.archive = Some(what);
        }
        if outcome.aborted {
            let why = outcome.stopped.clone().unwrap_or_default();
            eprintln!(
                "anonsweep: error: the run stopped after deleting {} users in committed batches: {why}",
                outcome.deleted_users
            );
        } else if let Some(why) = &outcome.stopped {
            if outcome.stop_kind == Some(batches::StopKind::MaxPerRun) {
                info!("{why}");
            } else {
                warn!("{why}");
            }
        }
        Ok(outcome)
    }
}

/// The pooler probe: its answer, or the thread still finding it.
struct PoolerProbe {
    running: Option<std::thread::JoinHandle<anyhow::Result<Option<String>>>>,
    found: Option<String>,
}

impl PoolerProbe {
    /// Probes now when `now` (its answer decides the lock), else starts it on a thread
    /// (PostgreSQL only: elsewhere there is nothing to probe).
    fn start(s: &Settings, db: &crate::sql::dburl::DbUrl, now: bool) -> anyhow::Result<Self> {
        if now || s.backend != Backend::Postgres {
            return Ok(PoolerProbe {
                running: None,
                found: detect_pooler(s, db)?,
            });
        }
        let (s, db) = (s.clone(), db.clone());
        Ok(PoolerProbe {
            running: Some(std::thread::spawn(move || detect_pooler(&s, &db))),
            found: None,
        })
    }

    /// The answer so far, without waiting (`None` while the thread runs).
    fn known(&self) -> Option<String> {
        self.found.clone()
    }

    /// The answer, waiting for the thread. A probe that failed on its own thread is said at
    /// debug level only: the run's own connection meets the same problem and reports it.
    fn finish(&mut self) -> Option<String> {
        if let Some(h) = self.running.take() {
            self.found = match h.join() {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => {
                    debug!("the pooler probe failed: {}", crate::error::one_line(&e));
                    None
                }
                Err(_) => None,
            };
        }
        self.found.clone()
    }
}

impl Drop for PoolerProbe {
    /// A probe still running is waited for (a fraction of a second): the process must not
    /// exit, on an error path, while that thread is inside the database client library.
    fn drop(&mut self) {
        self.finish();
    }
}

/// The pooler probe (PostgreSQL), said on stderr when it finds one. It connects as the run
/// does, so a database it cannot reach fails here with the error the run would give.
fn detect_pooler(s: &Settings, db: &crate::sql::dburl::DbUrl) -> anyhow::Result<Option<String>> {
    let found = lock::detect_pooler(db, &crate::plan::pooler_probe(s.backend))?;
    if let Some(evidence) = &found {
        info!("PostgreSQL is reached through a transaction-mode connection pooler ({evidence}): every batch is one self-contained transaction; --lock database cannot be used");
    }
    Ok(found)
}

/// Connects, runs the pre-flight checks (stopping on an error) and renders the plan.
pub fn prepare(s: &Settings) -> anyhow::Result<(Conn, Plan, Vec<String>)> {
    let db = s
        .database
        .clone()
        .expect("commands that prepare require a database");
    let mut conn = Conn::connect(&db)?;
    let mut inspected = preflight::inspect(&mut conn, s)?;
    let (formats, notes) = inspected.ready()?;
    let plan = Plan::build(
        s,
        formats,
        &inspected.children,
        &inspected.users_columns,
        &inspected.reads,
    );
    Ok((conn, plan, notes))
}

/// The dry run's check of `--audit-log`: the file `run` would append to can be opened, without
/// creating it.
fn audit_writable(path: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let checked = if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
    } else {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::metadata(parent).and_then(|m| {
            if m.is_dir() {
                Ok(())
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    "Not a directory (os error 20)",
                ))
            }
        })
    };
    checked.with_context(|| {
        format!(
            "cannot open audit log {}: check the --audit-log path",
            path.display()
        )
    })
}

/// `--workers` above 1 on SQLite: refused before anything is done (exit 2), by `run`, its dry
/// run and `plan` alike. SQLite takes one writer at a time: a second connection would only wait.
pub fn refuse_sqlite_workers(s: &Settings) -> anyhow::Result<()> {
    if s.backend != Backend::Sqlite || s.workers <= 1 {
        return Ok(());
    }
    let origin = s
        .effective
        .iter()
        .find(|e| e.name == crate::config::defs::WORKERS.key)
        .map(|e| e.origin.clone())
        .unwrap_or_default();
    Err(crate::error::usage(format!(
        "--workers {} (from {origin}): SQLite lets one writer at a time, so a run there takes one worker: nothing was done; use --workers 1 (the default)",
        s.workers
    )))
}

/// The safety caps: refuse (exit 4, nothing deleted) when the plan goes beyond them.
fn check_caps(s: &Settings, eligible: u64, anonymous: Option<u64>) -> anyhow::Result<()> {
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
        // Counted whenever the cap is set; a missing count deletes nothing.
        let anonymous = anonymous.ok_or_else(|| {
            capped(
                "max_fraction is set but the anonymous users were not counted: nothing deleted"
                    .to_string(),
                Some(eligible),
            )
        })?;
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
