//! Foreign keys: without ON DELETE CASCADE the delete order matters; with it nothing changes;
//! a table the config does not know makes only its users fail, reported, while the rest go.

mod support;

use support::TestDb;

const AS_OF: &str = "2026-11-26T00:00:00Z";

fn schema_for(db: &TestDb) -> &'static str {
    if db.is_pg() {
        "TIMESTAMPTZ"
    } else {
        "TEXT"
    }
}

/// Ten anonymous users created long ago (all eligible), two registered, a session and an account each.
fn setup(db: &TestDb, cascade: bool) {
    // TEXT timestamps on SQLite (ISO-8601), TIMESTAMPTZ on PostgreSQL.
    let ddl = support::default_schema(db, schema_for(db), "TEXT", cascade);
    db.exec(&ddl);
    let (t, f) = (db.bool(true), db.bool(false));
    let ts = |d: &str| db.ts(&format!("{d} 00:00:00"));
    let mut sql = String::new();
    for i in 0..12 {
        let anon = if i < 10 { t } else { f };
        sql += &format!(
            "INSERT INTO users VALUES ('u{i:02}', {anon}, {});\n",
            ts("2026-01-01")
        );
        sql += &format!(
            "INSERT INTO sessions VALUES ('s{i:02}', 'u{i:02}', {0}, {0});\n",
            ts("2026-01-02")
        );
        sql += &format!("INSERT INTO accounts VALUES ('a{i:02}', 'u{i:02}', 'anonymous');\n");
    }
    db.exec(&sql);
}

#[test]
fn without_cascade_children_go_first_on_every_backend() {
    for db in TestDb::all() {
        setup(&db, false);
        let r = db.run(&["run", "--as-of", AS_OF, "--batch-size", "3"]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["u10", "u11"]);
        assert_eq!(db.ids("sessions", "id"), vec!["s10", "s11"]);
        assert_eq!(db.ids("accounts", "id"), vec!["a10", "a11"]);
    }
}

#[test]
fn with_cascade_the_result_is_the_same() {
    for db in TestDb::all() {
        setup(&db, true);
        let r = db.run(&["run", "--as-of", AS_OF]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["u10", "u11"]);
        assert_eq!(db.ids("sessions", "id"), vec!["s10", "s11"]);
        assert_eq!(db.ids("accounts", "id"), vec!["a10", "a11"]);
    }
}

#[test]
fn unknown_referencing_table_isolates_failing_users_and_deletes_the_rest() {
    for db in TestDb::all() {
        setup(&db, false);
        let id = if db.is_mysql() { "VARCHAR(64)" } else { "TEXT" };
        db.exec(&format!(
            "CREATE TABLE favorites (id {id} PRIMARY KEY, user_id {id} NOT NULL, FOREIGN KEY (user_id) REFERENCES users (id));
             INSERT INTO favorites VALUES ('f1', 'u03'), ('f2', 'u07');"
        ));
        let r = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--batch-size",
            "4",
            "--format",
            "json",
        ]);
        assert_eq!(r.code, 3, "some users failed: exit 3\n{}", r.all());
        let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let failed: Vec<&str> = json["failed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["user_id"].as_str().unwrap())
            .collect();
        assert_eq!(failed, vec!["u03", "u07"]);
        let msg = json["failed"][0]["error"].as_str().unwrap().to_lowercase();
        assert!(
            msg.contains("foreign key"),
            "the database's own message is reported: {msg}"
        );
        assert_eq!(json["deleted_users"], 8);
        // The failing users are untouched: their sessions and accounts were rolled back with them.
        assert_eq!(db.ids("users", "id"), vec!["u03", "u07", "u10", "u11"]);
        assert_eq!(db.ids("sessions", "id"), vec!["s03", "s07", "s10", "s11"]);
        assert_eq!(db.ids("accounts", "id"), vec!["a03", "a07", "a10", "a11"]);
        assert_eq!(db.count("favorites"), 2);
    }
}

#[test]
fn max_failures_stops_the_run_early() {
    let db = TestDb::sqlite();
    setup(&db, false);
    db.exec(
        "CREATE TABLE favorites (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id));
         INSERT INTO favorites VALUES ('f1', 'u01'), ('f2', 'u02'), ('f3', 'u03');",
    );
    let r = db.run(&[
        "run",
        "--as-of",
        AS_OF,
        "--batch-size",
        "1",
        "--max-failures",
        "2",
    ]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stdout.contains("stopped early"), "{}", r.stdout);
    // u00 was deleted before the failures; u01 and u02 failed; the run stopped before u03..u09.
    assert_eq!(
        db.ids("users", "id"),
        vec!["u01", "u02", "u03", "u04", "u05", "u06", "u07", "u08", "u09", "u10", "u11"]
    );
}
