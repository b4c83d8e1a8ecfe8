//! `run`: keyset batches over the users' primary key, each one short transaction that locks,
//! re-checks and deletes; failing batches are split until the failing users are isolated. With
//! `--workers`, several connections run this same loop, each pick taking the users after one
//! shared keyset cursor.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::archive::Archive;
use crate::exec::audit::{AuditLog, Entry};
use crate::exec::workers::{self, Budget, Cap, Claims, Range, Reserve, Stop, Stops, Transient};
use crate::plan::Plan;
use crate::sql::conn::{BatchUser, Conn, Values};
use crate::sql::dburl::DbUrl;

pub use crate::exec::stop::StopKind;

/// What can stop a run between batches, and the pause between them.
#[derive(Clone, Default)]
pub struct Control {
    /// Set by SIGINT/SIGTERM.
    pub interrupted: Option<Arc<AtomicBool>>,
    /// Set when the lock is lost.
    pub lock_lost: Option<Arc<AtomicBool>>,
    /// `--max-runtime`.
    pub deadline: Option<Instant>,
    /// `--sleep-ms` between batches.
    pub sleep: Duration,
    /// `--sleep-coef`: also sleep this many times the last batch's duration.
    pub sleep_coef: f64,
    /// `--stop-file`: stop cleanly between batches once this file exists.
    pub stop_file: Option<std::path::PathBuf>,
    /// `--max-replica-lag`: wait before each batch while a replica lags.
    pub replicas: Option<Arc<Mutex<crate::exec::replicas::Watch>>>,
}

impl Control {
    fn flag(f: &Option<Arc<AtomicBool>>) -> bool {
        f.as_ref().is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// Whether to stop before the next batch, and why.
    pub fn should_stop(&self) -> Option<(StopKind, &'static str)> {
        if Self::flag(&self.lock_lost) {
            Some((
                StopKind::LockLost,
                "the lock was lost (another instance may run now)",
            ))
        } else if Self::flag(&self.interrupted) {
            Some((StopKind::Signal, "interrupted by a signal (SIGINT/SIGTERM)"))
        } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
            Some((StopKind::MaxRuntime, "--max-runtime reached"))
        } else if self.stop_file.as_ref().is_some_and(|p| p.exists()) {
            Some((StopKind::StopFile, "the --stop-file appeared"))
        } else {
            None
        }
    }

    /// The pause after a batch that took `last`: `--sleep-ms` plus `--sleep-coef` × `last`.
    fn pause_after(&self, last: Duration) -> Duration {
        self.sleep + last.mul_f64(self.sleep_coef.max(0.0))
    }

    /// Sleeps `pause`, waking early when a stop condition arrives (or `halted` says so).
    fn pause(&self, pause: Duration, halted: &dyn Fn() -> bool) {
        let until = Instant::now() + pause;
        while Instant::now() < until && self.should_stop().is_none() && !halted() {
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
    }
}

/// Options of one run.
pub struct BatchOptions {
    pub batch_size: u64,
    pub max_failures: u64,
    /// Never delete more users than this in one run (the cap: checked before the run too).
    pub max_deletions: Option<u64>,
    /// `--max-per-run`: delete at most this many, then stop cleanly (exit 0); the rest wait.
    pub max_per_run: Option<u64>,
    /// `--target-batch-ms`: size each batch toward this duration, at most `batch_size` users.
    pub target_batch: Option<Duration>,
    pub control: Control,
    pub run_id: String,
    /// The eligible users the run's count listed (one worker; PostgreSQL at most
    /// [`LISTED_MAX`](crate::plan::LISTED_MAX), MySQL all): the batches take these, by id, and
    /// no others.
    pub listed: Option<std::sync::Arc<crate::exec::idlist::IdList>>,
    /// SQLite: the database's change counter when the run's count filled its list table. A
    /// batch that reads the same value takes the next listed users without re-checking them.
    pub listed_version: Option<u64>,
}

/// A user that could not be deleted, with the database's own message.
#[derive(Clone, Debug, Serialize)]
pub struct Failed {
    pub user_id: String,
    pub error: String,
}

/// What a run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunOutcome {
    pub deleted_users: u64,
    /// Rows deleted from each table, in delete order (users last).
    pub deleted_rows: Vec<(String, u64)>,
    /// Picked, but no longer eligible when re-checked inside the transaction (kept).
    pub kept_changed: u64,
    pub failed: Vec<Failed>,
    pub batches: u64,
    pub retries: u64,
    /// Batches retried as they were after a deadlock or lock-wait timeout (never a failed user).
    pub deadlock_retries: u64,
    /// The connections that took batches (`--workers`).
    pub workers: u64,
    /// The batches took the users the run's count listed, by id (one worker; PostgreSQL at
    /// most [`LISTED_MAX`](crate::plan::LISTED_MAX) eligible; on SQLite always, from the list
    /// table; on MySQL always, from the run's list); else they walked the users table.
    pub users_listed: bool,
    pub max_batch_ms: f64,
    pub p99_batch_ms: f64,
    /// The smallest and largest number of users a committed batch was given (its limit).
    pub batch_size_min: u64,
    pub batch_size_max: u64,
    /// Time spent pausing between batches (`--sleep-ms`, `--sleep-coef`), in seconds.
    pub paused_seconds: f64,
    /// `--max-replica-lag`: time spent waiting for lagging replicas, in seconds, and how many
    /// waits (`None` when no replica was watched).
    pub lag_waited_seconds: Option<f64>,
    pub lag_waits: u64,
    /// Where every user eligible at the start went (counted again after the batches).
    pub accounting: Option<crate::exec::stats::Accounting>,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
    /// True when an error (not a per-user failure) stopped the run.
    pub aborted: bool,
    /// Why the run stopped before the end, when it was on purpose (not an error).
    pub stop_kind: Option<StopKind>,
    /// Where the deleted users were archived.
    pub archive: Option<String>,
    /// How a transaction-mode connection pooler showed itself, if one did.
    pub pooler: Option<String>,
}

