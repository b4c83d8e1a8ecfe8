//! `run --lock`: one instance at a time per database. A Redis lock (`SET NX PX`, renewed, released
//! by compare-and-delete) or the database's own lock (PostgreSQL advisory lock, MySQL `GET_LOCK`,
//! a lock file beside a SQLite database). A second instance exits 75, names the holder and
//! touches nothing; a killed holder frees the lock (at once for the database lock, after the TTL
//! for Redis); a holder that loses its Redis lock stops after the batch in flight (exit 7), every
//! user either wholly deleted or wholly kept; different databases never block each other.
//!
//! Runs are made slow with `--batch-size 5 --sleep-ms 100` so that a second instance reliably
//! meets the first; nothing here asserts on timings.

use crate::support;

use support::{backend_test, Backend, TestDb};

use std::time::{Duration, Instant};

use support::population::*;

/// Waits until the run holds a Redis lock key and has committed a batch; returns the key.
fn wait_for_redis_holder(a: &mut Bg, db: &TestDb) -> String {
    let pid = a.pid();
    let mut key = None;
    a.wait_for("a Redis lock key", || {
        key = key_held_by(pid);
        key.is_some()
    });
    let key = key.unwrap();
    assert!(
        key.strip_prefix("anonsweep:lock:")
            .is_some_and(|h| h.len() == 32 && h.chars().all(|c| c.is_ascii_hexdigit())),
        "key {key}"
    );
    a.wait_for_first_batch(db);
    key
}

// ---------------------------------------------------------------------------------------------
// 1. Redis lock, two concurrent runs on one database
// ---------------------------------------------------------------------------------------------

fn redis_second_instance_exits_75(db: TestDb) {
    setup(&db);
    let mut a = spawn(&db, &slow_run(&["--lock", REDIS]), &[]);
    let key = wait_for_redis_holder(&mut a, &db);
    let held_value = redis_get(&key);

    // B: the same lock, from the environment on SQLite and from the flag on PostgreSQL.
    let b = if db.is_pg() {
        db.run(&quick_run(&["--lock", REDIS]))
    } else {
        db.run_env(&quick_run(&[]), &[("ANONSWEEP_LOCK_URL", REDIS)])
    };
    assert_eq!(b.code, 75, "second instance: exit 75\n{}", b.all());
    let holder = format!("host {}, pid {}, started ", host(), a.pid());
    assert!(
        b.stderr.contains(&holder),
        "B names A ({holder}):\n{}",
        b.stderr
    );
    assert_eq!(
        b.stderr.trim().lines().count(),
        1,
        "one line:\n{}",
        b.stderr
    );
    assert!(
        b.stdout.trim().is_empty(),
        "B prints no summary:\n{}",
        b.stdout
    );
    assert!(!b.all().contains("deleted"), "{}", b.all());
    assert_eq!(redis_get(&key), held_value, "B left A's key alone");

    let r = a.finish();
    assert_eq!(r.code, 0, "A finishes\n{}", r.all());
    assert_eq!(
        deleted_users(&r.stdout),
        ELIGIBLE,
        "A deleted every eligible user, once:\n{}",
        r.stdout
    );
    assert_eq!(
        user_ids(&db),
        survivors(),
        "exactly the eligible users are gone"
    );
    assert_whole(&db, "after A");
    assert_eq!(
        redis_get(&key),
        None,
        "A deleted its key on exit\n{}",
        r.stderr
    );
}

backend_test!(
    redis_lock_second_instance_exits_75_and_names_the_holder,
    [sqlite, postgres],
    |db: TestDb| redis_second_instance_exits_75(db)
);

// ---------------------------------------------------------------------------------------------
// 2. Database lock, the same scenario, on every backend
// ---------------------------------------------------------------------------------------------

