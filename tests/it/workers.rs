//! `--workers N` on PostgreSQL and MySQL/MariaDB: N connections take batches after one shared
//! keyset cursor, each batch the same transaction as with one worker. Exactly the eligible users
//! go (sequential integer ids with every old user at low ids, random text ids, uuids), with
//! their rows; users that become active during the run are kept (the race test with workers);
//! SIGKILL leaves no half-deleted user and a rerun finishes (also between the archive and the
//! commit); SIGTERM stops cleanly with one summary; a user that cannot be deleted fails alone
//! (its batch's other users are taken again by its worker); `--max-per-run` and
//! `max_deletions` are never exceeded in total; the archive (file or table) holds every deleted
//! user once and restores; a deadlock rolls a batch back and the same batch runs again (no user
//! failed); a worker that cannot start stops the others; `plan --workers 2` lists the bounded
//! picks; SQLite refuses more than one worker before anything is done.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::population::{
    assert_whole, deleted_users, eligible_left, quick_run, setup as population, slow_run, spawn,
    survivors, user_ids, ELIGIBLE,
};
use support::{backend_test, Backend, Run, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";

fn json(r: &Run) -> Value {
    serde_json::from_str(r.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", r.all()))
}

// ---------------------------------------------------------------------------------------------
// A population with ids of three shapes.
// ---------------------------------------------------------------------------------------------

/// How the users' ids look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ids {
    /// 1, 2, 3, …: every old (eligible) user at low ids, the kept ones above.
    Sequential,
    /// Random hex text: the eligible users scattered over the key space.
    Text,
    /// Random uuids (PostgreSQL `uuid`, MySQL `CHAR(36)`).
    Uuid,
}

/// splitmix64: deterministic, no extra crates.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Ids {
    fn column_type(self, db: &TestDb) -> &'static str {
        match (self, db.is_mysql()) {
            (Ids::Sequential, _) => "BIGINT",
            (Ids::Text, _) => "TEXT",
            (Ids::Uuid, false) => "UUID",
            (Ids::Uuid, true) => "CHAR(36)",
        }
    }

    /// The `n`th id of a kind of row (0: users, 1: sessions, 2: accounts), as text.
    fn id(self, kind: u64, n: u64) -> String {
        match self {
            Ids::Sequential => (kind * 100_000 + n).to_string(),
            Ids::Text => format!("{:016x}", mix(kind * 100_000 + n)),
            Ids::Uuid => {
                let (a, b) = (mix(kind * 100_000 + n), mix(!(kind * 100_000 + n)));
                let h = format!("{a:016x}{b:016x}");
                format!(
                    "{}-{}-4{}-a{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[13..16],
                    &h[17..20],
                    &h[20..32]
                )
            }
        }
    }

    fn literal(self, id: &str) -> String {
        match self {
            Ids::Sequential => id.to_string(),
            _ => format!("'{id}'"),
        }
    }
}

/// What a user of the population is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Old, anonymous, no recent activity: deleted (with an old session, an account).
    Eligible {
        session: bool,
        account: bool,
    },
    Registered,
    /// Old and anonymous, but a session with recent activity.
    Active,
    /// Anonymous, created recently.
    Recent,
}

const USERS: u64 = 400;
/// Users 1..=LOW are mostly eligible; none above is.
const LOW: u64 = 240;

fn kind(i: u64) -> Kind {
    if i <= LOW {
        match i % 12 {
            3 => Kind::Registered,
            7 => Kind::Active,
            11 => Kind::Recent,
            _ => Kind::Eligible {
                session: i.is_multiple_of(3),
                account: i.is_multiple_of(5),
            },
        }
    } else {
        match i % 3 {
            0 => Kind::Registered,
            1 => Kind::Active,
            _ => Kind::Recent,
        }
    }
}

