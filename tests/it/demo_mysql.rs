//! `anonsweep demo` on MySQL/MariaDB: it fills an empty database with a deterministic population,
//! deletes exactly the users that are eligible at its own as-of (checked with independent SQL
//! against the `anonsweep_demo` marker), keeps everyone else, and refuses (exit 2, nothing
//! changed) a database that already has a table.

use crate::support;

use support::{Conn, TestDb};

const TABLES: [&str; 4] = ["users", "sessions", "accounts", "anonsweep_demo"];

fn strings(conn: &mut Conn, sql: &str) -> Vec<String> {
    conn.texts(sql, &[])
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
        .into_iter()
        .map(|v| v.unwrap_or_default())
        .collect()
}

fn number(conn: &mut Conn, sql: &str) -> u64 {
    strings(conn, sql)[0].parse().unwrap()
}

/// What a demo database holds, judged by SQL written here, with the demo's own as-of (the
/// `anonsweep_demo` row) minus 30 days as the cutoff.
struct Census {
    /// The marker's as-of, `YYYY-MM-DDTHH:MM:SS`.
    as_of: String,
    users: u64,
    anonymous: u64,
    /// Anonymous, created before the cutoff, no session created or updated at or after it.
    eligible: u64,
    /// Anonymous users with a session at or after the cutoff (must survive).
    active_anonymous: u64,
    /// Registered users (is_anonymous false or NULL), ids sorted.
    registered: Vec<String>,
    sessions: u64,
    accounts: u64,
    orphans: u64,
}

impl Census {
    /// The counts, for messages (the registered ids are too many to print).
    fn brief(&self) -> String {
        format!(
            "as-of {}, users {}, anonymous {}, eligible {}, active anonymous {}, registered {}, sessions {}, accounts {}, orphans {}",
            self.as_of,
            self.users,
            self.anonymous,
            self.eligible,
            self.active_anonymous,
            self.registered.len(),
            self.sessions,
            self.accounts,
            self.orphans
        )
    }
}

fn census(conn: &mut Conn) -> Census {
    assert_eq!(
        number(
            conn,
            "SELECT CAST(COUNT(*) AS CHAR) AS t FROM anonsweep_demo"
        ),
        1,
        "one marker row"
    );
    let cutoff_cte =
        "WITH c AS (SELECT created_at - INTERVAL 30 DAY AS cutoff FROM anonsweep_demo)";
    let anon = "u.is_anonymous = 1";
    let registered = "(u.is_anonymous = 0 OR u.is_anonymous IS NULL)";
    let recent = "EXISTS (SELECT 1 FROM sessions AS s WHERE s.user_id = u.id AND (s.created_at >= c.cutoff OR s.updated_at >= c.cutoff))";
    let count = |conn: &mut Conn, cond: &str| {
        number(
            conn,
            &format!(
                "{cutoff_cte} SELECT CAST(COUNT(*) AS CHAR) AS t FROM users AS u, c WHERE {cond}"
            ),
        )
    };
    Census {
        as_of: strings(
            conn,
            "SELECT CAST(DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s') AS CHAR) AS t FROM anonsweep_demo",
        )
        .remove(0),
        users: count(conn, "TRUE"),
        anonymous: count(conn, anon),
        eligible: count(
            conn,
            &format!("{anon} AND u.created_at < c.cutoff AND NOT {recent}"),
        ),
        active_anonymous: count(conn, &format!("{anon} AND {recent}")),
        registered: strings(
            conn,
            &format!(
                "SELECT CAST(u.id AS CHAR) AS t FROM users AS u WHERE {registered} ORDER BY u.id"
            ),
        ),
        sessions: number(conn, "SELECT CAST(COUNT(*) AS CHAR) AS t FROM sessions"),
        accounts: number(conn, "SELECT CAST(COUNT(*) AS CHAR) AS t FROM accounts"),
        orphans: number(
            conn,
            "SELECT CAST(COUNT(*) AS CHAR) AS t FROM (
               SELECT user_id FROM sessions UNION ALL SELECT user_id FROM accounts) AS x
             WHERE NOT EXISTS (SELECT 1 FROM users AS u WHERE u.id = x.user_id)",
        ),
    }
}

/// `filled 3000 users (1721 anonymous), 5094 sessions, 1456 accounts in 0.1s` → [3000, 1721, 5094, 1456].
fn filled(stderr: &str) -> [u64; 4] {
    let line = stderr
        .lines()
        .find_map(|l| l.split_once("filled ").map(|(_, rest)| rest))
        .unwrap_or_else(|| {
            panic!("no `filled ...` log line in: {stderr}");
        });
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
        .take(4)
        .collect();
    nums.try_into()
        .unwrap_or_else(|_| panic!("cannot read the fill counts from {line:?}"))
}

fn tables(db: &TestDb) -> Vec<String> {
    db.strings(
        "SELECT CAST(table_name AS CHAR) AS t FROM information_schema.tables \
         WHERE table_schema = DATABASE() ORDER BY 1",
    )
}

fn demo(db: &TestDb, args: &[&str]) -> support::Run {
    let url = db.url();
    let mut all = vec!["demo", "--users", "2000", "--database-url", &url];
    all.extend_from_slice(args);
    support::anonsweep_in(&db.dir(), &all, &[])
}

