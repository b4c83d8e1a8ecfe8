//! The rule reads every value fail-safe, because the pre-flight checks of time columns read
//! only a table's first 10000 rows: each dataset here has 10000 clean, plausible rows first (so
//! the sampled checks pass), then rows whose times are in doubt (SQLite text that is not a time,
//! numbers or blobs in a text column, epoch values in the wrong unit, PostgreSQL infinities, zone
//! offsets). `plan --list` and `run` must agree, and the database must show exactly the users
//! whose times are clear gone with their rows, and every user in doubt kept with theirs.

use crate::support;

use chrono::{DateTime, Duration, Utc};
use support::{backend_test, Run, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z"; // cutoff = 2026-10-27T00:00:00Z with 30 days
const TABLES: [&str; 3] = ["users", "sessions", "accounts"];

/// The clean rows the pre-flight checks read: exactly their sample (`SAMPLE_ROWS`), so the
/// rows in doubt come right after it, in insertion order and in id order alike.
const FILLER: usize = 10_000;

fn as_of() -> DateTime<Utc> {
    support::parse_as_of(AS_OF).unwrap()
}

/// `FILLER` registered users `f00000`…, created at `created`, each with one session `fs00000`…
/// (`s_created`, `s_updated`): SQL literals, one multi-row INSERT per table. Their ids sort
/// before every other row's (`u_…`, `s_…`), so they are a table's first rows whichever order
/// (heap, rowid or primary key) its scan returns.
fn filler(db: &TestDb, created: &str, s_created: &str, s_updated: &str) {
    let reg = db.bool(false);
    let users: Vec<String> = (0..FILLER)
        .map(|i| format!("('f{i:05}', {reg}, {created})"))
        .collect();
    let sessions: Vec<String> = (0..FILLER)
        .map(|i| format!("('fs{i:05}', 'f{i:05}', {s_created}, {s_updated})"))
        .collect();
    db.exec(&format!("INSERT INTO users VALUES {}", users.join(", ")));
    db.exec(&format!(
        "INSERT INTO sessions VALUES {}",
        sessions.join(", ")
    ));
}

/// A user after the sample: its id (`u_…`), anonymous or not, `created_at` as a SQL literal,
/// its sessions (id `s_…`, created_at, updated_at as SQL literals), whether it has an account
/// (`a_` + its id), its `last_seen_at` (a users activity column, when the test adds one),
/// and whether the run must delete it.
struct User {
    id: &'static str,
    anonymous: bool,
    created: String,
    sessions: Vec<(&'static str, String, String)>,
    account: bool,
    last_seen: Option<String>,
    gone: bool,
}

fn user(id: &'static str, created: impl Into<String>, gone: bool) -> User {
    User {
        id,
        anonymous: true,
        created: created.into(),
        sessions: Vec::new(),
        account: false,
        last_seen: None,
        gone,
    }
}

impl User {
    fn session(
        mut self,
        id: &'static str,
        created: impl Into<String>,
        updated: impl Into<String>,
    ) -> User {
        self.sessions.push((id, created.into(), updated.into()));
        self
    }

    fn with_account(mut self) -> User {
        self.account = true;
        self
    }

    fn registered(mut self) -> User {
        self.anonymous = false;
        self
    }

    fn last_seen(mut self, at: impl Into<String>) -> User {
        self.last_seen = Some(at.into());
        self
    }
}

fn insert(db: &TestDb, users: &[User]) {
    let mut sql = String::new();
    for u in users {
        let (col, val) = match &u.last_seen {
            Some(v) => (", last_seen_at", format!(", {v}")),
            None => ("", String::new()),
        };
        sql += &format!(
            "INSERT INTO users (id, is_anonymous, created_at{col}) VALUES ('{}', {}, {}{val});\n",
            u.id,
            db.bool(u.anonymous),
            u.created
        );
        for (s, c, up) in &u.sessions {
            sql += &format!(
                "INSERT INTO sessions VALUES ('{s}', '{}', {c}, {up});\n",
                u.id
            );
        }
        if u.account {
            sql += &format!(
                "INSERT INTO accounts VALUES ('a_{}', '{}', 'anonymous');\n",
                u.id, u.id
            );
        }
    }
    db.exec(&sql);
}

/// Sorted ids of `table`'s rows that are not filler.
fn rest(db: &TestDb, table: &str) -> Vec<String> {
    let mut v = db.strings(&format!(
        "SELECT {} AS t FROM {table} WHERE id NOT LIKE 'f%'",
        db.text("id")
    ));
    v.sort();
    v
}

fn sorted(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = it.collect();
    v.sort();
    v
}

/// `plan` counts and `plan --list` names exactly the users marked gone.
fn plan_lists_the_gone(db: &TestDb, users: &[User], extra: &[&str]) {
    let gone = sorted(users.iter().filter(|u| u.gone).map(|u| u.id.to_string()));
    let dir = support::scratch();
    let list = dir.path().join("eligible.jsonl");
    let mut args = vec!["plan", "--as-of", AS_OF, "--list", list.to_str().unwrap()];
    args.extend(extra);
    let p = db.run(&args);
    assert_eq!(p.code, 0, "plan\n{}", p.all());
    let listed = sorted(std::fs::read_to_string(&list).unwrap().lines().map(|l| {
        serde_json::from_str::<serde_json::Value>(l).unwrap()["user_id"]
            .as_str()
            .unwrap()
            .to_string()
    }));
    assert_eq!(
        listed, gone,
        "plan --list names exactly the users run may delete"
    );
    assert!(
        p.stdout
            .contains(&format!("eligible             {}\n", gone.len())),
        "plan counts {} eligible:\n{}",
        gone.len(),
        p.stdout
    );
}

/// `plan` lists exactly the users marked gone; `run` deletes exactly them with their sessions
/// and accounts, and keeps every other user (the filler too) with theirs.
fn plan_and_run(db: &TestDb, users: &[User], extra: &[&str]) {
    plan_lists_the_gone(db, users, extra);
    let mut args = vec!["run", "--as-of", AS_OF];
    args.extend(extra);
    let r = db.run(&args);
    assert_eq!(r.code, 0, "run\n{}", r.all());
    let kept: Vec<&User> = users.iter().filter(|u| !u.gone).collect();
    assert_eq!(
        rest(db, "users"),
        sorted(kept.iter().map(|u| u.id.to_string())),
        "users kept after the sample"
    );
    assert_eq!(
        rest(db, "sessions"),
        sorted(
            kept.iter()
                .flat_map(|u| u.sessions.iter().map(|s| s.0.to_string()))
        ),
        "sessions kept after the sample"
    );
    assert_eq!(
        rest(db, "accounts"),
        sorted(
            kept.iter()
                .filter(|u| u.account)
                .map(|u| format!("a_{}", u.id))
        ),
        "accounts kept"
    );
    assert_eq!(
        db.count("users"),
        (FILLER + kept.len()) as u64,
        "filler users kept"
    );
    assert_eq!(
        db.count("sessions"),
        (FILLER + kept.iter().map(|u| u.sessions.len()).sum::<usize>()) as u64,
        "filler sessions kept"
    );
}

/// Exactly one line on stderr, the expected code, and the line names everything in `needles`.
fn assert_refused(r: &Run, code: i32, needles: &[&str]) {
    assert_eq!(r.code, code, "exit code\n{}", r.all());
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got:\n{}", r.stderr);
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} missing from: {}", lines[0]);
    }
}