/// Every row of the population: (table, row id, owner's id), and the eligible users' ids.
struct Population {
    rows: Vec<(&'static str, String, String)>,
    eligible: BTreeSet<String>,
}

fn populate(db: &TestDb, ids: Ids) -> Population {
    let ty = ids.column_type(db);
    db.exec(&support::default_schema(db, "TIMESTAMPTZ", ty, false));
    let (t, f) = (db.bool(true), db.bool(false));
    let old = db.ts("2026-01-01 00:00:00");
    let old_session = db.ts("2026-01-02 00:00:00");
    let recent = db.ts("2026-11-20 00:00:00");
    let mut p = Population {
        rows: Vec::new(),
        eligible: BTreeSet::new(),
    };
    let (mut users, mut sessions, mut accounts) = (Vec::new(), Vec::new(), Vec::new());
    for i in 1..=USERS {
        let id = ids.id(0, i);
        let lit = ids.literal(&id);
        let k = kind(i);
        let (anon, created) = match k {
            Kind::Registered => (f, &old),
            Kind::Recent => (t, &recent),
            _ => (t, &old),
        };
        users.push(format!("({lit}, {anon}, {created})"));
        p.rows.push(("users", id.clone(), id.clone()));
        let (session, account) = match k {
            Kind::Eligible { session, account } => {
                p.eligible.insert(id.clone());
                (session.then_some(&old_session), account)
            }
            Kind::Registered => (Some(&old_session), true),
            Kind::Active => (Some(&recent), false),
            Kind::Recent => (None, false),
        };
        if let Some(at) = session {
            let sid = ids.id(1, i);
            sessions.push(format!(
                "({}, {lit}, {old_session}, {at})",
                ids.literal(&sid)
            ));
            p.rows.push(("sessions", sid, id.clone()));
        }
        if account {
            let aid = ids.id(2, i);
            accounts.push(format!("({}, {lit}, 'anonymous')", ids.literal(&aid)));
            p.rows.push(("accounts", aid, id.clone()));
        }
    }
    let mut sql = String::new();
    for (table, rows) in [
        ("users", &users),
        ("sessions", &sessions),
        ("accounts", &accounts),
    ] {
        for chunk in rows.chunks(100) {
            sql += &format!("INSERT INTO {table} VALUES {};\n", chunk.join(", "));
        }
    }
    db.exec(&sql);
    assert_eq!(db.count("users"), USERS);
    p
}

impl Population {
    /// The rows of `table` a run that deleted exactly the eligible users leaves.
    fn kept(&self, table: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .rows
            .iter()
            .filter(|(t, _, owner)| *t == table && !self.eligible.contains(owner))
            .map(|(_, id, _)| id.clone())
            .collect();
        v.sort();
        v
    }

    fn deleted(&self, table: &str) -> u64 {
        self.rows
            .iter()
            .filter(|(t, _, owner)| *t == table && self.eligible.contains(owner))
            .count() as u64
    }
}

/// `run --workers N` on the population: exactly the eligible users are gone with their rows,
/// everyone else is kept, and the one summary counts it all.
fn exactly_the_eligible_go(backend: Backend, ids: Ids) {
    each_takes_exactly_the_eligible(backend, ids, &[2, 4]);
}

/// The same with `workers` (one worker: the batches take the users the count listed, by id).
fn each_takes_exactly_the_eligible(backend: Backend, ids: Ids, workers: &[u64]) {
    for &workers in workers {
        let db = TestDb::new(backend);
        let p = populate(&db, ids);
        let w = workers.to_string();
        let r = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--workers",
            &w,
            "--batch-size",
            "7",
            "--target-batch-ms",
            "0",
            "--format",
            "json",
            "--quiet",
        ]);
        let what = format!("{ids:?} ids, --workers {workers}");
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        for table in ["users", "sessions", "accounts"] {
            assert_eq!(
                db.ids(table, "id"),
                p.kept(table),
                "{what}: the rows left in {table}"
            );
        }
        let j = json(&r);
        let eligible = p.eligible.len() as u64;
        assert_eq!(j["eligible"], eligible, "{what}: {j}");
        assert_eq!(j["deleted_users"], eligible, "{what}: {j}");
        for row in j["deleted_rows"].as_array().unwrap() {
            let table = row["table"].as_str().unwrap();
            assert_eq!(row["rows"], p.deleted(table), "{what}: {table}: {j}");
        }
        assert_eq!(j["failed"].as_array().map(Vec::len), Some(0), "{what}: {j}");
        assert_eq!(j["accounting"]["not_reached"], 0, "{what}: {j}");
        assert_eq!(j["workers"], workers, "{what}: {j}");
        assert_eq!(j["users_listed"], workers == 1, "{what}: {j}");
        // Every batch took 7 users from the shared cursor (the last one fewer): as many batches
        // as one worker needs.
        assert_eq!(j["batches"], eligible.div_ceil(7), "{what}: {j}");
        assert_eq!(j["batch_size_max"], 7, "{what}: {j}");
        assert!(j["p99_batch_ms"].as_f64().unwrap() > 0.0, "{what}: {j}");
    }
}

