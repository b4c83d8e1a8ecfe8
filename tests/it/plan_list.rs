//! `plan --list FILE`: the sign-off list of every eligible user is exactly the set `run`
//! deletes at the same `--as-of` (same rule, same binds), on every backend, read in keyset
//! pages (`--batch-size 2` here, so first and later pages both run); each row has the user's
//! `created_at`, latest activity (value and column, or none) and the rows each table would lose;
//! CSV and JSON lines parse back; the file is mode 0600 and only ever complete; `run` never
//! writes one, and a file whose format cannot be told is refused before anything happens.

use crate::support;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{backend_test, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";
const TABLES: &[&str] = &["users", "sessions", "accounts"];
const HEADER: &[&str] = &[
    "user_id",
    "created_at",
    "latest_activity_at",
    "latest_activity_column",
    "sessions",
    "accounts",
    "users",
];

/// One row of the list, as read back from either format.
#[derive(Clone, Debug, PartialEq)]
struct Listed {
    id: String,
    created_at: String,
    /// (column, value), or `None` for a user with no activity at all.
    latest: Option<(String, String)>,
    /// Rows per table, in the file's order (users last).
    rows: Vec<(String, u64)>,
}

impl Listed {
    fn rows_of(&self, table: &str) -> u64 {
        self.rows
            .iter()
            .find(|(t, _)| t == table)
            .unwrap_or_else(|| panic!("no {table} count in {self:?}"))
            .1
    }
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Listed>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            assert_eq!(rec.len(), header.len(), "{rec:?}");
            let latest = match (&rec[2], &rec[3]) {
                ("", "") => None,
                (at, column) => Some((column.to_string(), at.to_string())),
            };
            Listed {
                id: rec[0].to_string(),
                created_at: rec[1].to_string(),
                latest,
                rows: header[4..]
                    .iter()
                    .zip(rec.iter().skip(4))
                    .map(|(t, n)| (t.clone(), n.parse().unwrap()))
                    .collect(),
            }
        })
        .collect();
    (header, rows)
}

