//! Refusals before anything is written, each one line on stderr naming what and the fix, with
//! its exit code and the database unchanged: compared times read in a format that does not fit
//! them (epoch seconds forced as milliseconds land in 1970; a forced format that contradicts
//! the declared type; text that is not ISO-8601 on PostgreSQL), a SQLite database `run` cannot
//! write, and a directory given as the SQLite path. A plausible database still runs, and
//! deletes exactly the eligible users.

use crate::support;

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use support::{backend_test, Run, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";
const TABLES: [&str; 3] = ["users", "sessions", "accounts"];

fn as_of() -> DateTime<Utc> {
    support::parse_as_of(AS_OF).unwrap()
}

/// Exactly one line on stderr, the expected code, and the line names everything in `needles`.
fn assert_refused(r: &Run, code: i32, needles: &[&str]) {
    assert_eq!(r.code, code, "exit code\n{}", r.all());
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got:\n{}", r.stderr);
    assert!(lines[0].starts_with("anonsweep: error: "), "{}", lines[0]);
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} missing from: {}", lines[0]);
    }
}

/// `plan`, `run` and `run --dry-run` all refuse with `code` and the same line; `doctor` exits 2
/// listing it as an error; nothing changes.
fn refused_everywhere(db: &TestDb, extra: &[&str], code: i32, needles: &[&str]) {
    let before = db.fingerprint(&TABLES);
    for cmd in [&["plan"][..], &["run"], &["run", "--dry-run"]] {
        let mut args: Vec<&str> = cmd.to_vec();
        args.extend(["--as-of", AS_OF]);
        args.extend(extra);
        let r = db.run(&args);
        assert_refused(&r, code, needles);
        assert!(r.stdout.is_empty(), "{cmd:?} printed: {}", r.stdout);
        assert_eq!(
            db.fingerprint(&TABLES),
            before,
            "{cmd:?} changed the database"
        );
    }
    let mut args = vec!["doctor", "--as-of", AS_OF];
    args.extend(extra);
    let d = db.run(&args);
    assert_eq!(d.code, 2, "doctor\n{}", d.all());
    let error = d
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("ERROR: "))
        .unwrap_or_else(|| panic!("doctor lists no error:\n{}", d.stdout));
    for n in needles {
        assert!(error.contains(n), "{n:?} missing from doctor's: {error}");
    }
    assert_eq!(
        db.fingerprint(&TABLES),
        before,
        "doctor changed the database"
    );
}

/// Integer epoch columns on any backend (SQLite INTEGER, BIGINT elsewhere), holding `times`
/// written by `value`. Users: `old` (anonymous, 90 days before the as-of, no session), `fresh`
/// (anonymous, created 5 minutes before the as-of, with a session), `reg` (registered, old).
fn epoch_db(db: &TestDb, value: fn(DateTime<Utc>) -> i64) {
    let ty = if db.backend() == support::Backend::Sqlite {
        "INTEGER"
    } else {
        "BIGINT"
    };
    db.exec(&support::default_schema(db, ty, "TEXT", true));
    let (t, f) = (db.bool(true), db.bool(false));
    let old = value(as_of() - Duration::days(90));
    let fresh = value(as_of() - Duration::minutes(5));
    let seen = value(as_of() - Duration::minutes(1));
    db.exec(&format!(
        "INSERT INTO users VALUES ('old', {t}, {old});
         INSERT INTO users VALUES ('fresh', {t}, {fresh});
         INSERT INTO users VALUES ('reg', {f}, {old});
         INSERT INTO sessions VALUES ('s1', 'fresh', {fresh}, {seen});
         INSERT INTO accounts VALUES ('a1', 'old', 'anonymous');"
    ));
}

