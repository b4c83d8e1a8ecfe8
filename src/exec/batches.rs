//! `run`: keyset batches over the users' primary key, each one short transaction that locks,
//! re-checks and deletes; failing batches are split until the failing users are isolated.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::archive::Archive;
use crate::exec::audit::{AuditLog, Entry};
use crate::plan::Plan;
use crate::sql::conn::{BatchUser, Conn, Values};

/// Why a run stopped early on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopKind {
    /// SIGINT or SIGTERM.
    Signal,
    /// `--max-runtime` reached.
    MaxRuntime,
    /// The lock was lost.
    LockLost,
    /// The `--stop-file` appeared.
    StopFile,
    /// `--max-per-run` users were deleted (the rest wait for the next run; not a failure).
    MaxPerRun,
    /// A replica lagged more than `--max-replica-lag` for longer than `--max-lag-wait`.
    MaxLagWait,
}

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

    /// Sleeps `pause`, waking early when a stop condition arrives.
    fn pause(&self, pause: Duration) {
        let until = Instant::now() + pause;
        while Instant::now() < until && self.should_stop().is_none() {
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

/// One self-contained transaction: the batch settings, a fresh batch table, the pick of the
/// next users after the cursor `after` (the previous batch's last id; `None` for the first) with
/// `pick` (limit from `v`), the batch's last id read back, then `body`. Nothing a later batch
/// needs stays in the session, so through a transaction-mode pooler each batch may run on
/// another server session. `None` when nothing was left to pick; otherwise `body`'s value and
/// the cursor for the next batch (kept by the caller once the transaction committed).
fn in_batch<T>(
    conn: &mut Conn,
    plan: &Plan,
    v: Values,
    after: Option<&str>,
    pick: &crate::plan::Stmt,
    body: impl FnOnce(&mut Conn, u64) -> Result<T, BatchError>,
) -> Result<Option<(T, String)>, BatchError> {
    let result = conn.transaction(|c| {
        for s in &plan.batch_settings {
            c.execute(&s.stmt, v)?;
        }
        for s in &plan.drop_leftover {
            c.execute(s, v)?;
        }
        c.execute(&plan.create_batch, v)?;
        let picked = c.execute_after(pick, v, after)? as u64;
        let done = if picked == 0 {
            None
        } else {
            let last = c.text(&plan.last_id.sql)?.ok_or_else(|| {
                BatchError::Db(diesel::result::Error::QueryBuilderError(
                    "the batch's last id came back empty".into(),
                ))
            })?;
            Some((body(c, picked)?, last))
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

#[allow(clippy::too_many_arguments)]
fn one_batch(
    conn: &mut Conn,
    plan: &Plan,
    v: Values,
    after: Option<&str>,
    opts: &BatchOptions,
    want_per_user: bool,
    attempt: u64,
    archiving: Option<&mut Archiving>,
) -> Result<Batch, BatchError> {
    let pick = match after {
        None => &plan.pick_first,
        Some(_) => &plan.pick_next,
    };
    let done = in_batch(conn, plan, v, after, pick, |c, picked| {
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
            a.archive
                .write_batch(c, &records)
                .map_err(BatchError::Archive)?;
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

/// Takes the next eligible user after the cursor without deleting it; returns its id (for the
/// report) and the cursor past it.
fn skip_one(
    conn: &mut Conn,
    plan: &Plan,
    v: Values,
    after: Option<&str>,
) -> Result<Option<(String, String)>, diesel::result::Error> {
    let pick = match after {
        None => &plan.skip_first,
        Some(_) => &plan.skip_next,
    };
    let one = Values { limit: 1, ..v };
    let id = in_batch(conn, plan, one, after, pick, |c, _| {
        Ok(c.users(&plan.batch_users, one)?
            .into_iter()
            .next()
            .map(|u| u.id))
    });
    match id {
        Ok(Some((Some(id), last))) => Ok(Some((id, last))),
        Ok(_) => Ok(None),
        Err(BatchError::Db(e)) => Err(e),
        Err(other) => Err(diesel::result::Error::QueryBuilderError(
            other.message().into(),
        )),
    }
}

fn message(e: &diesel::result::Error) -> String {
    crate::error::redact(e.to_string().trim()).replace('\n', " ")
}

/// Applies the plan. Returns what was done; an error that stops the run is recorded in the
/// outcome (`aborted`), since earlier batches have committed.
pub fn run(
    conn: &mut Conn,
    plan: &Plan,
    cutoff: chrono::DateTime<chrono::Utc>,
    opts: &BatchOptions,
    mut audit: Option<&mut AuditLog>,
    mut archiving: Option<Archiving>,
    mut progress: Option<&mut dyn FnMut(&RunOutcome)>,
) -> anyhow::Result<RunOutcome> {
    let mut out = RunOutcome {
        deleted_rows: plan.deletes.iter().map(|d| (d.table.clone(), 0)).collect(),
        lag_waited_seconds: opts.control.replicas.as_ref().map(|_| 0.0),
        ..Default::default()
    };
    for s in &plan.session {
        conn.execute(s, Values { cutoff, limit: 0 })?;
    }
    // Aiming at a time target, start small and let the measured time per user grow the batches.
    let mut size = match opts.target_batch {
        Some(_) => opts.batch_size.min(FIRST_TARGETED_BATCH),
        None => opts.batch_size,
    };
    // The keyset cursor: the last id of the last committed batch, kept here between batches.
    let mut cursor: Option<String> = None;
    let mut retried = false;
    let mut durations: Vec<f64> = Vec::new();
    let mut attempt: u64 = 0;
    loop {
        if let Some(watch) = &opts.control.replicas {
            let mut watch = watch.lock().unwrap_or_else(|e| e.into_inner());
            let before = out.lag_waited_seconds.unwrap_or(0.0);
            let w = watch.wait(&|| opts.control.should_stop().is_some(), &mut |waited| {
                out.lag_waited_seconds = Some(before + waited.as_secs_f64());
                if let Some(p) = progress.as_deref_mut() {
                    p(&out);
                }
            });
            if !w.waited.is_zero() {
                out.lag_waits += 1;
                out.lag_waited_seconds = Some(before + w.waited.as_secs_f64());
            }
            if let Some(why) = w.timed_out {
                out.stopped = Some(format!(
                    "{why}: stopped after {} batches; the rest are kept, rerun to continue",
                    out.batches
                ));
                out.stop_kind = Some(StopKind::MaxLagWait);
                break;
            }
        }
        if let Some((kind, why)) = opts.control.should_stop() {
            out.stopped = Some(format!(
                "{why}: stopped after {} batches; the rest are kept, rerun to continue",
                out.batches
            ));
            out.stop_kind = Some(kind);
            break;
        }
        let mut limit = size;
        if let Some(max) = opts.max_deletions {
            let left = max.saturating_sub(out.deleted_users);
            if left == 0 {
                // The plan was within the cap (checked before the run); never go past it, even
                // if more users became eligible meanwhile (they are kept for the next run).
                if out.deleted_users > 0 {
                    info!("reached max_deletions ({max}): no further batch");
                }
                break;
            }
            limit = limit.min(left);
        }
        if let Some(max) = opts.max_per_run {
            let left = max.saturating_sub(out.deleted_users);
            if left == 0 {
                out.stopped = Some(format!(
                    "reached --max-per-run {max} after {} batches; the rest stay eligible for the next run",
                    out.batches
                ));
                out.stop_kind = Some(StopKind::MaxPerRun);
                break;
            }
            limit = limit.min(left);
        }
        let v = Values {
            cutoff,
            limit: limit as i64,
        };
        let started = Instant::now();
        attempt += 1;
        let result = one_batch(
            conn,
            plan,
            v,
            cursor.as_deref(),
            opts,
            audit.is_some(),
            attempt,
            archiving.as_mut(),
        );
        let elapsed = started.elapsed();
        match result {
            Ok(Batch::Empty) => break,
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
                durations.push(elapsed.as_secs_f64() * 1000.0);
                if out.batches == 0 {
                    out.batch_size_min = limit;
                }
                out.batch_size_min = out.batch_size_min.min(limit);
                out.batch_size_max = out.batch_size_max.max(limit);
                cursor = Some(last_id);
                retried = false;
                out.batches += 1;
                out.kept_changed += kept;
                for (slot, n) in out.deleted_rows.iter_mut().zip(&counts) {
                    slot.1 += n;
                }
                let deleted_users = counts.last().copied().unwrap_or(0);
                out.deleted_users += deleted_users;
                if let Some(a) = archiving.as_mut() {
                    if let Err(e) = a.archive.committed(&opts.run_id, attempt, deleted_users) {
                        warn!("cannot mark batch {attempt} committed in the archive: {e:#} (its users are archived)");
                    }
                }
                debug!("batch {}: picked {picked}, kept {kept} (changed), deleted {deleted_users} users in {:.1} ms", out.batches, elapsed.as_secs_f64() * 1000.0);
                if kept > 0 {
                    info!("{kept} picked users became active or registered before their batch locked them: kept");
                }
                if let Some(log) = audit.as_deref_mut() {
                    let label = plan
                        .deletes
                        .last()
                        .map(|d| d.table.as_str())
                        .unwrap_or("users");
                    if let Err(e) = write_audit(log, &opts.run_id, label, &users, &per_user) {
                        // The batch has committed: stop here, and say so, rather than delete
                        // users the audit log would not record.
                        out.stopped = Some(format!(
                            "cannot write the audit log ({e:#}); stopped after batch {}, whose users are deleted but not all recorded",
                            out.batches
                        ));
                        out.aborted = true;
                        break;
                    }
                }
                size = match opts.target_batch {
                    Some(target) => toward_target(target, elapsed, picked, size, opts.batch_size),
                    None if size < opts.batch_size => (size * 2).min(opts.batch_size),
                    None => size,
                };
                if let Some(p) = progress.as_deref_mut() {
                    p(&out);
                }
                let pause = opts.control.pause_after(elapsed);
                if !pause.is_zero() {
                    let t = Instant::now();
                    opts.control.pause(pause);
                    out.paused_seconds += t.elapsed().as_secs_f64();
                }
            }
            Err(BatchError::Archive(e)) => {
                out.stopped = Some(format!(
                    "cannot write the archive ({}); batch rolled back, nothing of it deleted",
                    crate::error::one_line(&e)
                ));
                out.aborted = true;
                break;
            }
            Err(e) => {
                let last_error = e.message();
                out.retries += 1;
                if size > 1 {
                    debug!("batch of {size} failed ({last_error}); splitting");
                    size = (size / 2).max(1);
                    continue;
                }
                if !retried {
                    retried = true;
                    continue;
                }
                retried = false;
                match skip_one(conn, plan, v, cursor.as_deref()) {
                    Ok(Some((id, last_id))) => {
                        cursor = Some(last_id);
                        warn!("user {id} could not be deleted: {last_error}");
                        out.failed.push(Failed {
                            user_id: id,
                            error: last_error.clone(),
                        });
                        if out.failed.len() as u64 >= opts.max_failures {
                            out.stopped = Some(format!(
                                "stopped after {} failed users (--max-failures); last error: {last_error}",
                                out.failed.len()
                            ));
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e2) => {
                        out.stopped = Some(format!("{last_error}; then: {}", message(&e2)));
                        out.aborted = true;
                        break;
                    }
                }
            }
        }
    }
    durations.sort_by(|a, b| a.total_cmp(b));
    out.max_batch_ms = durations.last().copied().unwrap_or(0.0);
    if !durations.is_empty() {
        let idx = ((durations.len() as f64) * 0.99).ceil() as usize;
        out.p99_batch_ms = durations[idx.clamp(1, durations.len()) - 1];
    }
    Ok(out)
}

/// The first batch's size under `--target-batch-ms` (then sized from its measured time).
const FIRST_TARGETED_BATCH: u64 = 100;

/// The next batch's size when batches aim at `target`: the users the last batch's time per user
/// fits into the target, moving at most ×2 (or ÷2) per batch so one odd batch does not swing
/// it, and never more than `max` (`--batch-size`) nor fewer than 1.
fn toward_target(target: Duration, took: Duration, picked: u64, size: u64, max: u64) -> u64 {
    if picked == 0 || took.is_zero() {
        return (size * 2).clamp(1, max);
    }
    let per_user = took.as_secs_f64() / picked as f64;
    let fits = (target.as_secs_f64() / per_user).floor() as u64;
    fits.clamp((size / 2).max(1), size.saturating_mul(2))
        .clamp(1, max)
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
        // Never below one user.
        assert_eq!(toward_target(ms(1), ms(1000), 1, 1, 5000), 1);
    }
}
