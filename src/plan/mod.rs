//! The `Plan`: every statement `plan` shows and `run` executes, rendered once from the templates.
//! Pure: settings and the inspected schema in, rendered statements out.

mod list;
mod listing;
mod names;
mod script;

pub use list::List;
pub use listing::{Listed, ReplicaQueries};
use names::{plain, Names, Root};

pub use crate::config::settings::fmt_time;
use crate::config::settings::Settings;
use crate::preflight::children::Child;
use crate::sql::dialect::{Backend, Binder};
pub use crate::sql::dialect::{Formats, Stmt};
use crate::sql::templates::{self, render};

/// A table rows are deleted from, with its label for summaries.
#[derive(Clone, Debug)]
pub struct Labeled {
    pub table: String,
    pub stmt: Stmt,
}

/// A statement with what it is for (the listing's words).
#[derive(Clone, Debug)]
pub struct Described {
    pub what: &'static str,
    pub stmt: Stmt,
}

/// Everything `plan` shows and `run` executes.
#[derive(Clone, Debug)]
pub struct Plan {
    pub backend: Backend,
    pub preset: String,
    pub formats: Formats,
    /// The reads of the application's data the pre-flight checks made to detect the storage
    /// formats (SQLite value types and ISO-8601 shape, epoch units), before anything else.
    pub preflight_reads: Vec<Stmt>,
    pub count_anonymous: Stmt,
    pub count_eligible: Stmt,
    /// `plan`: the eligible users and the rows each table would lose, in one pass (one text
    /// `n|n1|…`, the tables in `count_tables`' order).
    pub count_plan: Stmt,
    pub count_tables: Vec<String>,
    /// Per `[[keep_if]]` guard: the users the rule without guards would delete that it keeps.
    pub count_guarded: Vec<Labeled>,
    pub sample: Stmt,
    /// `plan --list`: every eligible user, in keyset pages of the batch size.
    pub list: List,
    /// Before the lock and anything else (PostgreSQL): the server process serving the
    /// connection, read on two connections to detect a transaction-mode pooler.
    pub pooler_probe: Vec<Stmt>,
    /// When each connection opens, before anything else (`Backend::on_connect`).
    pub connect: Vec<Stmt>,
    /// Once per run, before the first batch: how long a batch waits for a lock (SQLite, MySQL).
    pub session: Vec<Stmt>,
    /// First in each batch transaction (PostgreSQL, `SET LOCAL`): how long it waits for a row
    /// lock, and UTC.
    pub batch_settings: Vec<Described>,
    /// Before it is created (PostgreSQL, MySQL): a batch table an earlier run left in this
    /// server session, if any (through a pooler the session may have served another client;
    /// older versions kept the table for the whole run).
    pub drop_leftover: Vec<Stmt>,
    /// Then the batch table, which never outlives its transaction: nothing a later batch needs
    /// stays in the session (a transaction-mode pooler may hand each batch another server
    /// session).
    pub create_batch: Stmt,
    pub pick_first: Stmt,
    /// After the keyset cursor, bound as text: the previous batch's last id.
    pub pick_next: Stmt,
    /// `--workers` above 1 (PostgreSQL, MySQL): the picks bounded by a failed batch's last id.
    /// `None` for one worker: nothing of it is sent.
    pub workers: Option<WorkerStmts>,
    /// Like the picks, without row locks: moves the cursor past a user that cannot be deleted.
    pub skip_first: Stmt,
    pub skip_next: Stmt,
    /// A run with one worker whose count listed the eligible users (at most [`LISTED_MAX`]):
    /// the batches take those users, by id, and no others. `None` on SQLite, whose run lists
    /// them in a table (`listed_table`).
    pub listed: Option<ListedStmts>,
    /// SQLite: a run's count lists every eligible user in a temporary table, and its picks
    /// (`pick_first`, `pick_next`, the skips) take the next of those still eligible.
    pub listed_table: Option<ListedTable>,
    /// Right after the pick: the batch's last id, the cursor the client keeps for the next pick.
    pub last_id: Stmt,
    /// Last in the transaction (MySQL, SQLite): drop the batch table.
    pub drop_batch: Vec<Stmt>,
    /// After a rolled-back batch (MySQL, whose temporary tables survive a rollback).
    pub drop_after_rollback: Vec<Stmt>,
    pub lock_children: Vec<Stmt>,
    /// Re-checks the rule after the locks are taken. `None` on SQLite: `BEGIN IMMEDIATE` holds
    /// the database's write lock from before the pick to the commit, so nothing can change.
    pub recheck: Option<Stmt>,
    pub batch_users: Stmt,
    pub count_per_user: Vec<Labeled>,
    pub deletes: Vec<Labeled>,
    /// In every batch, after the pick: statistics for the batch table (PostgreSQL), so the
    /// planner drives the re-check and the joins to the batch (archive reads of tables below a
    /// configured parent) from the batch; the other statements probe with `= ANY(ARRAY(…))`.
    pub analyze: Vec<Stmt>,
    /// The child tables the plan was built for, in delete order.
    pub children: Vec<Child>,
    /// The users table's columns and types (read from the database; empty without one).
    pub users_columns: Vec<(String, String)>,
    /// With an archive: each child's rows, then the users', of the batch, as (id, JSON).
    pub archive_rows: Vec<Stmt>,
    /// The users table and id column, as configured (for archive records).
    pub settings_names: (String, String),
    /// `run --max-replica-lag`: the queries that read the replicas' lag.
    pub replicas: ReplicaQueries,
}