backend_test!(
    sequential_ids_with_the_old_users_at_low_ids,
    [postgres, mysql],
    |backend: Backend| exactly_the_eligible_go(backend, Ids::Sequential)
);

backend_test!(random_text_ids, [postgres, mysql], |backend: Backend| {
    exactly_the_eligible_go(backend, Ids::Text)
});

// One worker: its count lists the eligible users and each batch takes its users from that
// list by id, compared in the id's own type.
backend_test!(
    one_worker_takes_the_listed_users_by_id,
    [sqlite, postgres, mysql],
    |backend: Backend| {
        for ids in [Ids::Sequential, Ids::Text, Ids::Uuid] {
            each_takes_exactly_the_eligible(backend, ids, &[1]);
        }
    }
);

backend_test!(random_uuid_ids, [postgres, mysql], |backend: Backend| {
    exactly_the_eligible_go(backend, Ids::Uuid)
});

// The text summary names the workers (the JSON one too, see above).
backend_test!(
    the_text_summary_names_the_workers,
    [postgres],
    |db: TestDb| {
        let p = populate(&db, Ids::Text);
        let r = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--workers",
            "3",
            "--batch-size",
            "10",
            "--quiet",
        ]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(deleted_users(&r.stdout), p.eligible.len());
        assert_eq!(
            r.stdout.matches("anonsweep run:").count(),
            1,
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.contains("  workers              3\n"),
            "{}",
            r.stdout
        );
    }
);

// ---------------------------------------------------------------------------------------------
// Races and interruptions, with the tests that exist for one worker.
// ---------------------------------------------------------------------------------------------

// A 50,000-user run with 2 workers while another connection keeps adding fresh sessions and
// registering users: every touched user is kept, every untouched eligible one is gone.
backend_test!(
    concurrent_activity_during_a_run_with_workers_is_never_deleted,
    [postgres, mysql],
    |db: &TestDb| crate::concurrency::run_during_writes(db, true, &["--workers", "2"])
);

// SIGKILL between a batch's archive and its commit, with 2 workers (two batches may be in
// flight): nothing of an uncommitted batch is deleted, every deleted user is archived, and
// restore gives back the original database.
backend_test!(
    sigkill_between_archive_and_commit_with_workers,
    [postgres, mysql],
    |db: &TestDb| crate::archive::killed_run(db, false, &["--workers", "2"])
);

// Through a transaction-mode PgBouncer (the pool kept busy by other clients): every worker's
// batches are self-contained transactions, whatever server session each lands on.
#[test]
fn run_with_workers_through_a_transaction_mode_pooler() {
    crate::pooler::run_through_the_pooler(&["--workers", "3"]);
}