/// Why a batch transaction failed.
#[derive(Debug)]
enum BatchError {
    /// The database refused (split and retry).
    Db(diesel::result::Error),
    /// The rows changed between the archive read and the deletes (retry).
    Changed(String),
    /// The archive could not be written: the run stops.
    Archive(anyhow::Error),
}

impl From<diesel::result::Error> for BatchError {
    fn from(e: diesel::result::Error) -> BatchError {
        BatchError::Db(e)
    }
}

impl BatchError {
    fn message(&self) -> String {
        match self {
            BatchError::Db(e) => message(e),
            BatchError::Changed(m) => m.clone(),
            BatchError::Archive(e) => crate::error::one_line(e),
        }
    }
}

/// Archive options of one run.
pub struct Archiving<'a> {
    pub archive: &'a mut Archive,
    /// Fault injection for tests: sleep this long after the archive is written, before the commit.
    pub pause_before_commit: Option<Duration>,
}

/// The archive, shared by the workers: each batch writes its records whole, one at a time.
struct SharedArchive<'a> {
    archive: Mutex<&'a mut Archive>,
    /// `--archive-to-table`: each batch inserts on its own connection, nothing to wait for.
    table: bool,
    pause_before_commit: Option<Duration>,
}

impl<'a> SharedArchive<'a> {
    fn lock(&self) -> std::sync::MutexGuard<'_, &'a mut Archive> {
        self.archive.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Inside the batch transaction, before it commits (see `Archive::write_batch`).
    fn write_batch(
        &self,
        conn: &mut Conn,
        records: &[crate::archive::UserRecord],
    ) -> anyhow::Result<()> {
        if self.table {
            Archive::Table.write_batch(conn, records)
        } else {
            self.lock().write_batch(conn, records)
        }
    }
}

/// What one committed batch did.
struct Done {
    picked: u64,
    kept: u64,
    users: Vec<BatchUser>,
    per_user: Vec<(String, HashMap<String, u64>)>,
    counts: Vec<u64>,
}

enum Batch {
    Empty,
    /// With the keyset cursor for the next batch.
    Done(Done, String),
}

/// Where a batch's pick starts.
enum Keys<'c> {
    /// The run's keyset cursor, shared by the workers: the pick takes the users after it and
    /// moves it past them (one worker at a time), before the rest of the batch runs.
    Shared(&'c Claims),
    /// A key range of this worker's own (the users of a batch that failed after its pick): the
    /// pick takes users after `after`, up to `upto`; the worker moves `after` on.
    Own(Range),
}

/// What a batch's pick saw: where it started, the last id it claimed from the shared cursor
/// (moving it there), and how long it waited for the other workers' picks.
#[derive(Default)]
struct Seen {
    after: Option<String>,
    claimed: Option<String>,
    waited: Duration,
    /// The shared cursor was not where the caller expected it (a skip after another worker
    /// moved it on): nothing was picked.
    moved: bool,
    /// A run that listed its users: the first listed user the pick started at.
    pos: usize,
}

/// One self-contained transaction: the batch settings, a fresh batch table, the pick of the
/// next users (limit from `v`) after the cursor `keys` give (the previous batch's last id;
/// none for the first), the batch's last id read back, then `body`. With the shared cursor the
/// pick and the read-back happen while this worker holds the cursor, which then moves to the
/// batch's last id; `expect`: only pick if the shared cursor is still there. Nothing a later
/// batch needs stays in the session, so through a transaction-mode pooler each batch may run on
/// another server session. `None` when nothing was left to pick; otherwise `body`'s value and
/// the batch's last id (an own range's next cursor, kept by the caller once the transaction
/// committed). `lock`: the locking pick, else the skip's.
#[allow(clippy::too_many_arguments)]
fn in_batch<T>(
    conn: &mut Conn,
    plan: &Plan,
    v: Values,
    keys: &Keys,
    lock: bool,
    expect: Option<&Option<String>>,
    seen: &mut Seen,
    body: impl FnOnce(&mut Conn, u64) -> Result<T, BatchError>,
) -> Result<Option<(T, String)>, BatchError> {
    let last_id = |c: &mut Conn| -> Result<String, BatchError> {
        c.text(&plan.last_id.sql)?.ok_or_else(|| {
            BatchError::Db(diesel::result::Error::QueryBuilderError(
                "the batch's last id came back empty".into(),
            ))
        })
    };
    let result = conn.transaction(|c| {
        for s in &plan.batch_settings {
            c.execute(&s.stmt, v)?;
        }
        for s in &plan.drop_leftover {
            c.execute(s, v)?;
        }
        c.execute(&plan.create_batch, v)?;
        let picked = match keys {
            Keys::Own(r) => {
                seen.after = r.after.clone();
                let (after, upto) = (r.after.as_deref(), r.upto.as_deref());
                let pick = pick_for(plan, after, upto, lock)?;
                match c.execute_between(pick, v, after, upto)? as u64 {
                    0 => None,
                    n => Some((n, last_id(c)?)),
                }
            }
            Keys::Shared(claims) => {
                let asked = Instant::now();
                let mut cur = claims.lock();
                seen.waited = asked.elapsed();
                seen.after = cur.cursor.clone();
                if expect.is_some_and(|e| *e != cur.cursor) {
                    seen.moved = true;
                    None
                } else if cur.done {
                    None
                } else if cur.listed.is_some() {
                    seen.pos = cur.pos;
                    let picked = pick_listed(c, plan, v, lock, &mut cur)?;
                    match picked {
                        None => {
                            cur.done = true;
                            None
                        }
                        Some(_) => {
                            let last = last_id(c).inspect_err(|_| {
                                // Nothing of this batch happened: its users stay listed.
                                cur.pos = seen.pos;
                            })?;
                            cur.cursor = Some(last.clone());
                            seen.claimed = Some(last.clone());
                            picked.map(|n| (n, last))
                        }
                    }
                } else {
                    let after = cur.cursor.as_deref();
                    let pick = match unchanged_pick(c, plan, v, lock, cur.version, after)? {
                        Some(pick) => pick,
                        None => pick_for(plan, after, None, lock)?,
                    };
                    match c.execute_after(pick, v, after)? as u64 {
                        0 => {
                            cur.done = true;
                            None
                        }
                        n => {
                            let last = last_id(c)?;
                            cur.cursor = Some(last.clone());
                            seen.claimed = Some(last.clone());
                            Some((n, last))
                        }
                    }
                }
            }
        };
        let done = match picked {
            None => None,
            Some((n, last)) => Some((body(c, n)?, last)),
        };
        for s in &plan.drop_batch {
            c.execute(s, v)?;
        }
        Ok(done)
    });
    if result.is_err() {
        // The transaction rolled back; on MySQL the batch table outlives that.
        for s in &plan.drop_after_rollback {
            let _ = conn.execute(s, v);
        }
    }
    result
}

/// A run that listed its users: picks the next of them still eligible (at most `v.limit`),
/// list slice after list slice until one has somebody (the others are gone or changed), and
/// moves the list's position past the slices it tried. `None` when the list is used up.
fn pick_listed(
    c: &mut Conn,
    plan: &Plan,
    v: Values,
    lock: bool,
    cur: &mut crate::exec::workers::Claimed,
) -> Result<Option<u64>, BatchError> {
    let Some(listed) = &cur.listed else {
        return Ok(None);
    };
    let Some(stmts) = &plan.listed else {
        return Err(BatchError::Db(diesel::result::Error::QueryBuilderError(
            "listed users without the plan's statements for them".into(),
        )));
    };
    if stmts.all && (plan.recheck.is_none() || plan.lock_counts_active()) {
        // MySQL's listed pick leaves the rule to the re-check: never without it.
        return Err(BatchError::Db(diesel::result::Error::QueryBuilderError(
            "listed picks without the rule need the re-check in every batch".into(),
        )));
    }
    let stmt = if lock { &stmts.pick } else { &stmts.skip };
    let size = (v.limit.max(1) as usize).min(listed.len().max(1));
    while cur.pos < listed.len() {
        let end = (cur.pos + size).min(listed.len());
        let slice = listed.slice(cur.pos, end).map_err(|e| {
            BatchError::Db(diesel::result::Error::QueryBuilderError(
                format!("the run's list of eligible users could not be read: {e}").into(),
            ))
        })?;
        let ids = super::stats::ids_json(&slice);
        let n = c.execute_in(stmt, v, &ids)? as u64;
        cur.pos = end;
        if n > 0 {
            return Ok(Some(n));
        }
    }
    Ok(None)
}

/// SQLite, a batch's locking pick in a run whose count filled the list table: when the
/// database's change counter (read inside this transaction, which holds the write lock) is
/// still the count's, nobody else has written since the list was filled, and the pick that
/// takes the next listed users without reading the rule again. `None`: the re-checking pick
/// (the counter moved, or this is the skip, or another backend).
fn unchanged_pick<'p>(
    c: &mut Conn,
    plan: &'p Plan,
    v: Values,
    lock: bool,
    listed_version: Option<u64>,
    after: Option<&str>,
) -> Result<Option<&'p crate::plan::Stmt>, BatchError> {
    let (Some(table), Some(listed), true) = (&plan.listed_table, listed_version, lock) else {
        return Ok(None);
    };
    let Some(picks) = &table.unchanged else {
        return Ok(None);
    };
    if c.count(&table.version, v)? != listed {
        return Ok(None);
    }
    Ok(Some(match after {
        None => &picks.first,
        Some(_) => &picks.next,
    }))
}

