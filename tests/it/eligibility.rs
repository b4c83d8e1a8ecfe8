//! The exact deleted set on a hand-built dataset with every edge of the rule, in every
//! timestamp storage format and id type seen in the wild, on SQLite, PostgreSQL and MySQL/MariaDB.

use crate::support;

use support::{backend_test, Backend, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z"; // cutoff = 2026-10-27T00:00:00Z with 30 days

/// (user, anonymous flag, created_at, sessions [(created_at, updated_at)], has account)
type Row = (
    &'static str,
    Option<bool>,
    Option<&'static str>,
    &'static [(&'static str, Option<&'static str>)],
    bool,
);

const ROWS: &[Row] = &[
    (
        "u01_old_no_sessions",
        Some(true),
        Some("2026-09-01 00:00:00"),
        &[],
        false,
    ),
    (
        "u02_created_at_cutoff",
        Some(true),
        Some("2026-10-27 00:00:00"),
        &[],
        false,
    ),
    (
        "u03_created_just_before",
        Some(true),
        Some("2026-10-26 23:59:59"),
        &[],
        false,
    ),
    (
        "u04_session_at_cutoff",
        Some(true),
        Some("2026-09-01 00:00:00"),
        &[("2026-09-02 00:00:00", Some("2026-10-27 00:00:00"))],
        false,
    ),
    (
        "u05_session_just_before",
        Some(true),
        Some("2026-09-01 00:00:00"),
        &[("2026-09-02 00:00:00", Some("2026-10-26 23:59:59"))],
        false,
    ),
    (
        "u06_null_anonymous",
        None,
        Some("2026-01-01 00:00:00"),
        &[],
        false,
    ),
    (
        "u07_recent_session",
        Some(true),
        Some("2026-08-01 00:00:00"),
        &[("2026-08-01 00:00:00", Some("2026-11-20 10:00:00"))],
        false,
    ),
    (
        "u08_registered_old",
        Some(false),
        Some("2025-01-01 00:00:00"),
        &[],
        true,
    ),
    (
        "u09_only_old_sessions",
        Some(true),
        Some("2026-07-01 00:00:00"),
        &[
            ("2026-07-02 00:00:00", Some("2026-07-03 00:00:00")),
            ("2026-08-01 00:00:00", Some("2026-08-01 01:00:00")),
        ],
        false,
    ),
    (
        "u10_with_account",
        Some(true),
        Some("2026-08-01 00:00:00"),
        &[],
        true,
    ),
    (
        "u11_created_recently",
        Some(true),
        Some("2026-11-20 00:00:00"),
        &[],
        false,
    ),
    (
        "u12_recent_session_null_update",
        Some(true),
        Some("2026-09-01 00:00:00"),
        &[("2026-11-01 00:00:00", None)],
        false,
    ),
    (
        "u13_registered_old_session",
        Some(false),
        Some("2025-06-01 00:00:00"),
        &[("2025-06-01 00:00:00", Some("2025-06-02 00:00:00"))],
        true,
    ),
    ("u14_created_null", Some(true), None, &[], false),
];

const DELETED: &[&str] = &[
    "u01_old_no_sessions",
    "u03_created_just_before",
    "u05_session_just_before",
    "u09_only_old_sessions",
    "u10_with_account",
];

/// How one storage variant writes ids, booleans and timestamps.
struct Variant {
    name: &'static str,
    id_type: &'static str,
    ts_type: &'static str,
    bool_type: &'static str,
    id: fn(usize, &str) -> String,
    ts: fn(&str) -> String,
    bool_lit: fn(bool) -> &'static str,
}

fn text_id(_: usize, name: &str) -> String {
    format!("'{name}'")
}
fn int_id(i: usize, _: &str) -> String {
    (i + 1).to_string()
}
fn uuid_id(i: usize, _: &str) -> String {
    format!("'00000000-0000-4000-8000-{:012}'", i + 1)
}
fn epoch(t: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp()
}
fn iso_z(t: &str) -> String {
    format!("'{}.000Z'", t.replace(' ', "T"))
}
fn iso_mixed(t: &str) -> String {
    // What different writers produce: better-auth's `...Z`, SQLite's own `YYYY-MM-DD HH:MM:SS`, offsets.
    if t.ends_with(":59") {
        format!("'{t}'")
    } else if t.contains("-09-") {
        format!("'{}+00:00'", t.replace(' ', "T"))
    } else {
        iso_z(t)
    }
}
fn ms(t: &str) -> String {
    (epoch(t) * 1000).to_string()
}
fn secs(t: &str) -> String {
    epoch(t).to_string()
}
fn pg_tz(t: &str) -> String {
    format!("TIMESTAMPTZ '{t}+00'")
}
fn pg_naive(t: &str) -> String {
    format!("TIMESTAMP '{t}'")
}
fn sqlite_bool(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}
fn sqlite_bool_text(b: bool) -> &'static str {
    if b {
        "'true'"
    } else {
        "0"
    }
}
fn pg_bool(b: bool) -> &'static str {
    if b {
        "TRUE"
    } else {
        "FALSE"
    }
}

