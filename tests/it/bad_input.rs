//! Bad input: a clear one-line error naming the problem and the fix, the documented exit code,
//! and an untouched database. A password in the URL never appears in any output.

use crate::support;

use support::{backend_test, Run, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";
const TABLES: [&str; 3] = ["users", "sessions", "accounts"];

/// Two users (one eligible) in the SQLite database `db`.
fn populate(db: &TestDb) {
    db.exec(&support::default_schema(db, "TEXT", "TEXT", false));
    db.exec(
        "INSERT INTO users VALUES ('u1', 1, '2026-01-01T00:00:00.000Z'), ('u2', 0, '2026-01-01T00:00:00.000Z');
         INSERT INTO sessions VALUES ('s1', 'u1', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');",
    );
}

/// Exactly one line on stderr, the expected code, and the line names the problem.
fn assert_error(r: &Run, code: i32, needles: &[&str]) {
    assert_eq!(r.code, code, "exit code\n{}", r.all());
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got:\n{}", r.stderr);
    assert!(lines[0].starts_with("anonsweep: error: "), "{}", lines[0]);
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} missing from: {}", lines[0]);
    }
    assert!(r.stdout.is_empty(), "nothing on stdout: {}", r.stdout);
}

backend_test!(
    bad_values_are_usage_errors_and_delete_nothing,
    [sqlite],
    |db: TestDb| {
        populate(&db);
        let before = db.fingerprint(&TABLES);
        let cases: Vec<(Vec<&str>, &[&str])> = vec![
            (
                vec!["run", "--retention-days", "0"],
                &["retention days", "\"0\"", "--retention-days 30"],
            ),
            (
                vec!["run", "--retention-days", "-5"],
                &["retention days", "\"-5\""],
            ),
            (
                vec!["run", "--retention-days", "999999"],
                &["retention days", "36500"],
            ),
            (vec!["run", "--retention-days", "1.5"], &["retention days"]),
            (
                vec!["run", "--preset", "nope"],
                &["unknown preset \"nope\"", "default, better-auth"],
            ),
            (vec!["run", "--as-of", "yesterday"], &["as-of", "RFC 3339"]),
            (vec!["run", "--batch-size", "0"], &["batch size"]),
            (
                vec!["run", "--timestamp-format", "weird"],
                &["timestamp format", "iso-text"],
            ),
            (vec!["plan", "--format", "xml"], &["output format"]),
        ];
        for (args, needles) in cases {
            let mut a = args.clone();
            a.extend(
                ["--as-of", AS_OF]
                    .iter()
                    .filter(|_| !args.contains(&"--as-of")),
            );
            let r = db.run(&a);
            assert_error(&r, 2, needles);
            assert_eq!(
                db.fingerprint(&TABLES),
                before,
                "{args:?} changed the database"
            );
        }
    }
);

backend_test!(
    env_values_are_checked_the_same_way,
    [sqlite],
    |db: TestDb| {
        populate(&db);
        let r = db.run_env(&["run"], &[("ANONSWEEP_RETENTION_DAYS", "0")]);
        assert_error(&r, 2, &["retention days", "env ANONSWEEP_RETENTION_DAYS"]);
        assert_eq!(db.count("users"), 2);
    }
);

#[test]
fn malformed_and_unknown_urls() {
    let dir = support::scratch();
    for (url, needle) in [
        ("postgres://u:pw@[::1", "malformed database URL"),
        ("mysqlx://root@localhost/db", "unknown database URL scheme"),
        ("postgres:oops", "malformed database URL"),
        ("", "empty"),
    ] {
        let r = support::anonsweep_in(dir.path(), &["plan", "--database-url", url], &[]);
        assert_error(&r, 2, &[needle, "postgres://"]);
    }
    let r = support::anonsweep_in(dir.path(), &["plan"], &[]);
    assert_error(&r, 2, &["no database given", "--database-url"]);
}

#[test]
fn missing_sqlite_file_is_not_created() {
    let dir = support::scratch();
    let path = dir.path().join("nope.db");
    let r = support::anonsweep_in(
        dir.path(),
        &["run", "--database-url", path.to_str().unwrap()],
        &[],
    );
    assert_error(&r, 2, &["does not exist"]);
    assert!(!path.exists());
}

#[test]
fn unreachable_server_hides_the_password() {
    let dir = support::scratch();
    let r = support::anonsweep_in(
        dir.path(),
        &[
            "run",
            "--database-url",
            "postgres://postgres:Hunter2Secret@127.0.0.1:1/app",
        ],
        &[],
    );
    assert_error(
        &r,
        1,
        &["cannot connect", "postgres://postgres:***@127.0.0.1:1/app"],
    );
    assert!(!r.all().contains("Hunter2Secret"));
}

