//! The listing `plan` and `sql` print: every statement the run can execute, in the order it
//! runs, each marked with when it runs. The executor runs these statements and no others.

use super::{Plan, Stmt};
use crate::config::settings::Settings;
use crate::sql::dialect::{Backend, Param};
use crate::sql::templates::{self, render, ListedSql};

/// One statement of the plan, with when it runs.
pub struct Listed<'a> {
    /// The section it opens, if it is the first of one.
    pub section: &'static str,
    pub when: String,
    pub what: String,
    pub stmt: &'a Stmt,
}

const CHECKS: &str =
    "Pre-flight checks that read the data (to detect how times are stored), before anything else";
const COUNTS: &str = "Before the first batch: counts, in one read-only snapshot";
const LISTED_TABLE: &str = "Before the first batch: counts, in one snapshot; a run (not --dry-run) writes in it its list of eligible users, a temporary table of its own connection, and nothing else";
const ONCE: &str = "Once per run, on the run's own connection, before the first batch";
const ONCE_PER_WORKER: &str =
    "Once per connection, before its first batch: the run's own and each worker's (--workers)";
/// When a statement of a run with workers runs.
const WORKERS_ONLY: &str = "only with --workers above 1:";
const BATCH: &str = "Each batch: one transaction";
const BATCH_WORKERS: &str = "Each batch: one transaction, on one worker's connection (--workers): the picks take the users after the run's one keyset cursor, one worker at a time, and move it past them";
const FAILED: &str =
    "Only when a batch of one user fails: move the cursor past that user (it is kept and reported)";
const REPLICAS: &str = "Only with --max-replica-lag (run, and once in run --dry-run): the replicas' lag before each batch, on a connection of its own to the primary or on each --replica (no application table is read)";

/// The queries `run --max-replica-lag` sends to watch the replicas: on a connection of its own
/// to the primary, or on each `--replica`.
#[derive(Clone, Debug, Default)]
pub struct ReplicaQueries {
    /// PostgreSQL without `--replica`: the physical standbys connected to the primary.
    pub from_primary: Option<Stmt>,
    /// PostgreSQL `--replica`: the standby's own view of its replay.
    pub standby: Option<Stmt>,
    /// MySQL/MariaDB `--replica`: `SHOW REPLICA STATUS`, then `SHOW SLAVE STATUS` for a server
    /// that does not know the first.
    pub status: Vec<Stmt>,
}

impl ReplicaQueries {
    /// The backend's queries (none on SQLite, which has no replicas).
    pub fn build(backend: Backend) -> ReplicaQueries {
        let plain = |sql: String| Stmt {
            sql,
            params: Vec::new(),
        };
        match backend {
            Backend::Postgres => ReplicaQueries {
                from_primary: Some(plain(render(&templates::ReplicasFromPrimary))),
                standby: Some(plain(render(&templates::StandbyLag))),
                status: Vec::new(),
            },
            Backend::Mysql => ReplicaQueries {
                status: ["REPLICA", "SLAVE"]
                    .iter()
                    .map(|word| plain(render(&templates::ReplicaStatus { word })))
                    .collect(),
                ..ReplicaQueries::default()
            },
            Backend::Sqlite => ReplicaQueries::default(),
        }
    }
}
const LEFTOVER: &str = "a batch table an earlier run left in this server session, if any (a pooler hands sessions from client to client)";
const AFTER: &str = "After the batches";
const ROLLED_BACK: &str = "After a batch that was rolled back";
const PROBE: &str =
    "Before the lock and anything else: is a transaction-mode connection pooler in between?";
const CONNECT: &str = "When a connection opens, before any other statement on it";