fn setup(db: &TestDb, v: &Variant, tables: (&str, &str, &str), cols: [&str; 6]) {
    setup_with(db, v, tables, cols, "", "")
}

/// `setup`, with SQL run first (`prefix`, e.g. a session time zone) and last (`suffix`).
fn setup_with(
    db: &TestDb,
    v: &Variant,
    tables: (&str, &str, &str),
    cols: [&str; 6],
    prefix: &str,
    suffix: &str,
) {
    let (users, sessions, accounts) = tables;
    let [anon, created, user_id, s_created, s_updated, pk] = cols;
    let mut sql = prefix.to_string();
    sql += &format!(
        "CREATE TABLE {users} ({pk} {id} PRIMARY KEY, {anon} {b}, {created} {ts});
         CREATE TABLE {sessions} ({pk} {id} PRIMARY KEY, {user_id} {id} NOT NULL REFERENCES {users} ({pk}), {s_created} {ts}, {s_updated} {ts});
         CREATE TABLE {accounts} ({pk} {id} PRIMARY KEY, {user_id} {id} NOT NULL REFERENCES {users} ({pk}));",
        id = v.id_type,
        ts = v.ts_type,
        b = v.bool_type,
    );
    let mut sid = 1000;
    for (i, (name, flag, created_at, sess, account)) in ROWS.iter().enumerate() {
        let id = (v.id)(i, name);
        let flag = flag.map(|f| (v.bool_lit)(f)).unwrap_or("NULL");
        let c = created_at
            .map(|t| (v.ts)(t))
            .unwrap_or_else(|| "NULL".into());
        sql += &format!("INSERT INTO {users} VALUES ({id}, {flag}, {c});\n");
        for (sc, su) in sess.iter() {
            sid += 1;
            let su = su.map(|t| (v.ts)(t)).unwrap_or_else(|| "NULL".into());
            sql += &format!(
                "INSERT INTO {sessions} VALUES ({}, {id}, {}, {su});\n",
                (v.id)(sid, &format!("s{sid}")),
                (v.ts)(sc)
            );
        }
        if *account {
            sid += 1;
            sql += &format!(
                "INSERT INTO {accounts} VALUES ({}, {id});\n",
                (v.id)(sid, &format!("a{sid}"))
            );
        }
    }
    sql += suffix;
    db.exec(&sql);
}

fn expected_kept(v: &Variant) -> Vec<String> {
    let mut kept: Vec<String> = ROWS
        .iter()
        .enumerate()
        .filter(|(_, r)| !DELETED.contains(&r.0))
        .map(|(i, r)| (v.id)(i, r.0).trim_matches('\'').to_string())
        .collect();
    kept.sort();
    kept
}

fn expected_sessions_left() -> usize {
    ROWS.iter()
        .filter(|r| !DELETED.contains(&r.0))
        .map(|r| r.3.len())
        .sum()
}

fn check_variant(db: TestDb, v: &Variant) {
    check_variant_with(db, v, "", "")
}

fn check_variant_with(db: TestDb, v: &Variant, prefix: &str, suffix: &str) {
    setup_with(
        db_ref(&db),
        v,
        ("users", "sessions", "accounts"),
        [
            "is_anonymous",
            "created_at",
            "user_id",
            "created_at",
            "updated_at",
            "id",
        ],
        prefix,
        suffix,
    );
    let plan = db.run(&["plan", "--as-of", AS_OF, "--format", "json"]);
    assert_eq!(plan.code, 0, "{}: plan failed: {}", v.name, plan.all());
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(
        json["eligible"],
        DELETED.len(),
        "{}: {}",
        v.name,
        plan.stdout
    );
    assert_eq!(json["total_anonymous"], 11, "{}", v.name);

    let run = db.run(&["run", "--as-of", AS_OF, "--batch-size", "2"]);
    assert_eq!(run.code, 0, "{}: run failed: {}", v.name, run.all());
    assert!(
        run.stdout.contains("deleted users        5"),
        "{}: {}",
        v.name,
        run.stdout
    );
    assert_eq!(
        db.ids("users", "id"),
        expected_kept(v),
        "{}: wrong users remain",
        v.name
    );
    assert_eq!(
        db.count("sessions") as usize,
        expected_sessions_left(),
        "{}",
        v.name
    );
    assert_eq!(
        db.count("accounts"),
        2,
        "{}: only the registered users' accounts remain",
        v.name
    );

    // A second run finds nothing more.
    let again = db.run(&["run", "--as-of", AS_OF]);
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.contains("deleted users        0"),
        "{}",
        again.stdout
    );
}