/// The pick for a batch after `after` (if any), up to `upto` (if any); `lock`: the locking pick,
/// else the skip. The bounded picks exist only in a plan rendered for workers.
fn pick_for<'p>(
    plan: &'p Plan,
    after: Option<&str>,
    upto: Option<&str>,
    lock: bool,
) -> Result<&'p crate::plan::Stmt, BatchError> {
    Ok(match (upto, &plan.workers, after.is_some(), lock) {
        (None, _, false, true) => &plan.pick_first,
        (None, _, true, true) => &plan.pick_next,
        (None, _, false, false) => &plan.skip_first,
        (None, _, true, false) => &plan.skip_next,
        (Some(_), Some(w), false, true) => &w.pick_first,
        (Some(_), Some(w), true, true) => &w.pick_next,
        (Some(_), Some(w), false, false) => &w.skip_first,
        (Some(_), Some(w), true, false) => &w.skip_next,
        (Some(_), None, ..) => {
            return Err(BatchError::Db(diesel::result::Error::QueryBuilderError(
                "a bounded key range without the plan's worker statements".into(),
            )))
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn one_batch(
    conn: &mut Conn,
    plan: &Plan,
    v: Values,
    keys: &Keys,
    seen: &mut Seen,
    opts: &BatchOptions,
    want_per_user: bool,
    attempt: u64,
    archiving: Option<&SharedArchive>,
) -> Result<Batch, BatchError> {
    let done = in_batch(conn, plan, v, keys, true, None, seen, |c, picked| {
        for s in &plan.analyze {
            c.execute(s, v)?;
        }
        let mut active = 0;
        for s in &plan.lock_children {
            active += c.count(s, v)?;
        }
        let recheck = !plan.lock_counts_active() || active > 0;
        let kept = match &plan.recheck {
            Some(r) if recheck => c.execute(r, v)? as u64,
            _ => 0,
        };
        // Read back only for the audit log: the summary counts what the deletes report.
        let users = if want_per_user {
            c.users(&plan.batch_users, v)?
        } else {
            Vec::new()
        };
        let mut per_user = Vec::new();
        if want_per_user {
            for l in &plan.count_per_user {
                per_user.push((
                    l.table.clone(),
                    c.id_counts(&l.stmt, v)?.into_iter().collect(),
                ));
            }
        }
        let mut archived = Vec::new();
        if archiving.is_some() {
            for (i, stmt) in plan.archive_rows.iter().enumerate() {
                for (id, row) in c.id_texts(stmt, v)? {
                    archived.push((i, id, row.unwrap_or_else(|| "null".into())));
                }
            }
        }
        let mut counts = Vec::new();
        for d in &plan.deletes {
            counts.push(c.execute(&d.stmt, v)? as u64);
        }
        if let Some(a) = archiving {
            // The archive holds exactly what was deleted: the rows were read (and locked)
            // in this transaction; a row that appeared in between changes a count.
            for (i, d) in plan.deletes.iter().enumerate() {
                let read = archived.iter().filter(|(t, _, _)| *t == i).count() as u64;
                if read != counts[i] {
                    return Err(BatchError::Changed(format!(
                            "{} rows of {} were archived but {} deleted (rows changed meanwhile): batch rolled back",
                            read, d.table, counts[i]
                        )));
                }
            }
            let order: Vec<String> = plan.deletes.iter().map(|d| d.table.clone()).collect();
            let s = &plan.settings_names;
            let records =
                crate::archive::records(&opts.run_id, attempt, &s.0, &s.1, &order, archived)
                    .map_err(BatchError::Archive)?;
            a.write_batch(c, &records).map_err(BatchError::Archive)?;
            if let Some(p) = a.pause_before_commit {
                std::thread::sleep(p);
            }
        }
        Ok(Done {
            picked,
            kept,
            users,
            per_user,
            counts,
        })
    })?;
    Ok(match done {
        None => Batch::Empty,
        Some((done, last_id)) => Batch::Done(done, last_id),
    })
}

/// What a skip found.
enum Skipped {
    /// The next eligible user (its id, for the report) and the cursor past it.
    One(String, String),
    /// Nobody left to skip.
    None,
    /// The shared cursor moved on since the failed batch (another worker took the users after
    /// it): nothing skipped.
    Moved,
}

/// Takes the next eligible user after the cursor without deleting it (with the shared cursor:
/// only if it is still at `expect`, where the failed batch started, and moves it past the
/// user).
fn skip_one(
    conn: &mut Conn,
    plan: &Plan,
    v: Values,
    keys: &Keys,
    expect: &Option<String>,
) -> Result<Skipped, diesel::result::Error> {
    let one = Values { limit: 1, ..v };
    let mut seen = Seen::default();
    let id = in_batch(
        conn,
        plan,
        one,
        keys,
        false,
        Some(expect),
        &mut seen,
        |c, _| {
            Ok(c.users(&plan.batch_users, one)?
                .into_iter()
                .next()
                .map(|u| u.id))
        },
    );
    match id {
        Ok(Some((Some(id), last))) => Ok(Skipped::One(id, last)),
        Ok(_) if seen.moved => Ok(Skipped::Moved),
        Ok(_) => Ok(Skipped::None),
        Err(BatchError::Db(e)) => Err(e),
        Err(other) => Err(diesel::result::Error::QueryBuilderError(
            other.message().into(),
        )),
    }
}

fn message(e: &diesel::result::Error) -> String {
    crate::error::redact(e.to_string().trim()).replace('\n', " ")
}

/// `--workers`: the database the other workers connect to, and how many workers take batches.
pub struct Work<'a> {
    pub db: &'a DbUrl,
    pub workers: u64,
}

/// The progress callback: the run's totals after each batch.
pub type OnBatch<'a> = &'a mut (dyn FnMut(&RunOutcome) + Send + 'a);

/// What the workers of one run share.
struct Shared<'a> {
    plan: &'a Plan,
    cutoff: chrono::DateTime<chrono::Utc>,
    opts: &'a BatchOptions,
    /// How many workers take batches.
    workers: u64,
    audit: Option<Mutex<&'a mut AuditLog>>,
    archive: Option<SharedArchive<'a>>,
    progress: Option<Mutex<OnBatch<'a>>>,
    /// The run's totals so far (deleted users, batches, time waited for replicas), for progress.
    tally: Mutex<RunOutcome>,
    /// The keyset cursor every pick starts after.
    claims: Claims,
    budget: Budget,
    stops: Stops,
    /// Users that failed in all workers (`--max-failures` counts them all).
    failures: AtomicU64,
    /// Batch transactions started in all workers: each one's number (the archive's batch).
    attempts: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared<'_> {
    fn halted(&self) -> bool {
        self.stops.halted()
    }

    /// Updates the run's totals; with `show`, the progress shows them. Returns the batches
    /// committed so far.
    fn tally(&self, show: bool, f: impl FnOnce(&mut RunOutcome)) -> u64 {
        let mut t = lock(&self.tally);
        f(&mut t);
        if show {
            if let Some(p) = &self.progress {
                let mut p = lock(p);
                let on_batch: &mut (dyn FnMut(&RunOutcome) + Send) = &mut **p;
                on_batch(&t);
            }
        }
        t.batches
    }
}

/// Stops the other workers when one panics (the panic then ends the run, as with one worker).
struct HaltOnPanic<'a>(&'a Stops);

impl Drop for HaltOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.halt();
        }
    }
}

