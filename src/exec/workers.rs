//! `--workers`: several connections deleting at once, and what they share: the run's one keyset
//! cursor (each pick claims the users after it, so no two batches ever share a user), the caps'
//! budget, the reason the run stops, and which errors are worth retrying as they are (deadlocks).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::exec::stop::StopKind;

/// A range of the users' keys: the ids after `after` (none: from the first) up to and including
/// `upto` (none: to the last). A worker whose batch failed after its pick takes that batch's
/// users again in one: (the batch's start, its last id].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Range {
    pub after: Option<String>,
    pub upto: Option<String>,
}

/// The run's keyset cursor, shared by the workers: the last id any pick has taken, and whether
/// a pick found nobody after it. Held while a worker picks, so the next pick starts after the
/// users the last one took.
#[derive(Default)]
pub(super) struct Claims(Mutex<Claimed>);

#[derive(Default)]
pub(super) struct Claimed {
    pub(super) cursor: Option<String>,
    /// A pick found no eligible user after the cursor: the shared walk is over.
    pub(super) done: bool,
    /// The users the run's count listed (one worker): the picks take them in this order, by
    /// id, instead of walking the table; `pos` is the first not yet picked.
    pub(super) listed: Option<std::sync::Arc<crate::exec::idlist::IdList>>,
    pub(super) pos: usize,
    /// SQLite: the database's change counter when the run's count filled its list table.
    pub(super) version: Option<u64>,
}

impl Claims {
    pub(super) fn lock(&self) -> MutexGuard<'_, Claimed> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One worker: its failed batch gives its users back (the cursor returns to the batch's
    /// start), so it picks them again as it would without workers.
    pub(super) fn unclaim(&self, after: Option<String>, pos: usize) {
        let mut c = self.lock();
        c.cursor = after;
        c.pos = pos;
        c.done = false;
    }

    /// The picks take the users of `listed`, in its order; `version`: SQLite's change counter
    /// when the run's list table was filled.
    pub(super) fn listing(
        listed: Option<std::sync::Arc<crate::exec::idlist::IdList>>,
        version: Option<u64>,
    ) -> Claims {
        Claims(Mutex::new(Claimed {
            listed,
            version,
            ..Claimed::default()
        }))
    }
}

/// Which cap a budget stands for (the lower of the two when both are set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cap {
    /// `max_deletions`: no further batch, quietly (the plan was within it).
    Deletions,
    /// `--max-per-run`: stop cleanly, the rest wait for the next run.
    PerRun,
}

/// What a worker gets when it asks the budget for a batch.
pub(super) enum Reserve {
    /// At most this many users for the batch.
    Take(u64),
    /// Nothing left now, but batches in flight may give some back: ask again.
    Wait,
    /// The cap is reached: `deleted` users of at most `max`.
    Exhausted { cap: Cap, max: u64, deleted: u64 },
}

/// The caps `max_deletions` and `--max-per-run` shared by all workers: each batch reserves its
/// limit before it starts and gives back what it did not delete, so the users deleted in total
/// never go past the cap, however many batches are in flight.
pub(super) struct Budget {
    cap: Option<(u64, Cap)>,
    /// (deleted, reserved by batches in flight).
    state: Mutex<(u64, u64)>,
    settled: Condvar,
}

impl Budget {
    pub(super) fn new(max_deletions: Option<u64>, max_per_run: Option<u64>) -> Budget {
        let cap = match (max_deletions, max_per_run) {
            (Some(d), Some(p)) if d <= p => Some((d, Cap::Deletions)),
            (Some(d), None) => Some((d, Cap::Deletions)),
            (_, Some(p)) => Some((p, Cap::PerRun)),
            (None, None) => None,
        };
        Budget {
            cap,
            state: Mutex::new((0, 0)),
            settled: Condvar::new(),
        }
    }

    /// Reserves up to `want` users for one batch.
    pub(super) fn reserve(&self, want: u64) -> Reserve {
        let Some((max, cap)) = self.cap else {
            return Reserve::Take(want);
        };
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let left = max.saturating_sub(st.0 + st.1);
        if left > 0 {
            let n = want.min(left);
            st.1 += n;
            return Reserve::Take(n);
        }
        if st.1 == 0 {
            return Reserve::Exhausted {
                cap,
                max,
                deleted: st.0,
            };
        }
        // Wait a little for a batch in flight to settle, then let the worker look again (it
        // checks the stop conditions first).
        let _ = self
            .settled
            .wait_timeout(st, Duration::from_millis(50))
            .unwrap_or_else(|e| e.into_inner());
        Reserve::Wait
    }