fn q(s: &str) -> String {
    format!("'{s}'")
}

/// A SQLite database of the default schema with time columns declared `ts`, and ISO-8601 text
/// filler.
fn sqlite_text_db(ts: &str) -> TestDb {
    let db = TestDb::sqlite();
    db.exec(&support::default_schema(&db, ts, "TEXT", false));
    filler(
        &db,
        "'2026-01-01T00:00:00.000Z'",
        "'2026-01-02T00:00:00.000Z'",
        "'2026-02-01T00:00:00.000Z'",
    );
    db
}

fn old() -> String {
    q("2026-09-01T00:00:00.000Z")
}

fn old_s() -> String {
    q("2026-09-02T00:00:00.000Z")
}

/// The controls of a SQLite text dataset: old anonymous users whose sessions show nothing
/// after the cutoff go (with their sessions and account); a recent session and a registered
/// user stay.
fn sqlite_controls() -> Vec<User> {
    vec![
        user("u_ctrl_no_session", old(), true),
        user("u_ctrl_old_session", old(), true)
            .session("s_ctrl_old", old_s(), old_s())
            .with_account(),
        user("u_ctrl_null_session", old(), true).session("s_ctrl_null", "NULL", "NULL"),
        user("u_recent", old(), false).session("s_recent", old_s(), q("2026-11-20T00:00:00.000Z")),
        user("u_registered", old(), false).registered(),
    ]
}