fn seconds(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

// The case: epoch seconds with `--timestamp-format epoch-ms` forced read as January
// 1970, so every anonymous user looked abandoned (`fresh`, created minutes ago, was deleted).
// Now doctor lists it (exit 2), plan and run refuse (exit 2) naming the format that fits, and
// every user is still there; with the fitting format the run deletes `old` alone.
backend_test!(
    forced_epoch_ms_on_epoch_seconds_is_refused,
    |db: &TestDb| {
        epoch_db(db, seconds);
        refused_everywhere(
            db,
            &["--timestamp-format", "epoch-ms"],
            2,
            &[
                "users.created_at",
                "read as epoch-ms (timestamp_format from flag --timestamp-format)",
                "spans 1970-01-21T",
                "outside 1990-01-01T00:00:00Z",
                "use --timestamp-format epoch-s",
            ],
        );
        assert_eq!(db.ids("users", "id"), vec!["fresh", "old", "reg"]);
        let r = db.run(&["run", "--as-of", AS_OF, "--timestamp-format", "epoch-s"]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["fresh", "reg"]);
        assert_eq!(db.ids("accounts", "id"), Vec::<String>::new());
    }
);

// The other way round, set in the config file: milliseconds read as seconds land tens of
// thousands of years ahead; the fix names the file's setting.
backend_test!(
    forced_epoch_s_on_milliseconds_names_the_config_file,
    |db: &TestDb| {
        epoch_db(db, millis);
        let dir = support::scratch();
        let config = dir.path().join("anonsweep.toml");
        std::fs::write(&config, "timestamp_format = \"epoch-s\"\n").unwrap();
        refused_everywhere(
            db,
            &["--config", config.to_str().unwrap()],
            2,
            &[
                "users.created_at",
                "read as epoch-s (timestamp_format from file ",
                "read as epoch-ms they span",
                "set timestamp_format = \"epoch-ms\" in ",
            ],
        );
        assert_eq!(db.count("users"), 3);
    }
);

// A forced format whose storage is not the column's declared type: refused before any SQL on
// the data (the database's own "operator does not exist: timestamp with time zone < bigint"
// never shows), naming the column, its type, the format and the fix.
backend_test!(
    forced_epoch_on_a_timestamp_column_is_refused_naming_the_column,
    [postgres, mysql],
    |db: &TestDb| {
        db.exec(&support::default_schema(db, "TIMESTAMPTZ", "TEXT", true));
        let (t, old) = (db.bool(true), db.ts("2026-01-01 00:00:00"));
        db.exec(&format!("INSERT INTO users VALUES ('u1', {t}, {old})"));
        let (ty, fit) = if db.is_pg() {
            ("timestamp with time zone", "timestamptz")
        } else {
            ("datetime(3)", "timestamp")
        };
        let has = format!("users.created_at has type {ty}");
        let fix = format!("use --timestamp-format {fit}");
        refused_everywhere(
            db,
            &["--timestamp-format", "epoch-ms"],
            2,
            &[&has, "epoch-ms (from flag --timestamp-format)", &fix],
        );
        let r = db.run(&["run", "--as-of", AS_OF, "--timestamp-format", "epoch-ms"]);
        assert!(!r.all().contains("operator does not exist"), "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["u1"]);
        // The fitting format, forced, runs.
        let r = db.run(&["run", "--as-of", AS_OF, "--timestamp-format", fit]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.count("users"), 0);
    }
);

// PostgreSQL text times: a value that is not ISO-8601 used to stop the first count with
// `invalid input syntax for type timestamp with time zone: "garbage"`, naming no column.
backend_test!(
    postgres_text_times_with_garbage_are_refused_naming_the_column,
    [postgres],
    |db: &TestDb| {
        db.exec(&support::default_schema(db, "TEXT", "TEXT", true));
        db.exec(
            "INSERT INTO users VALUES ('old', TRUE, '2026-01-01T00:00:00.000Z'), ('bad', TRUE, 'garbage'),
                                      ('reg', FALSE, '2026-01-01 00:00:00+00');
             INSERT INTO sessions VALUES ('s1', 'old', '2026-01-02T00:00:00+05:30', NULL);",
        );
        refused_everywhere(
            db,
            &[],
            2,
            &[
                "users.created_at",
                "read as iso-text (detected)",
                "1 text value that is not an ISO-8601 timestamp",
                "fix or NULL those rows",
            ],
        );
        let r = db.run(&["run", "--as-of", AS_OF]);
        assert!(!r.all().contains("invalid input syntax"), "{}", r.all());
        // Shaped like a timestamp but not one: PostgreSQL's own error, with the column named.
        db.exec("UPDATE users SET created_at = '2026-02-30' WHERE id = 'bad'");
        let before = db.fingerprint(&TABLES);
        let r = db.run(&["run", "--as-of", AS_OF]);
        assert_refused(
            &r,
            2,
            &[
                "reading the times of users.created_at failed",
                "\"2026-02-30\"",
            ],
        );
        assert_eq!(db.fingerprint(&TABLES), before);
        // The same check on the sessions' columns.
        db.exec("UPDATE users SET created_at = NULL WHERE id = 'bad'; UPDATE sessions SET updated_at = 'yesterday'");
        refused_everywhere(
            db,
            &[],
            2,
            &["sessions.updated_at", "1 text value that is not"],
        );
        db.exec("UPDATE sessions SET updated_at = NULL");
        let r = db.run(&["run", "--as-of", AS_OF]);
        assert_eq!(r.code, 0, "{}", r.all());
        // `bad` (no created_at) is kept, as NULL is never older than the cutoff.
        assert_eq!(db.ids("users", "id"), vec!["bad", "reg"]);
    }
);

// SQLite stores any value in any column: a forced format is checked against the values.
backend_test!(
    forced_format_that_does_not_fit_sqlite_values_is_refused,
    [sqlite],
    |db: &TestDb| {
        epoch_db(db, seconds);
        refused_everywhere(
            db,
            &["--timestamp-format", "iso-text"],
            2,
            &[
                "users.created_at, read as iso-text (timestamp_format from flag --timestamp-format), holds 3 numbers",
                "read as epoch-s they span",
                "use --timestamp-format epoch-s",
            ],
        );
        let db = TestDb::sqlite();
        db.exec(&support::default_schema(&db, "TEXT", "TEXT", true));
        db.exec(
            "INSERT INTO users VALUES ('old', 1, '2026-01-01T00:00:00.000Z'), ('reg', 0, '2026-01-01 00:00:00');",
        );
        refused_everywhere(
            &db,
            &["--timestamp-format", "epoch-ms"],
            2,
            &[
                "holds 2 text values",
                "read as iso-text they span 2026-01-01T00:00:00Z to 2026-01-01T00:00:00Z",
                "use --timestamp-format iso-text",
            ],
        );
        assert_eq!(db.count("users"), 2);
    }
);

fn fmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

// Not too strict: times down to 1990-01-01 and up to a day after the as-of, and NULL activity,
// pass, and the run deletes exactly the eligible users. The as-of is in the future (so it, not
// this machine's clock, sets the upper bound); a day and an hour after it, or a second before
// 1990, is refused.
backend_test!(
    plausible_times_pass_and_exactly_the_eligible_go,
    |db: &TestDb| {
        let ts = if db.is_pg() { "TIMESTAMPTZ" } else { "TEXT" };
        db.exec(&support::default_schema(db, ts, "TEXT", false));
        let as_of = Utc::now() + Duration::days(2);
        let as_of_arg = as_of.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let at = |t: DateTime<Utc>| db.ts(&fmt(t));
        let (t, f) = (db.bool(true), db.bool(false));
        let old = at(as_of - Duration::days(90));
        let soon = at(as_of + Duration::hours(23));
        let y1990 = db.ts("1990-01-01 00:00:00");
        db.exec(&format!(
            "INSERT INTO users VALUES ('e1', {t}, {old});
         INSERT INTO users VALUES ('e2', {t}, {old});
         INSERT INTO users VALUES ('e3', {t}, {y1990});
         INSERT INTO users VALUES ('k_future', {t}, {soon});
         INSERT INTO users VALUES ('k_active', {t}, {old});
         INSERT INTO users VALUES ('r1', {f}, {y1990});
         INSERT INTO sessions VALUES ('s1', 'e1', {old}, {old});
         INSERT INTO sessions VALUES ('s2', 'e2', NULL, NULL);
         INSERT INTO sessions VALUES ('s3', 'k_active', {old}, {soon});
         INSERT INTO accounts VALUES ('a1', 'e1', 'anonymous');"
        ));
        let run = |cmd: &str| db.run(&[cmd, "--as-of", &as_of_arg, "--allow-future-as-of"]);
        let d = db.run(&["doctor", "--as-of", &as_of_arg]);
        assert_eq!(d.code, 0, "{}", d.all());
        let p = run("plan");
        assert_eq!(p.code, 0, "{}", p.all());
        assert!(p.stdout.contains("eligible             3"), "{}", p.stdout);
        // The range reads are listed with the other pre-flight reads.
        assert!(p.stdout.contains("concat_ws('|'"), "{}", p.stdout);

        // Beyond either bound: refused, nothing deleted.
        let before = db.fingerprint(&TABLES);
        let late = at(as_of + Duration::hours(25));
        db.exec(&format!(
            "UPDATE sessions SET updated_at = {late} WHERE id = 's2'"
        ));
        let r = run("run");
        assert_refused(
            &r,
            2,
            &["sessions.updated_at", "outside 1990-01-01T00:00:00Z"],
        );
        db.exec("UPDATE sessions SET updated_at = NULL WHERE id = 's2'");
        db.exec(&format!(
            "UPDATE users SET created_at = {} WHERE id = 'r1'",
            db.ts("1989-12-31 23:59:59")
        ));
        let r = run("run");
        assert_refused(
            &r,
            2,
            &[
                "users.created_at",
                "spans 1989-12-31T23:59:59Z to ",
                "no timestamp format fits these values",
            ],
        );
        db.exec(&format!(
            "UPDATE users SET created_at = {y1990} WHERE id = 'r1'"
        ));
        assert_eq!(db.fingerprint(&TABLES), before);

        let r = run("run");
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["k_active", "k_future", "r1"]);
        assert_eq!(db.ids("sessions", "id"), vec!["s3"]);
        assert_eq!(db.count("accounts"), 0);
    }
);

/// A command that runs `cmd` without the right to write what this user may not write: as root,
/// without the capability that overrides file permissions (`setpriv`); otherwise as it is.
fn unprivileged(cmd: &str) -> Command {
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Command::new(cmd);
    }
    let mut c = Command::new("setpriv");
    c.args([
        "--bounding-set=-dac_override,-dac_read_search",
        "--inh-caps=-dac_override,-dac_read_search",
        "--",
        cmd,
    ]);
    c
}