/// SIGKILL at a few moments of a run with workers: every user is wholly deleted or wholly
/// kept each time, and a rerun with workers finishes the job.
fn killed_mid_run(db: TestDb) {
    population(&db);
    for round in 0..3 {
        let left = eligible_left(&db);
        if left == 0 {
            break;
        }
        let mut a = spawn(
            &db,
            &[
                "run",
                "--as-of",
                AS_OF,
                "--batch-size",
                "5",
                "--sleep-ms",
                "20",
                "--workers",
                "2",
                "--quiet",
            ],
            &[],
        );
        let before = user_ids(&db).len();
        a.wait_for("a committed batch", || user_ids(&db).len() < before);
        // At different points of a batch (the batches take a few ms, the pauses 20 ms).
        std::thread::sleep(Duration::from_millis(7 * round));
        a.kill_hard();
        assert_whole(&db, &format!("after SIGKILL #{}", round + 1));
    }
    let r = db.run(&quick_run(&["--workers", "2"]));
    assert_eq!(r.code, 0, "rerun: {}", r.all());
    assert_eq!(eligible_left(&db), 0);
    assert_eq!(user_ids(&db), survivors());
    assert_whole(&db, "after the rerun");
}

backend_test!(
    sigkill_mid_run_with_workers_leaves_no_half_deleted_user,
    [postgres, mysql],
    |db: TestDb| killed_mid_run(db)
);

/// SIGTERM mid-run with workers: every worker finishes its batch in flight, exit 6, one
/// summary ("stopped early"), the counts right, a rerun finishes.
fn sigterm_mid_run(db: TestDb) {
    population(&db);
    let mut a = spawn(&db, &slow_run(&["--workers", "3"]), &[]);
    a.wait_for_first_batch(&db);
    a.signal("TERM");
    let r = a.finish();
    assert_eq!(r.code, 6, "SIGTERM: exit 6\n{}", r.all());
    assert_eq!(
        r.stdout.matches("anonsweep run:").count(),
        1,
        "one summary:\n{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("stopped early        interrupted by a signal"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("  workers              3\n"),
        "{}",
        r.stdout
    );
    let deleted = deleted_users(&r.stdout);
    let left = eligible_left(&db);
    assert_eq!(
        deleted + left,
        ELIGIBLE,
        "the summary counts what is gone\n{}",
        r.stdout
    );
    assert!(deleted > 0 && left > 0, "stopped mid-run\n{}", r.all());
    assert_whole(&db, "after SIGTERM");
    let c = db.run(&quick_run(&["--workers", "3"]));
    assert_eq!(c.code, 0, "rerun\n{}", c.all());
    assert_eq!(deleted_users(&c.stdout), left, "{}", c.stdout);
    assert_eq!(user_ids(&db), survivors());
    assert_whole(&db, "rerun after SIGTERM");
}

backend_test!(
    sigterm_with_workers_stops_cleanly_with_one_summary,
    [postgres, mysql],
    |db: TestDb| sigterm_mid_run(db)
);

// ---------------------------------------------------------------------------------------------
// Failure isolation and caps across workers.
// ---------------------------------------------------------------------------------------------

// Registered users invited by eligible users (a foreign key without cascade): those eligible
// users cannot be deleted. With 3 workers each fails alone, kept whole; every other one goes.
backend_test!(
    a_user_that_cannot_be_deleted_fails_alone_with_workers,
    [postgres, mysql],
    |db: TestDb| {
        population(&db);
        let ddl = if db.is_mysql() {
            "ALTER TABLE users ADD COLUMN invited_by VARCHAR(64) NULL, ADD FOREIGN KEY (invited_by) REFERENCES users (id)"
        } else {
            "ALTER TABLE users ADD COLUMN invited_by TEXT REFERENCES users (id)"
        };
        db.exec(ddl);
        // Spread over the key space: batches of different workers.
        let inviters = ["e0013", "e0077", "e0140", "e0199"];
        for (r, e) in ["r0", "r1", "r2", "r3"].iter().zip(inviters) {
            db.exec(&format!(
                "UPDATE users SET invited_by = '{e}' WHERE id = '{r}'"
            ));
        }
        let r = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--workers",
            "3",
            "--batch-size",
            "6",
            "--target-batch-ms",
            "0",
            "--format",
            "json",
        ]);
        assert_eq!(r.code, 3, "some users failed: exit 3\n{}", r.all());
        let j = json(&r);
        let failed: BTreeSet<&str> = j["failed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["user_id"].as_str().unwrap())
            .collect();
        assert_eq!(failed, inviters.into_iter().collect(), "{j}");
        assert_eq!(
            j["deleted_users"],
            (ELIGIBLE - inviters.len()) as u64,
            "{j}"
        );
        let mut want: Vec<String> = survivors();
        want.extend(inviters.iter().map(|s| s.to_string()));
        want.sort();
        assert_eq!(user_ids(&db), want);
        assert_whole(&db, "after the failures");
    }
);