/// The storage class SQLite gave `column` of `table`'s row `id`.
fn sqlite_type(db: &TestDb, table: &str, column: &str, id: &str) -> String {
    db.strings(&format!(
        "SELECT typeof({column}) AS t FROM {table} WHERE id = '{id}'"
    ))
    .remove(0)
}

// SQLite, ISO-8601 text (the default schema, TEXT columns). After the sample: session times
// that are not text times (garbage; blobs, one holding date text that `julianday` reads as an
// old date) count as activity; a created_at that is garbage, a blob or before 1990 keeps the
// user; zone offsets are applied (a value whose text says the day before the cutoff may be
// after it, and the other way round). Controls go.
#[test]
fn sqlite_text_values_in_doubt_after_the_sample_keep_their_users() {
    let db = sqlite_text_db("TEXT");
    // The sample is the first 10000 rows: a garbage value as the 10000th is refused.
    db.exec("UPDATE sessions SET updated_at = 'soon' WHERE id = 'fs09999'");
    let before = db.fingerprint(&TABLES);
    let r = db.run(&["run", "--as-of", AS_OF]);
    assert_refused(&r, 2, &["sessions.updated_at", "not ISO-8601"]);
    assert_eq!(db.fingerprint(&TABLES), before, "refused: nothing changed");
    db.exec("UPDATE sessions SET updated_at = '2026-02-01T00:00:00.000Z' WHERE id = 'fs09999'");

    let mut users = sqlite_controls();
    users.extend([
        // Session activity in doubt: counts as activity.
        user("u_sess_soon", old(), false)
            .session("s_soon", old_s(), q("soon"))
            .with_account(),
        user("u_sess_blob_date", old(), false).session(
            "s_blob_date",
            old_s(),
            "CAST('2026-09-02T00:00:00.000Z' AS BLOB)",
        ),
        user("u_sess_blob_zero", old(), false).session("s_blob_zero", old_s(), "X'00'"),
        user("u_sess_created_garbage", old(), false).session(
            "s_created_garbage",
            q("garbage"),
            "NULL",
        ),
        // created_at in doubt: keeps the user.
        user("u_created_garbage", q("garbage"), false).with_account(),
        user(
            "u_created_blob_date",
            "CAST('2026-09-01T00:00:00.000Z' AS BLOB)",
            false,
        ),
        user("u_created_1985", q("1985-06-01T00:00:00.000Z"), false),
        // Zone offsets, applied.
        user("u_tz_recent", old(), false).session(
            "s_tz_recent",
            old_s(),
            q("2026-11-20T10:00:00+05:30"),
        ),
        user("u_tz_old", old(), true).session("s_tz_old", old_s(), q("2026-01-02T00:00:00-03:00")),
        // 2026-10-27T01:00Z: after the cutoff, though its text says the day before.
        user("u_tz_after_cutoff", old(), false).session(
            "s_tz_after_cutoff",
            old_s(),
            q("2026-10-26T22:00:00-03:00"),
        ),
        // 2026-10-26T19:30Z: before the cutoff, though its text says the cutoff's day.
        user("u_tz_before_cutoff", old(), true).session(
            "s_tz_before_cutoff",
            old_s(),
            q("2026-10-27T01:00:00+05:30"),
        ),
        // The largest offset SQLite reads, +14:59: 2026-10-26T23:59Z, before the cutoff, though
        // the text sorts 14 hours after the cutoff's (the rule's quick text test must leave it
        // to the full reading).
        user("u_tz_max_before_cutoff", old(), true).session(
            "s_tz_max_before_cutoff",
            old_s(),
            q("2026-10-27T14:58:00+14:59"),
        ),
        user(
            "u_created_tz_max_before_cutoff",
            q("2026-10-27T14:58:00+14:59"),
            true,
        ),
        // The cutoff itself, written with that offset: activity.
        user("u_tz_max_at_cutoff", old(), false).session(
            "s_tz_max_at_cutoff",
            old_s(),
            q("2026-10-27T14:59:00+14:59"),
        ),
        user(
            "u_created_tz_max_at_cutoff",
            q("2026-10-27T14:59:00+14:59"),
            false,
        ),
    ]);
    insert(&db, &users);
    assert_eq!(
        sqlite_type(&db, "sessions", "updated_at", "s_blob_date"),
        "blob"
    );
    assert_eq!(
        sqlite_type(&db, "users", "created_at", "u_created_blob_date"),
        "blob"
    );
    plan_and_run(&db, &users, &[]);
}