fn database_second_instance_exits_75(db: TestDb) {
    setup(&db);
    let mut a = spawn(&db, &slow_run(&["--lock", "database"]), &[]);
    a.wait_for_first_batch(&db);

    // A stopped between (or inside) batches: whatever B does is the only change.
    let before = pause(&a, &db);
    let b = db.run(&quick_run(&["--lock", "database"]));
    let after = snapshot(&db);
    a.signal("CONT");
    let after = after.expect("read while A is stopped");

    assert_eq!(b.code, 75, "second instance: exit 75\n{}", b.all());
    assert!(
        b.stdout.trim().is_empty(),
        "B prints no summary:\n{}",
        b.stdout
    );
    assert!(!b.all().contains("deleted"), "{}", b.all());
    assert_eq!(after, before, "B changed the database\n{}", b.all());
    let pid = a.pid();
    match &db {
        TestDb::Sqlite { path, .. } => {
            let holder = format!("host {}, pid {pid}, started ", host());
            assert!(b.stderr.contains(&holder), "{holder}:\n{}", b.stderr);
            assert!(
                b.stderr
                    .contains(&format!("{}.anonsweep-lock", path.display())),
                "names the lock file:\n{}",
                b.stderr
            );
        }
        TestDb::Pg { .. } => {
            let holder = format!("anonsweep lock: host {} pid {pid} started ", host());
            assert!(b.stderr.contains(&holder), "{holder}:\n{}", b.stderr);
        }
        TestDb::Mysql { name } => {
            // "connection ID from HOST": ID is a live connection to this database.
            let id: String = b
                .stderr
                .split("connection ")
                .nth(1)
                .unwrap_or_else(|| panic!("no `connection ID`:\n{}", b.stderr))
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            assert!(
                !id.is_empty() && b.stderr.contains(&format!("connection {id} from ")),
                "{}",
                b.stderr
            );
            let live = texts(
                &db,
                &format!(
                    "SELECT CAST(COUNT(*) AS CHAR) AS t FROM information_schema.processlist \
                     WHERE id = {id} AND db = '{name}'"
                ),
            );
            assert_eq!(live, vec!["1"], "connection {id} is A's, on {name}");
        }
    }

    let r = a.finish();
    assert_eq!(r.code, 0, "A finishes\n{}", r.all());
    assert_eq!(deleted_users(&r.stdout), ELIGIBLE, "{}", r.stdout);
    assert_eq!(user_ids(&db), survivors());
    assert_whole(&db, "after A");
    // And the lock is free again.
    let c = db.run(&quick_run(&["--lock", "database"]));
    assert_eq!(c.code, 0, "after A: lock free\n{}", c.all());
    assert_eq!(deleted_users(&c.stdout), 0);
}

backend_test!(
    database_lock_second_instance_exits_75_and_changes_nothing,
    |db: TestDb| database_second_instance_exits_75(db)
);

// ---------------------------------------------------------------------------------------------
// 3. A killed Redis holder: the key stays until its TTL passes
// ---------------------------------------------------------------------------------------------