fn read_jsonl(path: &Path) -> Vec<Listed> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(
                keys.iter().copied().collect::<BTreeSet<_>>(),
                BTreeSet::from(["user_id", "created_at", "latest_activity", "rows"]),
                "{l}"
            );
            // The counts in delete order, as written (the text, not the parsed map's order).
            let rows_text = &l[l.find("\"rows\":").unwrap() + 7..];
            let order: Vec<String> = rows_text
                .split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            Listed {
                id: v["user_id"].as_str().unwrap().to_string(),
                created_at: v["created_at"].as_str().unwrap().to_string(),
                latest: match &v["latest_activity"] {
                    Value::Null => None,
                    a => Some((
                        a["column"].as_str().unwrap().to_string(),
                        a["at"].as_str().unwrap().to_string(),
                    )),
                },
                rows: order
                    .iter()
                    .map(|t| (t.clone(), v["rows"][t].as_u64().unwrap()))
                    .collect(),
            }
        })
        .collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn tmp_of(p: &Path) -> PathBuf {
    PathBuf::from(format!("{}.tmp", p.display()))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The ids `run` deleted: the users rows gone between `before` and now.
fn deleted_since(db: &TestDb, before: &[String]) -> BTreeSet<String> {
    let after: BTreeSet<String> = db.ids("users", "id").into_iter().collect();
    before
        .iter()
        .filter(|id| !after.contains(*id))
        .cloned()
        .collect()
}

/// A time the list wrote: ISO-8601 UTC (`2026-04-01T00:00:00.000Z`; PostgreSQL and MySQL with
/// microseconds) at the given second.
fn at_second(text: &str, second: &str) -> bool {
    text.starts_with(&format!("{}T{}", &second[..10], &second[11..]))
        && text.ends_with('Z')
        && text.len() >= 24
}

/// Ten eligible users (e01…e10) and three the rule keeps: k01 has a session active after the
/// cutoff (2026-10-27), k02 is registered, k03 was created after the cutoff. e01 has no session
/// at all; e02 has two sessions (the latest activity is the second one's `created_at`) and one
/// account.
fn setup(db: &TestDb) {
    let ts_type = if db.is_pg() { "TIMESTAMPTZ" } else { "TEXT" };
    db.exec(&support::default_schema(db, ts_type, "TEXT", false));
    let (t, f) = (db.bool(true), db.bool(false));
    let ts = |s: &str| db.ts(s);
    let old = ts("2026-01-01 00:00:00");
    let mut sql = String::new();
    let mut user = |id: &str, anon: &str, created: &str| {
        sql += &format!("INSERT INTO users VALUES ('{id}', {anon}, {created});\n");
    };
    for i in 1..=10 {
        let created = if i == 10 {
            ts("2026-10-26 23:59:59")
        } else {
            old.clone()
        };
        user(&format!("e{i:02}"), t, &created);
    }
    user("k01", t, &old);
    user("k02", f, &old);
    user("k03", t, &ts("2026-11-20 00:00:00"));
    let session = |sql: &mut String, id: &str, user: &str, created: &str, updated: &str| {
        *sql += &format!(
            "INSERT INTO sessions VALUES ('{id}', '{user}', {}, {});\n",
            ts(created),
            ts(updated)
        );
    };
    session(
        &mut sql,
        "s02a",
        "e02",
        "2026-02-01 00:00:00",
        "2026-03-01 00:00:00",
    );
    session(
        &mut sql,
        "s02b",
        "e02",
        "2026-04-01 00:00:00",
        "2026-03-15 00:00:00",
    );
    sql += "INSERT INTO accounts VALUES ('a02', 'e02', 'anonymous');\n";
    for i in 3..=10 {
        session(
            &mut sql,
            &format!("s{i:02}"),
            &format!("e{i:02}"),
            "2026-02-01 00:00:00",
            "2026-02-05 12:30:00",
        );
        if i % 2 == 1 {
            sql += &format!("INSERT INTO accounts VALUES ('a{i:02}', 'e{i:02}', 'anonymous');\n");
        }
    }
    session(
        &mut sql,
        "sk01",
        "k01",
        "2026-02-01 00:00:00",
        "2026-11-20 00:00:00",
    );
    session(
        &mut sql,
        "sk02",
        "k02",
        "2026-02-01 00:00:00",
        "2026-02-01 00:00:00",
    );
    db.exec(&sql);
}

// The list (CSV and JSON lines, from `plan` and from `run --dry-run`) is the set `run` then
// deletes, with the right latest activity and counts; the report and stderr give the count.
backend_test!(list_is_the_set_run_deletes, |db: &TestDb| {
    setup(db);
    let dir = support::scratch();
    let csv_path = dir.path().join("eligible.csv");
    let p = db.run(&[
        "plan",
        "--as-of",
        AS_OF,
        "--batch-size",
        "2",
        "--format",
        "json",
        "--list",
        path_str(&csv_path),
    ]);
    assert_eq!(p.code, 0, "{}", p.all());
    let report: Value = serde_json::from_str(&p.stdout).unwrap();
    assert_eq!(report["eligible"], 10, "{report}");
    assert_eq!(report["list"]["users"], 10, "{report}");
    assert_eq!(report["list"]["format"], "csv", "{report}");
    assert_eq!(report["list"]["path"], path_str(&csv_path), "{report}");
    assert!(
        p.stderr.contains("wrote the list of 10 eligible users to"),
        "{}",
        p.stderr
    );
    assert_eq!(mode(&csv_path), 0o600, "the list holds user ids");
    assert!(!tmp_of(&csv_path).exists());

    let (header, listed) = read_csv(&csv_path);
    assert_eq!(header, HEADER);
    let ids: Vec<&str> = listed.iter().map(|l| l.id.as_str()).collect();
    let expected: Vec<String> = (1..=10).map(|i| format!("e{i:02}")).collect();
    assert_eq!(ids, expected, "every eligible user once, ids ascending");
    let by_id = |id: &str| listed.iter().find(|l| l.id == id).unwrap().clone();
    let e01 = by_id("e01");
    assert_eq!(e01.latest, None, "no session at all: no activity");
    assert_eq!(
        e01.rows,
        [("sessions", 0), ("accounts", 0), ("users", 1)].map(|(t, n)| (t.to_string(), n))
    );
    let e02 = by_id("e02");
    assert_eq!(e02.rows_of("sessions"), 2);
    assert_eq!(e02.rows_of("accounts"), 1);
    assert_eq!(e02.rows_of("users"), 1);
    let (column, at) = e02.latest.clone().unwrap();
    assert_eq!(column, "sessions.created_at", "{e02:?}");
    assert!(at_second(&at, "2026-04-01 00:00:00"), "{e02:?}");
    assert!(at_second(&e02.created_at, "2026-01-01 00:00:00"), "{e02:?}");
    let e03 = by_id("e03");
    let (column, at) = e03.latest.clone().unwrap();
    assert_eq!(column, "sessions.updated_at", "{e03:?}");
    assert!(at_second(&at, "2026-02-05 12:30:00"), "{e03:?}");
    assert_eq!((e03.rows_of("sessions"), e03.rows_of("accounts")), (1, 1));
    assert_eq!(by_id("e04").rows_of("accounts"), 0);
    assert!(at_second(&by_id("e10").created_at, "2026-10-26 23:59:59"));
    // The per-table counts add up to the plan's own.
    for (i, table) in ["sessions", "accounts", "users"].iter().enumerate() {
        let sum: u64 = listed.iter().map(|l| l.rows_of(table)).sum();
        assert_eq!(report["rows"][i]["table"], *table, "{report}");
        assert_eq!(report["rows"][i]["rows"], sum, "{table}: {report}");
    }

    // JSON lines, from plan and from run --dry-run: the same users, counts and times.
    let jsonl = dir.path().join("eligible.jsonl");
    let j = db.run(&[
        "plan",
        "--as-of",
        AS_OF,
        "--batch-size",
        "2",
        "--list",
        path_str(&jsonl),
    ]);
    assert_eq!(j.code, 0, "{}", j.all());
    assert!(j.stdout.contains("10 users written to"), "{}", j.stdout);
    assert_eq!(read_jsonl(&jsonl), listed);
    let ndjson = dir.path().join("dry.ndjson");
    let d = db.run(&[
        "run",
        "--dry-run",
        "--as-of",
        AS_OF,
        "--batch-size",
        "2",
        "--list",
        path_str(&ndjson),
    ]);
    assert_eq!(d.code, 0, "{}", d.all());
    assert_eq!(
        std::fs::read_to_string(&ndjson).unwrap(),
        std::fs::read_to_string(&jsonl).unwrap()
    );
    assert_eq!(mode(&ndjson), 0o600);

    // run at the same as-of deletes exactly the listed users.
    let before = db.ids("users", "id");
    let r = db.run(&["run", "-q", "--as-of", AS_OF, "--batch-size", "2"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let listed_ids: BTreeSet<String> = listed.iter().map(|l| l.id.clone()).collect();
    assert_eq!(deleted_since(db, &before), listed_ids);
    assert_eq!(db.ids("users", "id"), ["k01", "k02", "k03"]);
});

/// Numeric ids (keyset pages must compare them as numbers: 9 < 10) and application tables
/// below a parent: the counts follow the parent links like the deletes.
fn setup_numeric(db: &TestDb) -> &'static str {
    let ts_type = if db.is_pg() { "TIMESTAMPTZ" } else { "TEXT" };
    db.exec(&support::default_schema(db, ts_type, "BIGINT", false));
    db.exec(
        "CREATE TABLE notes (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL);
         CREATE TABLE note_files (id BIGINT PRIMARY KEY, note_id BIGINT NOT NULL);",
    );
    let (t, old) = (db.bool(true), db.ts("2026-01-01 00:00:00"));
    let recent = db.ts("2026-11-20 00:00:00");
    let mut sql = String::new();
    for i in 1..=12 {
        sql += &format!("INSERT INTO users VALUES ({i}, {t}, {old});\n");
        // User i has i % 3 notes, each note with one file; user 7 is kept by a recent session.
        for n in 0..(i % 3) {
            let note = i * 10 + n;
            sql += &format!("INSERT INTO notes VALUES ({note}, {i});\n");
            sql += &format!("INSERT INTO note_files VALUES ({note}, {note});\n");
        }
        let updated = if i == 7 { &recent } else { &old };
        sql += &format!("INSERT INTO sessions VALUES ({i}, {i}, {old}, {updated});\n");
    }
    db.exec(&sql);
    "[[tables]]\ntable = \"note_files\"\ncolumn = \"note_id\"\nparent = \"notes\"\n\n\
     [[tables]]\ntable = \"notes\"\nuser_column = \"user_id\"\n"
}

backend_test!(numeric_ids_and_parent_links, |db: &TestDb| {
    let config = setup_numeric(db);
    let dir = support::scratch();
    let config_file = dir.path().join("anonsweep.toml");
    std::fs::write(&config_file, config).unwrap();
    let list = dir.path().join("list.csv");
    let common = [
        "--config",
        path_str(&config_file),
        "--as-of",
        AS_OF,
        "--batch-size",
        "2",
    ];
    let mut args = vec!["plan", "--list", path_str(&list)];
    args.extend(common);
    let p = db.run(&args);
    assert_eq!(p.code, 0, "{}", p.all());
    let (header, listed) = read_csv(&list);
    assert_eq!(header.last().unwrap(), "users");
    let ids: Vec<&str> = listed.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(
        ids,
        ["1", "2", "3", "4", "5", "6", "8", "9", "10", "11", "12"]
    );
    for l in &listed {
        let i: u64 = l.id.parse().unwrap();
        assert_eq!(l.rows_of("notes"), i % 3, "{l:?}");
        assert_eq!(l.rows_of("note_files"), i % 3, "{l:?}");
        assert_eq!(l.rows_of("sessions"), 1, "{l:?}");
    }
    let pos = |t: &str| header.iter().position(|h| h == t).unwrap();
    assert!(pos("note_files") < pos("notes"), "delete order: {header:?}");

    let before = db.ids("users", "id");
    let mut args = vec!["run", "-q"];
    args.extend(common);
    let r = db.run(&args);
    assert_eq!(r.code, 0, "{}", r.all());
    let listed_ids: BTreeSet<String> = listed.iter().map(|l| l.id.clone()).collect();
    assert_eq!(deleted_since(db, &before), listed_ids);
    assert_eq!(db.count("note_files"), 1, "user 7's note stays");
});

// PostgreSQL: the cursor is read back as text and cast to the id's own type (uuid here).
backend_test!(
    uuid_ids_page_in_their_own_type,
    [postgres],
    |db: &TestDb| {
        db.exec(&support::default_schema(db, "TIMESTAMPTZ", "UUID", false));
        db.exec(
            "INSERT INTO users SELECT gen_random_uuid(), TRUE, TIMESTAMPTZ '2026-01-01 00:00:00+00'
           FROM generate_series(1, 9);
         INSERT INTO sessions SELECT gen_random_uuid(), id, created_at, created_at FROM users;",
        );
        let dir = support::scratch();
        let list = dir.path().join("list.jsonl");
        let p = db.run(&[
            "plan",
            "--as-of",
            AS_OF,
            "--batch-size",
            "2",
            "--list",
            path_str(&list),
        ]);
        assert_eq!(p.code, 0, "{}", p.all());
        let ids: Vec<String> = read_jsonl(&list).into_iter().map(|l| l.id).collect();
        assert_eq!(ids, db.ids("users", "id"), "all nine, ascending");
    }
);

// A file whose format cannot be told is refused (exit 2) before anything happens, as are a bad
// --list-format and --list on a real run; no file is left, and nothing is deleted.
backend_test!(refusals_leave_no_file, [sqlite], |db: &TestDb| {
    setup(db);
    let before = db.fingerprint(TABLES);
    let dir = support::scratch();
    let txt = dir.path().join("eligible.txt");
    for args in [
        vec!["plan", "--as-of", AS_OF, "--list", path_str(&txt)],
        vec![
            "run",
            "--dry-run",
            "--as-of",
            AS_OF,
            "--list",
            path_str(&txt),
        ],
    ] {
        let r = db.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.all());
        assert!(r.stderr.contains("--list-format"), "{}", r.stderr);
        assert!(!txt.exists() && !tmp_of(&txt).exists());
    }
    let r = db.run(&[
        "plan",
        "--as-of",
        AS_OF,
        "--list",
        path_str(&txt),
        "--list-format",
        "xml",
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    let csv_path = dir.path().join("eligible.csv");
    let r = db.run(&["run", "--as-of", AS_OF, "--list", path_str(&csv_path)]);
    assert_eq!(r.code, 2, "run writes no list: {}", r.all());
    assert!(r.stderr.contains("--dry-run"), "{}", r.stderr);
    assert!(!csv_path.exists());
    assert_eq!(db.fingerprint(TABLES), before, "nothing deleted");

    // --list-format names the format whatever the extension.
    let r = db.run(&[
        "plan",
        "--as-of",
        AS_OF,
        "--list",
        path_str(&txt),
        "--list-format",
        "jsonl",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(read_jsonl(&txt).len(), 10);
});

// The list is only ever complete: it is written to FILE.tmp (created afresh, 0600) and renamed;
// a list that cannot be written leaves nothing, and an older file is replaced whole.
backend_test!(only_complete_files, [sqlite], |db: &TestDb| {
    setup(db);
    let dir = support::scratch();
    let missing = dir.path().join("no-such-dir").join("eligible.csv");
    let r = db.run(&["plan", "--as-of", AS_OF, "--list", path_str(&missing)]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("cannot create the list file"),
        "{}",
        r.stderr
    );
    assert!(!missing.exists() && !tmp_of(&missing).exists());

    let list = dir.path().join("eligible.csv");
    std::fs::write(&list, "an older list\n").unwrap();
    std::fs::set_permissions(&list, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(tmp_of(&list), "a leftover\n").unwrap();
    std::fs::set_permissions(tmp_of(&list), std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = db.run(&["plan", "--as-of", AS_OF, "--list", path_str(&list)]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(mode(&list), 0o600);
    assert!(!tmp_of(&list).exists());
    let (header, listed) = read_csv(&list);
    assert_eq!(header, HEADER);
    assert_eq!(listed.len(), 10);
});