// SQLite text times in columns declared DATETIME (NUMERIC affinity, as several ORMs declare
// them), where a number stays a number: after the sample, an integer or real session time
// (`julianday` reads 0 as 4714 BC and 2460000 as February 2023) counts as activity, and an
// integer created_at (2460000, 0) keeps the user. Controls go.
#[test]
fn sqlite_numbers_in_text_time_columns_after_the_sample_keep_their_users() {
    let db = sqlite_text_db("DATETIME");
    let mut users = sqlite_controls();
    users.extend([
        user("u_sess_int_0", old(), false).session("s_int_0", old_s(), "0"),
        user("u_sess_int_2460000", old(), false).session("s_int_2460000", old_s(), "2460000"),
        user("u_sess_real", old(), false).session("s_real", old_s(), "2460000.5"),
        user("u_sess_created_int", old(), false).session("s_created_int", "2460000", "NULL"),
        user("u_created_int_0", "0", false),
        user("u_created_int_2460000", "2460000", false).with_account(),
        user("u_created_real", "2460000.5", false),
    ]);
    insert(&db, &users);
    assert_eq!(
        sqlite_type(&db, "sessions", "updated_at", "s_int_0"),
        "integer"
    );
    assert_eq!(sqlite_type(&db, "sessions", "updated_at", "s_real"), "real");
    assert_eq!(
        sqlite_type(&db, "users", "created_at", "u_created_int_2460000"),
        "integer"
    );
    plan_and_run(&db, &users, &[]);
}

// The same numbers written to TEXT columns: SQLite stores them as the text '0', '2460000',
// which `julianday` alone would read as Julian day numbers (4714 BC, February 2023). The rule
// reads only date-shaped text (`YYYY-` first) as a time, so these are in doubt and kept.
#[test]
fn sqlite_numeric_text_after_the_sample_keeps_its_users() {
    let db = sqlite_text_db("TEXT");
    let mut users = sqlite_controls();
    users.extend([
        user("u_sess_text_0", old(), false).session("s_text_0", old_s(), "0"),
        user("u_sess_text_2460000", old(), false).session("s_text_2460000", old_s(), "2460000"),
        user("u_created_text_2460000", "2460000", false),
    ]);
    insert(&db, &users);
    assert_eq!(
        sqlite_type(&db, "sessions", "updated_at", "s_text_0"),
        "text"
    );
    assert_eq!(
        sqlite_type(&db, "users", "created_at", "u_created_text_2460000"),
        "text"
    );
    plan_and_run(&db, &users, &[]);
}

/// Integer epoch columns (SQLite INTEGER, BIGINT elsewhere) with the default schema.
fn epoch_schema(db: &TestDb) {
    let ty = if db.backend() == support::Backend::Sqlite {
        "INTEGER"
    } else {
        "BIGINT"
    };
    db.exec(&support::default_schema(db, ty, "TEXT", false));
}

fn ms(t: DateTime<Utc>) -> String {
    t.timestamp_millis().to_string()
}

fn secs(t: DateTime<Utc>) -> String {
    t.timestamp().to_string()
}

fn day(d: &str) -> DateTime<Utc> {
    support::parse_as_of(d).unwrap()
}

