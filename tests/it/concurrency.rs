//! On PostgreSQL and MySQL/MariaDB, `run` never deletes a user whose activity or registration
//! changes while the run is in progress: another connection keeps adding fresh sessions and
//! registering users during a 50,000-user run (on MySQL also without foreign keys, where the
//! writer only registers), and afterwards exactly the untouched eligible users are gone, every
//! touched user remains, no child row is orphaned, and the summary counts what really vanished;
//! a user whose row another transaction holds fails alone (exit 3) and is deleted later.
//! Two deterministic tests (PostgreSQL) commit a registration, or a session touch, while a batch
//! waits on its row lock: the user is kept.
//!
//! The tests are written once; what differs per backend (number series, the writer's
//! statements and errors, row locks) is in `support::race_sql`.

use crate::support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use support::race_sql::{self, WriteError};
use support::{backend_test, Backend, Conn, DbUrl, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z"; // cutoff 2026-10-27T00:00:00Z
const CUTOFF: &str = "2026-10-27 00:00:00";
const N: u32 = 50_000;
const REGISTERED: u32 = 300;

fn uid(n: u32) -> String {
    format!("u{n:08}")
}

fn num(id: &str) -> u32 {
    id[1..].parse().unwrap()
}

/// xorshift64*: deterministic, no extra crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in lo..=hi.
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % u64::from(hi - lo + 1)) as u32
    }
}

/// What the concurrent writer did, as seen by its own successful autocommit statements.
#[derive(Default)]
struct Touches {
    /// Users that got a fresh session (insert committed, so the user existed and is now active).
    sessions: BTreeSet<u32>,
    /// Users this writer turned into registered users (the UPDATE changed a row).
    registered: BTreeSet<u32>,
    /// Users a flip found no anonymous row for (already flipped, or already deleted).
    flip_missed: BTreeSet<u32>,
    inserted_sessions: u64,
    insert_fk_failures: u64,
    /// Statements InnoDB chose as deadlock victims (rolled back, nothing committed; MySQL only).
    deadlocks: u64,
    iterations: u64,
    /// Errors other than the expected foreign-key violation or deadlock (there should be none).
    unexpected: Vec<String>,
}

fn single(conn: &mut Conn, sql: &str) -> Option<String> {
    conn.texts(sql, &[])
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
        .into_iter()
        .next()
        .flatten()
}

/// Lowest-numbered user the run has not reached yet (anonymous, no session: still a candidate).
fn frontier(conn: &mut Conn, backend: Backend) -> u32 {
    single(conn, race_sql::frontier(backend))
        .map(|id| num(&id))
        .unwrap_or(N)
}

/// Keeps touching users until `stop`: mostly just ahead of the run, some in the range it reaches
/// last, some anywhere (including users already deleted, whose inserts must fail). With
/// `sessions`, four of five touches insert a fresh session and the fifth registers the user;
/// without, every touch registers.
fn writer(url: String, backend: Backend, stop: Arc<AtomicBool>, sessions: bool) -> Touches {
    let mut conn = Conn::connect(&DbUrl::parse(&url).unwrap()).expect("writer connects");
    let mut rng = Rng(0x00C0_FFEE_D00D_2026);
    let mut t = Touches::default();
    let mut front = 1;
    let mut session_no = 0u64;
    while !stop.load(Ordering::SeqCst) {
        t.iterations += 1;
        if t.iterations % 64 == 1 {
            front = frontier(&mut conn, backend);
        }
        let n = match rng.next() % 3 {
            // Just ahead of the cursor: the next few batches, racing the run's own locks.
            0 => rng.range(front.min(N), (front + 400).min(N)),
            // The upper part of the range, reached last: touched well before their batch.
            1 => rng.range(N * 3 / 5, N),
            // Anywhere, often users already gone.
            _ => rng.range(1, N),
        };
        let id = uid(n);
        let result = if !sessions || t.iterations % 5 == 0 {
            race_sql::register(&mut conn, backend, &id).map(|changed| {
                if changed {
                    t.registered.insert(n);
                } else {
                    t.flip_missed.insert(n);
                }
            })
        } else {
            session_no += 1;
            let sql = race_sql::insert_session(backend, &format!("c{session_no:09}"), &id);
            conn.batch_execute(&sql)
                .map(|()| {
                    t.inserted_sessions += 1;
                    t.sessions.insert(n);
                })
                .map_err(|e| e.to_string())
        };
        if let Err(msg) = result {
            match race_sql::classify(backend, &msg) {
                WriteError::UserGone => t.insert_fk_failures += 1,
                WriteError::DeadlockVictim => t.deadlocks += 1,
                WriteError::Unexpected => t.unexpected.push(format!("{id}: {msg}")),
            }
        }
    }
    t
}