/// One worker's part of the summary: what it did, and each of its batches' duration (so the
/// run's p99 is over every batch).
struct Part {
    out: RunOutcome,
    durations: Vec<f64>,
}

/// One worker: the batch loop, on its own connection.
struct Worker<'s, 'a> {
    s: &'s Shared<'a>,
    out: RunOutcome,
    durations: Vec<f64>,
    /// The next batch's size.
    size: u64,
}

impl<'s, 'a> Worker<'s, 'a> {
    fn new(s: &'s Shared<'a>) -> Worker<'s, 'a> {
        let opts = s.opts;
        Worker {
            s,
            out: RunOutcome {
                deleted_rows: s
                    .plan
                    .deletes
                    .iter()
                    .map(|d| (d.table.clone(), 0))
                    .collect(),
                lag_waited_seconds: opts.control.replicas.as_ref().map(|_| 0.0),
                ..Default::default()
            },
            durations: Vec::new(),
            // Aiming at a time target, start small and let the measured time per user grow the
            // batches.
            size: match opts.target_batch {
                Some(_) => opts.batch_size.min(FIRST_TARGETED_BATCH),
                None => opts.batch_size,
            },
        }
    }

    fn into_part(self) -> Part {
        Part {
            out: self.out,
            durations: self.durations,
        }
    }

