//! The `--sql-out` script, run by `psql` / `sqlite3` on one copy, and `anonsweep run` on another
//! copy leave identical databases; and `plan` leaves a database byte-for-byte unchanged.

use crate::support;

use support::{backend_test, Backend, TestDb};

const TABLES: [&str; 3] = ["users", "sessions", "accounts"];

/// A demo population (realistic spread over 120 days) in a fresh database; returns the as-of.
fn populate(db: &TestDb, users: &str) -> String {
    let url = db.url();
    let r = support::anonsweep_in(
        &db.dir(),
        &[
            "demo",
            "--fill-only",
            "--users",
            users,
            "--database-url",
            &url,
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let marker = db.strings(&format!(
        "SELECT {} AS t FROM anonsweep_demo",
        db.text("created_at")
    ))[0]
        .clone();
    // `2026-11-26 14:10:00+00` (PostgreSQL), `2026-11-26T14:10:00.000Z` (SQLite), `2026-11-26 14:10:00.000` (MySQL)
    let plain = marker
        .trim_end_matches("+00")
        .trim_end_matches('Z')
        .replace('T', " ");
    support::parse_as_of(&plain)
        .unwrap_or_else(|| panic!("cannot read the demo's as-of {marker:?}"))
        .to_rfc3339()
}

/// A fresh database for `populate`.
fn fresh(backend: Backend) -> TestDb {
    let db = TestDb::new(backend);
    // The demo creates the file itself.
    if let TestDb::Sqlite { path, .. } = &db {
        std::fs::remove_file(path).unwrap();
    }
    db
}

fn script_matches_run_on(a: TestDb) {
    let as_of = populate(&a, "4000");
    let b = a.copy();
    let before = a.fingerprint(&TABLES);

    let dir = support::scratch();
    let script = dir.path().join("cleanup.sql");
    let plan = a.run(&[
        "plan",
        "--as-of",
        &as_of,
        "--sql-out",
        script.to_str().unwrap(),
    ]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert_eq!(
        a.fingerprint(&TABLES),
        before,
        "plan --sql-out changed the database"
    );

    let applied = a.run_script(&script);
    assert_eq!(applied.code, 0, "script failed: {}", applied.all());

    let run = b.run(&["run", "--as-of", &as_of, "--batch-size", "97"]);
    assert_eq!(run.code, 0, "{}", run.all());

    let after_a = a.fingerprint(&TABLES);
    assert_eq!(after_a, b.fingerprint(&TABLES), "script and run disagree");
    assert_ne!(
        after_a, before,
        "nothing was deleted: the test data has no eligible users"
    );
    assert!(a.count("users") < 4000 && a.count("users") > 1000);
}

// The script run by each backend's own client (psql, sqlite3, the mariadb client): formerly
// `sqlite_script_and_run_agree`, `postgres_script_and_run_agree` and
// `mysql_script_by_the_mariadb_client_and_run_agree`.
backend_test!(script_and_run_agree, |backend: Backend| {
    script_matches_run_on(fresh(backend))
});

#[test]
fn plan_and_dry_run_change_nothing_sqlite_bytes() {
    let db = fresh(Backend::Sqlite);
    let as_of = populate(&db, "2000");
    let TestDb::Sqlite { path, .. } = &db else {
        unreachable!()
    };
    let bytes = std::fs::read(path).unwrap();
    let dir = support::scratch();
    let out = dir.path().join("s.sql");
    for args in [
        vec!["plan", "--as-of", &as_of],
        vec![
            "plan",
            "--as-of",
            &as_of,
            "--format",
            "json",
            "--sql-out",
            out.to_str().unwrap(),
        ],
        vec!["run", "--dry-run", "--as-of", &as_of],
    ] {
        let r = db.run(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.all());
        assert!(
            std::fs::read(path).unwrap() == bytes,
            "{args:?} changed the database file"
        );
    }
    let plan = db.run(&["plan", "--as-of", &as_of, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert!(
        json["eligible"].as_u64().unwrap() > 0,
        "the dry run must have had something to delete"
    );
}

// Formerly `plan_and_dry_run_change_nothing_postgres` and its copy `_mysql` (which ran the plan
// with `--explain`): now both run both plans. On SQLite, `_sqlite_bytes` above compares bytes.
backend_test!(
    plan_and_dry_run_change_nothing,
    [postgres, mysql],
    |db: TestDb| {
        let as_of = populate(&db, "2000");
        let before = db.fingerprint(&TABLES);
        for args in [
            vec!["plan", "--as-of", &as_of],
            vec!["plan", "--as-of", &as_of, "--explain"],
            vec!["run", "--dry-run", "--as-of", &as_of, "--format", "json"],
        ] {
            let r = db.run(&args);
            assert_eq!(r.code, 0, "{args:?}: {}", r.all());
            assert_eq!(
                db.fingerprint(&TABLES),
                before,
                "{args:?} changed the database"
            );
        }
        let plan = db.run(&["plan", "--as-of", &as_of, "--format", "json"]);
        let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
        assert!(
            json["eligible"].as_u64().unwrap() > 0,
            "the dry run must have had something to delete"
        );
    }
);

backend_test!(
    script_header_names_the_run_and_no_credentials,
    [postgres],
    |db: TestDb| {
        db.exec(&support::default_schema(&db, "TIMESTAMPTZ", "TEXT", false));
        let dir = support::scratch();
        let script = dir.path().join("c.sql");
        let TestDb::Pg { name } = &db else {
            unreachable!()
        };
        let url = format!("{}/{name}", support::pg_server())
            .replace("postgres@", "postgres:Sw0rdfish_77@");
        let r = support::anonsweep_in(
            dir.path(),
            &[
                "plan",
                "--as-of",
                "2026-11-26T00:00:00Z",
                "--retention-days",
                "45",
                "--sql-out",
                script.to_str().unwrap(),
                "--database-url",
                &url,
            ],
            &[],
        );
        assert_eq!(r.code, 0, "{}", r.all());
        let text = std::fs::read_to_string(&script).unwrap();
        for needle in [
            "as-of:      2026-11-26T00:00:00Z",
            "retention:  45 days",
            "cutoff:     2026-10-12T00:00:00Z",
            "preset:     default",
            "backend:    postgres",
            "anonsweep 0.",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(
            text.contains("TIMESTAMPTZ '2026-10-12 00:00:00+00'"),
            "the cutoff is a literal"
        );
        assert!(
            !text.contains("Sw0rdfish_77") && !r.all().contains("Sw0rdfish_77"),
            "password leaked"
        );
        assert_eq!(text.matches("BEGIN;").count(), 1);
        assert!(text.trim_end().ends_with("COMMIT;"));
    }
);