/// The seed schema (with or without foreign keys), with `n` old anonymous users, REGISTERED
/// registered users with old sessions and accounts, and an account for every 997th anonymous
/// user (deleted with it).
fn setup(db: &TestDb, foreign_keys: bool, n: u32) {
    if foreign_keys {
        db.exec(&support::default_schema(db, "TIMESTAMPTZ", "TEXT", false));
    } else {
        db.exec(&support::default_schema_no_fk(db, "TIMESTAMPTZ", "TEXT"));
    }
    let (all, g) = race_sql::series(db, n, 1);
    let (registered, r) = race_sql::series(db, REGISTERED, 1);
    let (every_997th, a) = race_sql::series(db, n, 997);
    let (anon, reg) = (
        race_sql::padded(db, "u", g, 8),
        race_sql::padded(db, "r", r, 5),
    );
    db.exec(&format!(
        "INSERT INTO users (id, is_anonymous, created_at)
           SELECT {anon}, TRUE, {old} FROM {all};
         -- Registered users, old, with old sessions and accounts: never eligible.
         INSERT INTO users (id, is_anonymous, created_at)
           SELECT {reg}, FALSE, {older} FROM {registered};
         INSERT INTO sessions (id, user_id, created_at, updated_at)
           SELECT {rs}, {reg}, {feb1}, {feb2} FROM {registered};
         INSERT INTO accounts (id, user_id, provider)
           SELECT {ra}, {reg}, 'credential' FROM {registered};
         -- A few eligible anonymous users with an account row (deleted with them).
         INSERT INTO accounts (id, user_id, provider)
           SELECT {ua}, {anon_a}, 'anonymous' FROM {every_997th};
         {analyze}",
        old = db.ts("2026-01-01 00:00:00"),
        older = db.ts("2025-01-01 00:00:00"),
        feb1 = db.ts("2025-02-01 00:00:00"),
        feb2 = db.ts("2025-02-02 00:00:00"),
        rs = race_sql::numbered(db, "rs", r),
        ra = race_sql::numbered(db, "ra", r),
        ua = race_sql::numbered(db, "ua", a),
        anon_a = race_sql::padded(db, "u", a, 8),
        analyze = race_sql::analyze(db, &["users", "sessions", "accounts"]),
    ));
}

fn spawn_run(url: &str, dir: &std::path::Path, extra: &[&str]) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anonsweep"));
    cmd.args([
        "run",
        "--as-of",
        AS_OF,
        "--batch-size",
        "100",
        "--format",
        "json",
        "--database-url",
        url,
    ])
    .args(extra)
    .current_dir(dir)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k == "DATABASE_URL" || k.starts_with("ANONSWEEP_") {
            cmd.env_remove(k);
        }
    }
    cmd.spawn().expect("start anonsweep run")
}