/// At most this many eligible users are listed by a run's count (one worker): then each batch
/// takes its users from the list by id, instead of walking the users table for them. Above it,
/// the run counts them and its batches walk the table in key order.
pub const LISTED_MAX: u64 = 50_000;

/// MySQL lists every eligible user: this many ids stay in memory, the rest go to a temporary
/// file of the run's.
pub const LISTED_IN_MEMORY: usize = 50_000;

/// How many listed users the count after the batches binds at once (the counts are added up).
pub const LISTED_COUNT_CHUNK: usize = 10_000;

/// The statements of a run whose count listed the eligible users' ids ([`LISTED_MAX`]).
#[derive(Clone, Debug)]
pub struct ListedStmts {
    /// Instead of the eligibility count: the eligible users' ids, at most one more than
    /// [`LISTED_MAX`] (more: the run counts them, and walks the table).
    pub candidates: Stmt,
    /// The pick: the next listed users (a JSON array of their ids) still eligible, locked.
    /// MySQL: those still there, without the rule; the re-check, which runs in every MySQL
    /// batch after the sessions' lock, drops those no longer eligible.
    pub pick: Stmt,
    /// Like the pick, without row locks: takes a listed user that cannot be deleted.
    pub skip: Stmt,
    /// The count lists every eligible user (MySQL), not at most one more than [`LISTED_MAX`].
    pub all: bool,
    /// After the batches: the listed users still eligible.
    pub count: Stmt,
}

/// SQLite: the statements of the run's list of eligible users, a temporary table on the run's
/// connection (the database's own temporary storage holds it, not the process).
#[derive(Clone, Debug)]
pub struct ListedTable {
    /// Before the count: a list an earlier run on this connection left dropped, the table, its
    /// index.
    pub setup: Vec<Stmt>,
    /// The run's count: every eligible user's id into the list (the rows it inserts are the
    /// eligible count).
    pub fill: Stmt,
    /// The database's change counter: read with the count, then first in each batch (after
    /// `BEGIN IMMEDIATE`, which holds the write lock until the commit).
    pub version: Stmt,
    /// The picks of a batch whose change counter is the count's: nobody else has written since
    /// the list was filled, so every listed user not yet taken is as eligible as the count
    /// found it, and these take the next listed users without reading the rule again. `None`
    /// when the database has triggers (the run's own deletes could write what the rule reads):
    /// every pick evaluates the rule.
    pub unchanged: Option<UnchangedPicks>,
    /// After the batches, unless they deleted every listed user: the listed users still there,
    /// and those still eligible.
    pub count: Stmt,
    /// Last: the list dropped.
    pub drop: Stmt,
}

/// SQLite: the picks that take the next listed users still there, without the rule (the first,
/// then after the cursor).
#[derive(Clone, Debug)]
pub struct UnchangedPicks {
    pub first: Stmt,
    pub next: Stmt,
}

/// The statements only a run with `--workers` above 1 sends: the picks bounded by a key range's
/// last id. The workers share the run's keyset cursor, each pick taking the users after it; when
/// a batch fails after its pick moved the cursor on, its worker takes those users again, bounded
/// by the failed batch's last id, with these.
#[derive(Clone, Debug)]
pub struct WorkerStmts {
    /// How many workers the plan was rendered for.
    pub workers: u64,
    /// The failed batch was the first (no lower bound).
    pub pick_first: Stmt,
    /// After the cursor (first the failed batch's start), up to its last id.
    pub pick_next: Stmt,
    /// Like the bounded picks, without row locks: past a user that cannot be deleted.
    pub skip_first: Stmt,
    pub skip_next: Stmt,
}