    /// After the batch that reserved `reserved` users: `deleted` of them were deleted.
    pub(super) fn settle(&self, reserved: u64, deleted: u64) {
        if self.cap.is_none() {
            return;
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.0 += deleted;
        st.1 = st.1.saturating_sub(reserved);
        drop(st);
        self.settled.notify_all();
    }
}

/// Why the run stopped before every eligible user was taken (formatted once, with the run's
/// totals).
#[derive(Debug)]
pub(super) enum Stop {
    /// On purpose: a signal, `--max-runtime`, the stop file, the lock lost, a lagging replica.
    Kind(StopKind, String),
    /// `--max-per-run` users were deleted.
    PerRun(u64),
    /// `--max-failures` users failed; the last error.
    Failures(String),
    /// An error (not a per-user failure): the message as the summary says it.
    Abort(String),
}

impl Stop {
    /// Which reason the summary gives when workers stopped for different ones: an error first.
    fn rank(&self) -> u8 {
        match self {
            Stop::Abort(_) => 3,
            Stop::Failures(_) => 2,
            Stop::Kind(..) => 1,
            Stop::PerRun(_) => 0,
        }
    }
}

/// The first reason to stop (an error wins over a stop on purpose), and the flag that makes
/// every worker stop before its next batch.
#[derive(Default)]
pub(super) struct Stops {
    first: Mutex<Option<Stop>>,
    halt: AtomicBool,
}

impl Stops {
    /// Records why a worker stops, and stops the others between batches.
    pub(super) fn record(&self, stop: Stop) {
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        if first.as_ref().is_none_or(|f| stop.rank() > f.rank()) {
            *first = Some(stop);
        }
        drop(first);
        self.halt();
    }

    /// Stops the other workers before their next batch, without a reason of its own (the cap
    /// reached: the run ends normally).
    pub(super) fn halt(&self) {
        self.halt.store(true, Ordering::SeqCst);
    }

    pub(super) fn halted(&self) -> bool {
        self.halt.load(Ordering::SeqCst)
    }

    pub(super) fn take(&self) -> Option<Stop> {
        self.first.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A batch error that says nothing about its users: retried as it is, after a short pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Transient {
    /// A deadlock or serialization failure (PostgreSQL 40P01 / 40001, MySQL 1213): the server
    /// rolled the transaction back at once.
    Deadlock,
    /// MySQL 1205: a lock wait timed out (with workers, possibly on another worker's batch).
    LockWait,
}

/// How many times in a row the same batch is retried after a transient error before the
/// ordinary failure path (split the batch, isolate the failing user) takes over.
pub(super) const TRANSIENT_RETRIES: u32 = 3;

/// Whether `e` is transient. PostgreSQL's serialization failures come with their SQLSTATE; a
/// deadlock (40P01) and MySQL's errors are known by the server's (English) message.
pub(super) fn transient(e: &diesel::result::Error) -> Option<Transient> {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
            Some(Transient::Deadlock)
        }
        Error::DatabaseError(_, info) => {
            let m = info.message().to_ascii_lowercase();
            if m.contains("deadlock") || m.contains("could not serialize access") {
                Some(Transient::Deadlock)
            } else if m.contains("lock wait timeout exceeded") {
                Some(Transient::LockWait)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The pause before transient retry `n` (1-based): 20, 40, 80 ms, plus up to as much again
/// (from the clock), so two workers that collided do not collide again in step.
pub(super) fn backoff(n: u32) -> Duration {
    let base = 20u64 << n.saturating_sub(1).min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    Duration::from_millis(base + nanos % (base + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_never_hands_out_more_than_the_cap() {
        let b = Budget::new(Some(10), Some(25));
        let Reserve::Take(a) = b.reserve(6) else {
            panic!("first reservation")
        };
        let Reserve::Take(c) = b.reserve(6) else {
            panic!("second reservation")
        };
        assert_eq!((a, c), (6, 4));
        // All of it is reserved by batches in flight: wait for them.
        assert!(matches!(b.reserve(6), Reserve::Wait));
        // One deleted 5 of its 6 (one user changed meanwhile): 1 comes back.
        b.settle(6, 5);
        let Reserve::Take(d) = b.reserve(6) else {
            panic!("after a settle")
        };
        assert_eq!(d, 1);
        b.settle(4, 4);
        b.settle(1, 1);
        assert!(matches!(
            b.reserve(6),
            Reserve::Exhausted {
                cap: Cap::Deletions,
                max: 10,
                deleted: 10
            }
        ));
        assert!(matches!(
            Budget::new(None, None).reserve(7),
            Reserve::Take(7)
        ));
        assert!(matches!(
            Budget::new(Some(30), Some(20)).reserve(50),
            Reserve::Take(20)
        ));
    }

    #[test]
    fn an_error_is_the_reason_given_over_a_stop_on_purpose() {
        let s = Stops::default();
        s.record(Stop::Kind(StopKind::Signal, "interrupted".into()));
        s.record(Stop::Abort("cannot write the archive".into()));
        s.record(Stop::Kind(StopKind::Signal, "interrupted".into()));
        assert!(s.halted());
        assert!(matches!(s.take(), Some(Stop::Abort(_))));
    }
}