backend_test!(
    killed_redis_holder_blocks_until_the_ttl_passes,
    [sqlite],
    |db: TestDb| {
        setup(&db);
        let mut a = spawn(
            &db,
            &slow_run(&["--lock", REDIS, "--lock-ttl-ms", "2000"]),
            &[],
        );
        let key = wait_for_redis_holder(&mut a, &db);
        let pid = a.pid();
        a.kill_hard();
        assert_whole(&db, "after SIGKILL");
        let left = eligible_left(&db);
        assert!(left > 0 && left < ELIGIBLE, "A was killed mid-run: {left}");

        let b = db.run(&quick_run(&["--lock", REDIS]));
        assert_eq!(b.code, 75, "the key outlives its holder\n{}", b.all());
        assert!(b.stderr.contains(&format!("pid {pid}")), "{}", b.stderr);
        assert_eq!(eligible_left(&db), left, "B deleted nothing");

        // The TTL (2 s) passes: the key expires.
        let until = Instant::now() + Duration::from_secs(10);
        while redis_get(&key).is_some() {
            assert!(
                Instant::now() < until,
                "key {key} still there 10 s after its holder died"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let c = db.run(&quick_run(&["--lock", REDIS]));
        assert_eq!(c.code, 0, "after the TTL\n{}", c.all());
        assert_eq!(deleted_users(&c.stdout), left);
        assert_eq!(user_ids(&db), survivors());
        assert_whole(&db, "after the rerun");
        assert_eq!(redis_get(&key), None);
    }
);

// ---------------------------------------------------------------------------------------------
// 4. A killed database-lock holder: the OS / server releases the lock at once
// ---------------------------------------------------------------------------------------------

fn killed_database_holder(db: TestDb) {
    setup(&db);
    let mut a = spawn(&db, &slow_run(&["--lock", "database"]), &[]);
    a.wait_for_first_batch(&db);
    a.kill_hard();
    assert_whole(&db, "after SIGKILL");
    let left = eligible_left(&db);
    assert!(left > 0 && left < ELIGIBLE, "A was killed mid-run: {left}");

    let b = db.run(&quick_run(&["--lock", "database"]));
    assert_eq!(b.code, 0, "the lock died with its holder\n{}", b.all());
    assert_eq!(deleted_users(&b.stdout), left, "{}", b.stdout);
    assert_eq!(user_ids(&db), survivors());
    assert_whole(&db, "after the rerun");
}

backend_test!(
    killed_database_lock_holder_frees_the_lock_at_once,
    [sqlite, postgres],
    |db: TestDb| killed_database_holder(db)
);

// ---------------------------------------------------------------------------------------------
// 5. A lost Redis lock: the holder stops after the batch in flight, exit 7
// ---------------------------------------------------------------------------------------------

/// The key is deleted under the holder.
fn lost_by_delete(db: TestDb) {
    setup(&db);
    let mut a = spawn(
        &db,
        &slow_run(&["--lock", REDIS, "--lock-ttl-ms", "1500"]),
        &[],
    );
    let key = wait_for_redis_holder(&mut a, &db);
    redis_del(&key);
    let r = a.finish();
    assert_eq!(r.code, 7, "lock lost: exit 7\n{}", r.all());
    assert!(
        r.stdout.contains("stopped early"),
        "summary still printed:\n{}",
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
    assert!(
        left > 0,
        "stopped before the end (40 batches of 100 ms):\n{}",
        r.stdout
    );
    assert_whole(&db, "after the lost lock");
    assert_eq!(redis_get(&key), None, "nobody re-created the key");

    let c = db.run(&quick_run(&["--lock", REDIS]));
    assert_eq!(c.code, 0, "rerun\n{}", c.all());
    assert_eq!(deleted_users(&c.stdout), left);
    assert_eq!(user_ids(&db), survivors());
    assert_whole(&db, "after the rerun");
    assert_eq!(redis_get(&key), None);
}

/// Someone else takes the key over: the holder stops, and leaves the other's key alone.
fn lost_by_takeover(db: TestDb) {
    setup(&db);
    let mut a = spawn(
        &db,
        &slow_run(&["--lock", REDIS, "--lock-ttl-ms", "1500"]),
        &[],
    );
    let key = wait_for_redis_holder(&mut a, &db);
    let other = r#"{"host":"elsewhere","pid":4242,"started_at":"2026-11-26T00:00:00Z","token":"someone-else"}"#;
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(other)
        .arg("PX")
        .arg(60_000)
        .query(&mut redis())
        .unwrap();
    let r = a.finish();
    assert_eq!(r.code, 7, "lock taken over: exit 7\n{}", r.all());
    assert!(r.stdout.contains("stopped early"), "{}", r.stdout);
    assert_eq!(
        deleted_users(&r.stdout) + eligible_left(&db),
        ELIGIBLE,
        "{}",
        r.stdout
    );
    assert_whole(&db, "after the takeover");
    assert_eq!(
        redis_get(&key).as_deref(),
        Some(other),
        "the holder deleted someone else's key on exit"
    );

    let b = db.run(&quick_run(&["--lock", REDIS]));
    assert_eq!(
        b.code,
        75,
        "the new holder's lock is respected\n{}",
        b.all()
    );
    assert!(
        b.stderr.contains("host elsewhere, pid 4242"),
        "{}",
        b.stderr
    );
    redis_del(&key);
    let left = eligible_left(&db);
    let c = db.run(&quick_run(&["--lock", REDIS]));
    assert_eq!(c.code, 0, "rerun\n{}", c.all());
    assert_eq!(deleted_users(&c.stdout), left);
    assert_eq!(user_ids(&db), survivors());
    assert_whole(&db, "after the rerun");
}

/// A lost Redis lock, two ways: the key deleted under the holder (on SQLite), or taken over
/// by someone else (on PostgreSQL).
mod lost_redis_lock_stops_after_the_batch_with_exit_7 {
    use super::*;

    backend_test!(key_deleted, [sqlite], |db: TestDb| lost_by_delete(db));

    backend_test!(key_taken_over, [postgres], |db: TestDb| lost_by_takeover(
        db
    ));
}

// PostgreSQL: the advisory lock's connection is terminated under the holder; the run stops
// after the batch in flight with exit 7.
backend_test!(
    lost_database_lock_connection_stops_with_exit_7,
    [postgres],
    |db: TestDb| {
        setup(&db);
        let mut a = spawn(&db, &slow_run(&["--lock", "database"]), &[]);
        a.wait_for_first_batch(&db);
        let TestDb::Pg { name } = &db else {
            unreachable!()
        };
        let killed = texts(
            &db,
            &format!(
                "SELECT CAST(pg_terminate_backend(pid) AS TEXT) AS t FROM pg_stat_activity \
             WHERE datname = '{name}' AND application_name LIKE 'anonsweep lock:%'"
            ),
        );
        assert_eq!(killed, vec!["true"], "one lock connection");
        let r = a.finish();
        assert_eq!(r.code, 7, "lock lost: exit 7\n{}", r.all());
        assert!(r.stdout.contains("stopped early"), "{}", r.stdout);
        let left = eligible_left(&db);
        assert_eq!(deleted_users(&r.stdout) + left, ELIGIBLE, "{}", r.stdout);
        assert!(left > 0, "{}", r.stdout);
        assert_whole(&db, "after the lost lock");
        let c = db.run(&quick_run(&["--lock", "database"]));
        assert_eq!(c.code, 0, "rerun\n{}", c.all());
        assert_eq!(user_ids(&db), survivors());
    }
);

// ---------------------------------------------------------------------------------------------
// 6. Different databases never block each other
// ---------------------------------------------------------------------------------------------

fn two_databases_at_once(backend: Backend, lock: &str) {
    let (db1, db2) = (TestDb::new(backend), TestDb::new(backend));
    setup(&db1);
    setup(&db2);
    let mut a = spawn(&db1, &slow_run(&["--lock", lock]), &[]);
    if lock == REDIS {
        wait_for_redis_holder(&mut a, &db1);
    } else {
        a.wait_for_first_batch(&db1);
    }
    let mut b = spawn(&db2, &slow_run(&["--lock", lock]), &[]);
    // B gets going while A still runs.
    b.wait_for_first_batch(&db2);
    let keys = (lock == REDIS).then(|| (key_held_by(a.pid()), key_held_by(b.pid())));
    let (ra, rb) = (a.finish(), b.finish());
    assert_eq!(ra.code, 0, "{lock} A\n{}", ra.all());
    assert_eq!(rb.code, 0, "{lock} B\n{}", rb.all());
    for (db, r) in [(&db1, &ra), (&db2, &rb)] {
        assert_eq!(deleted_users(&r.stdout), ELIGIBLE, "{}", r.stdout);
        assert_eq!(user_ids(db), survivors());
        assert_whole(db, lock);
    }
    if let Some((ka, kb)) = keys {
        let (ka, kb) = (ka.unwrap(), kb.expect("B held its own key while A ran"));
        assert_ne!(ka, kb, "one key per database");
        assert_eq!((redis_get(&ka), redis_get(&kb)), (None, None));
    }
}

// The Redis lock on SQLite and PostgreSQL, the database lock on MySQL (GET_LOCK names are
// server-wide: each database must still get its own).
backend_test!(
    different_databases_do_not_block_each_other,
    |backend: Backend| {
        let lock = if backend == Backend::Mysql {
            "database"
        } else {
            REDIS
        };
        two_databases_at_once(backend, lock)
    }
);

// ---------------------------------------------------------------------------------------------
// One database, two spellings: still one lock
// ---------------------------------------------------------------------------------------------

/// Checks that a second run reaching `db` through `other_url` is refused while A holds `lock`.
fn second_spelling_is_refused(db: &TestDb, other_url: &str, lock: &str) {
    let mut a = spawn(db, &slow_run(&["--lock", lock]), &[]);
    if lock == REDIS {
        wait_for_redis_holder(&mut a, db);
    } else {
        a.wait_for_first_batch(db);
    }
    let before = pause(&a, db);
    let b = support::anonsweep_in(
        &db.dir(),
        &[
            // Bounded, in case A is stopped holding row locks B waits for.
            &quick_run(&[
                "--lock",
                lock,
                "--lock-timeout-ms",
                "300",
                "--max-failures",
                "1",
            ])[..],
            &["--database-url", other_url],
        ]
        .concat(),
        &[],
    );
    let after = snapshot(db);
    a.signal("CONT");
    let r = a.finish();
    assert_eq!(
        b.code,
        75,
        "{lock}: the same database through {other_url} must be refused while A runs; B deleted {} users alongside A\n{}",
        if b.code == 0 { deleted_users(&b.stdout) } else { 0 },
        b.all()
    );
    assert_eq!(after.unwrap(), before);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// The Redis key is derived from the canonical path, so a symlink is the same database.
#[test]
fn redis_lock_is_per_database_not_per_sqlite_path_spelling() {
    let db = TestDb::sqlite();
    setup(&db);
    let TestDb::Sqlite { dir, path } = &db else {
        unreachable!()
    };
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(path, &link).unwrap();
    second_spelling_is_refused(&db, &format!("sqlite://{}", link.display()), REDIS);
}

/// The lock file sits beside the path as given: a symlink to the same file must not give a
/// second, separate lock.
#[test]
fn database_lock_is_per_database_not_per_sqlite_path_spelling() {
    let db = TestDb::sqlite();
    setup(&db);
    let TestDb::Sqlite { dir, path } = &db else {
        unreachable!()
    };
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(path, &link).unwrap();
    second_spelling_is_refused(&db, &format!("sqlite://{}", link.display()), "database");
}

/// The advisory lock lives in the server: `localhost` and `127.0.0.1` reach the same database
/// and must take the same lock.
#[test]
fn database_lock_on_postgres_does_not_depend_on_the_host_spelling() {
    let db = TestDb::pg();
    let url = db.url();
    if !url.contains("@127.0.0.1:") {
        eprintln!("skipped: the test server is not 127.0.0.1 ({url})");
        return;
    }
    setup(&db);
    let other = url.replace("@127.0.0.1:", "@localhost:");
    second_spelling_is_refused(&db, &other, "database");
}
