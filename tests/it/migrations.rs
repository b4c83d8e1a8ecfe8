//! The shipped index migrations: run / revert / status / sql on SQLite and PostgreSQL, beside an
//! application's own diesel migrations, for custom schemas, INVALID leftovers, and the planner.

use crate::support;

use support::{backend_test, Run, TestDb};

const USERS_INDEX: &str = "anonsweep_users_created_at_anon";
const SESSIONS_INDEX: &str = "anonsweep_sessions_user_id_created_at_updated_at";

/// The indexes anonsweep ships for the default schema (besides accounts.user_id): SQLite gets
/// no users index (a rowid scan beats it).
fn ours(db: &TestDb) -> Vec<&'static str> {
    if db.is_pg() || db.is_mysql() {
        vec![USERS_INDEX, SESSIONS_INDEX]
    } else {
        vec![SESSIONS_INDEX]
    }
}

/// The default schema (no index on accounts.user_id) plus an application's own diesel history.
fn app_db(db: &TestDb) {
    let ts = if db.is_pg() { "TIMESTAMPTZ" } else { "TEXT" };
    db.exec(&support::default_schema(db, ts, "TEXT", false));
    db.exec(&format!(
        "{};
         INSERT INTO __diesel_schema_migrations (version) VALUES ('00000000000000'), ('20240101000000');
         CREATE TABLE app_things (id INTEGER PRIMARY KEY);
         CREATE INDEX app_things_idx ON app_things (id);",
        diesel::migration::CREATE_MIGRATIONS_TABLE.trim().trim_end_matches(';')
    ));
}

fn versions(db: &TestDb) -> Vec<String> {
    let mut v = db.strings(&format!(
        "SELECT {} AS t FROM __diesel_schema_migrations",
        db.text("version")
    ));
    v.sort();
    v
}

fn index_names(db: &TestDb) -> Vec<String> {
    let sql = if db.is_pg() {
        "SELECT CAST(indexname AS TEXT) AS t FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    } else if db.is_mysql() {
        "SELECT DISTINCT CAST(index_name AS CHAR) AS t FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND index_name <> 'PRIMARY'"
    } else {
        "SELECT name AS t FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'"
    };
    let mut v = db.strings(sql);
    v.sort();
    v
}

fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "{}", r.all());
    r
}

backend_test!(
    run_is_idempotent_revert_touches_only_ours_and_run_again_works,
    [sqlite, postgres],
    |db: TestDb| {
        app_db(&db);
        let before = index_names(&db);
        let r = ok(db.run(&["migrate", "run"]));
        assert_eq!(
            r.stdout
                .contains("created   anonsweep_users_created_at_anon"),
            db.is_pg(),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.contains("created   anonsweep_accounts_user_id"),
            "no index on accounts.user_id yet: {}",
            r.stdout
        );
        let after = index_names(&db);
        for name in ours(&db)
            .iter()
            .chain(["anonsweep_accounts_user_id"].iter())
        {
            assert!(
                after.contains(&name.to_string()),
                "{name} missing: {after:?}"
            );
        }
        let v = versions(&db);
        assert_eq!(v.len(), 3 + ours(&db).len(), "{v:?}");
        assert_eq!(
            v.contains(&"00000000000000anonsweep0001".to_string()),
            db.is_pg(),
            "{v:?}"
        );

        let again = ok(db.run(&["migrate", "run"]));
        assert!(
            !again.stdout.contains("  created "),
            "second run is a no-op: {}",
            again.stdout
        );
        assert_eq!(index_names(&db), after);
        assert_eq!(versions(&db), v);

        let rev = ok(db.run(&["migrate", "revert"]));
        assert!(rev.stdout.contains("dropped"), "{}", rev.stdout);
        assert_eq!(index_names(&db), before, "only our indexes were dropped");
        assert_eq!(
            versions(&db),
            vec!["00000000000000", "20240101000000"],
            "the app's migrations stay recorded"
        );
        assert_eq!(db.count("app_things"), 0);

        ok(db.run(&["migrate", "run"]));
        assert_eq!(index_names(&db), after);
    }
);