fn db_ref(db: &TestDb) -> &TestDb {
    db
}

#[test]
fn sqlite_iso_text_better_auth_style() {
    let v = Variant {
        name: "sqlite iso-text",
        id_type: "TEXT",
        ts_type: "TEXT",
        bool_type: "INTEGER",
        id: text_id,
        ts: iso_z,
        bool_lit: sqlite_bool,
    };
    check_variant(TestDb::sqlite(), &v);
}

#[test]
fn sqlite_iso_text_mixed_writers_and_text_booleans() {
    let v = Variant {
        name: "sqlite iso mixed",
        id_type: "TEXT",
        ts_type: "DATETIME",
        bool_type: "BOOLEAN",
        id: text_id,
        ts: iso_mixed,
        bool_lit: sqlite_bool_text,
    };
    check_variant(TestDb::sqlite(), &v);
}

#[test]
fn sqlite_epoch_milliseconds_integer_ids() {
    let v = Variant {
        name: "sqlite epoch-ms",
        id_type: "INTEGER",
        ts_type: "INTEGER",
        bool_type: "INTEGER",
        id: int_id,
        ts: ms,
        bool_lit: sqlite_bool,
    };
    check_variant(TestDb::sqlite(), &v);
}

#[test]
fn sqlite_epoch_seconds() {
    let v = Variant {
        name: "sqlite epoch-s",
        id_type: "TEXT",
        ts_type: "INTEGER",
        bool_type: "INTEGER",
        id: text_id,
        ts: secs,
        bool_lit: sqlite_bool,
    };
    check_variant(TestDb::sqlite(), &v);
}

#[test]
fn postgres_timestamptz_text_ids() {
    let v = Variant {
        name: "pg timestamptz",
        id_type: "TEXT",
        ts_type: "TIMESTAMPTZ",
        bool_type: "BOOLEAN",
        id: text_id,
        ts: pg_tz,
        bool_lit: pg_bool,
    };
    check_variant(TestDb::pg(), &v);
}

#[test]
fn postgres_timestamp_without_time_zone_integer_ids_non_utc_server() {
    let db = TestDb::pg();
    // The server's zone must not matter: values are UTC and anonsweep compares in UTC.
    if let TestDb::Pg { name } = &db {
        db.exec(&format!(
            "ALTER DATABASE {name} SET timezone = 'America/New_York'"
        ));
    }
    let v = Variant {
        name: "pg timestamp",
        id_type: "BIGINT",
        ts_type: "TIMESTAMP(3)",
        bool_type: "BOOLEAN",
        id: int_id,
        ts: pg_naive,
        bool_lit: pg_bool,
    };
    check_variant(db, &v);
}

#[test]
fn postgres_uuid_ids_epoch_ms() {
    let v = Variant {
        name: "pg uuid epoch-ms",
        id_type: "UUID",
        ts_type: "BIGINT",
        bool_type: "BOOLEAN",
        id: uuid_id,
        ts: ms,
        bool_lit: pg_bool,
    };
    check_variant(TestDb::pg(), &v);
}