/// A 50,000-user run while a writer registers users (and, with foreign keys, adds sessions);
/// `extra`: more `run` options (the workers tests pass `--workers`).
pub(crate) fn run_during_writes(db: &TestDb, foreign_keys: bool, extra: &[&str]) {
    setup(db, foreign_keys, N);
    if !foreign_keys {
        // InnoDB gives every foreign key an index on the child column; without foreign keys,
        // index it as an application would.
        db.exec("CREATE INDEX accounts_user_idx ON accounts (user_id)");
    }
    assert_eq!(db.count("users"), u64::from(N + REGISTERED));
    let fks = db.count(&format!(
        "information_schema.referential_constraints WHERE constraint_schema = {}",
        race_sql::current_schema(db)
    ));
    assert_eq!(fks, if foreign_keys { 2 } else { 0 }, "setup: foreign keys");
    let clock = db.strings(race_sql::utc_now(db))[0].clone();
    assert!(
        clock.as_str() > CUTOFF,
        "the server clock ({clock}) is before the cutoff: a session stamped now would not count as activity"
    );
    let registered_before = db.strings(&format!(
        "SELECT {} AS t FROM users WHERE id LIKE 'r%' ORDER BY id",
        db.text("id")
    ));
    let anon_accounts = db.count("accounts WHERE user_id LIKE 'u%'");
    assert!(
        anon_accounts > 40,
        "setup: some anonymous users have accounts"
    );

    let url = db.url();
    let dir = support::scratch();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let child = spawn_run(&url, dir.path(), extra);
    let handle = {
        let (url, backend, stop) = (url.clone(), db.backend(), stop.clone());
        thread::spawn(move || writer(url, backend, stop, foreign_keys))
    };
    let out = child.wait_with_output().expect("wait for anonsweep run");
    let run_secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    let t = handle.join().expect("writer thread");
    let run = support::Run::from(out);
    println!(
        "foreign keys {foreign_keys}: run took {run_secs:.1}s; writer: {} iterations, {} sessions inserted for {} users, \
         {} inserts refused (user gone), {} deadlock victims, {} users registered, {} flips found nothing",
        t.iterations,
        t.inserted_sessions,
        t.sessions.len(),
        t.insert_fk_failures,
        t.deadlocks,
        t.registered.len(),
        t.flip_missed.len()
    );
    println!("run summary: {}", run.stdout.trim());

    assert_eq!(run.code, 0, "run failed: {}", run.all());
    assert!(
        t.unexpected.is_empty(),
        "writer hit unexpected errors: {:?}",
        &t.unexpected[..t.unexpected.len().min(5)]
    );
    let touched: BTreeSet<u32> = t.sessions.union(&t.registered).copied().collect();
    println!("touched users: {}", touched.len());
    assert!(
        !touched.is_empty(),
        "the writer touched no user while the run was going"
    );

    // Exactly the touched users remain of the originally eligible ones.
    let remaining: BTreeSet<u32> = db
        .strings(&format!(
            "SELECT {} AS t FROM users WHERE id LIKE 'u%'",
            db.text("id")
        ))
        .iter()
        .map(|id| num(id))
        .collect();
    let lost: Vec<u32> = touched.difference(&remaining).copied().take(10).collect();
    assert!(
        lost.is_empty(),
        "touched users were deleted (first ids: {lost:?})"
    );
    let survivors: Vec<u32> = remaining.difference(&touched).copied().take(10).collect();
    assert!(
        survivors.is_empty(),
        "never-touched eligible users survived the run (first ids: {survivors:?})"
    );
    // The writer raced the run: it met users the run had already deleted.
    let raced = if foreign_keys {
        t.insert_fk_failures
    } else {
        t.flip_missed.difference(&remaining).count() as u64
    };
    assert!(
        raced > 0,
        "the writer never raced a deletion (the run was too fast to observe)"
    );

    // Registered-by-the-writer users are still registered (they all remain, see above, and
    // none is anonymous or NULL); every inserted session is still there.
    let still_anonymous: Vec<u32> = db
        .strings(&format!(
            "SELECT {} AS t FROM users WHERE id LIKE 'u%' AND {}",
            db.text("id"),
            race_sql::not_false(db, "is_anonymous")
        ))
        .iter()
        .map(|id| num(id))
        .filter(|n| t.registered.contains(n))
        .take(10)
        .collect();
    assert!(
        still_anonymous.is_empty(),
        "users lost their registration: {still_anonymous:?}"
    );
    assert_eq!(
        db.count("sessions WHERE id LIKE 'c%'"),
        t.inserted_sessions,
        "a session inserted by the writer vanished"
    );

    // Nothing dangling, nothing registered lost.
    assert_eq!(
        db.count(
            "sessions AS s WHERE NOT EXISTS (SELECT 1 FROM users AS u WHERE u.id = s.user_id)"
        ),
        0,
        "orphan sessions"
    );
    assert_eq!(
        db.count(
            "accounts AS a WHERE NOT EXISTS (SELECT 1 FROM users AS u WHERE u.id = a.user_id)"
        ),
        0,
        "orphan accounts"
    );
    assert_eq!(
        db.strings(&format!(
            "SELECT {} AS t FROM users WHERE id LIKE 'r%' ORDER BY id",
            db.text("id")
        )),
        registered_before
    );
    assert_eq!(
        db.count("sessions WHERE id LIKE 'rs%'"),
        u64::from(REGISTERED)
    );
    assert_eq!(
        db.count("accounts WHERE id LIKE 'ra%'"),
        u64::from(REGISTERED)
    );
    let kept_anon_accounts: BTreeSet<u32> = db
        .strings(&format!(
            "SELECT {} AS t FROM accounts WHERE user_id LIKE 'u%'",
            db.text("user_id")
        ))
        .iter()
        .map(|id| num(id))
        .collect();
    assert!(
        kept_anon_accounts.is_subset(&touched),
        "an account of an untouched user remains"
    );

    // The summary counts what really vanished.
    let json: serde_json::Value =
        serde_json::from_str(run.stdout.trim()).expect("run --format json prints JSON");
    let vanished = u64::from(N) - remaining.len() as u64;
    assert_eq!(
        json["deleted_users"].as_u64(),
        Some(vanished),
        "deleted_users vs. rows gone: {}",
        run.stdout
    );
    assert_eq!(
        json["failed"].as_array().map(Vec::len),
        Some(0),
        "{}",
        run.stdout
    );
    let eligible = json["eligible"].as_u64().unwrap();
    assert!(
        eligible <= u64::from(N) && eligible >= vanished,
        "eligible {eligible} vs. deleted {vanished}"
    );
    let rows_of = |table: &str| {
        json["deleted_rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["table"] == table)
            .and_then(|r| r["rows"].as_u64())
            .unwrap_or_else(|| panic!("no deleted_rows entry for {table}: {}", run.stdout))
    };
    assert_eq!(rows_of("users"), vanished);
    assert_eq!(
        rows_of("accounts"),
        anon_accounts - kept_anon_accounts.len() as u64
    );
    assert_eq!(
        rows_of("sessions"),
        0,
        "the run deleted sessions, but only untouched (session-less) users were eligible"
    );
}

backend_test!(
    concurrent_activity_and_registration_during_a_run_are_never_deleted,
    [postgres, mysql],
    |db: &TestDb| run_during_writes(db, true, &[])
);

// Without foreign keys a session inserted between the re-check and the commit may legitimately
// be orphaned (documented), so the writer only registers users here: every one of them survives.
backend_test!(
    concurrent_registration_without_foreign_keys_is_never_deleted,
    [mysql],
    |db: &TestDb| run_during_writes(db, false, &[])
);

// A user whose row is held by another transaction beyond `--lock-timeout-ms` is reported as
// failed (exit 3) and kept, with its account; every other eligible user is still deleted; once
// the lock is gone a second run deletes it.
backend_test!(
    a_user_locked_by_another_transaction_fails_alone_and_is_deleted_later,
    [postgres, mysql],
    |db: &TestDb| {
        db.exec(&support::default_schema(db, "TIMESTAMPTZ", "TEXT", false));
        let (all, g) = race_sql::series(db, 300, 1);
        db.exec(&format!(
            "INSERT INTO users (id, is_anonymous, created_at)
               SELECT {}, TRUE, {} FROM {all};
             INSERT INTO users VALUES ('r00001', FALSE, {});
             INSERT INTO accounts VALUES ('a137', 'u00000137', 'anonymous');",
            race_sql::padded(db, "u", g, 8),
            db.ts("2026-01-01 00:00:00"),
            db.ts("2025-01-01 00:00:00"),
        ));
        let locked = uid(137);
        // Another session holds a shared lock on the user (an uncommitted child insert does the same).
        let mut holder = db.conn();
        let (begin, hold) = race_sql::hold_user_row(db.backend(), &locked);
        holder.batch_execute(begin).unwrap();
        let held = holder.texts(&hold, &[]).unwrap();
        assert_eq!(held.len(), 1);

        let timeout = race_sql::short_lock_timeout_ms(db.backend());
        let started = Instant::now();
        let run = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--batch-size",
            "50",
            "--lock-timeout-ms",
            timeout,
            "--format",
            "json",
        ]);
        println!(
            "locked run took {:.1}s: {}",
            started.elapsed().as_secs_f64(),
            run.stdout.trim()
        );
        assert_eq!(
            run.code,
            3,
            "a locked user is a per-user failure: {}",
            run.all()
        );
        let json: serde_json::Value =
            serde_json::from_str(run.stdout.trim()).expect("JSON summary");
        let failed: Vec<&str> = json["failed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["user_id"].as_str().unwrap())
            .collect();
        assert_eq!(failed, vec![locked.as_str()], "{}", run.stdout);
        assert_eq!(json["deleted_users"].as_u64(), Some(299));
        assert_eq!(
            db.ids("users", "id"),
            vec!["r00001".to_string(), locked.clone()]
        );
        assert_eq!(db.ids("accounts", "id"), vec!["a137".to_string()]);

        holder.batch_execute("ROLLBACK").unwrap();
        let again = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--lock-timeout-ms",
            timeout,
            "--format",
            "json",
        ]);
        assert_eq!(again.code, 0, "{}", again.all());
        let json: serde_json::Value = serde_json::from_str(again.stdout.trim()).unwrap();
        assert_eq!(json["deleted_users"].as_u64(), Some(1));
        assert_eq!(db.ids("users", "id"), vec!["r00001".to_string()]);
        assert_eq!(db.count("accounts"), 0);
    }
);

