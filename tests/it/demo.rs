//! `anonsweep demo` on SQLite, PostgreSQL and MySQL/MariaDB: it fills a deterministic
//! population, deletes exactly the users that are eligible at its own as-of (checked with
//! independent SQL against the `anonsweep_demo` marker), keeps everyone else, replaces only a
//! file it made itself, and refuses (exit 2, nothing changed) a file, or a database that already
//! has a table, that it did not make. The server tests are written once for PostgreSQL and
//! MySQL (what differs per backend is in `support::demo_sql`).

use crate::support;

use std::path::Path;

use support::demo_sql;
use support::{backend_test, Backend, Conn, DbUrl, TestDb};

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
    let backend = conn.backend();
    let cutoff_cte = demo_sql::cutoff_cte(backend);
    let (anon, registered) = (demo_sql::anonymous(backend), demo_sql::registered(backend));
    let count_t = demo_sql::text(backend, "COUNT(*)");
    if backend == Backend::Sqlite {
        let iso = "GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'";
        let bad = number(conn, &format!("SELECT {count_t} AS t FROM users WHERE NOT created_at {iso}"))
            + number(conn, &format!("SELECT {count_t} AS t FROM sessions WHERE NOT created_at {iso} OR NOT updated_at {iso}"))
            + number(conn, &format!("SELECT {count_t} AS t FROM anonsweep_demo WHERE NOT created_at {iso}"));
        assert_eq!(
            bad, 0,
            "the demo's SQLite timestamps are not uniform ISO-8601 text"
        );
    }
    assert_eq!(
        number(conn, &format!("SELECT {count_t} AS t FROM anonsweep_demo")),
        1,
        "one marker row"
    );
    let recent = "EXISTS (SELECT 1 FROM sessions AS s WHERE s.user_id = u.id AND (s.created_at >= c.cutoff OR s.updated_at >= c.cutoff))";
    let count = |conn: &mut Conn, cond: &str| {
        number(
            conn,
            &format!("{cutoff_cte} SELECT {count_t} AS t FROM users AS u, c WHERE {cond}"),
        )
    };
    Census {
        as_of: strings(conn, demo_sql::marker_as_of(backend)).remove(0),
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
                "SELECT {} AS t FROM users AS u WHERE {registered} ORDER BY u.id",
                demo_sql::text(backend, "u.id")
            ),
        ),
        sessions: number(conn, &format!("SELECT {count_t} AS t FROM sessions")),
        accounts: number(conn, &format!("SELECT {count_t} AS t FROM accounts")),
        orphans: number(
            conn,
            &format!(
                "SELECT {count_t} AS t FROM (
                   SELECT user_id FROM sessions UNION ALL SELECT user_id FROM accounts) AS x
                 WHERE NOT EXISTS (SELECT 1 FROM users AS u WHERE u.id = x.user_id)"
            ),
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
    let before = census(&mut connect(&url));
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

        let after = census(&mut connect(&url));
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

const TABLES: [&str; 4] = ["users", "sessions", "accounts", "anonsweep_demo"];

fn tables(db: &TestDb) -> Vec<String> {
    db.strings(demo_sql::tables(db.backend()))
}

/// `demo --users 2000 --database-url URL ARGS`.
fn demo(db: &TestDb, args: &[&str]) -> support::Run {
    let url = db.url();
    let mut all = vec!["demo", "--users", "2000", "--database-url", &url];
    all.extend_from_slice(args);
    support::anonsweep_in(&db.dir(), &all, &[])
}

// Formerly `postgres_demo_fills_…` here and its copy `mysql_demo_fills_…` in demo_mysql.rs; each
// backend now makes every check that either made.
backend_test!(
    demo_fills_an_empty_database_deletes_the_eligible_and_refuses_a_second_time,
    [postgres, mysql],
    |backend: Backend| {
        // --fill-only: filled as logged, nothing deleted.
        let filled_db = TestDb::new(backend);
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
        let db = TestDb::new(backend);
        let r = demo(&db, &["--format", "json"]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(
            filled(&r.stderr),
            [users, anonymous, sessions, accounts],
            "same population"
        );
        let json: serde_json::Value = serde_json::from_str(r.stdout.trim())
            .expect("demo --format json prints the run summary");
        let deleted = json["deleted_users"].as_u64().unwrap();
        assert_eq!(json["backend"], backend.name(), "{}", r.stdout);
        assert_eq!(json["eligible"].as_u64(), Some(deleted), "{}", r.stdout);
        assert_eq!(json["failed"].as_array().map(Vec::len), Some(0));
        let after = census(&mut db.conn());
        println!(
            "{}: deleted {deleted}\n  fill-only: {}\n  after:     {}",
            backend.name(),
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
        assert_eq!(db.count("users"), 2000 - deleted);
        assert_eq!(census(&mut db.conn()).users, 2000 - deleted);
    }
);

// `demo --database-url` fills only an *empty* database: an application's database with another
// table (here a better-auth style `user` table) is refused and left alone, with or without
// --fill-only. Formerly `postgres_demo_refuses_…` and its copy `mysql_demo_refuses_…`.
backend_test!(
    demo_refuses_a_database_with_other_tables,
    [postgres, mysql],
    |db: TestDb| {
        db.exec(&demo_sql::one_row_table(db.backend(), "user", "real"));
        let before = tables(&db);
        assert_eq!(before, vec!["user".to_string()]);
        let refusal = format!(
            "already has a table {}",
            demo_sql::named_in_messages(db.backend(), "user")
        );
        for args in [&["--fill-only"][..], &[][..]] {
            let r = demo(&db, args);
            assert_eq!(r.code, 2, "{args:?}: {}", r.all());
            assert!(r.stderr.contains(&refusal), "{args:?}: {}", r.stderr);
            assert_eq!(
                tables(&db),
                before,
                "{args:?}: the demo added tables to a non-empty database"
            );
            assert_eq!(
                db.strings(&demo_sql::ids_of(db.backend(), "user")),
                vec!["real".to_string()]
            );
        }
    }
);

// The demo's closing hint is a command that works from where the user is: `anonsweep` when PATH
// finds this binary, the cargo command for a build of the repository otherwise; and the hinted
// command runs.
#[test]
fn the_demo_hint_is_a_command_that_works() {
    let dir = support::scratch();
    let hint = |r: &support::Run| {
        r.stdout
            .lines()
            .find_map(|l| l.split_once(". Try: ").map(|(_, c)| c.to_string()))
            .unwrap_or_else(|| panic!("no hint in:\n{}", r.stdout))
    };
    let r = support::anonsweep_in(dir.path(), &["demo", "--users", "200"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let built = hint(&r);
    assert!(
        built.starts_with("cargo run -- plan --database-url "),
        "a build of the repository is not on PATH: {built}"
    );
    // Installed: a directory on PATH holds anonsweep.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_anonsweep"), bin.join("anonsweep")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let r = support::anonsweep_in(dir.path(), &["demo", "--users", "200"], &[("PATH", &path)]);
    assert_eq!(r.code, 0, "{}", r.all());
    let installed = hint(&r);
    assert!(
        installed.starts_with("anonsweep plan --database-url "),
        "{installed}"
    );
    // The hinted command runs (as installed) and plans on the demo database: nothing left.
    let args: Vec<&str> = installed.split_whitespace().skip(1).collect();
    let p = support::anonsweep_in(dir.path(), &args, &[("PATH", &path)]);
    assert_eq!(p.code, 0, "{}", p.all());
    assert!(p.stdout.contains("eligible             0"), "{}", p.stdout);
}