backend_test!(missing_table_and_column_are_named, |db: TestDb| {
    let (ts, id) = types(&db);
    db.exec(&format!(
        "CREATE TABLE users (id {id} PRIMARY KEY, is_anonymous BOOLEAN, created_at {ts})"
    ));
    let r = db.run(&["run", "--as-of", AS_OF]);
    assert_error(&r, 1, &["table sessions not found", "sessions.table"]);

    db.exec(&format!(
            "CREATE TABLE sessions (id {id} PRIMARY KEY, user_id {id}, created_at {ts}, last_seen {ts});
             CREATE TABLE accounts (id {id} PRIMARY KEY, user_id {id});
             INSERT INTO users VALUES ('u1', TRUE, {});",
            db.ts("2026-01-01 00:00:00")
        ));
    let r = db.run(&["run", "--as-of", AS_OF]);
    assert_error(
        &r,
        1,
        &[
            "column \"updated_at\" not found in table sessions",
            "sessions.activity",
        ],
    );
    assert_eq!(db.count("users"), 1, "nothing deleted");
});

backend_test!(config_file_errors, [sqlite], |db: TestDb| {
    populate(&db);
    let cases = [
        (
            "[users]\ntable = 'us\"ers'\n",
            vec!["invalid identifier", "users.table"],
        ),
        (
            "[users]\nis_anonymous = 'is anonymous'\n",
            vec!["invalid identifier", "users.is_anonymous"],
        ),
        (
            "[sessions]\nactivity = []\n",
            vec!["sessions.activity is empty"],
        ),
        (
            "retention = 30\n",
            vec!["unknown field `retention`", "anonsweep.toml"],
        ),
        (
            "retention_days = 0\n",
            vec!["retention days", "anonsweep.toml"],
        ),
        ("preset = 'supabase-x'\n", vec!["unknown preset"]),
    ];
    for (toml, needles) in cases {
        std::fs::write(db.dir().join("anonsweep.toml"), toml).unwrap();
        let r = db.run(&["run", "--as-of", AS_OF]);
        assert_error(&r, 2, &needles);
        assert_eq!(db.count("users"), 2, "{toml}: nothing deleted");
    }
    let r = db.run(&["run", "--config", "/nonexistent/anonsweep.toml"]);
    assert_error(&r, 2, &["does not exist"]);
});

#[test]
fn clap_usage_errors_exit_2() {
    let dir = support::scratch();
    let r = support::anonsweep_in(dir.path(), &["run", "--no-such-flag"], &[]);
    assert_eq!(r.code, 2);
    let r = support::anonsweep_in(dir.path(), &["frobnicate"], &[]);
    assert_eq!(r.code, 2);
}

backend_test!(
    password_never_appears_in_any_output,
    [postgres],
    |db: TestDb| {
        db.exec(&support::default_schema(&db, "TIMESTAMPTZ", "TEXT", false));
        db.exec("INSERT INTO users VALUES ('u1', TRUE, '2026-01-01T00:00:00Z'), ('u2', FALSE, '2026-01-01T00:00:00Z')");
        let TestDb::Pg { name } = &db else {
            unreachable!()
        };
        // Trust auth ignores the password, so the commands succeed with it in the URL.
        let secret = "Pa55w0rd_Zebra";
        let url = format!("{}/{name}", support::pg_server()).replacen(
            "postgres@",
            &format!("postgres:{secret}@"),
            1,
        );
        let dir = support::scratch();
        let script = dir.path().join("s.sql");
        let audit = dir.path().join("audit.jsonl");
        let mut outputs = Vec::new();
        for args in [
            vec![
                "plan",
                "--as-of",
                AS_OF,
                "--sql-out",
                script.to_str().unwrap(),
            ],
            vec!["plan", "--as-of", AS_OF, "--format", "json"],
            vec![
                "run",
                "--as-of",
                AS_OF,
                "--audit-log",
                audit.to_str().unwrap(),
                "--format",
                "json",
            ],
            vec!["run", "--as-of", AS_OF],
        ] {
            let mut a = args.clone();
            a.extend(["--database-url", &url]);
            let r = support::anonsweep_in(dir.path(), &a, &[("ANONSWEEP_LOG", "debug")]);
            assert_eq!(r.code, 0, "{}", r.all());
            outputs.push(r.all());
        }
        // Through the environment too.
        let r = support::anonsweep_in(
            dir.path(),
            &["plan", "--as-of", AS_OF],
            &[("DATABASE_URL", &url)],
        );
        assert_eq!(r.code, 0, "{}", r.all());
        outputs.push(r.all());
        outputs.push(std::fs::read_to_string(&script).unwrap());
        outputs.push(std::fs::read_to_string(&audit).unwrap());
        for o in &outputs {
            assert!(!o.contains(secret), "password leaked in:\n{o}");
        }
        assert_eq!(db.ids("users", "id"), vec!["u2"], "the run itself worked");
    }
);