    /// `--max-replica-lag`: waits while a replica lags (one worker waits, the others wait for
    /// it). False when the wait lasted too long: the run stops.
    fn wait_for_replicas(&mut self) -> bool {
        let s = self.s;
        let Some(watch) = &s.opts.control.replicas else {
            return true;
        };
        let mut watch = lock(watch);
        let base = lock(&s.tally).lag_waited_seconds.unwrap_or(0.0);
        let w = watch.wait(
            &|| s.opts.control.should_stop().is_some() || s.halted(),
            &mut |waited| {
                s.tally(true, |t| {
                    t.lag_waited_seconds = Some(base + waited.as_secs_f64())
                });
            },
        );
        drop(watch);
        if !w.waited.is_zero() {
            let secs = w.waited.as_secs_f64();
            self.out.lag_waits += 1;
            self.out.lag_waited_seconds = Some(self.out.lag_waited_seconds.unwrap_or(0.0) + secs);
            s.tally(false, |t| {
                t.lag_waits += 1;
                t.lag_waited_seconds = Some(base + secs);
            });
        }
        match w.timed_out {
            Some(why) => {
                s.stops.record(Stop::Kind(StopKind::MaxLagWait, why));
                false
            }
            None => true,
        }
    }

    /// The batch loop: batch after batch from the shared cursor until nobody is left after it
    /// or the run stops. A batch that fails after its pick moved the cursor on leaves its users
    /// to this worker alone (with other workers): it takes them again as a key range of its own,
    /// splitting the batch until the failing users are isolated, then returns to the cursor.
    fn go(&mut self, conn: &mut Conn) {
        let s = self.s;
        let (plan, opts) = (s.plan, s.opts);
        let mut keys = Keys::Shared(&s.claims);
        let mut retried = false;
        let mut transient_tries = 0u32;
        loop {
            if s.halted() || !self.wait_for_replicas() {
                return;
            }
            if let Some((kind, why)) = opts.control.should_stop() {
                s.stops.record(Stop::Kind(kind, why.to_string()));
                return;
            }
            let limit = match s.budget.reserve(self.size) {
                Reserve::Take(n) => n,
                Reserve::Wait => continue,
                Reserve::Exhausted {
                    cap: Cap::Deletions,
                    max,
                    deleted,
                } => {
                    // The plan was within the cap (checked before the run); never go past it,
                    // even if more users became eligible meanwhile (they are kept for the next
                    // run).
                    if deleted > 0 && !s.halted() {
                        info!("reached max_deletions ({max}): no further batch");
                    }
                    s.stops.halt();
                    return;
                }
                Reserve::Exhausted {
                    cap: Cap::PerRun,
                    max,
                    ..
                } => {
                    s.stops.record(Stop::PerRun(max));
                    return;
                }
            };
            let v = Values {
                cutoff: s.cutoff,
                limit: limit as i64,
            };
            let started = Instant::now();
            let attempt = s.attempts.fetch_add(1, Ordering::SeqCst) + 1;
            let mut seen = Seen::default();
            let result = one_batch(
                conn,
                plan,
                v,
                &keys,
                &mut seen,
                opts,
                s.audit.is_some(),
                attempt,
                s.archive.as_ref(),
            );
            // The batch's own time, not the wait for the other workers' picks.
            let elapsed = started.elapsed().saturating_sub(seen.waited);
            let deleted_users = match &result {
                Ok(Batch::Done(d, _)) => d.counts.last().copied().unwrap_or(0),
                _ => 0,
            };
            s.budget.settle(limit, deleted_users);
            match result {
                Ok(Batch::Empty) => match keys {
                    // The failed batch's users are done: back to the shared cursor.
                    Keys::Own(_) => {
                        keys = Keys::Shared(&s.claims);
                        retried = false;
                        transient_tries = 0;
                    }
                    Keys::Shared(_) => return,
                },
                Ok(Batch::Done(
                    Done {
                        picked,
                        kept,
                        users,
                        per_user,
                        counts,
                    },
                    last_id,
                )) => {
                    let out = &mut self.out;
                    self.durations.push(elapsed.as_secs_f64() * 1000.0);
                    if out.batches == 0 {
                        out.batch_size_min = limit;
                    }
                    out.batch_size_min = out.batch_size_min.min(limit);
                    out.batch_size_max = out.batch_size_max.max(limit);
                    // The shared cursor moved when the batch picked; an own range's here.
                    if let Keys::Own(r) = &mut keys {
                        r.after = Some(last_id);
                    }
                    retried = false;
                    transient_tries = 0;
                    out.batches += 1;
                    out.kept_changed += kept;
                    for (slot, n) in out.deleted_rows.iter_mut().zip(&counts) {
                        slot.1 += n;
                    }
                    out.deleted_users += deleted_users;
                    if let Some(a) = &s.archive {
                        if let Err(e) = a.lock().committed(&opts.run_id, attempt, deleted_users) {
                            warn!("cannot mark batch {attempt} committed in the archive: {e:#} (its users are archived)");
                        }
                    }
                    let batch = s.tally(false, |t| {
                        t.batches += 1;
                        t.deleted_users += deleted_users;
                    });
                    debug!("batch {batch}: picked {picked}, kept {kept} (changed), deleted {deleted_users} users in {:.1} ms", elapsed.as_secs_f64() * 1000.0);
                    if kept > 0 {
                        info!("{kept} picked users became active or registered before their batch locked them: kept");
                    }
                    if let Some(log) = &s.audit {
                        let label = plan
                            .deletes
                            .last()
                            .map(|d| d.table.as_str())
                            .unwrap_or("users");
                        let written =
                            write_audit(&mut lock(log), &opts.run_id, label, &users, &per_user);
                        if let Err(e) = written {
                            // The batch has committed: stop here, and say so, rather than delete
                            // users the audit log would not record.
                            s.stops.record(Stop::Abort(format!(
                                "cannot write the audit log ({e:#}); stopped after batch {batch}, whose users are deleted but not all recorded"
                            )));
                            return;
                        }
                    }
                    self.size = match opts.target_batch {
                        Some(target) => {
                            toward_target(target, elapsed, picked, self.size, opts.batch_size)
                        }
                        None if self.size < opts.batch_size => (self.size * 2).min(opts.batch_size),
                        None => self.size,
                    };
                    s.tally(true, |_| {});
                    let pause = opts.control.pause_after(elapsed);
                    if !pause.is_zero() {
                        let t = Instant::now();
                        opts.control.pause(pause, &|| s.halted());
                        self.out.paused_seconds += t.elapsed().as_secs_f64();
                    }
                }
                Err(BatchError::Archive(e)) => {
                    s.stops.record(Stop::Abort(format!(
                        "cannot write the archive ({}); batch rolled back, nothing of it deleted",
                        crate::error::one_line(&e)
                    )));
                    return;
                }
                Err(e) => {
                    let last_error = e.message();
                    if let (Keys::Shared(claims), Some(last)) = (&keys, seen.claimed.take()) {
                        if s.workers == 1 {
                            // Nobody else picks: the cursor goes back, as if it never moved.
                            claims.unclaim(seen.after.clone(), seen.pos);
                        } else {
                            // Other workers pick after `last` by now: these users are this
                            // worker's alone.
                            debug!("the batch up to {last} failed after its pick: its users again, on their own ({last_error})");
                            keys = Keys::Own(Range {
                                after: seen.after.clone(),
                                upto: Some(last),
                            });
                        }
                    }
                    let transient = match &e {
                        BatchError::Db(d) => workers::transient(d),
                        _ => None,
                    };
                    // A deadlock (or, between workers, a lock wait) says nothing about the
                    // batch's users: the same batch again, after a short pause.
                    if let Some(kind) = transient {
                        if transient_tries < workers::TRANSIENT_RETRIES
                            && (kind == Transient::Deadlock || s.workers > 1)
                        {
                            transient_tries += 1;
                            self.out.deadlock_retries += 1;
                            debug!("batch of {limit} rolled back ({last_error}); retrying it as it is ({transient_tries} of {})", workers::TRANSIENT_RETRIES);
                            std::thread::sleep(workers::backoff(transient_tries));
                            continue;
                        }
                    }
                    self.out.retries += 1;
                    if self.size > 1 {
                        debug!("batch of {} failed ({last_error}); splitting", self.size);
                        self.size = (self.size / 2).max(1);
                        continue;
                    }
                    if !retried {
                        retried = true;
                        continue;
                    }
                    retried = false;
                    match skip_one(conn, plan, v, &keys, &seen.after) {
                        Ok(Skipped::One(id, last_id)) => {
                            if let Keys::Own(r) = &mut keys {
                                r.after = Some(last_id);
                            }
                            warn!("user {id} could not be deleted: {last_error}");
                            self.out.failed.push(Failed {
                                user_id: id,
                                error: last_error.clone(),
                            });
                            let failed = s.failures.fetch_add(1, Ordering::SeqCst) + 1;
                            if failed >= opts.max_failures {
                                s.stops.record(Stop::Failures(last_error));
                                return;
                            }
                        }
                        // Another worker's pick went past the failing user meanwhile: it
                        // meets it (or already took it); this worker goes on.
                        Ok(Skipped::Moved) => {}
                        Ok(Skipped::None) => match keys {
                            Keys::Own(_) => keys = Keys::Shared(&s.claims),
                            Keys::Shared(_) => return,
                        },
                        Err(e2) => {
                            s.stops.record(Stop::Abort(format!(
                                "{last_error}; then: {}",
                                message(&e2)
                            )));
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// The session statements of a connection that takes batches (before its first).
fn start_session(
    conn: &mut Conn,
    plan: &Plan,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> diesel::QueryResult<()> {
    for s in &plan.session {
        conn.execute(s, Values { cutoff, limit: 0 })?;
    }
    Ok(())
}

/// Applies the plan: one worker on `conn`, or with `work` (`--workers`) that many, `conn` and
/// one new connection each, all picking after the one shared keyset cursor; every batch is the
/// same transaction either way. Returns what was done, summed over the workers; an error that
/// stops the run is recorded in the outcome (`aborted`), since earlier batches have committed.
#[allow(clippy::too_many_arguments)]
pub fn run<'a>(
    conn: &mut Conn,
    plan: &'a Plan,
    cutoff: chrono::DateTime<chrono::Utc>,
    opts: &'a BatchOptions,
    work: Option<Work>,
    audit: Option<&'a mut AuditLog>,
    archiving: Option<Archiving<'a>>,
    progress: Option<OnBatch<'a>>,
) -> anyhow::Result<RunOutcome> {
    start_session(conn, plan, cutoff)?;
    let (db, workers) = match work {
        // Bounded picks are in the plan only when it was rendered for workers.
        Some(w) if plan.workers.is_some() => (Some(w.db), w.workers.max(1)),
        _ => (None, 1),
    };
    let lag = opts.control.replicas.is_some();
    let shared = Shared {
        plan,
        cutoff,
        opts,
        workers,
        audit: audit.map(Mutex::new),
        archive: archiving.map(|a| SharedArchive {
            table: matches!(a.archive, Archive::Table),
            archive: Mutex::new(a.archive),
            pause_before_commit: a.pause_before_commit,
        }),
        progress: progress.map(Mutex::new),
        tally: Mutex::new(RunOutcome {
            lag_waited_seconds: lag.then_some(0.0),
            ..Default::default()
        }),
        claims: Claims::listing(
            if workers == 1 {
                opts.listed.clone()
            } else {
                None
            },
            opts.listed_version.filter(|_| workers == 1),
        ),
        budget: Budget::new(opts.max_deletions, opts.max_per_run),
        stops: Stops::default(),
        failures: AtomicU64::new(0),
        attempts: AtomicU64::new(0),
    };
    if workers > 1 {
        info!("{workers} workers take the batches");
    }
    let parts = std::thread::scope(|scope| {
        let shared = &shared;
        let others: Vec<_> = (2..=workers)
            .filter_map(|i| db.map(|db| (i, db)))
            .map(|(i, db)| {
                scope.spawn(move || {
                    let _halt = HaltOnPanic(&shared.stops);
                    let mut w = Worker::new(shared);
                    let started = Conn::connect(db).and_then(|mut c| {
                        start_session(&mut c, plan, cutoff)?;
                        Ok(c)
                    });
                    match started {
                        Ok(mut c) => w.go(&mut c),
                        Err(e) => shared.stops.record(Stop::Abort(format!(
                            "worker {i} of {workers} could not start: {}",
                            crate::error::one_line(&e)
                        ))),
                    }
                    w.into_part()
                })
            })
            .collect();
        let mut parts = Vec::new();
        {
            let _halt = HaltOnPanic(&shared.stops);
            let mut w = Worker::new(shared);
            w.go(conn);
            parts.push(w.into_part());
        }
        for h in others {
            match h.join() {
                Ok(p) => parts.push(p),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        parts
    });
    let stop = shared.stops.take();
    let mut out = merge(plan, parts, stop, workers, lag);
    // SQLite's picks always take the users of the run's list table.
    out.users_listed = workers == 1 && (opts.listed.is_some() || plan.listed_table.is_some());
    Ok(out)
}

/// One summary from the workers' parts: sums, the smallest and largest batch, the longest and
/// p99 over every batch, and the reason the run stopped, said with the run's totals.
fn merge(plan: &Plan, parts: Vec<Part>, stop: Option<Stop>, workers: u64, lag: bool) -> RunOutcome {
    let mut out = RunOutcome {
        deleted_rows: plan.deletes.iter().map(|d| (d.table.clone(), 0)).collect(),
        lag_waited_seconds: lag.then_some(0.0),
        workers,
        ..Default::default()
    };
    let mut durations: Vec<f64> = Vec::new();
    for Part {
        out: o,
        durations: d,
    } in parts
    {
        if o.batches > 0 {
            out.batch_size_min = if out.batches == 0 {
                o.batch_size_min
            } else {
                out.batch_size_min.min(o.batch_size_min)
            };
            out.batch_size_max = out.batch_size_max.max(o.batch_size_max);
        }
        out.batches += o.batches;
        out.deleted_users += o.deleted_users;
        for (slot, (_, n)) in out.deleted_rows.iter_mut().zip(&o.deleted_rows) {
            slot.1 += n;
        }
        out.kept_changed += o.kept_changed;
        out.failed.extend(o.failed);
        out.retries += o.retries;
        out.deadlock_retries += o.deadlock_retries;
        out.paused_seconds += o.paused_seconds;
        if let Some(w) = o.lag_waited_seconds {
            out.lag_waited_seconds = Some(out.lag_waited_seconds.unwrap_or(0.0) + w);
        }
        out.lag_waits += o.lag_waits;
        durations.extend(d);
    }
    durations.sort_by(|a, b| a.total_cmp(b));
    out.max_batch_ms = durations.last().copied().unwrap_or(0.0);
    if !durations.is_empty() {
        let idx = ((durations.len() as f64) * 0.99).ceil() as usize;
        out.p99_batch_ms = durations[idx.clamp(1, durations.len()) - 1];
    }
    match stop {
        Some(Stop::Kind(kind, why)) => {
            out.stopped = Some(format!(
                "{why}: stopped after {} batches; the rest are kept, rerun to continue",
                out.batches
            ));
            out.stop_kind = Some(kind);
        }
        Some(Stop::PerRun(max)) => {
            out.stopped = Some(format!(
                "reached --max-per-run {max} after {} batches; the rest stay eligible for the next run",
                out.batches
            ));
            out.stop_kind = Some(StopKind::MaxPerRun);
        }
        Some(Stop::Failures(last_error)) => {
            out.stopped = Some(format!(
                "stopped after {} failed users (--max-failures); last error: {last_error}",
                out.failed.len()
            ));
        }
        Some(Stop::Abort(why)) => {
            out.stopped = Some(why);
            out.aborted = true;
        }
        None => {}
    }
    out
}

/// The first batch's size under `--target-batch-ms` (then sized from its measured time).
const FIRST_TARGETED_BATCH: u64 = 100;

/// The next batch's size when batches aim at `target`: the users the last batch's time per user
/// fits into the target, moving at most ×2 (or ÷2) per batch so one odd batch does not swing
/// it, and never more than `max` (`--batch-size`) nor fewer than [`FIRST_TARGETED_BATCH`] (or
/// `max` when smaller). Below that a batch's time is mostly what every batch costs whatever
/// its size (the pick's way to its first user, the commit), so smaller batches would not hold
/// the locks for less, only multiply that cost: on a backlog whose pick cost 80 ms at any
/// size, halving toward a 100 ms target left batches of one user.
fn toward_target(target: Duration, took: Duration, picked: u64, size: u64, max: u64) -> u64 {
    let floor = FIRST_TARGETED_BATCH.min(max).max(1);
    if picked == 0 || took.is_zero() {
        return (size * 2).clamp(floor, max.max(floor));
    }
    let per_user = took.as_secs_f64() / picked as f64;
    let fits = (target.as_secs_f64() / per_user).floor() as u64;
    fits.clamp((size / 2).max(floor), size.saturating_mul(2).max(floor))
        .clamp(floor, max.max(floor))
}

fn write_audit(
    log: &mut AuditLog,
    run_id: &str,
    users_label: &str,
    users: &[BatchUser],
    per_user: &[(String, HashMap<String, u64>)],
) -> anyhow::Result<()> {
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    for u in users {
        let mut rows = BTreeMap::new();
        for (table, counts) in per_user {
            rows.insert(table.as_str(), counts.get(&u.id).copied().unwrap_or(0));
        }
        rows.insert(users_label, 1);
        log.write(&Entry {
            run_id,
            user_id: &u.id,
            created_at: u.created_at.as_deref(),
            rows,
            deleted_at: &now,
        })?;
    }
    log.sync()
}

#[cfg(test)]
mod tests {
    use super::toward_target;
    use std::time::Duration;

    #[test]
    fn batches_move_toward_the_target_within_bounds() {
        let ms = Duration::from_millis;
        // 1000 users in 200 ms: 0.2 ms each; 100 ms fits 500.
        assert_eq!(toward_target(ms(100), ms(200), 1000, 1000, 5000), 500);
        // Far too slow: at most halved per batch.
        assert_eq!(toward_target(ms(100), ms(2000), 1000, 1000, 5000), 500);
        // Fast: at most doubled, never above --batch-size.
        assert_eq!(toward_target(ms(100), ms(10), 1000, 1000, 5000), 2000);
        assert_eq!(toward_target(ms(100), ms(10), 1000, 4000, 5000), 5000);
        // Never below the first batch's 100 users, where the time is the batch's fixed cost.
        assert_eq!(toward_target(ms(100), ms(150), 100, 100, 5000), 100);
        assert_eq!(toward_target(ms(1), ms(1000), 400, 400, 5000), 200);
        assert_eq!(toward_target(ms(1), ms(1000), 200, 200, 5000), 100);
        // Or --batch-size, when that is smaller.
        assert_eq!(toward_target(ms(1), ms(1000), 10, 10, 10), 10);
        assert_eq!(toward_target(ms(1), ms(1000), 1, 1, 1), 1);
    }
}