/// Whether `path` can be written by an `unprivileged` process (its `test -w`).
fn writable(path: &Path) -> bool {
    unprivileged("sh")
        .arg("-c")
        .arg("test -w \"$0\"")
        .arg(path)
        .status()
        .expect("setpriv is installed (util-linux)")
        .success()
}

fn anonsweep_unprivileged(dir: &Path, args: &[&str]) -> Run {
    let mut c = unprivileged(env!("CARGO_BIN_EXE_anonsweep"));
    c.args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null());
    for (k, _) in std::env::vars() {
        if k == "DATABASE_URL" || k.starts_with("ANONSWEEP_") {
            c.env_remove(k);
        }
    }
    c.output().expect("run anonsweep").into()
}

/// 100 eligible users (and a registered one) in ISO-8601 text, SQLite.
fn hundred_eligible(db: &TestDb) {
    db.exec(&support::default_schema(db, "TEXT", "TEXT", true));
    let mut sql = String::from("INSERT INTO users VALUES ('reg', 0, '2026-01-01T00:00:00.000Z')");
    for i in 0..100 {
        sql += &format!(", ('e{i:03}', 1, '2026-01-01T00:00:00.000Z')");
    }
    db.exec(&sql);
    // e000 came back: a recent session keeps it.
    db.exec("INSERT INTO sessions VALUES ('s1', 'e000', '2026-01-02T00:00:00.000Z', '2026-11-20T00:00:00.000Z')");
}