backend_test!(a_users_id_that_is_not_unique_is_refused, |db: TestDb| {
    let (ts, id) = types(&db);
    let t = db.ts("2026-01-01 00:00:00");
    db.exec(&format!(
            "CREATE TABLE users (id {id}, is_anonymous BOOLEAN, created_at {ts});
             CREATE INDEX users_id_idx ON users (id);
             CREATE TABLE sessions (id {id} PRIMARY KEY, user_id {id}, created_at {ts}, updated_at {ts});
             CREATE TABLE accounts (id {id} PRIMARY KEY, user_id {id});
             INSERT INTO users VALUES ('dup', TRUE, {t}), ('dup', FALSE, {t});"
        ));
    let r = db.run(&["run", "--as-of", AS_OF]);
    assert_error(&r, 1, &["users.id is neither the primary key nor unique"]);
    assert_eq!(db.count("users"), 2, "the registered twin must survive");
});

/// (timestamp type, id type) for hand-written tables.
fn types(db: &TestDb) -> (&'static str, &'static str) {
    if db.is_pg() {
        ("TIMESTAMPTZ", "TEXT")
    } else if db.is_mysql() {
        ("DATETIME(3)", "VARCHAR(64)")
    } else {
        ("TEXT", "TEXT")
    }
}

#[test]
fn mysql_connection_errors_hide_the_password() {
    let dir = support::scratch();
    // Nothing listens on port 1; then the real server with a wrong password.
    let refused = support::anonsweep_in(
        dir.path(),
        &[
            "plan",
            "--database-url",
            "mysql://root:Hunter2Secret@127.0.0.1:1/app",
        ],
        &[],
    );
    assert_error(
        &refused,
        1,
        &["cannot connect", "mysql://root:***@127.0.0.1:1/app"],
    );
    let db = TestDb::mysql();
    let TestDb::Mysql { name } = &db else {
        unreachable!()
    };
    let url = format!("{}/{name}", support::mysql_server()).replacen(
        "://root@",
        "://nobody_here:Hunter2Secret@",
        1,
    );
    let denied = support::anonsweep_in(dir.path(), &["run", "--database-url", &url], &[]);
    assert_error(&denied, 1, &["cannot connect"]);
    for r in [&refused, &denied] {
        assert!(!r.all().contains("Hunter2Secret"), "{}", r.all());
    }
    let no_db = support::anonsweep_in(
        dir.path(),
        &["plan", "--database-url", "mysql://root@127.0.0.1:3306"],
        &[],
    );
    assert_error(&no_db, 2, &["names no database"]);
}

// `anonsweep plan | head -1`: the reader of stdout goes away (here before the command writes
// anything, so the write surely fails); the command ends quietly (no panic, no "Broken pipe"
// message), and nothing is deleted.
backend_test!(
    a_closed_stdout_ends_the_command_quietly,
    [sqlite],
    |db: TestDb| {
        use std::process::{Command, Stdio};
        populate(&db);
        let before = db.count("users");
        let mut child = Command::new(env!("CARGO_BIN_EXE_anonsweep"))
            .args(["plan", "--database-url", &db.url()])
            .current_dir(db.dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(101), "no panic:\n{stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{stderr}"
        );
        assert_eq!(db.count("users"), before);
    }
);

#[test]
fn version_names_the_commit_and_help_lists_every_preset() {
    let dir = support::scratch();
    let v = support::anonsweep_in(dir.path(), &["--version"], &[]);
    assert_eq!(v.code, 0, "{}", v.all());
    assert!(
        v.stdout
            .starts_with(&format!("anonsweep {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{}",
        v.stdout
    );
    for cmd in ["plan", "run", "doctor", "sql"] {
        let h = support::anonsweep_in(dir.path(), &[cmd, "--help"], &[]);
        assert!(
            h.stdout.contains("default, better-auth, supabase"),
            "{cmd} --help lists every preset:\n{}",
            h.stdout
        );
    }
}