// `--max-per-run` with 4 workers and batches in flight at once: exactly N users deleted, never
// more; a `max_deletions` cap equal to the eligible count lets all of them go, and no more.
backend_test!(
    caps_are_never_exceeded_in_total_with_workers,
    [postgres, mysql],
    |db: TestDb| {
        population(&db);
        let r = db.run(&quick_run(&[
            "--workers",
            "4",
            "--batch-size",
            "5",
            "--target-batch-ms",
            "0",
            "--max-per-run",
            "37",
            "--format",
            "json",
        ]));
        assert_eq!(r.code, 0, "--max-per-run is not a failure\n{}", r.all());
        let j = json(&r);
        assert_eq!(j["deleted_users"], 37, "{j}");
        assert_eq!(j["stop_kind"], "max-per-run", "{j}");
        assert_eq!(eligible_left(&db), ELIGIBLE - 37);
        assert_whole(&db, "after --max-per-run");

        let left = (ELIGIBLE - 37).to_string();
        let r = db.run(&quick_run(&[
            "--workers",
            "4",
            "--batch-size",
            "5",
            "--target-batch-ms",
            "0",
            "--max-deletions",
            &left,
            "--max-per-run",
            "1000",
            "--format",
            "json",
        ]));
        assert_eq!(r.code, 0, "{}", r.all());
        let j = json(&r);
        assert_eq!(j["deleted_users"], ELIGIBLE as u64 - 37, "{j}");
        assert_eq!(j["stop_kind"], Value::Null, "{j}");
        assert_eq!(user_ids(&db), survivors());
        assert_whole(&db, "after the capped rerun");
    }
);

// ---------------------------------------------------------------------------------------------
// The archive.
// ---------------------------------------------------------------------------------------------

/// The records of an archive file: users (id → how many records) and committed batches.
fn read_archive(path: &std::path::Path) -> (BTreeMap<String, usize>, BTreeSet<u64>, Vec<u64>) {
    let text = std::fs::read_to_string(path).unwrap();
    let (mut users, mut committed, mut batches) = (BTreeMap::new(), BTreeSet::new(), Vec::new());
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        match v["kind"].as_str() {
            Some("user") => {
                *users
                    .entry(v["user_id"].as_str().unwrap().to_string())
                    .or_default() += 1;
                batches.push(v["batch"].as_u64().unwrap());
            }
            Some("commit") => {
                committed.insert(v["batch"].as_u64().unwrap());
            }
            _ => {}
        }
    }
    (users, committed, batches)
}