#[test]
fn mysql_demo_fills_an_empty_database_deletes_the_eligible_and_refuses_a_second_time() {
    // --fill-only: filled as logged, nothing deleted.
    let filled_db = TestDb::mysql();
    let fill = demo(&filled_db, &["--fill-only"]);
    assert_eq!(fill.code, 0, "{}", fill.all());
    assert!(
        !fill.stdout.contains("deleted users"),
        "--fill-only must not run: {}",
        fill.stdout
    );
    let [users, anonymous, sessions, accounts] = filled(&fill.stderr);
    assert_eq!(users, 2000);
    let mut expected = TABLES.map(String::from).to_vec();
    expected.sort();
    assert_eq!(tables(&filled_db), expected, "the demo's tables");
    let before = census(&mut filled_db.conn());
    assert_eq!(
        (
            before.users,
            before.anonymous,
            before.sessions,
            before.accounts
        ),
        (users, anonymous, sessions, accounts)
    );
    assert_eq!(before.orphans, 0);
    assert!(
        before.eligible > 0 && before.active_anonymous > 0 && !before.registered.is_empty(),
        "{}",
        before.brief()
    );
    assert!(before.eligible < before.anonymous, "{}", before.brief());

    // The same database again: not empty any more, refused, unchanged.
    let fingerprint = filled_db.fingerprint(&TABLES);
    let again = demo(&filled_db, &[]);
    assert_eq!(again.code, 2, "{}", again.all());
    assert!(
        again.stderr.contains("already has a table"),
        "{}",
        again.stderr
    );
    assert_eq!(
        filled_db.fingerprint(&TABLES),
        fingerprint,
        "a refused demo changed the database"
    );

    // The whole demo on a fresh database.
    let db = TestDb::mysql();
    let r = demo(&db, &["--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        filled(&r.stderr),
        [users, anonymous, sessions, accounts],
        "same population"
    );
    let json: serde_json::Value =
        serde_json::from_str(r.stdout.trim()).expect("demo --format json prints the run summary");
    let deleted = json["deleted_users"].as_u64().unwrap();
    assert_eq!(json["backend"], "mysql", "{}", r.stdout);
    assert_eq!(json["eligible"].as_u64(), Some(deleted), "{}", r.stdout);
    assert_eq!(json["failed"].as_array().map(Vec::len), Some(0));
    let after = census(&mut db.conn());
    println!(
        "mysql: deleted {deleted}\n  fill-only: {}\n  after:     {}",
        before.brief(),
        after.brief()
    );
    // The marker holds the as-of the run used (UTC, to the second).
    assert_eq!(
        json["as_of"].as_str().map(|s| s.trim_end_matches('Z')),
        Some(after.as_of.as_str()),
        "the anonsweep_demo marker and the run's as-of differ: {}",
        r.stdout
    );
    assert_eq!(after.eligible, 0, "eligible users remain");
    assert_eq!(after.users, 2000 - deleted);
    assert_eq!(
        deleted, before.eligible,
        "the demo deleted other than the eligible users"
    );
    assert_eq!(after.anonymous, anonymous - deleted);
    assert_eq!(after.active_anonymous, before.active_anonymous);
    assert!(after.active_anonymous > 0);
    assert_eq!(
        after.registered, before.registered,
        "registered users all remain"
    );
    let rows_of = |table: &str| {
        json["deleted_rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["table"] == table)
            .and_then(|r| r["rows"].as_u64())
            .unwrap_or_else(|| panic!("no deleted_rows entry for {table}: {}", r.stdout))
    };
    assert_eq!(rows_of("users"), deleted);
    assert_eq!(after.sessions, sessions - rows_of("sessions"));
    assert_eq!(after.accounts, accounts - rows_of("accounts"));
    assert_eq!(after.orphans, 0);

    // And a second demo on it is refused without changing anything.
    let fingerprint = db.fingerprint(&TABLES);
    let second = demo(&db, &[]);
    assert_eq!(second.code, 2, "{}", second.all());
    assert!(
        second.stderr.contains("already has a table"),
        "{}",
        second.stderr
    );
    assert_eq!(
        db.fingerprint(&TABLES),
        fingerprint,
        "a refused demo changed the database"
    );
    assert_eq!(census(&mut db.conn()).users, 2000 - deleted);
}

/// `demo --database-url` fills only an *empty* database: an application's database with another
/// table (here a better-auth style `user` table) is refused and left alone.
#[test]
fn mysql_demo_refuses_a_database_with_other_tables() {
    let db = TestDb::mysql();
    db.exec(
        "CREATE TABLE `user` (id VARCHAR(36) PRIMARY KEY);\nINSERT INTO `user` VALUES ('real')",
    );
    let before = tables(&db);
    assert_eq!(before, vec!["user".to_string()]);
    for args in [&["--fill-only"][..], &[][..]] {
        let r = demo(&db, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.all());
        assert!(
            r.stderr.contains("already has a table user"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(
            tables(&db),
            before,
            "{args:?}: the demo added tables to a non-empty database"
        );
        assert_eq!(
            db.strings("SELECT CAST(id AS CHAR) AS t FROM `user`"),
            vec!["real".to_string()]
        );
    }
}