/// The users of an epoch dataset after the sample, in `unit`: controls (old, no recent
/// session) go, a recent session keeps its user, a registered user stays; then `doubt`.
fn epoch_users(unit: fn(DateTime<Utc>) -> String, doubt: Vec<User>) -> Vec<User> {
    let old = || unit(day("2026-09-01T00:00:00Z"));
    let old_s = || unit(day("2026-09-02T00:00:00Z"));
    let mut users = vec![
        user("u_ctrl_no_session", old(), true),
        user("u_ctrl_old_session", old(), true)
            .session("s_ctrl_old", old_s(), old_s())
            .with_account(),
        user("u_ctrl_null_session", old(), true).session("s_ctrl_null", old_s(), "NULL"),
        user("u_recent", old(), false).session(
            "s_recent",
            old_s(),
            unit(as_of() - Duration::days(6)),
        ),
        user("u_registered", old(), false).registered(),
    ];
    users.extend(doubt);
    users
}

fn epoch_filler(db: &TestDb, unit: fn(DateTime<Utc>) -> String) {
    filler(
        db,
        &unit(day("2026-01-01T00:00:00Z")),
        &unit(day("2026-01-02T00:00:00Z")),
        &unit(day("2026-02-01T00:00:00Z")),
    );
}

// Epoch milliseconds, detected from the first rows and forced: after them, activity stored
// in seconds (read as milliseconds: January 1970) counts as activity, and a created_at in
// seconds keeps the user. Controls go.
backend_test!(
    epoch_ms_values_in_seconds_after_the_sample_keep_their_users,
    |db: &TestDb| {
        epoch_schema(db);
        epoch_filler(db, ms);
        let recent = as_of() - Duration::days(6);
        let old = day("2026-09-01T00:00:00Z");
        let users = epoch_users(
            ms,
            vec![
                user("u_sess_seconds_recent", ms(old), false)
                    .session("s_seconds_recent", ms(old), secs(recent))
                    .with_account(),
                user("u_sess_seconds_old", ms(old), false).session(
                    "s_seconds_old",
                    secs(old),
                    secs(old),
                ),
                user("u_created_seconds", secs(old), false).with_account(),
                user("u_created_seconds_old_session", secs(old), false).session(
                    "s_after_created_seconds",
                    ms(old),
                    ms(old),
                ),
            ],
        );
        insert(db, &users);
        // Forced, `plan` lists the same users as detected; `run` detects.
        plan_lists_the_gone(db, &users, &["--timestamp-format", "epoch-ms"]);
        plan_and_run(db, &users, &[]);
    }
);

// A users activity column (`[users] activity`) in epoch milliseconds: after the sample, a
// `last_seen_at` in seconds (January 1970 read as milliseconds) is in doubt and keeps the user,
// as a recent one does; an old or NULL one leaves the user to the rule.
backend_test!(
    epoch_ms_users_activity_in_seconds_after_the_sample_keeps_its_users,
    |db: &TestDb| {
        epoch_schema(db);
        epoch_filler(db, ms);
        // The filler's value comes from the default (no rewrite of the first rows' order).
        let ty = if db.backend() == support::Backend::Sqlite {
            "INTEGER"
        } else {
            "BIGINT"
        };
        db.exec(&format!(
            "ALTER TABLE users ADD COLUMN last_seen_at {ty} DEFAULT {}",
            ms(day("2026-03-01T00:00:00Z"))
        ));
        let recent = as_of() - Duration::days(2);
        let old = day("2026-09-01T00:00:00Z");
        let users = epoch_users(
            ms,
            vec![
                user("u_seen_recent", ms(old), false).last_seen(ms(recent)),
                user("u_seen_seconds_recent", ms(old), false)
                    .last_seen(secs(recent))
                    .with_account(),
                user("u_seen_seconds_old", ms(old), false).last_seen(secs(old)),
                user("u_seen_old", ms(old), true)
                    .last_seen(ms(old))
                    .with_account(),
                user("u_seen_null", ms(old), true).last_seen("NULL"),
            ],
        );
        insert(db, &users);
        let dir = support::scratch();
        let config = dir.path().join("anonsweep.toml");
        std::fs::write(&config, "[users]\nactivity = [\"last_seen_at\"]\n").unwrap();
        plan_and_run(db, &users, &["--config", config.to_str().unwrap()]);
    }
);