backend_test!(
    every_deleted_user_is_archived_once_and_restores,
    [postgres, mysql],
    |db: TestDb| {
        population(&db);
        let tables = ["users", "sessions", "accounts"];
        let before = db.fingerprint(&tables);
        let scratch = support::scratch();
        let dir = scratch.path().join("archive");
        let r = db.run(&quick_run(&[
            "--workers",
            "3",
            "--batch-size",
            "9",
            "--target-batch-ms",
            "0",
            "--archive-dir",
            dir.to_str().unwrap(),
            "--format",
            "json",
        ]));
        assert_eq!(r.code, 0, "{}", r.all());
        let j = json(&r);
        assert_eq!(j["deleted_users"], ELIGIBLE as u64, "{j}");
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "one archive file for the run: {files:?}");
        let (users, committed, batches) = read_archive(&files[0]);
        assert_eq!(users.len(), ELIGIBLE, "every deleted user is archived");
        assert!(
            users.values().all(|n| *n == 1),
            "each user once: {:?}",
            users.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
        );
        assert!(users.keys().all(|u| u.starts_with('e')));
        // Every record's batch committed, each batch numbered once across the workers.
        assert!(batches.iter().all(|b| committed.contains(b)));
        assert_eq!(
            committed.len() as u64,
            j["batches"].as_u64().unwrap(),
            "{j}"
        );

        let r = db.run(&[
            "restore",
            "--archive",
            files[0].to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert_eq!(r.code, 0, "restore: {}", r.all());
        assert_eq!(json(&r)["users"], ELIGIBLE as u64);
        assert_eq!(db.fingerprint(&tables), before, "the original database");
    }
);

// `--archive-to-table` with workers: each batch inserts its users into `anonsweep_archive` in its
// own transaction; every deleted user is there once, and restore gives back the original.
backend_test!(
    archive_to_table_with_workers_holds_every_deleted_user_once,
    [postgres, mysql],
    |db: TestDb| {
        population(&db);
        let tables = ["users", "sessions", "accounts"];
        let before = db.fingerprint(&tables);
        let r = db.run(&quick_run(&[
            "--workers",
            "2",
            "--batch-size",
            "9",
            "--target-batch-ms",
            "0",
            "--archive-to-table",
            "--format",
            "json",
        ]));
        assert_eq!(r.code, 0, "{}", r.all());
        let j = json(&r);
        assert_eq!(j["deleted_users"], ELIGIBLE as u64, "{j}");
        assert_eq!(db.count("anonsweep_archive"), ELIGIBLE as u64);
        assert_eq!(
            db.count("(SELECT DISTINCT user_id FROM anonsweep_archive) AS d"),
            ELIGIBLE as u64
        );
        let run_id = j["run_id"].as_str().unwrap();
        let r = db.run(&[
            "restore",
            "--from-table",
            "--run",
            run_id,
            "--format",
            "json",
        ]);
        assert_eq!(r.code, 0, "restore: {}", r.all());
        assert_eq!(json(&r)["users"], ELIGIBLE as u64);
        assert_eq!(db.fingerprint(&tables), before, "the original database");
    }
);

// ---------------------------------------------------------------------------------------------
// Deadlocks, and a worker that cannot start.
// ---------------------------------------------------------------------------------------------

// PostgreSQL: another transaction holds user u0015 and, once the batch waits for it, asks for
// u0005, which the batch holds: a deadlock. The batch notices it (it waited first) and rolls
// back; the same batch runs again once the other transaction is gone, and every user goes: a
// deadlock never makes a user fail.
backend_test!(
    a_deadlocked_batch_runs_again_as_it_was,
    [postgres],
    |db: TestDb| {
        db.exec(&support::default_schema(&db, "TIMESTAMPTZ", "TEXT", false));
        db.exec(
            "INSERT INTO users (id, is_anonymous, created_at)
           SELECT 'u' || lpad(g::text, 4, '0'), TRUE, TIMESTAMPTZ '2026-01-01 00:00:00+00'
           FROM generate_series(1, 20) AS g",
        );
        let mut holder = db.conn();
        holder.batch_execute("BEGIN").unwrap();
        holder
            .batch_execute("SELECT id FROM users WHERE id = 'u0015' FOR UPDATE")
            .unwrap();
        let mut a = spawn(
            &db,
            &[
                "run",
                "--as-of",
                AS_OF,
                "--batch-size",
                "50",
                "--target-batch-ms",
                "0",
                "--lock-timeout-ms",
                "20000",
                "--format",
                "json",
            ],
            &[],
        );
        let waiting = "SELECT CAST(COUNT(*) AS TEXT) AS t FROM pg_stat_activity \
                   WHERE application_name = 'anonsweep' AND wait_event_type = 'Lock' \
                     AND datname = current_database()";
        a.wait_for("the batch waiting for u0015", || {
            db.strings(waiting)[0] != "0"
        });
        // The batch holds u0001..u0014: this waits for it until PostgreSQL sees the deadlock.
        let started = Instant::now();
        let second = holder.batch_execute("SELECT id FROM users WHERE id = 'u0005' FOR UPDATE");
        assert!(
            second.is_ok(),
            "the batch, which waited first, is the deadlock's victim: {second:?}"
        );
        holder.batch_execute("ROLLBACK").unwrap();
        let r = a.finish();
        println!(
            "deadlock seen after {:.1}s: {}",
            started.elapsed().as_secs_f64(),
            r.stdout
        );
        assert_eq!(r.code, 0, "{}", r.all());
        let j = json(&r);
        assert_eq!(j["deleted_users"], 20, "{j}");
        assert_eq!(j["failed"].as_array().map(Vec::len), Some(0), "{j}");
        assert_eq!(j["deadlock_retries"], 1, "{j}");
        assert_eq!(j["retries"], 0, "no split: {j}");
        assert_eq!(db.count("users"), 0);
    }
);

// MySQL/MariaDB: a user allowed one connection (MAX_USER_CONNECTIONS 1, one account `user@%`:
// each account counts its own connections): the second worker
// cannot connect, the run stops like for any error (after the first worker's batch in flight),
// says which worker, and leaves no half-deleted user; a rerun with one worker finishes.
backend_test!(
    a_worker_that_cannot_start_stops_the_run,
    [mysql],
    |db: TestDb| {
        population(&db);
        let user = format!("anonsweep_one_{}", std::process::id() % 100_000);
        let name = url::Url::parse(&db.url())
            .unwrap()
            .path()
            .trim_matches('/')
            .to_string();
        let mut admin = db.conn();
        for host in ["%"] {
            for sql in [
                format!("DROP USER IF EXISTS '{user}'@'{host}'"),
                format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY 'one-connection' WITH MAX_USER_CONNECTIONS 1"),
                format!("GRANT ALL ON {name}.* TO '{user}'@'{host}'"),
            ] {
                admin.batch_execute(&sql).unwrap_or_else(|e| panic!("{e}\n{sql}"));
            }
        }
        let mut url = url::Url::parse(&db.url()).unwrap();
        url.set_username(&user).unwrap();
        url.set_password(Some("one-connection")).unwrap();
        let r = spawn_with_url(&db, url.as_str(), &slow_run(&["--workers", "2"])).finish();
        let _ = admin.batch_execute(&format!("DROP USER IF EXISTS '{user}'@'%'"));
        assert!(
            r.code == 1 || r.code == 5,
            "an error: exit 1 (nothing deleted) or 5 (stopped after deleting)\n{}",
            r.all()
        );
        assert!(
            r.stderr.contains("worker 2 of 2 could not start")
                && r.stderr.contains("max_user_connections"),
            "{}",
            r.stderr
        );
        assert!(
            !r.all().contains("one-connection"),
            "no password in the output"
        );
        assert_whole(&db, "after the failed start");
        let c = db.run(&quick_run(&[]));
        assert_eq!(c.code, 0, "{}", c.all());
        assert_eq!(user_ids(&db), survivors());
    }
);

fn spawn_with_url(db: &TestDb, url: &str, args: &[&str]) -> support::population::Bg {
    support::population::spawn_url(db, url, args, &[])
}

// ---------------------------------------------------------------------------------------------
// The plan, and SQLite.
// ---------------------------------------------------------------------------------------------

backend_test!(
    plan_with_workers_lists_the_bounded_picks,
    [postgres, mysql],
    |db: TestDb| {
        population(&db);
        let r = db.run(&["plan", "--as-of", AS_OF, "--workers", "2"]);
        assert_eq!(r.code, 0, "{}", r.all());
        let out = &r.stdout;
        assert!(
            out.contains(
                "-- == Each batch: one transaction, on one worker's connection (--workers)"
            ),
            "{out}"
        );
        let bounded = out
            .split(";\n")
            .filter(|s| s.contains("INSERT INTO") && s.contains("anonsweep_batch (id)"))
            .filter(|s| s.contains("\n  AND u.") && s.contains(" <= "))
            .count();
        assert_eq!(bounded, 4, "two bounded picks, two bounded skips:\n{out}");
        assert!(
            out.contains("= the failed batch's last id (as text)"),
            "{out}"
        );
        if db.is_mysql() {
            assert!(
                out.contains("-- == Once per connection, before its first batch"),
                "{out}"
            );
        }
        // One worker: none of it.
        let r = db.run(&["plan", "--as-of", AS_OF]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(!r.stdout.contains("--workers above 1"), "{}", r.stdout);
        assert!(!r.stdout.contains(" <= "), "{}", r.stdout);
    }
);

backend_test!(
    sqlite_refuses_more_than_one_worker_before_anything_is_done,
    [sqlite],
    |db: TestDb| {
        population(&db);
        let tables = ["users", "sessions", "accounts"];
        let before = db.fingerprint(&tables);
        let want = "--workers 2 (from flag --workers): SQLite lets one writer at a time";
        for args in [
            &["run", "--as-of", AS_OF, "--workers", "2"][..],
            &["run", "--dry-run", "--as-of", AS_OF, "--workers", "2"],
            &["plan", "--as-of", AS_OF, "--workers", "2"],
        ] {
            let r = db.run(args);
            assert_eq!(r.code, 2, "{args:?}: {}", r.all());
            assert_eq!(
                r.stderr.trim().lines().count(),
                1,
                "{args:?}: one line: {}",
                r.stderr
            );
            assert!(
                r.stderr.contains(want) && r.stderr.contains("use --workers 1 (the default)"),
                "{args:?}: {}",
                r.stderr
            );
            assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
            assert_eq!(db.fingerprint(&tables), before, "{args:?}: untouched");
        }
        let r = db.run_env(&["run", "--as-of", AS_OF], &[("ANONSWEEP_WORKERS", "3")]);
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(
            r.stderr
                .contains("--workers 3 (from env ANONSWEEP_WORKERS): SQLite"),
            "{}",
            r.stderr
        );
        assert_eq!(db.fingerprint(&tables), before);
        // The file key, from ./anonsweep.toml.
        let config = db.dir().join("anonsweep.toml");
        std::fs::write(&config, "workers = 2\n").unwrap();
        let r = db.run(&["plan", "--as-of", AS_OF]);
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(
            r.stderr.contains("--workers 2 (from file ")
                && r.stderr.contains("anonsweep.toml): SQLite"),
            "{}",
            r.stderr
        );
        std::fs::remove_file(&config).unwrap();
        assert_eq!(db.fingerprint(&tables), before);
        // One worker is fine.
        let r = db.run(&quick_run(&["--workers", "1"]));
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(user_ids(&db), survivors());
    }
);

backend_test!(
    workers_out_of_range_are_usage_errors,
    [postgres],
    |db: TestDb| {
        population(&db);
        for bad in ["0", "65", "two", "-1"] {
            let r = db.run(&["run", "--as-of", AS_OF, "--workers", bad]);
            assert_eq!(r.code, 2, "--workers {bad}: {}", r.all());
            assert!(
                r.stderr
                    .contains("workers must be a whole number from 1 to 64")
                    && r.stderr.contains("--workers 2"),
                "{}",
                r.stderr
            );
        }
        assert_eq!(eligible_left(&db), ELIGIBLE);
    }
);

// The metrics say how many workers took batches, and how many batches a deadlock made run
// again.
backend_test!(metrics_count_the_workers, [postgres], |db: TestDb| {
    let p = populate(&db, Ids::Sequential);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("anonsweep.prom");
    let f = file.to_str().unwrap();
    let r = db.run(&[
        "run",
        "--as-of",
        AS_OF,
        "--workers",
        "2",
        "--batch-size",
        "7",
        "--metrics-file",
        f,
        "--format",
        "json",
        "--quiet",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(db.ids("users", "id"), p.kept("users"));
    let text = std::fs::read_to_string(&file).unwrap();
    let line = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} in\n{text}"))
            .to_string()
    };
    assert_eq!(line("anonsweep_workers"), "anonsweep_workers 2");
    let j = json(&r);
    assert_eq!(
        line("anonsweep_deadlock_retries"),
        format!("anonsweep_deadlock_retries {}", j["deadlock_retries"])
    );
});