/// How many rounds the pooler probe makes before it says there is none (a round can miss a busy
/// pool, and other clients' timing can repeat for a few rounds, so the rounds are spread over
/// about a fifth of a second; the probe stops at the first sign).
pub const POOLER_PROBE_ROUNDS: usize = 20;

/// The pooler probe (PostgreSQL): the backend's pid, as text. The same statement the plan lists,
/// for the run to send before it has a plan (before the lock).
pub fn pooler_probe(backend: Backend) -> Vec<Stmt> {
    match backend {
        Backend::Postgres => vec![plain(render(&templates::BackendPid))],
        _ => Vec::new(),
    }
}

impl Plan {
    /// Renders every statement for `settings` with the given storage formats.
    pub fn build(
        settings: &Settings,
        formats: Formats,
        children: &[Child],
        users_columns: &[(String, String)],
        preflight_reads: &[Stmt],
    ) -> Plan {
        let backend = settings.backend;
        let n = Names::new(backend, &settings.schema, children)
            .with_id_type(&settings.schema, users_columns);
        let f = &formats;
        let mut b = Binder::placeholders(backend);
        let id_text = backend.id_as_text(&format!("u.{}", n.user_id));
        // The counts read every old anonymous user: how they reach them (MySQL index hint).
        let hint = f.users_access.hint(backend);

        let count_anonymous = n.stmt(&mut b, |_| {
            render(&templates::CountAnonymous {
                users: &n.users,
                anonymous: &n.anonymous(f),
            })
        });
        let count_eligible = n.stmt(&mut b, |b| {
            let e = n.eligible(f, b);
            render(&templates::CountEligible {
                users: &n.users,
                hint: &hint,
                eligible: &e,
            })
        });
        let count_guarded = n
            .guards
            .iter()
            .map(|(label, rows)| Labeled {
                table: label.clone(),
                stmt: n.stmt(&mut b, |b| {
                    let e = n.rule(f, b, "", false, false, false);
                    render(&templates::CountGuarded {
                        users: &n.users,
                        hint: &hint,
                        eligible: &e,
                        guard: rows,
                    })
                }),
            })
            .collect();
        let count_plan = n.stmt(&mut b, |b| {
            let e = n.eligible(f, b);
            let children: Vec<templates::CountedTable> = n
                .children
                .iter()
                .enumerate()
                .map(|(i, c)| templates::CountedTable {
                    table: c.table.clone(),
                    member: n.of_user(i, &format!("x.{}", c.column)),
                })
                .collect();
            render(&templates::CountPlan {
                text: backend.text_type(),
                users: &n.users,
                hint: &hint,
                eligible: &e,
                children: &children,
            })
        });
        let count_tables: Vec<String> = n.children.iter().map(|c| c.label.clone()).collect();
        let sample = n.stmt(&mut b, |b| {
            // The first few by id: on SQLite a unary `+` keeps the created_at index from
            // driving this (it would read every old anonymous user, then sort) instead of the
            // primary key, which stops after `limit` rows.
            let e = n.eligible_with(f, b, "", backend == Backend::Sqlite);
            let limit = b.limit();
            render(&templates::Sample {
                id_text: &id_text,
                users: &n.users,
                eligible: &e,
                user_id: &n.user_id,
                limit: &limit,
            })
        });
        let list = n.list(f, &mut b, &settings.schema, users_columns);
        let batch_users = plain(render(&templates::BatchUsers {
            id_text: &id_text,
            created_text: &backend.id_as_text(&format!("u.{}", n.created_at)),
            users: &n.users,
            user_id: &n.user_id,
            member: &n.member(&format!("u.{}", n.user_id), &n.batch_ids(), Root::Batch),
        }));
        let count_per_user = n
            .children
            .iter()
            .enumerate()
            .map(|(i, c)| Labeled {
                table: c.label.clone(),
                stmt: plain(render(&templates::CountPerUser {
                    id_text: &backend.id_as_text("b.id"),
                    table: &c.table,
                    joins: &n.joins(i),
                })),
            })
            .collect();
        let temp = n.temp;
        // SQLite's runs list their eligible users in a table, which the picks read.
        let sqlite = backend == Backend::Sqlite;
        Plan {
            backend,
            preset: settings.preset.clone(),
            preflight_reads: preflight_reads.to_vec(),
            count_anonymous,
            count_eligible,
            count_plan,
            count_tables,
            count_guarded,
            sample,
            list,
            pooler_probe: pooler_probe(backend),
            connect: backend
                .on_connect()
                .iter()
                .map(|sql| plain(sql.to_string()))
                .collect(),
            session: match backend {
                Backend::Postgres => Vec::new(),
                _ => vec![plain(render(&templates::SessionLockWait {
                    backend: backend.name(),
                    lock_timeout_ms: settings.lock_timeout_ms,
                    lock_wait_secs: settings.lock_timeout_ms.div_ceil(1000),
                }))],
            },
            batch_settings: match backend {
                Backend::Postgres => vec![
                    Described {
                        what: "first in the transaction: how long to wait for a row lock",
                        stmt: plain(render(&templates::BatchLockTimeout {
                            lock_timeout_ms: settings.lock_timeout_ms,
                        })),
                    },
                    Described {
                        what:
                            "UTC for this transaction (times stored as text, the audit log's times)",
                        stmt: plain(render(&templates::BatchTimeZone)),
                    },
                ],
                _ => Vec::new(),
            },
            drop_leftover: match backend {
                Backend::Sqlite => Vec::new(),
                _ => vec![n.drop_batch(true)],
            },
            create_batch: n.create_batch(),
            pick_first: n.run_pick(f, &mut b, false, true),
            pick_next: n.run_pick(f, &mut b, true, true),
            workers: (settings.workers > 1 && backend.has_row_locks()).then(|| WorkerStmts {
                workers: settings.workers,
                pick_first: n.pick(f, &mut b, false, true, true, true, false),
                pick_next: n.pick(f, &mut b, true, true, true, true, false),
                skip_first: n.pick(f, &mut b, false, true, true, false, false),
                skip_next: n.pick(f, &mut b, true, true, true, false, false),
            }),
            skip_first: n.run_pick(f, &mut b, false, false),
            skip_next: n.run_pick(f, &mut b, true, false),
            listed: (!sqlite).then(|| ListedStmts {
                candidates: n.candidates(f, &mut b, &hint),
                pick: if n.lists_all() {
                    n.pick_listed_unchecked(&mut b)
                } else {
                    n.pick(f, &mut b, false, false, true, true, true)
                },
                skip: n.pick(f, &mut b, false, false, true, false, true),
                all: n.lists_all(),
                count: n.count_listed(f, &mut b, false),
            }),
            listed_table: sqlite.then(|| ListedTable {
                setup: n.listed_setup(),
                fill: n.listed_fill(f, &mut b, &hint),
                version: plain(render(&templates::DataVersion)),
                unchanged: (!f.triggers).then(|| UnchangedPicks {
                    first: n.pick_listed(f, &mut b, false, false),
                    next: n.pick_listed(f, &mut b, true, false),
                }),
                count: n.count_listed(f, &mut b, true),
                drop: plain(render(&templates::ListedDrop { if_exists: false })),
            }),
            last_id: n.last_id(),
            drop_batch: match backend {
                Backend::Postgres => Vec::new(),
                _ => vec![n.drop_batch(false)],
            },
            drop_after_rollback: match backend {
                Backend::Mysql => vec![n.drop_batch(true)],
                _ => Vec::new(),
            },
            lock_children: n.lock_children(f, &mut b),
            recheck: backend.has_row_locks().then(|| n.recheck(f, &mut b)),
            batch_users,
            count_per_user,
            deletes: n.deletes(),
            analyze: match backend {
                Backend::Postgres => vec![plain(render(&templates::Analyze { temp }))],
                Backend::Sqlite | Backend::Mysql => Vec::new(),
            },
            children: children.to_vec(),
            users_columns: users_columns.to_vec(),
            archive_rows: n.archive_rows(users_columns),
            settings_names: (
                settings.schema.users.to_string(),
                settings.schema.users_id.clone(),
            ),
            formats,
            replicas: ReplicaQueries::build(backend),
        }
    }

    /// PostgreSQL: `lock_children` counts the locked sessions with activity at or after the
    /// cutoff, and the re-check runs only when one has (the pick's `FOR UPDATE` already
    /// re-checked each user's own row). Elsewhere the re-check runs in every batch.
    /// With `[[keep_if]]` guards the re-check runs in every batch: a guard row written after the
    /// pick is only seen by the re-check.
    pub fn lock_counts_active(&self) -> bool {
        self.backend == Backend::Postgres
            && !self.lock_children.is_empty()
            && self.count_guarded.is_empty()
    }
}
