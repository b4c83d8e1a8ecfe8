//! Archive before delete (`run --archive-dir [--archive-compress]`, `run --archive-to-table`) and
//! `restore`: archive → run → restore gives back a database equal to the original, row for row;
//! `restore --user` restores only that user; a restore refuses (exit 2, nothing inserted) when an
//! archived user exists again; a run killed with SIGKILL between the archive and the commit
//! loses nothing: every deleted user is in the archive, the in-flight batch's users are still in
//! the database and `restore` reports them as not deleted. `restore --from-table --run` takes the
//! run's id or a unique prefix (an unknown or ambiguous one is exit 2, nothing restored);
//! `--skip-existing` restores the users that are missing and leaves re-created ones as they
//! are; a row that cannot go back stops the restore, naming its user; thousands of users restore.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{backend_test, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";
/// AS_OF minus the default 30 days.
const CUTOFF: &str = "2026-10-27 00:00:00";
/// AS_OF minus 60 days.
const CUTOFF_60: &str = "2026-09-27 00:00:00";

const TABLES: &[&str] = &["users", "sessions", "accounts"];
const DEMO_TABLES: &[&str] = &["users", "sessions", "accounts", "anonsweep_demo"];

fn backend_name(db: &TestDb) -> &'static str {
    if db.is_pg() {
        "postgres"
    } else if db.is_mysql() {
        "mysql"
    } else {
        "sqlite"
    }
}

/// Fills the (empty) database with `anonsweep demo --fill-only` (on SQLite the file must not exist).
fn demo(db: &TestDb, users: u32) {
    if let TestDb::Sqlite { path, .. } = db {
        std::fs::remove_file(path).unwrap();
    }
    let url = db.url();
    let n = users.to_string();
    let r = support::anonsweep_in(
        &db.dir(),
        &[
            "demo",
            "--users",
            &n,
            "--fill-only",
            "--database-url",
            &url,
            "--as-of",
            AS_OF,
        ],
        &[],
    );
    assert_eq!(r.code, 0, "demo --fill-only: {}", r.all());
}

/// `eligible` anonymous users e000… created long ago whose sessions are all older than the
/// cutoff (one updated a second before it); a0 (session updated exactly at the cutoff) and a1
/// (recent session) are anonymous but active; r0 and r1 are registered. Foreign keys without
/// cascade, so the delete order matters.
fn population(db: &TestDb, eligible: usize) {
    let ts_type = if db.is_pg() { "TIMESTAMPTZ" } else { "TEXT" };
    db.exec(&support::default_schema(db, ts_type, "TEXT", false));
    let (t, f) = (db.bool(true), db.bool(false));
    let mut sql = String::new();
    for i in 0..eligible {
        let created = db.ts(&format!("2026-03-{:02} 10:{:02}:00", 1 + i % 28, i % 60));
        sql += &format!("INSERT INTO users VALUES ('e{i:03}', {t}, {created});\n");
        sql += &format!(
            "INSERT INTO sessions VALUES ('s{i:03}a', 'e{i:03}', {}, {});\n",
            db.ts("2026-04-01 08:00:00"),
            db.ts(&format!("2026-05-{:02} 12:00:00", 1 + i % 28))
        );
        if i % 2 == 0 {
            sql += &format!(
                "INSERT INTO sessions VALUES ('s{i:03}b', 'e{i:03}', {}, {});\n",
                db.ts("2026-06-01 08:00:00"),
                db.ts("2026-10-26 23:59:59")
            );
        }
        if i % 3 == 0 {
            sql += &format!(
                "INSERT INTO accounts VALUES ('acc{i:03}', 'e{i:03}', 'it''s \"anonymous\" {i}');\n"
            );
        }
    }
    let old = db.ts("2026-01-01 00:00:00");
    sql += &format!("INSERT INTO users VALUES ('a0', {t}, {old});\n");
    sql += &format!(
        "INSERT INTO sessions VALUES ('sa0', 'a0', {old}, {});\n",
        db.ts(CUTOFF)
    );
    sql += &format!("INSERT INTO users VALUES ('a1', {t}, {old});\n");
    sql += &format!(
        "INSERT INTO sessions VALUES ('sa1', 'a1', {}, {});\n",
        db.ts("2026-11-20 00:00:00"),
        db.ts("2026-11-20 00:00:00")
    );
    sql += "INSERT INTO accounts VALUES ('acca1', 'a1', 'anonymous');\n";
    for r in ["r0", "r1"] {
        sql += &format!("INSERT INTO users VALUES ('{r}', {f}, {old});\n");
        sql += &format!("INSERT INTO sessions VALUES ('s{r}', '{r}', {old}, {old});\n");
        sql += &format!("INSERT INTO accounts VALUES ('acc{r}', '{r}', 'credential');\n");
    }
    // One transaction: thousands of rows, one commit.
    db.exec(&format!("BEGIN;\n{sql}COMMIT;"));
}

fn eligible_ids(n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("e{i:03}")).collect()
}

/// Eligible at `cutoff` by the rule, in SQL written here (not anonsweep's).
fn eligible_at(db: &TestDb, cutoff: &str) -> BTreeSet<String> {
    let cut = db.ts(cutoff);
    db.strings(&format!(
        "SELECT {} AS t FROM users AS u WHERE u.is_anonymous = {} AND u.created_at < {cut} \
         AND NOT EXISTS (SELECT 1 FROM sessions AS s WHERE s.user_id = u.id \
           AND (s.created_at >= {cut} OR s.updated_at >= {cut}))",
        db.text("u.id"),
        db.bool(true)
    ))
    .into_iter()
    .collect()
}

fn user_ids(db: &TestDb) -> BTreeSet<String> {
    db.ids("users", "id").into_iter().collect()
}