// Epoch seconds, detected from the first rows: after them, a created_at in milliseconds
// (read as seconds: tens of thousands of years ahead) keeps the user, and activity in
// milliseconds is in the future, so it counts as activity. Controls go.
backend_test!(
    epoch_s_values_in_milliseconds_after_the_sample_keep_their_users,
    |db: &TestDb| {
        epoch_schema(db);
        epoch_filler(db, secs);
        let old = day("2026-09-01T00:00:00Z");
        let users = epoch_users(
            secs,
            vec![
                user("u_created_ms", ms(old), false).with_account(),
                user("u_sess_ms", secs(old), false).session("s_ms", secs(old), ms(old)),
                user("u_sess_ms_created", secs(old), false).session(
                    "s_ms_created",
                    ms(old),
                    "NULL",
                ),
            ],
        );
        insert(db, &users);
        plan_and_run(db, &users, &[]);
    }
);

/// A PostgreSQL database of the default schema with TIMESTAMPTZ columns and filler; the
/// controls of its users after the sample.
fn pg_timestamptz_db() -> (TestDb, Vec<User>) {
    let db = TestDb::pg();
    db.exec(&support::default_schema(&db, "TIMESTAMPTZ", "TEXT", false));
    filler(
        &db,
        &db.ts("2026-01-01 00:00:00"),
        &db.ts("2026-01-02 00:00:00"),
        &db.ts("2026-02-01 00:00:00"),
    );
    let old = db.ts("2026-09-01 00:00:00");
    let old_s = db.ts("2026-09-02 00:00:00");
    let controls = vec![
        user("u_ctrl_no_session", old.clone(), true),
        user("u_ctrl_old_session", old.clone(), true)
            .session("s_ctrl_old", old_s.clone(), old_s.clone())
            .with_account(),
        user("u_recent", old.clone(), false).session(
            "s_recent",
            old_s,
            db.ts("2026-11-20 00:00:00"),
        ),
    ];
    (db, controls)
}

// PostgreSQL timestamptz: infinities after the sample. 'infinity' activity is after any
// cutoff; a created_at of '-infinity' is before 1990 and keeps the user, one of 'infinity' is
// after the cutoff. Controls go.
#[test]
fn postgres_infinities_after_the_sample_keep_their_users() {
    let (db, mut users) = pg_timestamptz_db();
    let old = db.ts("2026-09-01 00:00:00");
    let old_s = db.ts("2026-09-02 00:00:00");
    users.extend([
        user("u_sess_infinity", old.clone(), false)
            .session("s_infinity", old_s.clone(), "'infinity'")
            .with_account(),
        user("u_sess_infinity_created", old, false).session(
            "s_infinity_created",
            "'infinity'",
            old_s,
        ),
        user("u_created_minus_infinity", "'-infinity'", false).with_account(),
        user("u_created_infinity", "'infinity'", false),
    ]);
    insert(&db, &users);
    plan_and_run(&db, &users, &[]);
}

// A session whose activity is '-infinity' (no time an application records: in doubt) keeps
// its user: activity before 1990 counts as activity, whatever the column's type.
#[test]
fn postgres_minus_infinity_activity_after_the_sample_keeps_its_user() {
    let (db, mut users) = pg_timestamptz_db();
    let old = db.ts("2026-09-01 00:00:00");
    let old_s = db.ts("2026-09-02 00:00:00");
    users.extend([user("u_sess_minus_infinity", old, false)
        .session("s_minus_infinity", old_s, "'-infinity'")
        .with_account()]);
    insert(&db, &users);
    plan_and_run(&db, &users, &[]);
}

// The sample still refuses a column that is wrong as a whole, on a table larger than the
// sample: epoch seconds forced as milliseconds (plausibility.rs covers small tables).
backend_test!(
    a_wholly_wrong_format_is_still_refused_past_the_sample_size,
    |db: &TestDb| {
        epoch_schema(db);
        epoch_filler(db, secs);
        let users = epoch_users(secs, Vec::new());
        insert(db, &users);
        let before = db.fingerprint(&TABLES);
        for cmd in ["plan", "run"] {
            let r = db.run(&[cmd, "--as-of", AS_OF, "--timestamp-format", "epoch-ms"]);
            assert_refused(
                &r,
                2,
                &[
                    "users.created_at",
                    "read as epoch-ms",
                    "in its first 10000 rows",
                    "use --timestamp-format epoch-s",
                ],
            );
        }
        assert_eq!(db.fingerprint(&TABLES), before, "refused: nothing changed");
    }
);