// A SQLite database this user cannot write: `run` used to warn "attempt to write a readonly
// database" once per user and exit 3. Now it refuses once, before the first batch (exit 1),
// naming the file and the fix, and every row is kept; the dry run (`plan`) shows the plan and
// refuses the same way, `doctor` still works. Both ways: the file read-only, and its directory
// read-only (no journal).
backend_test!(
    a_readonly_sqlite_database_is_refused_once_before_the_first_batch,
    [sqlite],
    |db: TestDb| {
        use std::os::unix::fs::PermissionsExt;
        hundred_eligible(&db);
        let TestDb::Sqlite { path, .. } = &db else {
            unreachable!()
        };
        let dir = path.parent().unwrap().to_path_buf();
        let before = db.fingerprint(&TABLES);
        let url = path.to_str().unwrap();
        let set = |p: &Path, mode: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        for (what, file_mode, dir_mode, needle) in [
            ("file", 0o444, 0o755, "the file is read-only (mode 0444"),
            (
                "directory",
                0o644,
                0o555,
                "is read-only (mode 0555), so SQLite cannot create its journal",
            ),
        ] {
            set(path, file_mode);
            set(&dir, dir_mode);
            assert!(
                !writable(if what == "file" { path } else { &dir }),
                "the test needs a {what} this user cannot write"
            );
            let r = anonsweep_unprivileged(&dir, &["run", "--as-of", AS_OF, "--database-url", url]);
            assert_refused(
                &r,
                1,
                &[
                    &format!("SQLite database {url} cannot be written"),
                    needle,
                    "anonsweep plan",
                ],
            );
            assert!(!r.all().contains("attempt to write"), "{}", r.all());
            let p =
                anonsweep_unprivileged(&dir, &["plan", "--as-of", AS_OF, "--database-url", url]);
            assert_eq!(
                p.code,
                1,
                "plan refuses as run does, on a read-only {what}\n{}",
                p.all()
            );
            assert!(
                p.stdout.contains("eligible             99")
                    && p.stdout.contains("run would refuse"),
                "the dry run still shows the plan:\n{}",
                p.stdout
            );
            assert!(p.stderr.contains(needle), "{}", p.stderr);
            let d =
                anonsweep_unprivileged(&dir, &["doctor", "--as-of", AS_OF, "--database-url", url]);
            assert_eq!(d.code, 0, "doctor on a read-only {what}\n{}", d.all());
            set(&dir, 0o755);
            set(path, 0o644);
            assert_eq!(
                db.fingerprint(&TABLES),
                before,
                "read-only {what}: rows kept"
            );
        }
        // Writable again, the same run deletes the 99 eligible users.
        let r = anonsweep_unprivileged(&dir, &["run", "--as-of", AS_OF, "--database-url", url]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["e000", "reg"]);
    }
);