/// 300 old anonymous users `u00000001..`, each with one old session; one registered user.
fn small_population(db: &TestDb) {
    db.exec(&support::default_schema(db, "TIMESTAMPTZ", "TEXT", false));
    db.exec(
        "INSERT INTO users (id, is_anonymous, created_at)
           SELECT 'u' || lpad(g::text, 8, '0'), TRUE, TIMESTAMPTZ '2026-01-01 00:00:00+00'
           FROM generate_series(1, 300) AS g;
         INSERT INTO sessions (id, user_id, created_at, updated_at)
           SELECT 's' || g, 'u' || lpad(g::text, 8, '0'), TIMESTAMPTZ '2026-01-02 00:00:00+00',
                  TIMESTAMPTZ '2026-01-03 00:00:00+00'
           FROM generate_series(1, 300) AS g;
         INSERT INTO users VALUES ('r00001', FALSE, TIMESTAMPTZ '2025-01-01 00:00:00+00');",
    );
}

/// On a fresh `small_population` in `db` (PostgreSQL), another connection makes `change` (SQL)
/// without committing; a run starts in the background, and once it is blocked on that change's
/// row lock the change commits. Returns the finished run.
fn run_against_a_commit_in_flight(db: &TestDb, change: &str) -> support::Run {
    small_population(db);
    let mut holder = db.conn();
    holder.batch_execute("BEGIN").unwrap();
    holder.batch_execute(change).unwrap();
    let mut bg = support::population::spawn(
        db,
        &[
            "run",
            "--as-of",
            AS_OF,
            "--batch-size",
            "50",
            "--lock-timeout-ms",
            "20000",
            "--format",
            "json",
        ],
        &[],
    );
    let mut probe = db.conn();
    bg.wait_for("the run waiting on the held row", || {
        probe
            .texts(
                "SELECT CAST(COUNT(*) AS TEXT) AS t FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .first()
            .cloned()
            .flatten()
            .as_deref()
            == Some("1")
    });
    holder.batch_execute("COMMIT").unwrap();
    bg.finish()
}

fn assert_only_kept(db: &TestDb, run: &support::Run, kept: &str) {
    assert_eq!(run.code, 0, "{}", run.all());
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON summary");
    assert_eq!(json["deleted_users"].as_u64(), Some(299), "{}", run.stdout);
    assert_eq!(
        db.ids("users", "id"),
        vec!["r00001".to_string(), kept.to_string()]
    );
    assert_eq!(
        db.strings("SELECT user_id AS t FROM sessions"),
        vec![kept.to_string()]
    );
}

// A user registered by a transaction that commits while the pick waits for the user's row:
// the pick re-evaluates the user's own conditions on the committed row and leaves it out.
backend_test!(
    a_registration_committing_while_the_pick_waits_keeps_the_user,
    [postgres],
    |db: TestDb| {
        let target = uid(120);
        let run = run_against_a_commit_in_flight(
            &db,
            &format!("UPDATE users SET is_anonymous = FALSE WHERE id = '{target}'"),
        );
        assert_only_kept(&db, &run, &target);
        assert_eq!(
            db.strings(&format!(
                "SELECT CAST(is_anonymous AS TEXT) AS t FROM users WHERE id = '{target}'"
            )),
            vec!["false".to_string()]
        );
    }
);

// A session touched by a transaction that commits while the batch waits to lock it: the pick
// read the session as inactive, the lock reads it as it is now, and the user is kept.
backend_test!(
    a_session_touched_while_the_batch_waits_to_lock_it_keeps_the_user,
    [postgres],
    |db: TestDb| {
        let target = uid(170);
        let run = run_against_a_commit_in_flight(&db, &format!(
        "UPDATE sessions SET updated_at = TIMESTAMPTZ '2026-11-20 00:00:00+00' WHERE user_id = '{target}'"
    ));
        assert_only_kept(&db, &run, &target);
        let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert_eq!(json["kept_changed"].as_u64(), Some(1), "{}", run.stdout);
    }
);