// The better-auth preset's camelCase names, quoted as each backend quotes them (MySQL with
// backticks). Formerly `better_auth_preset_camel_case_on_both_backends` (SQLite, PostgreSQL)
// and its copy `better_auth_preset_on_mysql`.
backend_test!(better_auth_preset_camel_case, |db: TestDb| {
    let v = match db.backend() {
        Backend::Postgres => Variant {
            name: "better-auth pg",
            id_type: "TEXT",
            ts_type: "TIMESTAMPTZ",
            bool_type: "BOOLEAN",
            id: text_id,
            ts: pg_tz,
            bool_lit: pg_bool,
        },
        Backend::Sqlite => Variant {
            name: "better-auth sqlite",
            id_type: "TEXT",
            ts_type: "DATE",
            bool_type: "INTEGER",
            id: text_id,
            ts: iso_z,
            bool_lit: sqlite_bool,
        },
        Backend::Mysql => Variant {
            name: "better-auth mysql",
            id_type: "VARCHAR(36)",
            ts_type: "DATETIME(3)",
            bool_type: "BOOLEAN",
            id: text_id,
            ts: mysql_datetime,
            bool_lit: pg_bool,
        },
    };
    let q = |name: &str| {
        if db.is_mysql() {
            format!("`{name}`")
        } else {
            format!("\"{name}\"")
        }
    };
    let (user, session, account) = (q("user"), q("session"), q("account"));
    let (anon, created, user_id, updated) = (
        q("isAnonymous"),
        q("createdAt"),
        q("userId"),
        q("updatedAt"),
    );
    setup(
        &db,
        &v,
        (&user, &session, &account),
        [&anon, &created, &user_id, &created, &updated, "id"],
    );
    let run = db.run(&["run", "--preset", "better-auth", "--as-of", AS_OF]);
    assert_eq!(run.code, 0, "{}: {}", v.name, run.all());
    assert_eq!(db.ids(&user, "id"), expected_kept(&v), "{}", v.name);
    assert_eq!(
        db.count(&session) as usize,
        expected_sessions_left(),
        "{}",
        v.name
    );
    assert_eq!(db.count(&account), 2, "{}", v.name);
});

#[test]
fn config_file_schema_qualified_tables_on_postgres() {
    let db = TestDb::pg();
    db.exec("CREATE SCHEMA auth");
    let v = Variant {
        name: "auth schema",
        id_type: "TEXT",
        ts_type: "TIMESTAMPTZ",
        bool_type: "BOOLEAN",
        id: text_id,
        ts: pg_tz,
        bool_lit: pg_bool,
    };
    setup(
        &db,
        &v,
        ("auth.members", "auth.logins", "auth.identities"),
        ["guest", "joined", "member", "started", "seen", "id"],
    );
    let dir = support::scratch();
    std::fs::write(
        dir.path().join("anonsweep.toml"),
        r#"
preset = "default"
[users]
table = "auth.members"
is_anonymous = "guest"
created_at = "joined"
[sessions]
table = "auth.logins"
user_id = "member"
activity = ["started", "seen"]
[accounts]
table = "auth.identities"
user_id = "member"
"#,
    )
    .unwrap();
    let url = db.url();
    let run = support::anonsweep_in(
        dir.path(),
        &["run", "--as-of", AS_OF, "--database-url", &url],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(db.ids("auth.members", "id"), expected_kept(&v));
    assert_eq!(db.count("auth.logins") as usize, expected_sessions_left());
}

fn mysql_datetime(t: &str) -> String {
    format!("'{t}'")
}
fn mysql_in_plus_five(t: &str) -> String {
    // The same instant written in a +05:00 session: TIMESTAMP stores UTC and converts.
    let utc = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").unwrap();
    format!(
        "'{}'",
        (utc + chrono::TimeDelta::hours(5)).format("%Y-%m-%d %H:%M:%S")
    )
}

#[test]
fn mysql_datetime_with_real_foreign_keys() {
    let v = Variant {
        name: "mysql datetime(3) fk",
        id_type: "VARCHAR(64)",
        ts_type: "DATETIME(3)",
        bool_type: "BOOLEAN",
        id: text_id,
        ts: mysql_datetime,
        bool_lit: pg_bool,
    };
    // `REFERENCES` written on a column is ignored by MySQL: add real constraints.
    let fks = ";\nALTER TABLE sessions ADD FOREIGN KEY (user_id) REFERENCES users (id);\n\
               ALTER TABLE accounts ADD FOREIGN KEY (user_id) REFERENCES users (id);\n";
    let db = TestDb::mysql();
    check_variant_with(db, &v, "", fks);
}

#[test]
fn mysql_timestamp_written_in_another_time_zone_without_foreign_keys() {
    let v = Variant {
        name: "mysql timestamp(3) +05:00",
        id_type: "VARCHAR(64)",
        ts_type: "TIMESTAMP(3) NULL DEFAULT NULL",
        bool_type: "TINYINT(1)",
        id: text_id,
        ts: mysql_in_plus_five,
        bool_lit: sqlite_bool,
    };
    check_variant_with(TestDb::mysql(), &v, "SET time_zone = '+05:00';\n", "");
}

#[test]
fn mysql_epoch_milliseconds_integer_ids() {
    let v = Variant {
        name: "mysql epoch-ms",
        id_type: "BIGINT",
        ts_type: "BIGINT",
        bool_type: "BOOLEAN",
        id: int_id,
        ts: ms,
        bool_lit: pg_bool,
    };
    check_variant(TestDb::mysql(), &v);
}
