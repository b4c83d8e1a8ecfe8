//! Who is still active: `[users] activity` columns keep users like session activity does,
//! `[[keep_if]]` guards keep users who own something (everywhere the rule appears: counts, run,
//! the DBA script), and a sessions table that cannot show who is active is refused unless the
//! configuration acknowledges it (`sessions.source = "none"` with a users activity column, or
//! `age_only = true`). Each test checks the rows left in the database.

use crate::support;

use support::{backend_test, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";
const TABLES: &[&str] = &["users", "sessions", "accounts"];

/// A test's own directory for its `anonsweep.toml` (the PostgreSQL and MySQL databases have no
/// directory of their own), and `anonsweep ARGS --database-url URL` run in it.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(support::scratch())
    }

    fn config(&self, toml: &str) {
        std::fs::write(self.0.path().join("anonsweep.toml"), toml).unwrap();
    }

    fn run(&self, db: &TestDb, args: &[&str]) -> support::Run {
        let url = db.url();
        let mut all = args.to_vec();
        all.extend(["--database-url", &url]);
        support::anonsweep_in(self.0.path(), &all, &[])
    }

    fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

fn ts_type(db: &TestDb) -> &'static str {
    if db.is_pg() {
        "TIMESTAMPTZ"
    } else {
        "TEXT"
    }
}

/// A column of `ts_type` added to users.
fn add_users_column(db: &TestDb, column: &str) {
    let ty = if db.is_mysql() {
        "DATETIME(3)"
    } else {
        ts_type(db)
    };
    db.exec(&format!("ALTER TABLE users ADD COLUMN {column} {ty}"));
}

/// The default schema with `last_seen_at` on users; a registered user with a recent session (so
/// the sessions table shows activity); old anonymous users: `seen` (seen 2 days ago), `stale`
/// (seen 60 days ago), `never` (NULL), `plain` (no column value, no session).
fn users_activity_setup(db: &TestDb) {
    db.exec(&support::default_schema(db, ts_type(db), "TEXT", false));
    add_users_column(db, "last_seen_at");
    let (t, f) = (db.bool(true), db.bool(false));
    let old = db.ts("2026-01-01 00:00:00");
    let recent = db.ts("2026-11-24 00:00:00");
    let stale = db.ts("2026-09-27 00:00:00");
    db.exec(&format!(
        "INSERT INTO users (id, is_anonymous, created_at, last_seen_at) VALUES
           ('reg', {f}, {old}, NULL), ('seen', {t}, {old}, {recent}),
           ('stale', {t}, {old}, {stale}), ('never', {t}, {old}, NULL);
         INSERT INTO sessions VALUES ('s-reg', 'reg', {recent}, {recent});
         INSERT INTO accounts VALUES ('a-stale', 'stale', 'anonymous');"
    ));
}