backend_test!(
    status_reports_applied_present_and_equivalent,
    [sqlite, postgres],
    |db: TestDb| {
        app_db(&db);
        db.exec("CREATE INDEX accounts_by_user ON accounts (user_id)");
        let s = ok(db.run(&["migrate", "status", "--format", "json"]));
        let j: serde_json::Value = serde_json::from_str(&s.stdout).unwrap();
        let rows = j["indexes"].as_array().unwrap();
        // SQLite ships no users index: the sessions index comes first there.
        let first = usize::from(db.is_pg());
        assert_eq!(rows.len(), 2 + first);
        assert!(rows
            .iter()
            .all(|r| r["applied"] == false && r["exists"] == false));
        assert_eq!(rows[first]["equivalent"], "sessions_user_idx");
        assert_eq!(rows[first + 1]["equivalent"], "accounts_by_user");
        assert_eq!(
            rows[first + 1]["skipped"],
            true,
            "an existing index on accounts.user_id covers it"
        );

        let r = ok(db.run(&["migrate", "run"]));
        assert!(
            r.stdout.contains("skipped   anonsweep_accounts_user_id"),
            "{}",
            r.stdout
        );
        assert!(!index_names(&db).contains(&"anonsweep_accounts_user_id".to_string()));
        let text = ok(db.run(&["migrate", "status"]));
        assert!(
            text.stdout
                .contains("accounts_by_user (covers it: not created)"),
            "{}",
            text.stdout
        );
        let j: serde_json::Value =
            serde_json::from_str(&ok(db.run(&["migrate", "status", "--format", "json"])).stdout)
                .unwrap();
        assert_eq!(j["indexes"][0]["applied"], true);
        assert_eq!(j["indexes"][0]["valid"], true);
    }
);

backend_test!(
    plan_warns_about_missing_indexes_until_they_exist,
    [sqlite, postgres],
    |db: TestDb| {
        app_db(&db);
        let p = ok(db.run(&["plan"]));
        for name in ours(&db) {
            assert!(
                p.stdout.contains(&format!("index {name} is missing")),
                "{}",
                p.stdout
            );
        }
        assert_eq!(
            p.stdout.contains("anonsweep_users_created_at_anon"),
            db.is_pg(),
            "SQLite is not offered a users index: {}",
            p.stdout
        );
        ok(db.run(&["migrate", "run"]));
        let p = ok(db.run(&["plan"]));
        assert!(!p.stdout.contains("is missing"), "{}", p.stdout);
    }
);

backend_test!(
    migrate_sql_applied_by_the_client_gives_the_same_indexes_as_run,
    |a: TestDb| {
        app_db(&a);
        let b = a.copy();
        let dir = support::scratch();
        let file = dir.path().join("indexes.sql");
        let url = a.url();
        ok(support::anonsweep_in(
            dir.path(),
            &[
                "migrate",
                "sql",
                "--database-url",
                &url,
                "--out",
                file.to_str().unwrap(),
            ],
            &[],
        ));
        let applied = a.run_script(&file);
        assert_eq!(applied.code, 0, "{}", applied.all());
        ok(b.run(&["migrate", "run"]));
        assert_eq!(index_names(&a), index_names(&b));
        assert_eq!(versions(&a), versions(&b));
        let defs = |db: &TestDb| {
            let sql = if db.is_pg() {
                "SELECT CAST(indexdef AS TEXT) AS t FROM pg_indexes WHERE indexname LIKE 'anonsweep%'"
            } else if db.is_mysql() {
                "SELECT CAST(CONCAT(table_name, '|', index_name, '|', seq_in_index, '|', column_name, '|', non_unique) AS CHAR) AS t \
                 FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name LIKE 'anonsweep%'"
            } else {
                "SELECT sql AS t FROM sqlite_master WHERE type = 'index' AND name LIKE 'anonsweep%'"
            };
            let mut v = db.strings(sql);
            v.sort();
            v
        };
        assert_eq!(defs(&a), defs(&b));
        // Afterwards there is nothing left to do.
        let again = ok(support::anonsweep_in(
            dir.path(),
            &["migrate", "sql", "--database-url", &url],
            &[],
        ));
        assert!(again.stdout.contains("Nothing to do"), "{}", again.stdout);
    }
);