#[test]
fn a_directory_as_the_sqlite_path_is_named_a_directory() {
    let dir = support::scratch();
    let d = dir.path().display().to_string();
    for url in [d.clone(), format!("sqlite://{d}")] {
        for cmd in ["run", "plan", "doctor"] {
            let r = support::anonsweep_in(dir.path(), &[cmd, "--database-url", &url], &[]);
            assert_refused(
                &r,
                2,
                &[
                    &format!("SQLite database path {d} is a directory"),
                    "the database file's own path",
                ],
            );
            assert!(!r.stderr.contains("does not exist"), "{}", r.stderr);
        }
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing created"
    );
}

// SQLite's time columns are recognised by one read of their first rows: the storage types
// present and, for text, how many values are not ISO-8601. A column mixing integers and text,
// or holding a text value that is no timestamp, is refused with its name and the types or the
// count (exit 2, nothing changed); integer epochs alone are recognised, and the run deletes
// exactly the eligible users. (TIMESTAMP columns: numeric affinity keeps integers integers.)
backend_test!(
    sqlite_time_columns_are_recognised_from_their_stored_types,
    [sqlite],
    |db: TestDb| {
        db.exec(&support::default_schema(&db, "TIMESTAMP", "TEXT", true));
        let mut sql =
            String::from("INSERT INTO users VALUES ('reg', 0, '2026-01-01T00:00:00.000Z')");
        for i in 0..100 {
            sql += &format!(", ('e{i:03}', 1, '2026-01-01T00:00:00.000Z')");
        }
        db.exec(&sql);
        db.exec("UPDATE users SET created_at = 1767225600000 WHERE id = 'e050'");
        refused_everywhere(
            &db,
            &[],
            2,
            &[
                "users.created_at mixes value types (integer, text",
                "convert the column",
            ],
        );
        db.exec("UPDATE users SET created_at = 'last week' WHERE id = 'e050'");
        refused_everywhere(
            &db,
            &[],
            2,
            &["1 values in users.created_at", "not ISO-8601 timestamps"],
        );
        // Epoch milliseconds throughout: recognised; e000's session is recent (same format).
        db.exec("UPDATE users SET created_at = 1767225600000");
        db.exec("INSERT INTO sessions VALUES ('s1', 'e000', 1767312000000, 1795651200000)");
        let r = db.run(&["run", "--as-of", AS_OF]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), ["e000", "reg"]);
        assert_eq!(db.ids("sessions", "id"), ["s1"]);
        // Detection and the range check share one read of each table's first rows.
        let plan = db.run(&["plan", "--as-of", AS_OF, "--format", "json"]);
        assert_eq!(plan.code, 0, "{}", plan.all());
        let j: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
        let sql = j["sql"].as_str().unwrap();
        for table in ["users", "sessions"] {
            let read = format!("FROM (SELECT * FROM \"{table}\" LIMIT 10000) AS sampled");
            assert_eq!(sql.matches(&read).count(), 1, "{table}: {sql}");
        }
    }
);