/// `user_id -> sorted row ids` of a child table.
fn child_ids(db: &TestDb, table: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in db.strings(&format!(
        "SELECT {} AS t FROM {table}",
        db.text(&if db.is_mysql() {
            "CONCAT(user_id, '|', id)".to_string()
        } else {
            "user_id || '|' || id".to_string()
        })
    )) {
        let (u, id) = row.split_once('|').unwrap();
        out.entry(u.to_string()).or_default().push(id.to_string());
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

fn json(r: &support::Run) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", r.all()))
}

fn run_json(db: &TestDb, args: &[&str]) -> Value {
    let mut all = vec!["run", "--as-of", AS_OF, "--format", "json"];
    all.extend_from_slice(args);
    let r = db.run(&all);
    assert_eq!(r.code, 0, "run {args:?}: {}", r.all());
    json(&r)
}

/// What an archive file holds: every complete line (a torn last line is left out).
struct Archive {
    header: Value,
    users: Vec<Value>,
    commits: Vec<Value>,
}

impl Archive {
    fn read(path: &Path) -> Archive {
        let raw = std::fs::read(path).unwrap();
        let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            // A gzip stream cut short (a killed run) ends in an error: keep what was decoded.
            let _ = flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out);
            out
        } else {
            raw
        };
        let text = String::from_utf8(bytes).expect("archive is UTF-8");
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        let mut header = Value::Null;
        let (mut users, mut commits) = (Vec::new(), Vec::new());
        for (n, line) in complete.lines().enumerate() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("archive line {} is not JSON ({e}): {line}", n + 1));
            match v["kind"].as_str() {
                Some("header") => {
                    assert_eq!(n, 0, "the header is line 1");
                    header = v;
                }
                Some("user") => users.push(v),
                Some("commit") => commits.push(v),
                other => panic!("unexpected record kind {other:?}: {line}"),
            }
        }
        Archive {
            header,
            users,
            commits,
        }
    }

    fn committed_batches(&self) -> BTreeSet<u64> {
        self.commits
            .iter()
            .map(|c| c["batch"].as_u64().unwrap())
            .collect()
    }

    /// Users of batches with (true) or without (false) a commit line.
    fn users_where_committed(&self, committed: bool) -> BTreeSet<String> {
        let done = self.committed_batches();
        self.users
            .iter()
            .filter(|u| done.contains(&u["batch"].as_u64().unwrap()) == committed)
            .map(|u| u["user_id"].as_str().unwrap().to_string())
            .collect()
    }

    fn user_ids(&self) -> BTreeSet<String> {
        self.users
            .iter()
            .map(|u| u["user_id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// Row ids of `table` in a user record.
fn record_rows(record: &Value, table: &str) -> Vec<String> {
    let mut ids: Vec<String> = record["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["table"] == table)
        .flat_map(|t| t["rows"].as_array().unwrap().iter())
        .map(|r| match &r["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    ids.sort();
    ids
}

/// The one file in `dir`.
fn only_file(dir: &Path) -> Option<PathBuf> {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .map(|e| e.unwrap().path())
        .collect();
    assert!(files.len() <= 1, "one archive file per run: {files:?}");
    files.into_iter().next()
}

/// The file's name, mode and header, and that its user records are exactly the deleted users
/// with exactly their rows (as they were before the run), each in a committed batch.
#[allow(clippy::too_many_arguments)]
fn check_file(
    db: &TestDb,
    path: &Path,
    out: &Value,
    compress: bool,
    deleted: &BTreeSet<String>,
    sessions: &BTreeMap<String, Vec<String>>,
    accounts: &BTreeMap<String, Vec<String>>,
) {
    let run_id = out["run_id"].as_str().unwrap();
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    let ext = if compress { ".jsonl.gz" } else { ".jsonl" };
    let stamp = name
        .strip_prefix("anonsweep-archive-")
        .and_then(|n| n.strip_suffix(ext))
        .and_then(|n| n.strip_suffix(&format!("-{}", &run_id[..8])))
        .unwrap_or_else(|| panic!("file name {name}: anonsweep-archive-<time>-<run8>{ext}"));
    assert!(
        stamp.len() == 16 && stamp.as_bytes()[8] == b'T' && stamp.ends_with('Z'),
        "UTC time in the name: {name}"
    );
    assert_eq!(
        out["archive"].as_str().map(Path::new),
        Some(path),
        "the summary names the file"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
    }
    let raw = std::fs::read(path).unwrap();
    assert_eq!(
        raw.starts_with(&[0x1f, 0x8b]),
        compress,
        "gzip exactly with --archive-compress"
    );

    let a = Archive::read(path);
    let h = &a.header;
    assert_eq!(h["format"], "anonsweep-archive/1");
    assert_eq!(h["run_id"], run_id);
    assert_eq!(h["backend"], backend_name(db));
    assert_eq!(h["users_table"], "users");
    assert_eq!(
        h["delete_order"],
        serde_json::json!(["sessions", "accounts", "users"])
    );

    assert_eq!(&a.user_ids(), deleted, "one record per deleted user");
    assert_eq!(a.users.len(), deleted.len(), "no user archived twice");
    assert!(
        a.users_where_committed(false).is_empty(),
        "every batch has its commit line"
    );
    let committed: u64 = a.commits.iter().map(|c| c["users"].as_u64().unwrap()).sum();
    assert_eq!(committed, deleted.len() as u64);
    for u in &a.users {
        let id = u["user_id"].as_str().unwrap();
        assert_eq!(u["run_id"], run_id);
        let order: Vec<&str> = u["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["table"].as_str().unwrap())
            .collect();
        assert_eq!(order.last(), Some(&"users"), "users last: {order:?}");
        let pos = |t: &str| order.iter().position(|o| *o == t);
        assert!(
            pos("sessions").unwrap_or(0) <= pos("accounts").unwrap_or(order.len()),
            "delete order: {order:?}"
        );
        assert_eq!(record_rows(u, "users"), vec![id.to_string()]);
        let none = Vec::new();
        assert_eq!(
            &record_rows(u, "sessions"),
            sessions.get(id).unwrap_or(&none),
            "sessions of {id}"
        );
        assert_eq!(
            &record_rows(u, "accounts"),
            accounts.get(id).unwrap_or(&none),
            "accounts of {id}"
        );
    }
}

/// Runs `restore ARGS --format json`, expecting exit 0.
fn restore(db: &TestDb, args: &[&str]) -> Value {
    let mut all = vec!["restore", "--format", "json"];
    all.extend_from_slice(args);
    let r = db.run(&all);
    assert_eq!(r.code, 0, "restore {args:?}: {}", r.all());
    json(&r)
}

backend_test!(
    file_archive_then_restore_gives_back_the_original_database,
    |db: TestDb| {
        demo(&db, 300);
        let copy = db.copy();
        for (db, compress) in [(&db, false), (&copy, true)] {
            let what = format!(
                "{} {}",
                backend_name(db),
                if compress { "gzip" } else { "plain" }
            );
            let before = db.fingerprint(DEMO_TABLES);
            let users_before = user_ids(db);
            let eligible = eligible_at(db, CUTOFF);
            assert!(eligible.len() > 20, "{what}: the demo has eligible users");
            let (sessions, accounts) = (child_ids(db, "sessions"), child_ids(db, "accounts"));

            let scratch = support::scratch();
            let dir = scratch.path().join("archives");
            let dir_s = dir.to_str().unwrap();
            let mut args = vec!["--archive-dir", dir_s, "--batch-size", "7"];
            if compress {
                args.push("--archive-compress");
            }
            let out = run_json(db, &args);
            let after = user_ids(db);
            let deleted: BTreeSet<String> = users_before.difference(&after).cloned().collect();
            assert_eq!(deleted, eligible, "{what}: exactly the eligible users went");
            assert_eq!(out["deleted_users"], eligible.len() as u64);
            assert!(
                out["batches"].as_u64().unwrap() > 1,
                "{what}: several batches"
            );

            let path = only_file(&dir).expect("an archive file");
            check_file(db, &path, &out, compress, &deleted, &sessions, &accounts);

            let p = path.to_str().unwrap();
            let r = restore(db, &["--archive", p]);
            assert_eq!(r["users"], eligible.len() as u64, "{what}: {r}");
            assert_eq!(r["not_deleted"], serde_json::json!([]));
            assert_eq!(
                db.fingerprint(DEMO_TABLES),
                before,
                "{what}: restore gives back the original database"
            );
        }
    }
);

backend_test!(
    table_archive_then_restore_from_table_gives_back_the_original_database,
    |db: TestDb| {
        let what = backend_name(&db);
        demo(&db, 300);
        let before = db.fingerprint(DEMO_TABLES);

        // Two runs: 60 days, then 30 days of retention.
        let first = eligible_at(&db, CUTOFF_60);
        let out1 = run_json(&db, &["--retention-days", "60", "--archive-to-table"]);
        let after_first = user_ids(&db);
        let second = eligible_at(&db, CUTOFF);
        let out2 = run_json(&db, &["--archive-to-table", "--batch-size", "9"]);
        assert!(
            !first.is_empty() && !second.is_empty(),
            "{what}: both runs delete"
        );
        assert!(
            first.is_disjoint(&user_ids(&db)) && second.is_disjoint(&user_ids(&db)),
            "{what}: both runs deleted their users"
        );
        let (run1, run2) = (
            out1["run_id"].as_str().unwrap(),
            out2["run_id"].as_str().unwrap(),
        );

        // The archive table holds one record per deleted user, with the run and the user's rows.
        for (run, users) in [(run1, &first), (run2, &second)] {
            let rows = db.strings(&format!(
                "SELECT record AS t FROM anonsweep_archive WHERE run_id = '{run}'"
            ));
            let ids: BTreeSet<String> = rows
                .iter()
                .map(|r| {
                    let v: Value = serde_json::from_str(r).unwrap();
                    assert_eq!(v["kind"], "user");
                    assert_eq!(v["run_id"], run);
                    assert_eq!(
                        v["tables"].as_array().unwrap().last().unwrap()["table"],
                        "users"
                    );
                    v["user_id"].as_str().unwrap().to_string()
                })
                .collect();
            assert_eq!(&ids, users, "{what}: records of run {run}");
            assert_eq!(rows.len(), users.len());
            let col_ids: BTreeSet<String> = db
                .strings(&format!(
                    "SELECT user_id AS t FROM anonsweep_archive WHERE run_id = '{run}'"
                ))
                .into_iter()
                .collect();
            assert_eq!(&col_ids, users, "{what}: user_id column");
        }

        // Only the second run's users.
        let r = restore(&db, &["--from-table", "--run", run2]);
        assert_eq!(r["users"], second.len() as u64, "{what}: {r}");
        assert_eq!(
            user_ids(&db),
            after_first,
            "{what}: run 2 undone, run 1 not"
        );

        // Every run: the second run's users exist again, so it refuses and restores nothing.
        let mid = db.fingerprint(DEMO_TABLES);
        let r = db.run(&["restore", "--from-table"]);
        assert_eq!(r.code, 2, "{what}: {}", r.all());
        assert!(
            r.stderr.contains("exist in the database again"),
            "{}",
            r.stderr
        );
        assert_eq!(db.fingerprint(DEMO_TABLES), mid, "{what}: nothing restored");

        let r = restore(&db, &["--from-table", "--run", run1]);
        assert_eq!(r["users"], first.len() as u64);
        assert_eq!(
            db.fingerprint(DEMO_TABLES),
            before,
            "{what}: both runs undone: the original database"
        );
        assert_eq!(
            db.count("anonsweep_archive"),
            (first.len() + second.len()) as u64,
            "{what}: restore keeps the archive"
        );
    }
);

/// PostgreSQL with types that do not survive a careless round trip: uuid ids, timestamptz with
/// microseconds, jsonb, numeric with a scale, NULLs, quotes and unicode, bytea, arrays, an enum,
/// interval, inet, a mixed-case column name with a space, a generated column, an identity
/// column on a child table, and a table that only cascades from sessions.
fn pg_awkward_schema(db: &TestDb) {
    db.exec(
        r#"
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE users (
  id uuid PRIMARY KEY, is_anonymous boolean, created_at timestamptz,
  "Display Name" text, balance numeric(12,4), profile jsonb, avatar bytea, tags text[],
  m mood, born date, nap interval, wake time, last_ip inet, score float8, big bigint,
  name_len int GENERATED ALWAYS AS (length("Display Name")) STORED);
CREATE TABLE sessions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id),
  created_at timestamptz, updated_at timestamptz, user_agent text);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE TABLE accounts (id uuid PRIMARY KEY, user_id uuid NOT NULL REFERENCES users (id),
  provider text, meta jsonb);
CREATE TABLE session_events (
  id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  session_id bigint NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  payload jsonb, at timestamptz);

INSERT INTO users VALUES
 ('00000000-0000-4000-8000-000000000001', TRUE, '2026-01-01 00:00:00.123456+00',
  E'O''Brien "Bob" \\ \u00fc \U0001F600\nline 2', 1234.5600,
  '{"k": [1, "x", null], "s": "\u00fc", "nested": {"deep": [true, false]}}', '\x00ff10',
  ARRAY['a', NULL, 'b"c'], 'sad', '2000-02-29', '1 day 02:03:04', '23:59:59.5',
  '192.168.0.1/24', 1e-300, 9007199254740993, DEFAULT),
 ('00000000-0000-4000-8000-000000000002', TRUE, '2026-02-01 12:00:00+00',
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, DEFAULT),
 ('00000000-0000-4000-8000-000000000003', TRUE, '2026-03-01 00:00:00+00',
  '', 0, '{}', '', '{}', 'happy', '1970-01-01', '0', '00:00', '::1', -0.5, -1, DEFAULT),
 -- Anonymous but active: kept.
 ('00000000-0000-4000-8000-000000000004', TRUE, '2026-01-01 00:00:00+00',
  'active', 1, '{"a": 1}', '\x01', ARRAY['x'], 'happy', NULL, NULL, NULL, NULL, 1, 1, DEFAULT),
 -- Registered: kept.
 ('00000000-0000-4000-8000-000000000005', FALSE, '2026-01-01 00:00:00+00',
  'registered', 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2, 2, DEFAULT);
INSERT INTO sessions (user_id, created_at, updated_at, user_agent) VALUES
 ('00000000-0000-4000-8000-000000000001', '2026-01-02 00:00:00+00', '2026-01-03 00:00:00.5+00', 'Mozilla/5.0 "x"'),
 ('00000000-0000-4000-8000-000000000001', '2026-02-02 00:00:00+00', '2026-10-26 23:59:59.999999+00', E'tab\there'),
 ('00000000-0000-4000-8000-000000000002', '2026-02-02 00:00:00+00', NULL, NULL),
 ('00000000-0000-4000-8000-000000000004', '2026-11-20 00:00:00+00', '2026-11-20 00:00:00+00', 'recent'),
 ('00000000-0000-4000-8000-000000000005', '2026-01-02 00:00:00+00', '2026-01-02 00:00:00+00', 'old');
INSERT INTO session_events (session_id, payload, at) VALUES
 (1, '{"a": 1}', '2026-01-02 00:00:00+00'), (1, NULL, NULL), (3, '[1, 2, 3]', '2026-02-02 00:00:00+00'),
 (4, '{"kept": true}', NULL);
INSERT INTO accounts VALUES
 ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-000000000001', 'anonymous', '{"x": true}'),
 ('00000000-0000-4000-8000-0000000000a3', '00000000-0000-4000-8000-000000000003', 'anonymous', NULL),
 ('00000000-0000-4000-8000-0000000000a5', '00000000-0000-4000-8000-000000000005', 'credential', NULL);
"#,
    );
}

const PG_AWKWARD_TABLES: &[&str] = &["users", "sessions", "accounts", "session_events"];

backend_test!(
    pg_awkward_types_round_trip_through_a_file_and_the_table,
    [postgres],
    |db: TestDb| {
        pg_awkward_schema(&db);
        let copy = db.copy();
        let before = db.fingerprint(PG_AWKWARD_TABLES);
        let kept: BTreeSet<String> = [
            "00000000-0000-4000-8000-000000000004",
            "00000000-0000-4000-8000-000000000005",
        ]
        .into_iter()
        .map(String::from)
        .collect();

        // A file.
        let scratch = support::scratch();
        let dir = scratch.path().join("a");
        let out = run_json(&db, &["--archive-dir", dir.to_str().unwrap()]);
        assert_eq!(out["deleted_users"], 3, "{out}");
        assert_eq!(user_ids(&db), kept);
        assert_eq!(db.count("session_events"), 1, "cascading rows went too");
        let path = only_file(&dir).unwrap();
        let a = Archive::read(&path);
        assert_eq!(
            a.header["delete_order"],
            serde_json::json!(["accounts", "session_events", "sessions", "users"])
        );
        let first = a
            .users
            .iter()
            .find(|u| u["user_id"] == "00000000-0000-4000-8000-000000000001")
            .unwrap();
        assert_eq!(record_rows(first, "session_events"), vec!["1", "2"]);
        let users_row = &first["tables"].as_array().unwrap().last().unwrap()["rows"][0];
        assert!(
            users_row["profile"].is_object(),
            "jsonb stays JSON: {users_row}"
        );
        assert_eq!(users_row["avatar"], "\\x00ff10");
        let r = restore(&db, &["--archive", path.to_str().unwrap()]);
        assert_eq!(r["users"], 3, "{r}");
        assert_eq!(
            db.fingerprint(PG_AWKWARD_TABLES),
            before,
            "file: the original database"
        );

        // The table.
        let out = run_json(&copy, &["--archive-to-table"]);
        assert_eq!(out["deleted_users"], 3);
        assert_eq!(user_ids(&copy), kept);
        let r = restore(&copy, &["--from-table"]);
        assert_eq!(r["users"], 3, "{r}");
        assert_eq!(
            copy.fingerprint(PG_AWKWARD_TABLES),
            before,
            "table: the original database"
        );
    }
);

backend_test!(
    restore_one_user_and_refuse_when_an_archived_user_exists_again,
    |db: TestDb| {
        let what = backend_name(&db);
        population(&db, 6);
        let before = db.fingerprint(TABLES);
        // What the database should look like with only e002 restored.
        let expected = db.copy();
        let scratch = support::scratch();
        let dir = scratch.path().join("a");
        let out = run_json(
            &db,
            &["--archive-dir", dir.to_str().unwrap(), "--batch-size", "4"],
        );
        assert_eq!(out["deleted_users"], 6, "{what}: {out}");
        let file = only_file(&dir).unwrap();
        let file = file.to_str().unwrap();
        for id in ["e000", "e001", "e003", "e004", "e005"] {
            expected.exec(&format!(
                "DELETE FROM sessions WHERE user_id = '{id}'; DELETE FROM accounts WHERE user_id = '{id}'; DELETE FROM users WHERE id = '{id}'"
            ));
        }

        // One user, with all its rows, and nobody else.
        let r = restore(&db, &["--archive", file, "--user", "e002"]);
        assert_eq!(r["users"], 1, "{what}: {r}");
        assert_eq!(
            db.fingerprint(TABLES),
            expected.fingerprint(TABLES),
            "{what}: e002 and its rows are back, nobody else"
        );

        // Everyone: e002 exists again, so nothing is restored.
        let r = db.run(&["restore", "--archive", file]);
        assert_eq!(r.code, 2, "{what}: {}", r.all());
        assert!(
            r.stderr.contains("e002") && r.stderr.contains("exist in the database again"),
            "{what}: names the user: {}",
            r.stderr
        );
        assert_eq!(db.fingerprint(TABLES), expected.fingerprint(TABLES));

        // The application re-created e004 meanwhile: a restore that includes it restores nothing,
        // not even e000.
        db.exec(&format!(
            "INSERT INTO users VALUES ('e004', {}, {})",
            db.bool(true),
            db.ts("2026-11-25 00:00:00")
        ));
        let mid = db.fingerprint(TABLES);
        let r = db.run(&[
            "restore",
            "--archive",
            file,
            "--user",
            "e000",
            "--user",
            "e004",
        ]);
        assert_eq!(r.code, 2, "{what}: {}", r.all());
        assert!(r.stderr.contains("e004"), "{}", r.stderr);
        assert_eq!(
            db.fingerprint(TABLES),
            mid,
            "{what}: e000 not restored either"
        );

        // An id the archive does not hold.
        let r = db.run(&["restore", "--archive", file, "--user", "nobody"]);
        assert_eq!(r.code, 2, "{what}: {}", r.all());
        assert_eq!(db.fingerprint(TABLES), mid);

        // Without the new e004, the rest comes back: the original database.
        db.exec("DELETE FROM users WHERE id = 'e004'");
        let r = restore(
            &db,
            &[
                "--archive",
                file,
                "--user",
                "e000",
                "--user",
                "e001",
                "--user",
                "e003",
                "--user",
                "e004",
                "--user",
                "e005",
            ],
        );
        assert_eq!(r["users"], 5, "{what}: {r}");
        assert_eq!(
            db.fingerprint(TABLES),
            before,
            "{what}: the original database"
        );
    }
);

// A SQLite archive restored into PostgreSQL (the backend in the test's path is the target).
backend_test!(
    restore_refuses_an_archive_from_another_kind_of_database,
    [postgres],
    |pg: TestDb| {
        let sqlite = TestDb::sqlite();
        population(&sqlite, 3);
        let scratch = support::scratch();
        let dir = scratch.path().join("a");
        run_json(&sqlite, &["--archive-dir", dir.to_str().unwrap()]);
        let file = only_file(&dir).unwrap();

        population(&pg, 3);
        pg.exec("DELETE FROM sessions WHERE user_id LIKE 'e%'; DELETE FROM accounts WHERE user_id LIKE 'e%'; DELETE FROM users WHERE id LIKE 'e%'");
        let before = pg.fingerprint(TABLES);
        let r = pg.run(&["restore", "--archive", file.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(r.stderr.contains("sqlite"), "{}", r.stderr);
        assert_eq!(pg.fingerprint(TABLES), before);
    }
);

/// Starts `run --archive-dir DIR --batch-size 5` with a pause between each batch's archive and
/// its commit, kills it (SIGKILL) once two batches have committed and a third is archived, then
/// checks that nothing was lost and that `restore` gives back the original database. `extra`:
/// more `run` options (the workers tests pass `--workers`).
pub(crate) fn killed_run(db: &TestDb, compress: bool, extra: &[&str]) {
    let what = format!(
        "{} {}",
        backend_name(db),
        if compress { "gzip" } else { "plain" }
    );
    population(db, 50);
    let before = db.fingerprint(TABLES);
    let (sessions, accounts) = (child_ids(db, "sessions"), child_ids(db, "accounts"));
    let eligible = eligible_ids(50);
    assert_eq!(eligible_at(db, CUTOFF), eligible);

    let scratch = support::scratch();
    let dir = scratch.path().join("archives");
    let log = scratch.path().join("run.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anonsweep"));
    cmd.args([
        "run",
        "--as-of",
        AS_OF,
        "--batch-size",
        "5",
        // Fixed batches: the pause before each commit must not shrink them.
        "--target-batch-ms",
        "0",
        "--archive-dir",
        dir.to_str().unwrap(),
    ]);
    if compress {
        cmd.arg("--archive-compress");
    }
    cmd.args(extra);
    cmd.current_dir(scratch.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(scratch.path().join("run.out")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, _) in std::env::vars() {
        if k == "DATABASE_URL" || k.starts_with("ANONSWEEP_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("DATABASE_URL", db.url())
        .env("ANONSWEEP_FAULT_PAUSE_BEFORE_COMMIT_MS", "400");
    let mut child = cmd.spawn().expect("start anonsweep run");

    let deadline = Instant::now() + Duration::from_secs(30);
    let path = loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "{what}: the run ended ({status}) before it was killed:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if let Some(p) = only_file(&dir) {
            let a = Archive::read(&p);
            if a.committed_batches().len() >= 2 && !a.users_where_committed(false).is_empty() {
                break p;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no third batch archived in time"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().expect("SIGKILL");
    child.wait().unwrap();

    let a = Archive::read(&path);
    let committed = a.users_where_committed(true);
    let in_flight = a.users_where_committed(false);
    let remaining = user_ids(db);
    let missing: BTreeSet<String> = eligible.difference(&remaining).cloned().collect();
    assert!(
        remaining.is_superset(
            &["a0", "a1", "r0", "r1"]
                .into_iter()
                .map(String::from)
                .collect()
        ),
        "{what}: only eligible users were deleted: {remaining:?}"
    );
    assert!(committed.len() >= 10, "{what}: two batches committed");
    assert!(
        committed.is_subset(&missing),
        "{what}: users of committed batches are deleted"
    );
    assert!(
        missing.is_subset(&a.user_ids()),
        "{what}: every deleted user is in the archive: missing {:?}",
        missing.difference(&a.user_ids()).collect::<Vec<_>>()
    );
    assert!(!in_flight.is_empty());
    assert!(
        in_flight.is_subset(&remaining),
        "{what}: the in-flight batch never committed: its users are still here"
    );
    let now_sessions = child_ids(db, "sessions");
    for u in &missing {
        assert!(!now_sessions.contains_key(u), "{what}: {u}'s sessions went");
    }
    for u in &in_flight {
        assert_eq!(
            now_sessions.get(u),
            sessions.get(u),
            "{what}: {u}'s sessions stayed"
        );
    }
    // Each archived user has exactly its rows.
    for r in &a.users {
        let id = r["user_id"].as_str().unwrap();
        let none = Vec::new();
        assert_eq!(
            &record_rows(r, "sessions"),
            sessions.get(id).unwrap_or(&none)
        );
        assert_eq!(
            &record_rows(r, "accounts"),
            accounts.get(id).unwrap_or(&none)
        );
    }

    let r = restore(db, &["--archive", path.to_str().unwrap()]);
    assert_eq!(r["users"], missing.len() as u64, "{what}: {r}");
    let not_deleted: BTreeSet<String> = r["not_deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        not_deleted, in_flight,
        "{what}: the in-flight users are reported as not deleted"
    );
    assert_eq!(
        db.fingerprint(TABLES),
        before,
        "{what}: the original database"
    );
}

backend_test!(
    sigkill_between_archive_and_commit,
    [sqlite, postgres],
    |db: &TestDb| killed_run(db, false, &[])
);

backend_test!(
    sigkill_between_archive_and_commit_gzip,
    [sqlite],
    |db: &TestDb| killed_run(db, true, &[])
);

// ---------------------------------------------------------------------------------------------
// Exact values. "restore puts users back with their original ids and values" (README); these
// check values a JSON round trip through f64 or a sorted map would change.

backend_test!(
    pg_numeric_and_json_values_round_trip_exactly,
    [postgres],
    |db: TestDb| {
        db.exec(
        r#"
CREATE TABLE users (id text PRIMARY KEY, is_anonymous boolean, created_at timestamptz,
  amount numeric, huge numeric, doc json, data jsonb);
CREATE TABLE sessions (id text PRIMARY KEY, user_id text NOT NULL REFERENCES users (id),
  created_at timestamptz, updated_at timestamptz);
CREATE TABLE accounts (id text PRIMARY KEY, user_id text NOT NULL REFERENCES users (id), provider text);
INSERT INTO users VALUES
  ('n1', TRUE, '2026-01-01 00:00:00+00', 1.50, 12345678901234567890.123456789, '{"b": 1, "a": 2}', '{"price": 1.10}'),
  ('n2', TRUE, '2026-01-01 00:00:00+00', 0.1, 3.141592653589793238462643383279, '[1, 2]', '{"big": 123456789012345678901234567890}');
"#,
    );
        assert_round_trip(&db, 2, "numeric and json values come back exactly");
    }
);

/// Archive to a file with `run`, expecting `deleted` users gone, restore the file, and require
/// every table to be back exactly as before.
fn assert_round_trip(db: &TestDb, deleted: u64, what: &str) {
    let before = db.fingerprint(TABLES);
    let scratch = support::scratch();
    let dir = scratch.path().join("a");
    let out = run_json(db, &["--archive-dir", dir.to_str().unwrap()]);
    assert_eq!(out["deleted_users"], deleted);
    restore(
        db,
        &["--archive", only_file(&dir).unwrap().to_str().unwrap()],
    );
    assert_eq!(db.fingerprint(TABLES), before, "{what}");
}

#[test]
fn sqlite_real_values_round_trip_exactly() {
    let db = TestDb::sqlite();
    db.exec(&support::default_schema(&db, "TEXT", "TEXT", false));
    db.exec("ALTER TABLE users ADD COLUMN score REAL");
    db.exec(
        "INSERT INTO users VALUES ('f1', 1, '2026-01-01T00:00:00.000Z', 0.1 + 0.2);
         INSERT INTO users VALUES ('f2', 1, '2026-01-01T00:00:00.000Z', 1.0 / 3.0);
         INSERT INTO users VALUES ('f3', 1, '2026-01-01T00:00:00.000Z', 2.5);",
    );
    assert_round_trip(&db, 3, "REAL values come back exactly");
}

#[test]
fn mysql_decimal_and_json_values_round_trip_exactly() {
    let db = TestDb::mysql();
    db.exec(&support::default_schema(&db, "TEXT", "TEXT", false));
    db.exec("ALTER TABLE users ADD COLUMN amount DECIMAL(30,10) NULL, ADD COLUMN doc JSON NULL");
    db.exec(
        r#"INSERT INTO users VALUES ('d1', TRUE, '2026-01-01 00:00:00', 12345678901234567890.1234567890, '{"b": 1, "a": 2}');
           INSERT INTO users VALUES ('d2', TRUE, '2026-01-01 00:00:00', 0.1000000001, '[1, 2]')"#,
    );
    assert_round_trip(&db, 2, "DECIMAL and JSON values come back exactly");
}

/// MySQL/MariaDB, text with accents and emoji (utf8mb4), fractional datetimes and times: no
/// binary column in the table.
#[test]
fn mysql_text_and_times_round_trip() {
    let db = TestDb::mysql();
    db.exec(&support::default_schema(&db, "TEXT", "TEXT", false));
    db.exec(
        "ALTER TABLE users ADD COLUMN note TEXT CHARACTER SET utf8mb4 NULL, \
         ADD COLUMN seen DATETIME(6) NULL, ADD COLUMN wake TIME NULL, ADD COLUMN score DOUBLE NULL",
    );
    db.exec(
        "INSERT INTO users VALUES ('m1', TRUE, '2026-01-01 00:00:00.123', \
           CONCAT('O''Brien \"Bob\" ', CHAR(0xC3BC USING utf8mb4), ' ', CHAR(0xF09F9880 USING utf8mb4)), \
           '2026-01-02 03:04:05.678901', '12:34:56', 0.5);
         INSERT INTO users VALUES ('m2', TRUE, '2026-01-01 00:00:00', NULL, NULL, NULL, NULL);
         INSERT INTO sessions VALUES ('sm1', 'm1', '2026-01-02 00:00:00', '2026-10-26 23:59:59.999');
         INSERT INTO accounts VALUES ('am1', 'm1', 'anonymous')",
    );
    let before = db.fingerprint(TABLES);
    let scratch = support::scratch();
    let dir = scratch.path().join("a");
    let out = run_json(&db, &["--archive-dir", dir.to_str().unwrap()]);
    assert_eq!(out["deleted_users"], 2, "{out}");
    assert_eq!(db.count("users"), 0);
    restore(
        &db,
        &["--archive", only_file(&dir).unwrap().to_str().unwrap()],
    );
    assert_eq!(db.fingerprint(TABLES), before);
}

/// MySQL/MariaDB: a table with a binary column (here NULL in every row) next to non-ASCII text.
#[test]
fn mysql_non_ascii_text_in_a_table_with_a_blob_column_is_archived() {
    let db = TestDb::mysql();
    db.exec(&support::default_schema(&db, "TEXT", "TEXT", false));
    db.exec(
        "ALTER TABLE users ADD COLUMN note TEXT CHARACTER SET utf8mb4 NULL, ADD COLUMN avatar BLOB NULL",
    );
    db.exec(
        "INSERT INTO users VALUES ('b1', TRUE, '2026-01-01 00:00:00', CONCAT('M', CHAR(0xC3BC USING utf8mb4), 'ller'), NULL);
         INSERT INTO users VALUES ('b2', TRUE, '2026-01-01 00:00:00', CONCAT('smile ', CHAR(0xF09F9880 USING utf8mb4)), NULL);
         INSERT INTO users VALUES ('b3', TRUE, '2026-01-01 00:00:00', 'plain', NULL)",
    );
    let before = db.fingerprint(TABLES);
    let scratch = support::scratch();
    let dir = scratch.path().join("a");
    let r = db.run(&[
        "run",
        "--as-of",
        AS_OF,
        "--format",
        "json",
        "--archive-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        r.code,
        0,
        "every eligible user is archived and deleted: {}",
        r.all()
    );
    assert_eq!(db.count("users"), 0);
    restore(
        &db,
        &["--archive", only_file(&dir).unwrap().to_str().unwrap()],
    );
    assert_eq!(db.fingerprint(TABLES), before);
}

// A user that cannot be deleted (a registered user's `invited_by` points at it, checked at
// commit: a deferred foreign key) fails alone: its batch attempts were archived, then the commit
// failed (no commit line). `restore` puts back the users that went and reports the failed one
// as not deleted.
backend_test!(
    a_failed_user_is_archived_without_a_commit_and_restore_skips_it,
    [sqlite, postgres],
    |db: TestDb| {
        let what = backend_name(&db);
        population(&db, 8);
        db.exec(
            "ALTER TABLE users ADD COLUMN invited_by TEXT REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED;
             UPDATE users SET invited_by = 'e005' WHERE id = 'r0';",
        );
        let before = db.fingerprint(TABLES);
        let scratch = support::scratch();
        let dir = scratch.path().join("a");
        let r = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--batch-size",
            "4",
            "--format",
            "json",
            "--archive-dir",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 3, "{what}: one user failed\n{}", r.all());
        let out = json(&r);
        assert_eq!(out["failed"][0]["user_id"], "e005", "{what}: {out}");
        assert_eq!(out["deleted_users"], 7);
        let mut left = eligible_ids(8);
        left.retain(|u| u == "e005");
        assert!(user_ids(&db).is_superset(&left));
        assert_eq!(eligible_at(&db, CUTOFF), left, "{what}: only e005 is left");

        let path = only_file(&dir).unwrap();
        let a = Archive::read(&path);
        let committed = a.users_where_committed(true);
        assert_eq!(
            committed,
            eligible_ids(8)
                .into_iter()
                .filter(|u| u != "e005")
                .collect::<BTreeSet<_>>(),
            "{what}: the deleted users are in committed batches"
        );
        assert!(
            a.users_where_committed(false).contains("e005"),
            "{what}: e005 was archived in attempts that rolled back"
        );

        let r = restore(&db, &["--archive", path.to_str().unwrap()]);
        assert_eq!(r["users"], 7, "{what}: {r}");
        assert_eq!(r["not_deleted"], serde_json::json!(["e005"]), "{what}: {r}");
        assert_eq!(
            db.fingerprint(TABLES),
            before,
            "{what}: the original database"
        );
    }
);

// An archive directory that cannot be created stops the run before anything is deleted.
backend_test!(
    a_run_that_cannot_create_its_archive_deletes_nothing,
    [sqlite, postgres],
    |db: TestDb| {
        let what = backend_name(&db);
        population(&db, 5);
        let before = db.fingerprint(TABLES);
        let scratch = support::scratch();
        let blocker = scratch.path().join("not-a-dir");
        std::fs::write(&blocker, "a file").unwrap();
        let dir = blocker.join("archives");
        let r = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--archive-dir",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(
            r.code,
            1,
            "{what}: an error before anything is deleted\n{}",
            r.all()
        );
        assert!(r.stderr.contains("--archive-dir"), "{what}: {}", r.stderr);
        assert_eq!(db.fingerprint(TABLES), before, "{what}: nothing deleted");
    }
);

// ---------------------------------------------------------------------------------------------
// Restore: which run (`--run` takes the full id or a unique prefix such as the 8 characters in
// an archive file's name), `--skip-existing`, a row that cannot be restored, thousands of users.

/// The users and child rows of the population as they are now, for `ids` only.
fn rows_of(db: &TestDb, ids: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in ["sessions", "accounts"] {
        for (u, rows) in child_ids(db, t) {
            if ids.contains(&u) {
                out.push(format!("{t} {u} {rows:?}"));
            }
        }
    }
    out.extend(user_ids(db).intersection(ids).map(|u| format!("users {u}")));
    out.sort();
    out
}

backend_test!(
    restore_from_table_picks_the_run_by_id_or_unique_prefix,
    |db: TestDb| {
        let what = backend_name(&db);
        population(&db, 12);
        let before = db.fingerprint(TABLES);
        let all_before = rows_of(&db, &user_ids(&db));
        // 60 days of retention takes the odd users (their last session is in May), 30 days the
        // even ones (a session updated the second before the cutoff).
        let first = eligible_at(&db, CUTOFF_60);
        let out1 = run_json(&db, &["--retention-days", "60", "--archive-to-table"]);
        let second = eligible_at(&db, CUTOFF);
        let out2 = run_json(&db, &["--archive-to-table"]);
        assert!(
            first.len() == 6 && second.len() == 6,
            "{what}: {first:?} {second:?}"
        );
        assert!(first.is_disjoint(&second));
        let (run1, run2) = (
            out1["run_id"].as_str().unwrap().to_string(),
            out2["run_id"].as_str().unwrap().to_string(),
        );
        let after_both = db.fingerprint(TABLES);

        // An id no run has: exit 2, naming --run and the value, listing the runs; nothing restored.
        let r = db.run(&["restore", "--from-table", "--run", "0badc0de"]);
        assert_eq!(r.code, 2, "{what}: {}", r.all());
        assert!(
            r.stderr.contains("--run 0badc0de")
                && r.stderr.contains(&run1)
                && r.stderr.contains(&run2),
            "{what}: names the flag, the value and the runs there are: {}",
            r.stderr
        );
        assert_eq!(
            r.stderr.trim().lines().count(),
            1,
            "{what}: one line: {}",
            r.stderr
        );
        assert_eq!(
            db.fingerprint(TABLES),
            after_both,
            "{what}: nothing restored"
        );

        // The short id (as in an archive file's name): exactly that run's users come back, with
        // their rows; the other run's users stay deleted.
        let r = restore(&db, &["--from-table", "--run", &run2[..8]]);
        assert_eq!(r["users"], 6, "{what}: {r}");
        assert_eq!(
            user_ids(&db).intersection(&first).count(),
            0,
            "{what}: the first run's users are still deleted"
        );
        assert!(
            user_ids(&db).is_superset(&second),
            "{what}: the second run's users are back"
        );
        let back: BTreeSet<String> = user_ids(&db);
        assert_eq!(
            rows_of(&db, &back),
            all_before
                .iter()
                .filter(|l| !first
                    .iter()
                    .any(|u| l.split(' ').nth(1) == Some(u.as_str())))
                .cloned()
                .collect::<Vec<_>>(),
            "{what}: the second run's users have exactly their rows again"
        );

        // A prefix two runs share: exit 2, naming both; nothing restored.
        let twin = format!("{}-ffff-4fff-8fff-ffffffffffff", &run1[..8]);
        assert_ne!(twin, run1);
        db.exec(&format!(
            "INSERT INTO anonsweep_archive (run_id, batch, user_id, archived_at, record) \
         VALUES ('{twin}', 1, 'nobody', '2026-01-01T00:00:00.000Z', '{{}}')"
        ));
        let mid = db.fingerprint(TABLES);
        let r = db.run(&["restore", "--from-table", "--run", &run1[..6]]);
        assert_eq!(r.code, 2, "{what}: {}", r.all());
        assert!(
            r.stderr.contains(&run1) && r.stderr.contains(&twin) && r.stderr.contains("--run"),
            "{what}: names the candidates: {}",
            r.stderr
        );
        assert_eq!(db.fingerprint(TABLES), mid, "{what}: nothing restored");
        db.exec(&format!(
            "DELETE FROM anonsweep_archive WHERE run_id = '{twin}'"
        ));

        // The full id: the first run is back too, the original database.
        let r = restore(&db, &["--from-table", "--run", &run1]);
        assert_eq!(r["users"], 6, "{what}: {r}");
        assert_eq!(
            db.fingerprint(TABLES),
            before,
            "{what}: the original database"
        );

        // An empty archive table: the message says so.
        db.exec("DELETE FROM anonsweep_archive");
        let r = db.run(&["restore", "--from-table", "--run", &run1[..8]]);
        assert_eq!(r.code, 2, "{what}: {}", r.all());
        assert!(r.stderr.contains("holds no runs"), "{what}: {}", r.stderr);
    }
);

backend_test!(
    skip_existing_restores_the_others_and_leaves_the_existing_as_they_are,
    |db: TestDb| {
        let what = backend_name(&db);
        population(&db, 6);
        let original = rows_of(&db, &eligible_ids(6));
        let scratch = support::scratch();
        let dir = scratch.path().join("a");
        let out = run_json(
            &db,
            &["--archive-dir", dir.to_str().unwrap(), "--batch-size", "4"],
        );
        assert_eq!(out["deleted_users"], 6, "{what}: {out}");
        let file = only_file(&dir).unwrap();
        let file = file.to_str().unwrap();

        // The application re-created e002 (registered now) and e004 (with a new session).
        let (f, t) = (db.bool(false), db.bool(true));
        let new_time = db.ts("2026-11-25 00:00:00");
        db.exec(&format!(
            "INSERT INTO users VALUES ('e002', {f}, {new_time});
         INSERT INTO users VALUES ('e004', {t}, {new_time});
         INSERT INTO sessions VALUES ('new-s', 'e004', {new_time}, {new_time});"
        ));
        let recreated: BTreeSet<String> = ["e002", "e004"].into_iter().map(String::from).collect();
        let recreated_rows = rows_of(&db, &recreated);
        let recreated_values = db.strings(&format!(
            "SELECT {} AS t FROM users WHERE id IN ('e002', 'e004') ORDER BY id",
            db.text(if db.is_mysql() {
                "CONCAT(id, '|', is_anonymous, '|', created_at)"
            } else {
                "id || '|' || CAST(is_anonymous AS TEXT) || '|' || CAST(created_at AS TEXT)"
            })
        ));
        let mid = db.fingerprint(TABLES);

        // Without the flag: refused, nothing restored, and the message names the way out.
        let r = db.run(&["restore", "--archive", file]);
        assert_eq!(r.code, 2, "{what}: {}", r.all());
        assert!(
            r.stderr.contains("e002")
                && r.stderr.contains("e004")
                && r.stderr.contains("--skip-existing"),
            "{what}: {}",
            r.stderr
        );
        assert_eq!(db.fingerprint(TABLES), mid, "{what}: nothing restored");

        // With it: the four others come back with all their rows; e002 and e004 keep their new
        // values and rows (none of their archived rows is restored).
        let r = restore(&db, &["--archive", file, "--skip-existing"]);
        assert_eq!(r["users"], 4, "{what}: {r}");
        assert_eq!(r["skipped_existing"], 2, "{what}: {r}");
        assert_eq!(
            r["skipped_existing_ids"],
            serde_json::json!(["e002", "e004"]),
            "{what}: {r}"
        );
        let others: BTreeSet<String> = eligible_ids(6).difference(&recreated).cloned().collect();
        assert_eq!(
            rows_of(&db, &others),
            original
                .iter()
                .filter(|l| !recreated
                    .iter()
                    .any(|u| l.split(' ').nth(1) == Some(u.as_str())))
                .cloned()
                .collect::<Vec<_>>(),
            "{what}: the others are back with exactly their rows"
        );
        assert_eq!(
            rows_of(&db, &recreated),
            recreated_rows,
            "{what}: the re-created rows are untouched"
        );
        assert_eq!(
            db.strings(&format!(
                "SELECT {} AS t FROM users WHERE id IN ('e002', 'e004') ORDER BY id",
                db.text(if db.is_mysql() {
                    "CONCAT(id, '|', is_anonymous, '|', created_at)"
                } else {
                    "id || '|' || CAST(is_anonymous AS TEXT) || '|' || CAST(created_at AS TEXT)"
                })
            )),
            recreated_values,
            "{what}: the re-created users keep their values"
        );

        // Again, in text: every user exists now, so all six are skipped and nothing changes.
        let done = db.fingerprint(TABLES);
        let r = db.run(&["restore", "--archive", file, "--skip-existing"]);
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        let line = |name: &str| {
            r.stdout
                .lines()
                .find(|l| l.trim_start().starts_with(name))
                .unwrap_or_else(|| panic!("{what}: no {name} line:\n{}", r.stdout))
                .to_string()
        };
        assert_eq!(
            line("users restored").split_whitespace().last(),
            Some("0"),
            "{what}: {}",
            r.stdout
        );
        assert!(
            line("skipped (id exists)").contains(" 6 "),
            "{what}: {}",
            r.stdout
        );
        assert!(
            !r.stderr.contains("users restored"),
            "{what}: no progress bar when stderr is not a terminal: {}",
            r.stderr
        );
        assert_eq!(db.fingerprint(TABLES), done, "{what}");
    }
);

// A row that cannot go back (its id is taken by another user's row now) stops the restore
// with an error naming the user; the users before it are restored whole, the rest not, and a
// second restore with --skip-existing finishes the job once the row is out of the way.
backend_test!(
    a_row_that_cannot_be_restored_names_its_user_and_keeps_the_users_before_it,
    |db: TestDb| {
        let what = backend_name(&db);
        population(&db, 6);
        let before = db.fingerprint(TABLES);
        let original = rows_of(&db, &eligible_ids(6));
        let scratch = support::scratch();
        let dir = scratch.path().join("a");
        let out = run_json(&db, &["--archive-dir", dir.to_str().unwrap()]);
        assert_eq!(out["deleted_users"], 6, "{what}: {out}");
        let file = only_file(&dir).unwrap();
        let file = file.to_str().unwrap();
        let old = db.ts("2026-01-01 00:00:00");
        db.exec(&format!(
            "INSERT INTO sessions VALUES ('s003a', 'r0', {old}, {old})"
        ));

        let r = db.run(&["restore", "--archive", file]);
        assert_eq!(r.code, 1, "{what}: {}", r.all());
        assert!(
            r.stderr.contains("user e003") && r.stderr.contains("3 user(s) restored"),
            "{what}: names the user and what was restored: {}",
            r.stderr
        );
        let first: BTreeSet<String> = ["e000", "e001", "e002"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            rows_of(&db, &eligible_ids(6)),
            original
                .iter()
                .filter(|l| first
                    .iter()
                    .any(|u| l.split(' ').nth(1) == Some(u.as_str())))
                .cloned()
                .collect::<Vec<_>>(),
            "{what}: e000..e002 are back whole, e003..e005 not at all"
        );

        db.exec("DELETE FROM sessions WHERE id = 's003a'");
        let r = restore(&db, &["--archive", file, "--skip-existing"]);
        assert_eq!(r["users"], 3, "{what}: {r}");
        assert_eq!(r["skipped_existing"], 3, "{what}: {r}");
        assert_eq!(
            db.fingerprint(TABLES),
            before,
            "{what}: the original database"
        );
    }
);

// Thousands of users, several transactions: every user and row comes back. (How long it takes
// is measured outside the tests.)
backend_test!(thousands_of_users_restore_from_the_table, |db: TestDb| {
    let what = backend_name(&db);
    population(&db, 2600);
    let before = db.fingerprint(TABLES);
    let out = run_json(&db, &["--archive-to-table"]);
    assert_eq!(out["deleted_users"], 2600, "{what}: {out}");
    let run = out["run_id"].as_str().unwrap();
    let started = Instant::now();
    let r = restore(&db, &["--from-table", "--run", &run[..8]]);
    eprintln!("{what}: restored 2600 users in {:.2?}", started.elapsed());
    assert_eq!(r["users"], 2600, "{what}: {r}");
    assert_eq!(r["rows"]["users"], 2600, "{what}: {r}");
    assert_eq!(
        db.fingerprint(TABLES),
        before,
        "{what}: the original database"
    );
});