impl Plan {
    /// Every statement, in execution order.
    pub fn listing<'p>(&'p self) -> Vec<Listed<'p>> {
        let mut out: Vec<Listed<'p>> = Vec::new();
        let mut section = "";
        let mut add = |sec: &'static str, when: &str, what: String, stmt: &'p Stmt| {
            let opens = if sec != section { sec } else { "" };
            section = sec;
            out.push(Listed {
                section: opens,
                when: when.to_string(),
                what,
                stmt,
            });
        };
        let plan_only = "plan only";
        let counts = match self.listed_table {
            Some(_) => LISTED_TABLE,
            None => COUNTS,
        };
        for s in &self.connect {
            add(
                CONNECT,
                "run, plan and doctor: every connection (the run's, each worker's, the pooler probe's)",
                "a setting of this connection only".into(),
                s,
            );
        }
        let rounds = format!(
            "run and plan: up to {} rounds, each twice on one connection and once on a second one (between the two or after them, in turn)",
            super::POOLER_PROBE_ROUNDS
        );
        for s in &self.pooler_probe {
            add(
                PROBE,
                &rounds,
                "the server process serving the connection: a pid that changes between transactions, or serves both connections, means a transaction-mode pooler".into(),
                s,
            );
        }
        for s in &self.preflight_reads {
            add(
                CHECKS,
                "run, plan and doctor",
                "read-only check of stored values".into(),
                s,
            );
        }
        add(
            counts,
            "plan and run --dry-run; run when max_fraction is set",
            "anonymous users (the max_fraction cap divides by them)".into(),
            &self.count_anonymous,
        );
        let max = super::LISTED_MAX;
        if let Some(l) = &self.listed {
            let what = if l.all {
                format!("every eligible user's id, streamed into the run's list (in memory up to {}, then a temporary file of the run's): the batches take these users, by id, and no others", super::LISTED_IN_MEMORY)
            } else {
                format!("the eligible users' ids, at most {} of them: when {max} or fewer are eligible, the run keeps this list and its batches take these users, by id, and no others", max + 1)
            };
            add(
                counts,
                "run with one worker, instead of the count below",
                what,
                &l.candidates,
            );
        }
        let eligible_when = match (&self.listed_table, &self.listed) {
            (Some(_), _) => "plan and run --dry-run (a run counts by listing them, above)".to_string(),
            (None, Some(l)) if l.all => "plan; run with --workers".to_string(),
            (None, _) => format!("plan; run with --workers, or when more than {max} are eligible (then also after its batches)"),
        };
        if let Some(t) = &self.listed_table {
            for s in &t.setup {
                add(
                    counts,
                    "run (not --dry-run)",
                    "the run's list of eligible users: a temporary table on its own connection (a list an earlier run on it left is dropped first)".into(),
                    s,
                );
            }
            add(
                counts,
                "run (not --dry-run), instead of the count below",
                "every eligible user's id into the list: the rows it inserts are the eligible count, and the batches take these users, by id, and no others".into(),
                &t.fill,
            );
            add(
                counts,
                "run (not --dry-run)",
                "the database's change counter in the count's snapshot (it changes when another connection commits, never for the run's own commits)".into(),
                &t.version,
            );
        }
        add(
            counts,
            &eligible_when,
            "eligible users: anonymous, created before the cutoff, no session activity at or after it"
                .into(),
            &self.count_eligible,
        );
        for g in &self.count_guarded {
            add(
                counts,
                plan_only,
                format!("users kept by the guard on {}", g.table),
                &g.stmt,
            );
        }
        add(
            counts,
            plan_only,
            format!(
                "eligible users and the rows {} would lose, in one pass",
                self.count_tables.join(", ")
            ),
            &self.count_plan,
        );
        add(
            counts,
            "plan only (--sample)",
            "a sample of eligible ids".into(),
            &self.sample,
        );
        add(
            counts,
            "plan only (--list)",
            "the eligible users for --list, with their latest activity and rows per table: the first page".into(),
            &self.list.first,
        );
        add(
            counts,
            "plan only (--list)",
            "the eligible users for --list: each page after the first, until one comes back short"
                .into(),
            &self.list.next,
        );
        let once = if self.workers.is_some() {
            ONCE_PER_WORKER
        } else {
            ONCE
        };
        for s in &self.session {
            add(
                once,
                "once per run",
                "how long a batch waits for a lock".into(),
                s,
            );
        }
        let every = "every batch";
        let later = "batches after the first";
        let batch = if self.workers.is_some() {
            BATCH_WORKERS
        } else {
            BATCH
        };
        for s in &self.batch_settings {
            add(batch, every, s.what.into(), &s.stmt);
        }
        for s in &self.drop_leftover {
            add(batch, every, LEFTOVER.into(), s);
        }
        add(
            batch,
            every,
            "the batch table, for this transaction only (nothing stays in the session for the next batch)"
                .into(),
            &self.create_batch,
        );
        let (first, next) = match &self.listed_table {
            Some(_) => (
                "pick the first listed users still eligible (no cursor yet)",
                "pick the next listed users still eligible, after the cursor",
            ),
            None => (
                "pick and lock the first users (no cursor yet)",
                "pick and lock the next users after the cursor",
            ),
        };
        if let Some((t, u)) = self
            .listed_table
            .as_ref()
            .and_then(|t| t.unchanged.as_ref().map(|u| (t, u)))
        {
            add(
                batch,
                every,
                "the database's change counter, inside the batch's write lock: the count's value means nobody else has written since the users were listed".into(),
                &t.version,
            );
            add(
                batch,
                "first batch, when the counter is the count's",
                "pick the first listed users still there (no cursor yet): nothing has changed since the count found them eligible, so the rule is not read again".into(),
                &u.first,
            );
            add(
                batch,
                "batches after the first, when the counter is the count's",
                "pick the next listed users still there, after the cursor: nothing has changed since the count found them eligible, so the rule is not read again".into(),
                &u.next,
            );
        }
        let (pick_when, next_when) = match self.listed_table.as_ref().map(|t| &t.unchanged) {
            Some(Some(_)) => (
                "first batch, when the counter moved",
                "batches after the first, when the counter moved",
            ),
            _ => ("first batch", later),
        };
        add(batch, pick_when, first.into(), &self.pick_first);
        add(batch, next_when, next.into(), &self.pick_next);
        if let Some(l) = &self.listed {
            add(
                batch,
                "every batch of a run whose count listed its users, instead of the two picks above",
                if l.all {
                    "pick and lock the next listed users still there; the re-check below, after their sessions are locked, keeps those no longer eligible".into()
                } else {
                    "pick and lock the next listed users, those still eligible".into()
                },
                &l.pick,
            );
        }
        if let Some(w) = &self.workers {
            add(
                batch,
                &format!("{WORKERS_ONLY} the first batch failed after its pick"),
                "its worker picks and locks its users again, up to its last id (other workers' picks have moved the cursor past them)".into(),
                &w.pick_first,
            );
            add(
                batch,
                &format!("{WORKERS_ONLY} a later batch failed after its pick"),
                "its worker picks and locks its users again: after the cursor (first the failed batch's start, then each of these batches' last id), up to the failed batch's last id".into(),
                &w.pick_next,
            );
        }
        add(
            batch,
            every,
            "the batch's last id: the keyset cursor the next batch binds".into(),
            &self.last_id,
        );
        for s in &self.analyze {
            add(
                batch,
                every,
                "statistics for the freshly filled batch table, so the planner drives the joins from it"
                    .into(),
                s,
            );
        }
        for s in &self.lock_children {
            let what = if self.lock_counts_active() {
                "lock the picked users' sessions and count those with activity at or after the cutoff"
            } else {
                "lock the picked users' sessions, so their activity cannot change under us"
            };
            add(batch, every, what.into(), s);
        }
        if let Some(r) = &self.recheck {
            let when = if self.lock_counts_active() {
                "only when the lock count above is not zero"
            } else {
                every
            };
            add(
                batch,
                when,
                "re-check the rule; drop users that changed since they were picked".into(),
                r,
            );
        }
        add(
            batch,
            "only with --audit-log",
            "the batch's users, for the audit log".into(),
            &self.batch_users,
        );
        for c in &self.count_per_user {
            add(
                batch,
                "only with --audit-log",
                format!("each user's rows in {}, for the audit log", c.table),
                &c.stmt,
            );
        }
        let archived = self.deletes.iter().map(|d| d.table.as_str());
        for (s, table) in self.archive_rows.iter().zip(archived) {
            let lock = if self.backend.has_row_locks() {
                "read and lock"
            } else {
                "read"
            };
            add(
                batch,
                "only with --archive-dir or --archive-to-table",
                format!("{lock} the rows of {table} the batch deletes, for the archive"),
                s,
            );
        }
        for d in &self.deletes {
            add(
                batch,
                every,
                format!("delete from {}, in foreign-key order", d.table),
                &d.stmt,
            );
        }
        for s in &self.drop_batch {
            add(
                batch,
                every,
                "last in the transaction: drop the batch table".into(),
                s,
            );
        }
        for s in &self.drop_after_rollback {
            add(
                ROLLED_BACK,
                "after a batch that failed",
                "drop the batch table (a temporary table outlives a rollback here)".into(),
                s,
            );
        }
        for s in &self.batch_settings {
            add(FAILED, every, s.what.into(), &s.stmt);
        }
        for s in &self.drop_leftover {
            add(FAILED, every, LEFTOVER.into(), s);
        }
        add(
            FAILED,
            every,
            "the batch table, for this transaction only".into(),
            &self.create_batch,
        );
        let take = match &self.listed_table {
            Some(_) => "take the failing user: the next listed user still eligible",
            None => "take the failing user (no lock)",
        };
        add(
            FAILED,
            "when the user fails in the first batch",
            take.into(),
            &self.skip_first,
        );
        add(
            FAILED,
            "when the user fails in a later batch",
            take.into(),
            &self.skip_next,
        );
        if let Some(w) = &self.workers {
            add(
                FAILED,
                &format!("{WORKERS_ONLY} when the user fails among those of a failed first batch"),
                "take the failing user, up to the failed batch's last id (no lock)".into(),
                &w.skip_first,
            );
            add(
                FAILED,
                &format!("{WORKERS_ONLY} when the user fails among those of a failed later batch"),
                "take the failing user, up to the failed batch's last id (no lock)".into(),
                &w.skip_next,
            );
        }
        if let Some(l) = &self.listed {
            add(
                FAILED,
                "when the run's count listed its users, instead of the two above",
                "take the failing user: the next listed user still eligible (no lock)".into(),
                &l.skip,
            );
        }
        add(
            FAILED,
            every,
            "its id: the keyset cursor, past it".into(),
            &self.last_id,
        );
        add(
            FAILED,
            every,
            "its id, for the report".into(),
            &self.batch_users,
        );
        for s in &self.drop_batch {
            add(
                FAILED,
                every,
                "last in the transaction: drop the batch table".into(),
                s,
            );
        }
        let still = "how many of the listed users are still there, and how many of those still eligible: the summary's kept, failed, not reached and gone before their batch";
        if let Some(l) = &self.listed {
            add(
                AFTER,
                "run, when its count listed its users and its batches did not delete them all",
                still.into(),
                &l.count,
            );
        }
        if let Some(t) = &self.listed_table {
            add(
                AFTER,
                "run (not --dry-run), unless its batches deleted every listed user",
                still.into(),
                &t.count,
            );
            add(
                AFTER,
                "run (not --dry-run), last",
                "drop the run's list of eligible users".into(),
                &t.drop,
            );
        }
        let r = &self.replicas;
        if let Some(s) = &r.from_primary {
            add(
                REPLICAS,
                "on the primary, without --replica",
                "the primary's WAL position and each physical standby's replay position and last report".into(),
                s,
            );
        }
        if let Some(s) = &r.standby {
            add(
                REPLICAS,
                "on each --replica",
                "the standby's replay: caught up with what it received, or the age of the last transaction it replayed".into(),
                s,
            );
        }
        for (i, s) in r.status.iter().enumerate() {
            let when = if i == 0 {
                "on each --replica"
            } else {
                "on each --replica that does not know SHOW REPLICA STATUS (MySQL before 8.0.22, MariaDB before 10.5.1)"
            };
            add(
                REPLICAS,
                when,
                "the replica's Seconds_Behind_Source (Seconds_Behind_Master)".into(),
                s,
            );
        }
        out
    }

    fn format_lines(&self, settings: &Settings) -> Vec<String> {
        let s = &settings.schema;
        let mut out = vec![format!(
            "{}.{}: {}",
            s.users,
            s.users_created_at,
            self.formats.created_at.name()
        )];
        for (c, k) in s.sessions_activity.iter().zip(&self.formats.activity) {
            out.push(format!("{}.{c}: {}", s.sessions, k.name()));
        }
        for (c, k) in s.users_activity.iter().zip(&self.formats.users_activity) {
            out.push(format!("{}.{c}: {}", s.users, k.name()));
        }
        out
    }

    /// What each placeholder of `stmt` binds.
    fn binds(&self, stmt: &Stmt) -> String {
        let listed_limit = format!("{} (one more than a run lists)", super::LISTED_MAX + 1);
        let limit = if std::ptr::eq(stmt, &self.sample) {
            "the --sample count"
        } else if std::ptr::eq(stmt, &self.list.first) || std::ptr::eq(stmt, &self.list.next) {
            "the batch size (users per page)"
        } else if self
            .listed
            .as_ref()
            .is_some_and(|l| std::ptr::eq(stmt, &l.candidates))
        {
            listed_limit.as_str()
        } else {
            "the batch size"
        };
        stmt.params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let ph = match self.backend {
                    // Positional: say which `?` it is.
                    Backend::Mysql => format!("?#{}", i + 1),
                    b => b.placeholder(i + 1),
                };
                match p {
                    Param::Cutoff(k) => {
                        format!("{ph} = cutoff (as-of minus retention, UTC) as {}", k.name())
                    }
                    Param::TextBound => format!(
                        "{ph} = cutoff plus 15 hours (the largest zone offset) as iso-text, for the quick text test"
                    ),
                    Param::Limit => format!("{ph} = {limit}"),
                    Param::PageAfter
                        if std::ptr::eq(stmt, &self.pick_next)
                            || std::ptr::eq(stmt, &self.skip_next)
                            || self
                                .listed_table
                                .as_ref()
                                .and_then(|t| t.unchanged.as_ref())
                                .is_some_and(|u| std::ptr::eq(stmt, &u.next)) =>
                    {
                        format!("{ph} = the keyset cursor: the previous batch's last id (as text)")
                    }
                    Param::PageAfter if self.is_worker_pick(stmt) => format!(
                        "{ph} = the keyset cursor: the failed batch's start, then the previous batch's last id (as text)"
                    ),
                    Param::PageAfter => format!("{ph} = the previous page's last id (as text)"),
                    Param::UpTo => format!("{ph} = the failed batch's last id (as text)"),
                    Param::Ids
                        if self
                            .listed
                            .as_ref()
                            .is_some_and(|l| std::ptr::eq(stmt, &l.count)) =>
                    {
                        format!("{ph} = the listed users' ids, as a JSON array of text, {} at a time (the counts are added up)", super::LISTED_COUNT_CHUNK)
                    }
                    Param::Ids => format!(
                        "{ph} = the next listed users' ids after the previous batch's, at most the batch size, as a JSON array of text"
                    ),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One of the picks bounded by a failed batch's last id (`--workers`).
    fn is_worker_pick(&self, stmt: &Stmt) -> bool {
        self.workers.as_ref().is_some_and(|w| {
            [&w.pick_first, &w.pick_next, &w.skip_first, &w.skip_next]
                .iter()
                .any(|s| std::ptr::eq(stmt, *s))
        })
    }

    /// The annotated listing `anonsweep sql` prints and `plan` shows: every statement.
    pub fn overview(&self, settings: &Settings) -> String {
        let listed = self.listing();
        let statements = listed
            .iter()
            .map(|l| ListedSql {
                section: l.section,
                when: &l.when,
                what: &l.what,
                binds: self.binds(l.stmt),
                sql: &l.stmt.sql,
            })
            .collect();
        let text = render(&templates::Overview {
            preset: &self.preset,
            backend: self.backend.name(),
            assumed: self.formats.assumed,
            formats: self.format_lines(settings),
            statements,
        });
        format!("{text}\n")
    }
}