backend_test!(
    a_users_activity_column_keeps_users_seen_after_the_cutoff,
    |db: &TestDb| {
        users_activity_setup(db);
        let dir = Dir::new();
        dir.config("[users]\nactivity = [\"last_seen_at\"]\n");
        let plan = dir.run(db, &["plan", "--as-of", AS_OF]);
        assert_eq!(plan.code, 0, "{}", plan.all());
        assert!(
            plan.stdout.contains("eligible             2"),
            "{}",
            plan.stdout
        );
        assert!(
            plan.stdout
                .contains("activity from        sessions rows, users.last_seen_at"),
            "{}",
            plan.stdout
        );
        assert!(
            plan.stdout.contains("last_seen_at\" IS NULL OR")
                || plan.stdout.contains("last_seen_at` IS NULL OR"),
            "{}",
            plan.stdout
        );
        // The sign-off list says why: `stale` was last seen in September, `never` not at all.
        let list = dir.path().join("list.jsonl");
        let l = dir.run(
            db,
            &["plan", "--as-of", AS_OF, "--list", list.to_str().unwrap()],
        );
        assert_eq!(l.code, 0, "{}", l.all());
        let rows: Vec<serde_json::Value> = std::fs::read_to_string(&list)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let ids: Vec<&str> = rows
            .iter()
            .map(|r| r["user_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec!["never", "stale"]);
        assert_eq!(rows[0]["latest_activity"], serde_json::Value::Null);
        assert_eq!(rows[1]["latest_activity"]["column"], "users.last_seen_at");
        assert!(
            rows[1]["latest_activity"]["at"]
                .as_str()
                .unwrap()
                .starts_with("2026-09-27T00:00:00"),
            "{}",
            rows[1]
        );
        let r = dir.run(db, &["run", "--as-of", AS_OF]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["reg", "seen"]);
        assert_eq!(
            db.count("accounts"),
            0,
            "the stale user's account went with it"
        );
        // Without the setting, the users column is not a signal: `seen` goes too.
        let db2 = TestDb::new(support::Backend::Sqlite);
        users_activity_setup(&db2);
        let r = Dir::new().run(&db2, &["run", "--as-of", AS_OF]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db2.ids("users", "id"), vec!["reg"]);
    }
);

/// Old anonymous users: `buyer` (a paid order), `browser` (an order still in the cart), `idle`
/// (nothing); orders are an application table deleted with their user.
fn guard_setup(db: &TestDb) -> Dir {
    db.exec(&support::default_schema(db, ts_type(db), "TEXT", false));
    let id = if db.is_mysql() { "VARCHAR(64)" } else { "TEXT" };
    db.exec(&format!(
        "CREATE TABLE orders (id {id} PRIMARY KEY, user_id {id} NOT NULL, status {id} NOT NULL,
           FOREIGN KEY (user_id) REFERENCES users (id))"
    ));
    let (t, f) = (db.bool(true), db.bool(false));
    let old = db.ts("2026-01-01 00:00:00");
    let recent = db.ts("2026-11-24 00:00:00");
    db.exec(&format!(
        "INSERT INTO users VALUES ('reg', {f}, {old}), ('buyer', {t}, {old}),
           ('browser', {t}, {old}), ('idle', {t}, {old});
         INSERT INTO sessions VALUES ('s-reg', 'reg', {recent}, {recent});
         INSERT INTO orders VALUES ('o1', 'buyer', 'paid'), ('o2', 'browser', 'cart'),
           ('o3', 'reg', 'paid');"
    ));
    let dir = Dir::new();
    dir.config(
        "[[tables]]\ntable = \"orders\"\nuser_column = \"user_id\"\n\n\
         [[keep_if]]\ntable = \"orders\"\nuser_column = \"user_id\"\ncolumn = \"status\"\nvalue = \"paid\"\n",
    );
    dir
}

backend_test!(
    a_keep_if_guard_keeps_users_who_own_something,
    |db: &TestDb| {
        let dir = guard_setup(db);
        let doctor = dir.run(db, &["doctor", "--as-of", AS_OF]);
        assert_eq!(doctor.code, 0, "{}", doctor.all());
        assert!(
            doctor.stdout.contains("keep-if guards:\n  ok"),
            "{}",
            doctor.stdout
        );
        let plan = dir.run(db, &["plan", "--as-of", AS_OF]);
        assert_eq!(plan.code, 0, "{}", plan.all());
        assert!(
            plan.stdout.contains("eligible             2"),
            "{}",
            plan.stdout
        );
        assert!(
            plan.stdout.contains("kept by guard `orders`: 1"),
            "{}",
            plan.stdout
        );
        // The DBA script applies the guard too: run it on a copy.
        let copy = db.copy();
        let script = dir.path().join("cleanup.sql");
        let p = dir.run(
            db,
            &[
                "plan",
                "--as-of",
                AS_OF,
                "--sql-out",
                script.to_str().unwrap(),
            ],
        );
        assert_eq!(p.code, 0, "{}", p.all());
        let s = copy.run_script(&script);
        assert_eq!(s.code, 0, "{}", s.all());
        let r = dir.run(db, &["run", "--as-of", AS_OF]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["buyer", "reg"]);
        assert_eq!(
            db.ids("orders", "id"),
            vec!["o1", "o3"],
            "the cart went with its user"
        );
        assert_eq!(
            copy.ids("users", "id"),
            db.ids("users", "id"),
            "script = run"
        );
        assert_eq!(copy.ids("orders", "id"), db.ids("orders", "id"));
    }
);

backend_test!(
    a_guard_naming_a_missing_column_is_refused_by_doctor_plan_and_run,
    [sqlite, postgres],
    |db: &TestDb| {
        let dir = guard_setup(db);
        dir.config(
            "[[tables]]\ntable = \"orders\"\nuser_column = \"user_id\"\n\n\
             [[keep_if]]\ntable = \"orders\"\nuser_column = \"user_id\"\ncolumn = \"state\"\nvalue = \"paid\"\n",
        );
        let before = db.fingerprint(&["users", "orders"]);
        for cmd in ["doctor", "plan", "run"] {
            let r = dir.run(db, &[cmd, "--as-of", AS_OF]);
            assert_eq!(r.code, 2, "{cmd}\n{}", r.all());
            assert!(
                r.all().contains("state"),
                "{cmd} names the column:\n{}",
                r.all()
            );
        }
        assert_eq!(db.fingerprint(&["users", "orders"]), before);
    }
);

/// Old guests and a guest created yesterday, and sessions as `sessions` says: `empty` (none),
/// `stale` (only old activity).
fn liveness_setup(db: &TestDb, sessions: &str) {
    db.exec(&support::default_schema(db, ts_type(db), "TEXT", false));
    add_users_column(db, "last_seen_at");
    let t = db.bool(true);
    let old = db.ts("2026-01-01 00:00:00");
    let yesterday = db.ts("2026-11-25 00:00:00");
    db.exec(&format!(
        "INSERT INTO users (id, is_anonymous, created_at, last_seen_at) VALUES
           ('old1', {t}, {old}, {yesterday}), ('old2', {t}, {old}, NULL),
           ('new1', {t}, {yesterday}, NULL);"
    ));
    if sessions == "stale" {
        db.exec(&format!(
            "INSERT INTO sessions VALUES ('s1', 'old1', {old}, {old}), ('s2', 'new1', {old}, {old});"
        ));
    }
}

fn refused_then_acknowledged(db: &TestDb, what: &str) {
    let dir = Dir::new();
    let before = db.fingerprint(TABLES);
    for cmd in ["doctor", "plan", "run"] {
        let r = dir.run(db, &[cmd, "--as-of", AS_OF]);
        assert_eq!(
            r.code,
            2,
            "{cmd} refuses a {what} sessions table\n{}",
            r.all()
        );
        assert!(
            r.all().contains("every old guest would look inactive")
                && r.all().contains("source = \"none\"")
                && r.all().contains("age_only = true"),
            "{cmd} explains and gives the fixes:\n{}",
            r.all()
        );
    }
    assert_eq!(db.fingerprint(TABLES), before, "nothing deleted");
    // Acknowledged with a users activity column: that column decides (old1 was seen yesterday).
    dir.config("[users]\nactivity = [\"last_seen_at\"]\n\n[sessions]\nsource = \"none\"\n");
    let plan = dir.run(db, &["plan", "--as-of", AS_OF]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("activity from        users.last_seen_at"),
        "{}",
        plan.stdout
    );
    let copy = db.copy();
    let r = dir.run(db, &["run", "--as-of", AS_OF]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(db.ids("users", "id"), vec!["new1", "old1"]);
    // Acknowledged as age only: the summary says so, and every old guest goes.
    dir.config("age_only = true\n");
    let r = dir.run(&copy, &["run", "--as-of", AS_OF]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("age_only = true"), "{}", r.stdout);
    assert_eq!(copy.ids("users", "id"), vec!["new1"]);
}

backend_test!(
    an_empty_sessions_table_is_refused_unless_acknowledged,
    |db: &TestDb| {
        liveness_setup(db, "empty");
        refused_then_acknowledged(db, "empty");
    }
);

backend_test!(
    a_stale_sessions_table_is_refused_unless_acknowledged,
    |db: &TestDb| {
        liveness_setup(db, "stale");
        refused_then_acknowledged(db, "stale");
    }
);

backend_test!(
    sessions_source_none_without_an_activity_column_is_refused,
    [sqlite],
    |db: &TestDb| {
        liveness_setup(db, "empty");
        let dir = Dir::new();
        dir.config("[sessions]\nsource = \"none\"\n");
        let r = dir.run(db, &["plan", "--as-of", AS_OF]);
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(
            r.stderr.contains("sessions.source = \"none\"")
                && r.stderr.contains("[users] activity")
                && r.stderr.contains("age_only = true"),
            "{}",
            r.stderr
        );
        assert_eq!(db.count("users"), 3);
    }
);

// Guard values are literals in every statement: a quote is escaped everywhere; a backslash
// means the same on SQLite and PostgreSQL, but on MySQL/MariaDB its meaning depends on the
// server's sql_mode, so a guard holding one is refused there (its users might not be kept).
backend_test!(guard_values_with_quotes_and_backslashes, |db: &TestDb| {
    let dir = guard_setup(db);
    db.exec(
        "UPDATE orders SET status = 'it''s \\ paid' WHERE id = 'o1';
         UPDATE orders SET status = 'it''s' WHERE id = 'o2';",
    );
    let guard = |value: &str| {
        format!(
            "[[tables]]\ntable = \"orders\"\nuser_column = \"user_id\"\n\n\
             [[keep_if]]\ntable = \"orders\"\nuser_column = \"user_id\"\ncolumn = \"status\"\nvalue = '''{value}'''\n"
        )
    };
    dir.config(&guard("it's \\ paid"));
    let before = db.ids("users", "id");
    let r = dir.run(db, &["run", "--as-of", AS_OF]);
    if db.is_mysql() {
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(r.stderr.contains("backslash"), "{}", r.stderr);
        assert!(r.stderr.contains("keep_if"), "{}", r.stderr);
        assert_eq!(db.ids("users", "id"), before, "nothing deleted");
        // A quote alone is fine on MySQL too: the guard keeps `browser` (o2 is "it's").
        dir.config(&guard("it's"));
        let r = dir.run(db, &["run", "--as-of", AS_OF]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["browser", "reg"]);
    } else {
        assert_eq!(r.code, 0, "{}", r.all());
        // The guard matched o1's exact value: its owner is kept, the others go.
        assert_eq!(db.ids("users", "id"), vec!["buyer", "reg"]);
    }
});

/// 1500 old guests with only old sessions, and one guest created yesterday with a session active
/// yesterday. `newest_last`: the recent user and session are inserted last, with the largest
/// ids; else first, with the smallest, where the liveness check's first look (a table's newest
/// 1000 rows: SQLite's last rowids, elsewhere the largest user ids) does not reach them.
fn recent_rows_setup(db: &TestDb, newest_last: bool) {
    db.exec(&support::default_schema(db, ts_type(db), "TEXT", false));
    let t = db.bool(true);
    let old = db.ts("2026-01-01 00:00:00");
    let yesterday = db.ts("2026-11-25 00:00:00");
    let recent_user = format!("('{}', {t}, {yesterday})", recent_id(newest_last));
    let recent_session = format!(
        "('s-recent', '{}', {yesterday}, {yesterday})",
        recent_id(newest_last)
    );
    let old_users: Vec<String> = (0..1500)
        .map(|i| format!("('o{i:04}', {t}, {old})"))
        .collect();
    let old_sessions: Vec<String> = (0..1500)
        .map(|i| format!("('s{i:04}', 'o{i:04}', {old}, {old})"))
        .collect();
    let (users, sessions) = if newest_last {
        (
            [old_users, vec![recent_user]].concat(),
            [old_sessions, vec![recent_session]].concat(),
        )
    } else {
        (
            [vec![recent_user], old_users].concat(),
            [vec![recent_session], old_sessions].concat(),
        )
    };
    db.exec(&format!(
        "INSERT INTO users (id, is_anonymous, created_at) VALUES {};\nINSERT INTO sessions VALUES {};",
        users.join(", "),
        sessions.join(", ")
    ));
}

fn recent_id(newest_last: bool) -> &'static str {
    if newest_last {
        "z-recent"
    } else {
        "a-recent"
    }
}

/// The liveness check's reads `plan` lists: (first looks at the newest rows, reads of the
/// whole table), counting users and sessions.
fn liveness_reads(listing: &str) -> (usize, usize) {
    let reads = |pat: &dyn Fn(&str) -> bool| listing.lines().filter(|l| pat(l)).count();
    let newest = reads(&|l| l.contains("DESC LIMIT 1000) AS "));
    let whole = reads(&|l| {
        l.starts_with("SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM ")
            && (l.contains("users") && l.contains(" AS u WHERE ")
                || l.contains("sessions") && l.contains(" AS s WHERE "))
            && !l.contains("FORCE INDEX")
            && !l.contains("DESC LIMIT 1000)")
    });
    (newest, whole)
}

// The check looks at each table's newest rows first; when a recent row is elsewhere (here first
// in storage and id order), it reads the whole table, so where a table keeps its rows never
// decides whether the run is refused. Either way the run deletes the 1500 old guests and keeps
// the recent one and its session.
backend_test!(
    the_liveness_check_reads_the_whole_table_when_the_newest_rows_show_nothing,
    |db: &TestDb| {
        for newest_last in [true, false] {
            recent_rows_setup(db, newest_last);
            let plan = db.run(&["plan", "--as-of", AS_OF]);
            assert_eq!(plan.code, 0, "not refused:\n{}", plan.all());
            let (newest, whole) = liveness_reads(&plan.stdout);
            assert_eq!(
                newest, 2,
                "a first look at users and sessions:\n{}",
                plan.stdout
            );
            let expect_whole = if newest_last { 0 } else { 2 };
            assert_eq!(
                whole, expect_whole,
                "the whole tables read only when the newest rows show nothing (newest last: {newest_last}):\n{}",
                plan.stdout
            );
            let r = db.run(&["run", "--as-of", AS_OF]);
            assert_eq!(r.code, 0, "{}", r.all());
            assert_eq!(db.ids("users", "id"), vec![recent_id(newest_last)]);
            assert_eq!(db.ids("sessions", "id"), vec!["s-recent"]);
            db.exec("DROP TABLE accounts; DROP TABLE sessions; DROP TABLE users;");
        }
    }
);

// Without an index led by sessions.user_id (PostgreSQL does not make one for a foreign key),
// a first look at the newest sessions would sort the whole table: the check reads the whole
// table at once, and the outcome is the same.
backend_test!(
    without_a_sessions_user_index_the_liveness_check_reads_the_whole_sessions_table,
    [postgres],
    |db: &TestDb| {
        recent_rows_setup(db, true);
        db.exec("DROP INDEX sessions_user_idx");
        let plan = db.run(&["plan", "--as-of", AS_OF]);
        assert_eq!(plan.code, 0, "not refused:\n{}", plan.all());
        assert_eq!(
            liveness_reads(&plan.stdout),
            (1, 1),
            "a first look at users only, then the whole sessions table:\n{}",
            plan.stdout
        );
        let r = db.run(&["run", "--as-of", AS_OF]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["z-recent"]);
        assert_eq!(db.ids("sessions", "id"), vec!["s-recent"]);
    }
);