#[test]
fn migrate_sql_without_a_database_renders_every_index() {
    let dir = support::scratch();
    let r = ok(support::anonsweep_in(
        dir.path(),
        &[
            "migrate",
            "sql",
            "--backend",
            "postgres",
            "--preset",
            "better-auth",
        ],
        &[],
    ));
    assert!(
        r.stdout
            .contains("CREATE INDEX CONCURRENTLY IF NOT EXISTS \"anonsweep_user_createdAt_anon\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("ON \"user\" (\"createdAt\")\n  WHERE \"isAnonymous\";"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("SET lock_timeout = '5000ms';"));
    assert_eq!(
        r.stdout
            .matches("INSERT INTO __diesel_schema_migrations")
            .count(),
        3
    );
}

#[test]
fn custom_camel_case_and_schema_qualified_names_on_postgres() {
    let db = TestDb::pg();
    db.exec(
        r#"CREATE SCHEMA auth;
           CREATE TABLE auth."Member" (id TEXT PRIMARY KEY, "isGuest" BOOLEAN, "joinedAt" TIMESTAMPTZ);
           CREATE TABLE auth."Login" (id TEXT PRIMARY KEY, "memberId" TEXT REFERENCES auth."Member" (id), "startedAt" TIMESTAMPTZ, "seenAt" TIMESTAMPTZ);"#,
    );
    let dir = support::scratch();
    std::fs::write(
        dir.path().join("anonsweep.toml"),
        r#"
[users]
table = "auth.Member"
is_anonymous = "isGuest"
created_at = "joinedAt"
[sessions]
table = "auth.Login"
user_id = "memberId"
activity = ["startedAt", "seenAt"]
[accounts]
enabled = false
"#,
    )
    .unwrap();
    let url = db.url();
    let r = ok(support::anonsweep_in(
        dir.path(),
        &["migrate", "run", "--database-url", &url],
        &[],
    ));
    assert!(
        r.stdout.contains("rendered for this schema"),
        "{}",
        r.stdout
    );
    let defs = db.strings("SELECT CAST(schemaname || '|' || indexdef AS TEXT) AS t FROM pg_indexes WHERE indexname LIKE 'anonsweep%' ORDER BY 1");
    assert_eq!(defs.len(), 2, "{defs:?}");
    assert!(
        defs.iter()
            .any(|d| d.starts_with("auth|") && d.contains(r#"("joinedAt") WHERE "isGuest""#)),
        "{defs:?}"
    );
    assert!(
        defs.iter()
            .any(|d| d.contains(r#"("memberId", "startedAt", "seenAt")"#)),
        "{defs:?}"
    );
    let rev = ok(support::anonsweep_in(
        dir.path(),
        &["migrate", "revert", "--database-url", &url],
        &[],
    ));
    assert!(rev.stdout.contains("dropped"), "{}", rev.stdout);
    assert!(db
        .strings(
            "SELECT CAST(indexname AS TEXT) AS t FROM pg_indexes WHERE indexname LIKE 'anonsweep%'"
        )
        .is_empty());
}

backend_test!(
    invalid_index_from_an_interrupted_concurrent_build_is_reported_and_rebuilt,
    [postgres],
    |db: TestDb| {
        app_db(&db);
        db.exec(
        "INSERT INTO users SELECT 'u' || g, TRUE, TIMESTAMPTZ '2026-01-01 00:00:00+00' FROM generate_series(1, 50) g",
    );
        // A concurrent build that fails half-way leaves an INVALID index behind under our name
        // (here: a UNIQUE build over duplicate values).
        let failed = db.conn().batch_execute(
        r#"CREATE UNIQUE INDEX CONCURRENTLY "anonsweep_users_created_at_anon" ON users (created_at) WHERE is_anonymous"#,
    );
        assert!(failed.is_err());
        let j: serde_json::Value =
            serde_json::from_str(&ok(db.run(&["migrate", "status", "--format", "json"])).stdout)
                .unwrap();
        assert_eq!(j["indexes"][0]["exists"], true);
        assert_eq!(j["indexes"][0]["valid"], false);
        let plan = ok(db.run(&["plan"]));
        assert!(plan.stdout.contains("is INVALID"), "{}", plan.stdout);
        let sql = ok(db.run(&["migrate", "sql"]));
        assert!(
            sql.stdout
                .contains("DROP INDEX CONCURRENTLY IF EXISTS \"anonsweep_users_created_at_anon\";"),
            "{}",
            sql.stdout
        );

        let r = ok(db.run(&["migrate", "run"]));
        assert!(
            r.stdout
                .contains("created   anonsweep_users_created_at_anon"),
            "{}",
            r.stdout
        );
        let valid = db.strings(
        "SELECT CAST(i.indisvalid AS TEXT) || '|' || CAST(i.indisunique AS TEXT) AS t FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'anonsweep_users_created_at_anon'",
    );
        assert_eq!(
            valid,
            vec!["true|false"],
            "rebuilt as a valid, non-unique index"
        );

        // Recorded as applied but INVALID again (e.g. a REINDEX CONCURRENTLY interrupted): rebuilt too.
        db.exec("UPDATE pg_index SET indisvalid = FALSE WHERE indexrelid = 'anonsweep_users_created_at_anon'::regclass");
        let r = ok(db.run(&["migrate", "run"]));
        assert!(
            r.stdout
                .contains("rebuilt   anonsweep_users_created_at_anon"),
            "{}",
            r.stdout
        );
        let valid = db.strings("SELECT CAST(indisvalid AS TEXT) AS t FROM pg_index WHERE indexrelid = 'anonsweep_users_created_at_anon'::regclass");
        assert_eq!(valid, vec!["true"]);
    }
);

backend_test!(
    lock_timeout_stops_a_build_that_would_queue_behind_a_long_transaction,
    [postgres],
    |db: TestDb| {
        app_db(&db);
        let mut blocker = db.conn();
        // A long transaction holding a conflicting lock on the users table.
        blocker
            .batch_execute("BEGIN; LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
            .unwrap();
        let started = std::time::Instant::now();
        let r = db.run(&["migrate", "run", "--lock-timeout-ms", "300"]);
        assert_eq!(r.code, 1, "{}", r.all());
        assert!(r.stderr.contains("lock timeout"), "{}", r.stderr);
        assert!(started.elapsed().as_secs() < 20);
        blocker.batch_execute("ROLLBACK").unwrap();
        ok(db.run(&["migrate", "run"]));
    }
);

#[test]
fn postgres_eligibility_query_uses_the_users_index_on_200k_users() {
    let db = TestDb::pg();
    app_db(&db);
    // 200,000 users, 5% anonymous, created over 120 days before the as-of.
    db.exec(
        "INSERT INTO users
           SELECT 'u' || lpad(g::text, 7, '0'), (g % 20 = 0),
                  TIMESTAMPTZ '2026-11-26 00:00:00+00' - (g % 120) * INTERVAL '1 day'
           FROM generate_series(1, 200000) g;
         INSERT INTO sessions
           SELECT 's' || g, 'u' || lpad(g::text, 7, '0'), TIMESTAMPTZ '2026-11-20 00:00:00+00', NULL
           FROM generate_series(1, 200000, 7) g;
         ANALYZE users; ANALYZE sessions;",
    );
    ok(db.run(&["migrate", "run"]));
    let r = ok(db.run(&[
        "plan",
        "--as-of",
        "2026-11-26T00:00:00Z",
        "--explain",
        "--format",
        "json",
    ]));
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let explain: Vec<String> = j["explain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert!(
        explain
            .iter()
            .any(|l| l.contains("anonsweep_users_created_at_anon")),
        "{explain:#?}"
    );
    assert!(
        !explain.iter().any(|l| l.contains("Seq Scan on users")),
        "{explain:#?}"
    );
}

#[test]
fn sqlite_eligibility_query_scans_users_and_probes_the_covering_sessions_index() {
    let db = TestDb::sqlite();
    app_db(&db);
    ok(db.run(&["migrate", "run"]));
    assert!(!index_names(&db).contains(&USERS_INDEX.to_string()));
    let r = ok(db.run(&["plan", "--explain"]));
    assert!(r.stdout.contains("SCAN u"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("COVERING INDEX anonsweep_sessions_user_id_created_at_updated_at"),
        "{}",
        r.stdout
    );
}

// The application's own diesel migrations, run by diesel's own harness, keep working: after
// `migrate run`, the application's `revert_last_migration` reverts *its* latest migration.
backend_test!(
    the_applications_diesel_harness_is_unaffected,
    [postgres],
    |db: TestDb| {
        use diesel::Connection;
        use diesel_migrations::{FileBasedMigrations, MigrationHarness};
        let ts = "TIMESTAMPTZ";
        db.exec(&support::default_schema(&db, ts, "TEXT", false));
        let dir = support::scratch();
        let m = dir.path().join("migrations/2024-05-01-000000_create_notes");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(
            m.join("up.sql"),
            "CREATE TABLE notes (id INTEGER PRIMARY KEY);",
        )
        .unwrap();
        std::fs::write(m.join("down.sql"), "DROP TABLE notes;").unwrap();
        let app = FileBasedMigrations::from_path(dir.path().join("migrations")).unwrap();
        let mut conn = diesel::PgConnection::establish(&db.url()).unwrap();
        conn.run_pending_migrations(app.clone()).unwrap();

        ok(db.run(&["migrate", "run"]));
        assert!(conn.pending_migrations(app.clone()).unwrap().is_empty());
        let reverted = conn.revert_last_migration(app.clone()).unwrap();
        assert_eq!(
            reverted.to_string(),
            "20240501000000",
            "the app's revert reaches its own migration"
        );
        assert!(db.strings("SELECT CAST(to_regclass('notes') AS TEXT) AS t")[0].is_empty());
        conn.run_pending_migrations(app).unwrap();

        ok(db.run(&["migrate", "revert"]));
        let mut v = versions(&db);
        v.retain(|x| !x.contains("anonsweep"));
        assert_eq!(v, vec!["20240501000000"]);
        assert_eq!(db.count("notes"), 0, "the app's table is still there");
    }
);

// A long transaction on the users table: the concurrent build waits for it (up to the lock
// timeout) without blocking the application's writes, then gives up and can be rerun.
backend_test!(
    a_long_transaction_does_not_block_application_writes_during_migrate_run,
    [postgres],
    |db: TestDb| {
        app_db(&db);
        let mut long = db.conn();
        long.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT COUNT(*) FROM users")
            .unwrap();
        let url = db.url();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_anonsweep"))
            .args([
                "migrate",
                "run",
                "--lock-timeout-ms",
                "3000",
                "--database-url",
                &url,
            ])
            .env_remove("DATABASE_URL")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(700));
        // The application keeps writing while the index build waits.
        let started = std::time::Instant::now();
        let mut app = db.conn();
        for i in 0..20 {
            app.batch_execute(&format!("INSERT INTO users VALUES ('w{i}', TRUE, now())"))
                .unwrap();
        }
        let write_time = started.elapsed();
        let out = child.wait_with_output().unwrap();
        long.batch_execute("ROLLBACK").unwrap();
        assert!(
            write_time.as_millis() < 1500,
            "application writes were blocked for {write_time:?}"
        );
        assert_eq!(db.count("users"), 20);
        // The build waited for the long transaction until its lock timeout, then gave up cleanly.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("lock timeout"), "{stderr}");
        // A rerun rebuilds what the interrupted build left INVALID: every index present and valid.
        ok(db.run(&["migrate", "run"]));
        let j: serde_json::Value =
            serde_json::from_str(&ok(db.run(&["migrate", "status", "--format", "json"])).stdout)
                .unwrap();
        for row in j["indexes"].as_array().unwrap() {
            assert_eq!(row["exists"], true, "{row}");
            assert_eq!(row["valid"], true, "{row}");
        }
    }
);

#[test]
fn mysql_run_revert_status_explain() {
    let db = TestDb::mysql();
    app_db(&db);
    let before = index_names(&db);
    let r = ok(db.run(&["migrate", "run"]));
    assert!(
        r.stdout
            .contains("created   anonsweep_users_created_at_anon"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("created   anonsweep_sessions_user_id_created_at_updated_at"),
        "{}",
        r.stdout
    );
    // InnoDB indexes every foreign key itself: accounts.user_id is covered already.
    assert!(
        r.stdout.contains("skipped   anonsweep_accounts_user_id"),
        "{}",
        r.stdout
    );
    let cols = db.strings(
        "SELECT CAST(GROUP_CONCAT(column_name ORDER BY seq_in_index) AS CHAR) AS t FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND index_name = 'anonsweep_users_created_at_anon'",
    );
    assert_eq!(
        cols,
        vec!["is_anonymous,created_at"],
        "composite: MySQL has no partial indexes"
    );
    let again = ok(db.run(&["migrate", "run"]));
    assert!(!again.stdout.contains("  created "), "{}", again.stdout);

    let j: serde_json::Value =
        serde_json::from_str(&ok(db.run(&["migrate", "status", "--format", "json"])).stdout)
            .unwrap();
    assert_eq!(j["indexes"][0]["applied"], true);
    assert_eq!(j["indexes"][0]["exists"], true);
    assert_eq!(j["indexes"][2]["skipped"], true);

    let p = ok(db.run(&["plan", "--explain", "--format", "json"]));
    let pj: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    let explain = pj["explain"].to_string();
    assert!(
        explain.contains("anonsweep_users_created_at_anon"),
        "{explain}"
    );

    ok(db.run(&["migrate", "revert"]));
    assert_eq!(index_names(&db), before);
    assert_eq!(versions(&db), vec!["00000000000000", "20240101000000"]);
    // An index of ours that exists but was never recorded is recorded, not built twice.
    db.exec("CREATE INDEX anonsweep_users_created_at_anon ON users (is_anonymous, created_at)");
    let r = ok(db.run(&["migrate", "run"]));
    assert!(
        r.stdout
            .contains("recorded  anonsweep_users_created_at_anon"),
        "{}",
        r.stdout
    );
}

// `[[tables]]` entries get an index migration on their link column, numbered from the table and
// column (reordering the config keeps every version), skipped when an index already leads with
// that column, and reverted with the others.
backend_test!(
    configured_tables_get_index_migrations_that_survive_reordering,
    [sqlite, postgres],
    |db: TestDb| {
        app_db(&db);
        db.exec(
            "CREATE TABLE favorites (id TEXT PRIMARY KEY, user_id TEXT REFERENCES users (id));
             CREATE TABLE try_on (id TEXT PRIMARY KEY, owner TEXT REFERENCES users (id));
             CREATE INDEX try_on_owner_idx ON try_on (owner);",
        );
        let favorites = "[[tables]]\ntable = \"favorites\"\nuser_column = \"user_id\"\n";
        let try_on = "[[tables]]\ntable = \"try_on\"\nuser_column = \"owner\"\n";
        // A private file (PostgreSQL tests share one working directory), removed afterwards.
        let scratch = support::scratch();
        let config = scratch.path().join("anonsweep.toml");
        let cfg = config.to_str().unwrap();
        let status = |text: &str| {
            std::fs::write(&config, text).unwrap();
            ok(db.run(&["migrate", "status", "--config", cfg])).stdout
        };
        let line = |out: &str, index: &str| {
            out.lines()
                .find(|l| l.contains(index))
                .unwrap_or_else(|| panic!("{index} listed:\n{out}"))
                .split_whitespace()
                .next()
                .unwrap()
                .to_string()
        };
        let first = status(&format!("{favorites}{try_on}"));
        let reordered = status(&format!("{try_on}{favorites}"));
        for index in ["anonsweep_favorites_user_id", "anonsweep_try_on_owner"] {
            assert_eq!(line(&first, index), line(&reordered, index), "{index}");
        }
        assert!(
            first.contains("try_on_owner_idx"),
            "the equivalent index is named:\n{first}"
        );

        ok(db.run(&["migrate", "run", "--config", cfg]));
        let names = index_names(&db);
        assert!(
            names.contains(&"anonsweep_favorites_user_id".to_string()),
            "{names:?}"
        );
        assert!(
            !names.contains(&"anonsweep_try_on_owner".to_string()),
            "try_on already has an index led by owner: {names:?}"
        );
        let plan = ok(db.run(&["plan", "--config", cfg]));
        assert!(!plan.stdout.contains("is missing"), "{}", plan.stdout);

        ok(db.run(&["migrate", "revert", "--config", cfg]));
        let names = index_names(&db);
        assert!(
            names.iter().all(|n| !n.starts_with("anonsweep_")),
            "{names:?}"
        );
        assert!(names.contains(&"try_on_owner_idx".to_string()), "{names:?}");
    }
);
