//! Foreign keys: without ON DELETE CASCADE the delete order matters; with it nothing changes;
//! a user another user references fails alone, reported, while the rest go; a referencing table
//! the config does not know stops the run before anything is deleted.

use crate::support;

use support::{backend_test, TestDb};

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

backend_test!(
    without_cascade_children_go_first_on_every_backend,
    |db: TestDb| {
        setup(&db, false);
        let r = db.run(&["run", "--as-of", AS_OF, "--batch-size", "3"]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["u10", "u11"]);
        assert_eq!(db.ids("sessions", "id"), vec!["s10", "s11"]);
        assert_eq!(db.ids("accounts", "id"), vec!["a10", "a11"]);
    }
);

backend_test!(with_cascade_the_result_is_the_same, |db: TestDb| {
    setup(&db, true);
    let r = db.run(&["run", "--as-of", AS_OF]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(db.ids("users", "id"), vec!["u10", "u11"]);
    assert_eq!(db.ids("sessions", "id"), vec!["s10", "s11"]);
    assert_eq!(db.ids("accounts", "id"), vec!["a10", "a11"]);
});

/// Registered users u10 and u11 were invited by anonymous users u03 and u07
/// (`users.invited_by`, no cascade): those two cannot be deleted.
fn add_invitations(db: &TestDb, inviters: &[(&str, &str)]) {
    let ddl = if db.is_mysql() {
        "ALTER TABLE users ADD COLUMN invited_by VARCHAR(64) NULL, ADD FOREIGN KEY (invited_by) REFERENCES users (id)"
    } else {
        "ALTER TABLE users ADD COLUMN invited_by TEXT REFERENCES users (id)"
    };
    db.exec(ddl);
    for (user, inviter) in inviters {
        db.exec(&format!(
            "UPDATE users SET invited_by = '{inviter}' WHERE id = '{user}'"
        ));
    }
}

backend_test!(
    referenced_users_fail_alone_are_reported_and_the_rest_go,
    |db: TestDb| {
        setup(&db, false);
        add_invitations(&db, &[("u10", "u03"), ("u11", "u07")]);
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
    }
);

backend_test!(
    unconfigured_referencing_table_stops_plan_and_run_before_anything_is_deleted,
    |db: TestDb| {
        setup(&db, false);
        let id = if db.is_mysql() { "VARCHAR(64)" } else { "TEXT" };
        db.exec(&format!(
            "CREATE TABLE favorites (id {id} PRIMARY KEY, user_id {id} NOT NULL, FOREIGN KEY (user_id) REFERENCES users (id));
             INSERT INTO favorites VALUES ('f1', 'u03'), ('f2', 'u07');"
        ));
        let before = db.fingerprint(&["users", "sessions", "accounts", "favorites"]);
        for cmd in ["plan", "run"] {
            let r = db.run(&[cmd, "--as-of", AS_OF]);
            assert_eq!(r.code, 2, "{cmd}: a failed check is exit 2\n{}", r.all());
            assert!(
                r.stderr.contains("favorites.user_id references users.id")
                    && r.stderr.contains("table = \"favorites\"")
                    && r.stderr.contains("user_column = \"user_id\""),
                "{cmd} names the table and the config lines that fix it:\n{}",
                r.stderr
            );
            assert_eq!(
                db.fingerprint(&["users", "sessions", "accounts", "favorites"]),
                before
            );
        }
    }
);

backend_test!(max_failures_stops_the_run_early, [sqlite], |db: TestDb| {
    setup(&db, false);
    // u01, u02 and u03 invited registered users, so they cannot be deleted.
    db.exec("INSERT INTO users (id, is_anonymous, created_at) VALUES ('r1', 0, '2026-01-01'), ('r2', 0, '2026-01-01'), ('r3', 0, '2026-01-01')");
    add_invitations(&db, &[("r1", "u01"), ("r2", "u02"), ("r3", "u03")]);
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
        vec![
            "r1", "r2", "r3", "u01", "u02", "u03", "u04", "u05", "u06", "u07", "u08", "u09", "u10",
            "u11"
        ]
    );
});
