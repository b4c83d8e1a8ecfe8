//! `run --dry-run` (and `plan`) walk the run's own pipeline up to the first write: every
//! refusal `run` makes — a cap, a future `--as-of`, a failed pre-flight check, a held lock — is
//! made by the dry run with the same exit code and message, and nothing is changed; the
//! run-only flags (`--archive-dir`, `--archive-to-table`, `--audit-log`, `--lock`) are accepted
//! and reported, with no file, table or lock left behind.

use crate::support;

use support::{backend_test, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";
const TABLES: &[&str] = &["users", "sessions", "accounts"];

/// Ten eligible anonymous users (e0…e9) and two kept ones (a0 recently active, r0 registered).
fn setup(db: &TestDb) {
    let ts_type = if db.is_pg() { "TIMESTAMPTZ" } else { "TEXT" };
    db.exec(&support::default_schema(db, ts_type, "TEXT", false));
    let (t, f) = (db.bool(true), db.bool(false));
    let old = db.ts("2026-01-01 00:00:00");
    let recent = db.ts("2026-11-20 00:00:00");
    let mut sql = String::new();
    for i in 0..10 {
        sql += &format!("INSERT INTO users VALUES ('e{i}', {t}, {old});\n");
        sql += &format!("INSERT INTO sessions VALUES ('se{i}', 'e{i}', {old}, {old});\n");
        sql += &format!("INSERT INTO accounts VALUES ('ae{i}', 'e{i}', 'anonymous');\n");
    }
    sql += &format!("INSERT INTO users VALUES ('a0', {t}, {old});\n");
    sql += &format!("INSERT INTO sessions VALUES ('sa0', 'a0', {old}, {recent});\n");
    sql += &format!("INSERT INTO users VALUES ('r0', {f}, {old});\n");
    db.exec(&sql);
}

/// The error line both print for a refusal.
fn error_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("anonsweep: error:"))
        .unwrap_or_default();
    // How long a lock has been held ("for 3 s") moves on between two runs: compare the words.
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("for ") {
        out.push_str(&rest[..i + 4]);
        let after = &rest[i + 4..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 && after[digits..].starts_with(" s") {
            out.push('N');
        } else {
            out.push_str(&after[..digits]);
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// `run ARGS` and `run --dry-run ARGS` (and `plan ARGS` where the flags exist for it) on the
/// same data: the same exit code and the same error line, and the data unchanged by either.
fn same_refusal(db: &TestDb, args: &[&str], plan_too: bool, code: i32, says: &str) {
    let before = db.fingerprint(TABLES);
    let mut real = vec!["run", "--as-of", AS_OF];
    real.extend(args);
    let mut dry = real.clone();
    dry.insert(1, "--dry-run");
    let r = db.run(&real);
    assert_eq!(r.code, code, "run {args:?}\n{}", r.all());
    assert!(r.stderr.contains(says), "run says {says:?}:\n{}", r.stderr);
    assert_eq!(
        db.fingerprint(TABLES),
        before,
        "run refused: nothing changed"
    );
    let d = db.run(&dry);
    assert_eq!(d.code, code, "run --dry-run {args:?}\n{}", d.all());
    assert_eq!(
        error_line(&d.stderr),
        error_line(&r.stderr),
        "the dry run refuses with run's own words"
    );
    assert_eq!(
        db.fingerprint(TABLES),
        before,
        "the dry run changed nothing"
    );
    if plan_too {
        let mut plan = real.clone();
        plan[0] = "plan";
        let p = db.run(&plan);
        assert_eq!(p.code, code, "plan {args:?}\n{}", p.all());
        assert_eq!(error_line(&p.stderr), error_line(&r.stderr));
        assert_eq!(db.fingerprint(TABLES), before, "plan changed nothing");
    }
}

backend_test!(
    caps_refuse_the_dry_run_with_exit_4_like_the_run,
    |db: &TestDb| {
        {
            setup(db);
            same_refusal(
                db,
                &["--max-deletions", "5"],
                true,
                4,
                "more than max_deletions 5",
            );
            same_refusal(
                db,
                &["--max-fraction", "0.5"],
                true,
                4,
                "more than max_fraction 0.5",
            );
            // The dry run still shows what it found: the counts and the SQL.
            let d = db.run(&["run", "--dry-run", "--as-of", AS_OF, "--max-deletions", "5"]);
            assert!(
                d.stdout.contains("eligible             10")
                    && d.stdout.contains("run would refuse")
                    && d.stdout.contains("DELETE FROM"),
                "{}",
                d.stdout
            );
            // Within the cap, both go on: the dry run deletes nothing, the run deletes the ten.
            let d = db.run(&[
                "run",
                "--dry-run",
                "--as-of",
                AS_OF,
                "--max-deletions",
                "10",
            ]);
            assert_eq!(d.code, 0, "{}", d.all());
            assert_eq!(db.count("users"), 12);
            let r = db.run(&["run", "--as-of", AS_OF, "--max-deletions", "10"]);
            assert_eq!(r.code, 0, "{}", r.all());
            assert_eq!(db.ids("users", "id"), vec!["a0", "r0"]);
        }
    }
);

backend_test!(
    a_future_as_of_refuses_the_dry_run_with_exit_4_like_the_run,
    [sqlite, postgres],
    |db: &TestDb| {
        setup(db);
        let future = (chrono::Utc::now() + chrono::Duration::days(3))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let before = db.fingerprint(TABLES);
        for cmd in [vec!["run"], vec!["run", "--dry-run"], vec!["plan"]] {
            let mut args = cmd.clone();
            args.extend(["--as-of", &future]);
            let r = db.run(&args);
            assert_eq!(r.code, 4, "{cmd:?}\n{}", r.all());
            assert!(
                r.stderr.contains("is later than this machine's clock"),
                "{}",
                r.stderr
            );
            assert_eq!(db.fingerprint(TABLES), before);
        }
        let r = db.run(&[
            "run",
            "--dry-run",
            "--as-of",
            &future,
            "--allow-future-as-of",
        ]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.fingerprint(TABLES), before, "a dry run never deletes");
    }
);

backend_test!(
    a_failed_check_refuses_the_dry_run_with_exit_2_like_the_run,
    |db: &TestDb| {
        {
            setup(db);
            let id = if db.is_mysql() { "VARCHAR(64)" } else { "TEXT" };
            db.exec(&format!(
            "CREATE TABLE favorites (id {id} PRIMARY KEY, user_id {id} NOT NULL, FOREIGN KEY (user_id) REFERENCES users (id));
             INSERT INTO favorites VALUES ('f1', 'e3');"
        ));
            same_refusal(db, &[], true, 2, "favorites.user_id references users.id");
            assert_eq!(db.count("favorites"), 1);
        }
    }
);

backend_test!(
    a_held_lock_refuses_the_dry_run_with_exit_75_like_the_run,
    [sqlite],
    |db: &TestDb| {
        setup(db);
        // Another instance's lock file, held with an exclusive lock, as a running `run` holds it.
        let real = db.dir().join("app.db").canonicalize().unwrap();
        let lock_path = format!("{}.anonsweep-lock", real.display());
        let holder = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&lock_path)
            .unwrap();
        holder.lock().unwrap();
        std::fs::write(
            &lock_path,
            r#"{"host":"elsewhere","pid":4242,"started_at":"2026-11-26T00:00:00Z","token":"t"}"#,
        )
        .unwrap();
        same_refusal(db, &["--lock", "database"], false, 75, "pid 4242");
        holder.unlock().unwrap();
        // Free: the dry run says so and leaves it free (a run can take it right after).
        let d = db.run(&["run", "--dry-run", "--as-of", AS_OF, "--lock", "database"]);
        assert_eq!(d.code, 0, "{}", d.all());
        assert!(d.stdout.contains("free now"), "{}", d.stdout);
        let r = db.run(&["run", "--as-of", AS_OF, "--lock", "database"]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["a0", "r0"]);
    }
);

backend_test!(
    the_dry_run_accepts_and_reports_the_run_only_flags_and_writes_nothing,
    |db: &TestDb| {
        {
            setup(db);
            let before = db.fingerprint(TABLES);
            let dir = support::scratch();
            let archive = dir.path().join("archive");
            let audit = dir.path().join("audit.jsonl");
            let d = db.run(&[
                "run",
                "--dry-run",
                "--as-of",
                AS_OF,
                "--archive-dir",
                archive.to_str().unwrap(),
                "--audit-log",
                audit.to_str().unwrap(),
            ]);
            assert_eq!(d.code, 0, "{}", d.all());
            assert!(
                d.stdout.contains("would use archive    a new file")
                    && d.stdout.contains(archive.to_str().unwrap())
                    && d.stdout
                        .contains(&format!("would use audit log  {}", audit.display())),
                "the dry run says where it would archive and log:\n{}",
                d.stdout
            );
            assert!(!archive.exists(), "no archive directory created");
            assert!(!audit.exists(), "no audit log created");
            assert_eq!(db.fingerprint(TABLES), before);
            let d = db.run(&["run", "--dry-run", "--as-of", AS_OF, "--archive-to-table"]);
            assert_eq!(d.code, 0, "{}", d.all());
            assert!(d.stdout.contains("table anonsweep_archive"), "{}", d.stdout);
            let tables = db.strings(match (db.is_pg(), db.is_mysql()) {
            (true, _) => "SELECT CAST(tablename AS TEXT) AS t FROM pg_tables WHERE tablename = 'anonsweep_archive'",
            (_, true) => "SELECT CAST(table_name AS CHAR) AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'anonsweep_archive'",
            _ => "SELECT name AS t FROM sqlite_master WHERE name = 'anonsweep_archive'",
        });
            assert!(tables.is_empty(), "no archive table created: {tables:?}");
            // An audit log the run could not open is refused by both, the same way.
            let bad = dir.path().join("missing-dir").join("audit.jsonl");
            same_refusal(
                db,
                &["--audit-log", bad.to_str().unwrap()],
                false,
                1,
                "cannot open audit log",
            );
        }
    }
);

// The lock another run holds, taken by this test process the way `run` takes it: the database's
// own lock on PostgreSQL and MySQL, a Redis lock for SQLite.
backend_test!(
    a_lock_held_elsewhere_refuses_the_dry_run_with_exit_75_like_the_run,
    |db: &TestDb| {
        setup(db);
        let url = support::DbUrl::parse(&db.url()).unwrap();
        let spec = if db.is_pg() || db.is_mysql() {
            "database".to_string()
        } else {
            "redis://127.0.0.1:6379".to_string()
        };
        let lock = support::LockSpec::parse(&spec).unwrap();
        let guard = support::acquire_lock(&lock, &url, std::time::Duration::from_secs(60)).unwrap();
        same_refusal(
            db,
            &["--lock", &spec],
            false,
            75,
            "another anonsweep run holds",
        );
        guard.release();
        let d = db.run(&["run", "--dry-run", "--as-of", AS_OF, "--lock", &spec]);
        assert_eq!(d.code, 0, "{}", d.all());
        assert!(d.stdout.contains("free now"), "{}", d.stdout);
        let r = db.run(&["run", "--as-of", AS_OF, "--lock", &spec]);
        assert_eq!(r.code, 0, "the dry run left the lock free\n{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["a0", "r0"]);
    }
);

backend_test!(
    the_first_refusal_wins_in_the_dry_run_as_in_the_run,
    [sqlite],
    |db: &TestDb| {
        // A held lock and a failed check: the run stops at the lock (before it reads anything), so
        // the dry run answers 75 too, not 2.
        setup(db);
        db.exec(
        "CREATE TABLE favorites (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id));
         INSERT INTO favorites VALUES ('f1', 'e3');",
    );
        let real = db.dir().join("app.db").canonicalize().unwrap();
        let lock_path = format!("{}.anonsweep-lock", real.display());
        let holder = std::fs::File::create(&lock_path).unwrap();
        holder.lock().unwrap();
        same_refusal(
            db,
            &["--lock", "database"],
            false,
            75,
            "another anonsweep run holds",
        );
        holder.unlock().unwrap();
        same_refusal(
            db,
            &["--lock", "database"],
            false,
            2,
            "favorites.user_id references users.id",
        );
    }
);

backend_test!(
    an_archive_directory_the_run_cannot_create_is_refused_by_both,
    [sqlite, postgres],
    |db: &TestDb| {
        setup(db);
        let dir = support::scratch();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        for target in [file.clone(), file.join("archive")] {
            same_refusal(
                db,
                &["--archive-dir", target.to_str().unwrap()],
                false,
                1,
                "cannot create archive directory",
            );
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    }
);
