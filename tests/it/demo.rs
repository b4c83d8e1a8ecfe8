//! `anonsweep demo` on SQLite and PostgreSQL: it fills a deterministic population, deletes exactly
//! the users that are eligible at its own as-of (checked with independent SQL against the
//! `anonsweep_demo` marker), keeps everyone else, replaces only a file it made itself, and refuses
//! (exit 2, nothing changed) a file or database it did not make.

use crate::support;

use std::path::Path;

use support::{Conn, DbUrl, TestDb};

const DEMO_FILE: &str = "anonsweep-demo.db";

fn connect(url: &str) -> Conn {
    Conn::connect(&DbUrl::parse(url).unwrap()).unwrap_or_else(|e| panic!("open {url}: {e}"))
}

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
            "users {}, anonymous {}, eligible {}, active anonymous {}, registered {}, sessions {}, accounts {}, orphans {}",
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

fn census(conn: &mut Conn, pg: bool) -> Census {
    let (cutoff_cte, anon, registered) = if pg {
        (
            "WITH c AS (SELECT created_at - INTERVAL '30 days' AS cutoff FROM anonsweep_demo)",
            "u.is_anonymous IS TRUE",
            "u.is_anonymous IS NOT TRUE",
        )
    } else {
        // The demo writes every SQLite timestamp as YYYY-MM-DDTHH:MM:SS.mmmZ, so text order is time order.
        (
            "WITH c AS (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '-30 days') AS cutoff FROM anonsweep_demo)",
            "u.is_anonymous = 1",
            "(u.is_anonymous = 0 OR u.is_anonymous IS NULL)",
        )
    };
    if !pg {
        let iso = "GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'";
        let bad = number(conn, &format!("SELECT CAST(COUNT(*) AS TEXT) AS t FROM users WHERE NOT created_at {iso}"))
            + number(conn, &format!("SELECT CAST(COUNT(*) AS TEXT) AS t FROM sessions WHERE NOT created_at {iso} OR NOT updated_at {iso}"))
            + number(conn, &format!("SELECT CAST(COUNT(*) AS TEXT) AS t FROM anonsweep_demo WHERE NOT created_at {iso}"));
        assert_eq!(
            bad, 0,
            "the demo's SQLite timestamps are not uniform ISO-8601 text"
        );
    }
    assert_eq!(
        number(
            conn,
            "SELECT CAST(COUNT(*) AS TEXT) AS t FROM anonsweep_demo"
        ),
        1,
        "one marker row"
    );
    let recent = "EXISTS (SELECT 1 FROM sessions AS s WHERE s.user_id = u.id AND (s.created_at >= c.cutoff OR s.updated_at >= c.cutoff))";
    let count = |conn: &mut Conn, cond: &str| {
        number(
            conn,
            &format!(
                "{cutoff_cte} SELECT CAST(COUNT(*) AS TEXT) AS t FROM users AS u, c WHERE {cond}"
            ),
        )
    };
    Census {
        users: count(conn, "TRUE"),
        anonymous: count(conn, anon),
        eligible: count(
            conn,
            &format!("{anon} AND u.created_at < c.cutoff AND NOT {recent}"),
        ),
        active_anonymous: count(conn, &format!("{anon} AND {recent}")),
        registered: strings(
            conn,
            &format!("SELECT u.id AS t FROM users AS u WHERE {registered} ORDER BY u.id"),
        ),
        sessions: number(conn, "SELECT CAST(COUNT(*) AS TEXT) AS t FROM sessions"),
        accounts: number(conn, "SELECT CAST(COUNT(*) AS TEXT) AS t FROM accounts"),
        orphans: number(
            conn,
            "SELECT CAST(COUNT(*) AS TEXT) AS t FROM (
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

/// The number on a `  label   N` summary line within `text`.
fn summary_value(text: &str, label: &str) -> u64 {
    text.lines()
        .find(|l| {
            l.trim_start().starts_with(label)
                && l.split_whitespace().count() == label.split_whitespace().count() + 1
        })
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{label} N` line in:\n{text}"))
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join(DEMO_FILE).display())
}

#[test]
fn sqlite_demo_deletes_exactly_the_eligible_users_and_replaces_its_own_file() {
    let dir = support::scratch();
    let url = sqlite_url(dir.path());

    // Fill only: the population as generated, nothing deleted.
    let fill = support::anonsweep_in(dir.path(), &["demo", "--users", "3000", "--fill-only"], &[]);
    assert_eq!(fill.code, 0, "{}", fill.all());
    assert!(
        !fill.stdout.contains("deleted users"),
        "--fill-only must not run: {}",
        fill.stdout
    );
    let [users, anonymous, sessions, accounts] = filled(&fill.stderr);
    assert_eq!(users, 3000);
    let before = census(&mut connect(&url), false);
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

    // The whole demo, twice in the same directory: each run replaces the previous file.
    let mut deleted_each = Vec::new();
    for round in 1..=2 {
        let r = support::anonsweep_in(dir.path(), &["demo", "--users", "3000"], &[]);
        assert_eq!(r.code, 0, "round {round}: {}", r.all());
        assert_eq!(
            files_in(dir.path()),
            vec![DEMO_FILE.to_string()],
            "round {round}"
        );
        let out = &r.stdout;
        let (plan, run) = out
            .split_once("== 3. run")
            .unwrap_or_else(|| panic!("no run section:\n{out}"));
        assert!(
            plan.contains("== 1. plan")
                && plan.contains("anonsweep plan (dry run, nothing changed)"),
            "{out}"
        );
        assert!(run.contains("anonsweep run:"), "{out}");
        let deleted = summary_value(run, "deleted users");
        assert_eq!(
            summary_value(plan, "eligible"),
            deleted,
            "plan and run disagree:\n{out}"
        );
        assert_eq!(summary_value(run, "failed"), 0);
        assert_eq!(
            filled(&r.stderr),
            [users, anonymous, sessions, accounts],
            "round {round}: same population"
        );

        let after = census(&mut connect(&url), false);
        println!(
            "round {round}: deleted {deleted}\n  fill-only: {}\n  after:     {}",
            before.brief(),
            after.brief()
        );
        assert_eq!(after.eligible, 0, "round {round}: eligible users remain");
        assert_eq!(
            after.users,
            3000 - deleted,
            "round {round}: users left vs. the summary"
        );
        assert_eq!(
            deleted, before.eligible,
            "round {round}: the demo deleted other than the eligible users"
        );
        assert_eq!(
            after.anonymous,
            anonymous - deleted,
            "round {round}: only anonymous users go"
        );
        assert_eq!(
            after.active_anonymous, before.active_anonymous,
            "round {round}: active anonymous users kept"
        );
        assert!(after.active_anonymous > 0);
        assert_eq!(
            after.registered, before.registered,
            "round {round}: registered users all remain"
        );
        assert_eq!(
            after.sessions,
            sessions - summary_value(run, "sessions"),
            "round {round}"
        );
        assert_eq!(
            after.accounts,
            accounts - summary_value(run, "accounts"),
            "round {round}"
        );
        assert_eq!(after.orphans, 0, "round {round}");
        deleted_each.push(deleted);
    }
    assert_eq!(deleted_each[0], deleted_each[1]);
}

/// Puts a file that the demo did not make at a path.
type MakeFile = fn(&Path);

#[test]
fn sqlite_demo_refuses_a_file_it_did_not_make() {
    // Files the demo did not make: an empty file, an application's database, an unrelated one.
    fn app_db(path: &Path) {
        let mut c = Conn::create_sqlite(path).unwrap();
        c.batch_execute(
            "CREATE TABLE users (id TEXT PRIMARY KEY, is_anonymous INTEGER, created_at TEXT);
             CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT REFERENCES users (id), created_at TEXT, updated_at TEXT);
             CREATE TABLE accounts (id TEXT PRIMARY KEY, user_id TEXT REFERENCES users (id));
             INSERT INTO users VALUES ('old_guest', 1, '2020-01-01T00:00:00.000Z'), ('member', 0, '2020-01-01T00:00:00.000Z');",
        )
        .unwrap();
    }
    fn notes_db(path: &Path) {
        let mut c = Conn::create_sqlite(path).unwrap();
        c.batch_execute("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');")
            .unwrap();
    }
    fn empty(path: &Path) {
        std::fs::write(path, b"").unwrap();
    }
    let cases: [(&str, MakeFile); 3] = [
        ("empty file", empty),
        ("app database", app_db),
        ("other table", notes_db),
    ];
    for (what, make) in cases {
        for explicit in [false, true] {
            let dir = support::scratch();
            let path = dir
                .path()
                .join(if explicit { "mine.db" } else { DEMO_FILE });
            make(&path);
            let bytes = std::fs::read(&path).unwrap();
            let listing = files_in(dir.path());
            let p = path.display().to_string();
            let args: Vec<&str> = if explicit {
                vec!["demo", "--users", "50", "--database-url", &p]
            } else {
                vec!["demo", "--users", "50"]
            };
            let r = support::anonsweep_in(dir.path(), &args, &[]);
            assert_eq!(r.code, 2, "{what} (explicit url: {explicit}): {}", r.all());
            assert!(
                r.stderr.contains("not made by `anonsweep demo`"),
                "{what}: {}",
                r.stderr
            );
            assert_eq!(
                std::fs::read(&path).unwrap(),
                bytes,
                "{what}: the file was changed"
            );
            assert_eq!(
                files_in(dir.path()),
                listing,
                "{what}: files were created or removed"
            );
        }
    }

    // A file that is not a database at all is refused and left alone too.
    let dir = support::scratch();
    let path = dir.path().join(DEMO_FILE);
    std::fs::write(&path, "my notes, not a database\n").unwrap();
    let r = support::anonsweep_in(dir.path(), &["demo", "--users", "50"], &[]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "my notes, not a database\n"
    );
    assert_eq!(files_in(dir.path()), vec![DEMO_FILE.to_string()]);
}

/// The documented contract: a file the demo did not make is refused as a usage error (exit 2).
#[test]
fn sqlite_demo_refuses_a_non_database_file_with_exit_2() {
    let dir = support::scratch();
    std::fs::write(dir.path().join(DEMO_FILE), "my notes, not a database\n").unwrap();
    let r = support::anonsweep_in(dir.path(), &["demo", "--users", "50"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
}

const PG_TABLES: [&str; 4] = ["users", "sessions", "accounts", "anonsweep_demo"];

#[test]
fn postgres_demo_fills_an_empty_database_deletes_the_eligible_and_refuses_a_second_time() {
    // --fill-only: filled as logged, nothing deleted.
    let filled_db = TestDb::pg();
    let url = filled_db.url();
    let fill = support::anonsweep_in(
        &filled_db.dir(),
        &[
            "demo",
            "--users",
            "2000",
            "--fill-only",
            "--database-url",
            &url,
        ],
        &[],
    );
    assert_eq!(fill.code, 0, "{}", fill.all());
    let [users, anonymous, sessions, accounts] = filled(&fill.stderr);
    assert_eq!(users, 2000);
    let before = census(&mut filled_db.conn(), true);
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

    // The same database again: not empty any more, refused, unchanged.
    let fingerprint = filled_db.fingerprint(&PG_TABLES);
    let again = support::anonsweep_in(
        &filled_db.dir(),
        &["demo", "--users", "2000", "--database-url", &url],
        &[],
    );
    assert_eq!(again.code, 2, "{}", again.all());
    assert_eq!(
        filled_db.fingerprint(&PG_TABLES),
        fingerprint,
        "a refused demo changed the database"
    );

    // The whole demo on a fresh database.
    let db = TestDb::pg();
    let url = db.url();
    let r = support::anonsweep_in(
        &db.dir(),
        &[
            "demo",
            "--users",
            "2000",
            "--database-url",
            &url,
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        filled(&r.stderr),
        [users, anonymous, sessions, accounts],
        "same population"
    );
    let json: serde_json::Value =
        serde_json::from_str(r.stdout.trim()).expect("demo --format json prints the run summary");
    let deleted = json["deleted_users"].as_u64().unwrap();
    assert_eq!(json["eligible"].as_u64(), Some(deleted), "{}", r.stdout);
    assert_eq!(json["failed"].as_array().map(Vec::len), Some(0));
    let after = census(&mut db.conn(), true);
    println!(
        "postgres: deleted {deleted}\n  fill-only: {}\n  after:     {}",
        before.brief(),
        after.brief()
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
    assert_eq!(after.orphans, 0);

    // And a second demo on it is refused without changing anything.
    let fingerprint = db.fingerprint(&PG_TABLES);
    let second = support::anonsweep_in(
        &db.dir(),
        &["demo", "--users", "2000", "--database-url", &url],
        &[],
    );
    assert_eq!(second.code, 2, "{}", second.all());
    assert!(
        second.stderr.contains("already has a table"),
        "{}",
        second.stderr
    );
    assert_eq!(
        db.fingerprint(&PG_TABLES),
        fingerprint,
        "a refused demo changed the database"
    );
    assert_eq!(db.count("users"), 2000 - deleted);
}

/// `demo --database-url` fills only an *empty* database: an application's database with other
/// tables (here a better-auth style `"user"` table) is refused and left alone.
#[test]
fn postgres_demo_refuses_a_database_with_other_tables() {
    let db = TestDb::pg();
    db.exec(r#"CREATE TABLE "user" (id TEXT PRIMARY KEY); INSERT INTO "user" VALUES ('real');"#);
    let tables = "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1";
    let before = db.strings(tables);
    let url = db.url();
    let r = support::anonsweep_in(
        &db.dir(),
        &[
            "demo",
            "--users",
            "50",
            "--fill-only",
            "--database-url",
            &url,
        ],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.all());
    assert_eq!(
        db.strings(tables),
        before,
        "the demo added tables to a non-empty database"
    );
}
