//! Application tables (`[[tables]]`): the rows of deleted users go, children first, with or
//! without foreign keys, on every backend; cascading tables are found and counted; a table the
//! configuration misses, or a link that contradicts a foreign key, stops `plan` and `run` before
//! anything changes; malformed entries are refused with a one-line error.

use crate::support;

use std::collections::BTreeMap;

use support::{backend_test, Run, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";

/// (id, is_anonymous, created, session (created, updated)). Cutoff: 2026-10-27.
type User = (
    &'static str,
    bool,
    &'static str,
    Option<(&'static str, &'static str)>,
);

#[rustfmt::skip]
const USERS: [User; 7] = [
    ("old1", true, "2026-01-01", Some(("2026-01-02", "2026-01-03"))),
    ("old2", true, "2026-01-01", None),
    ("old3", true, "2026-01-01", Some(("2026-01-02", "2026-10-26"))),
    ("act", true, "2026-01-01", Some(("2026-01-02", "2026-11-25"))),
    ("act2", true, "2026-01-01", Some(("2026-11-01", "2026-11-01"))),
    ("young", true, "2026-11-20", None),
    ("reg", false, "2026-01-01", Some(("2026-01-02", "2026-01-02"))),
];

/// The users the rule keeps: recently active, too young, registered.
const KEPT: [&str; 4] = ["act", "act2", "young", "reg"];

const TABLES: [&str; 5] = ["users", "sessions", "accounts", "try_on", "try_on_image"];

/// Both application tables, the child listed before its parent on purpose.
const CONFIG: &str = r#"
[[tables]]
table = "try_on_image"
column = "try_on_id"
parent = "try_on"

[[tables]]
table = "try_on"
user_column = "user_id"
"#;

const TRY_ON_ONLY: &str = "[[tables]]\ntable = \"try_on\"\nuser_column = \"user_id\"\n";

/// The key column type (MySQL cannot index or reference TEXT), and the timestamp type.
fn id(db: &TestDb) -> &'static str {
    ["TEXT", "VARCHAR(64)"][db.is_mysql() as usize]
}

fn ts_type(db: &TestDb) -> &'static str {
    ["TEXT", "TIMESTAMPTZ"][db.is_pg() as usize]
}

/// `, FOREIGN KEY (col) REFERENCES parent (id)…` when `fk`, else nothing.
fn fk(on: bool, col: &str, parent: &str, action: &str) -> String {
    if on {
        format!(", FOREIGN KEY ({col}) REFERENCES {parent} (id){action}")
    } else {
        String::new()
    }
}

/// users/sessions/accounts and try_on → try_on_image, with foreign keys (no cascade) or none.
/// Every row id starts with its owner's id: `old1-t1-i2` belongs to `old1`.
fn setup(db: &TestDb, fks: bool) {
    db.exec(&if fks {
        support::default_schema(db, ts_type(db), "TEXT", false)
    } else {
        support::default_schema_no_fk(db, ts_type(db), "TEXT")
    });
    let i = id(db);
    db.exec(&format!(
        "CREATE TABLE try_on (id {i} PRIMARY KEY, user_id {i} NOT NULL, code {i} NOT NULL UNIQUE{});
         CREATE TABLE try_on_image (id {i} PRIMARY KEY, try_on_id {i} NOT NULL{});",
        fk(fks, "user_id", "users", ""),
        fk(fks, "try_on_id", "try_on", "")
    ));
    let ts = |d: &str| db.ts(&format!("{d} 00:00:00"));
    let mut sql = String::new();
    for (u, anon, created, session) in USERS {
        let anon = db.bool(anon);
        sql += &format!(
            "INSERT INTO users VALUES ('{u}', {anon}, {});\n",
            ts(created)
        );
        if let Some((c, up)) = session {
            sql += &format!(
                "INSERT INTO sessions VALUES ('{u}-s', '{u}', {}, {});\n",
                ts(c),
                ts(up)
            );
        }
        sql += &format!("INSERT INTO accounts VALUES ('{u}-acc', '{u}', 'anonymous');\n");
        for n in 1..=if u == "old2" { 1 } else { 2 } {
            sql += &format!("INSERT INTO try_on VALUES ('{u}-t{n}', '{u}', '{u}-c{n}');\n");
            if n == 1 {
                for m in 1..=2 {
                    sql += &format!(
                        "INSERT INTO try_on_image VALUES ('{u}-t{n}-i{m}', '{u}-t{n}');\n"
                    );
                }
            }
        }
    }
    db.exec(&sql);
}

/// Adds `table` (id, user_id → users, with `action`), two rows per user.
fn add_user_table(db: &TestDb, table: &str, action: &str) {
    let i = id(db);
    db.exec(&format!(
        "CREATE TABLE {table} (id {i} PRIMARY KEY, user_id {i} NOT NULL{})",
        fk(true, "user_id", "users", action)
    ));
    for (u, ..) in USERS {
        db.exec(&format!(
            "INSERT INTO {table} VALUES ('{u}-{table}1', '{u}'), ('{u}-{table}2', '{u}')"
        ));
    }
}

/// Runs `anonsweep ARGS --as-of AS_OF` with `config` as its `--config` file (a private file:
/// PostgreSQL and MySQL tests share one working directory).
fn with_config(db: &TestDb, config: &str, args: &str) -> Run {
    let dir = support::scratch();
    let path = dir.path().join("anonsweep.toml");
    std::fs::write(&path, config).unwrap();
    let path = path.to_str().unwrap().to_string();
    let mut all: Vec<&str> = args.split_whitespace().collect();
    all.extend(["--as-of", AS_OF, "--config", &path]);
    db.run(&all)
}

fn snapshot(db: &TestDb, tables: &[&str]) -> BTreeMap<String, Vec<String>> {
    BTreeMap::from_iter(tables.iter().map(|t| (t.to_string(), db.ids(t, "id"))))
}

fn owner(row_id: &str) -> &str {
    row_id.split('-').next().unwrap()
}

/// Every row of a kept user is still there, and every row of the others is gone.
fn assert_only_kept_rows(db: &TestDb, before: &BTreeMap<String, Vec<String>>) {
    for (table, ids) in before {
        let want: Vec<String> = ids
            .iter()
            .filter(|i| KEPT.contains(&owner(i)))
            .cloned()
            .collect();
        assert!(want.len() < ids.len(), "{table}: rows to delete");
        assert_eq!(db.ids(table, "id"), want, "{table}: kept rows only");
    }
}

/// Looks a table up in a `[{table, rows}]` list; PostgreSQL may qualify it (`public.x`).
fn rows_of(list: &serde_json::Value, table: &str) -> Option<(usize, u64)> {
    list.as_array()?.iter().enumerate().find_map(|(i, e)| {
        let t = e["table"].as_str()?;
        (t == table || t.ends_with(&format!(".{table}"))).then(|| (i, e["rows"].as_u64().unwrap()))
    })
}

fn run_and_check(db: &TestDb, fks: bool) {
    setup(db, fks);
    let before = snapshot(db, &TABLES);
    let args = "run --batch-size 2 --format json";
    let r = if matches!(db, TestDb::Sqlite { .. }) && !fks {
        // ./anonsweep.toml in the working directory, without --config.
        std::fs::write(db.dir().join("anonsweep.toml"), CONFIG).unwrap();
        let args: Vec<&str> = args.split_whitespace().chain(["--as-of", AS_OF]).collect();
        db.run(&args)
    } else {
        with_config(db, CONFIG, args)
    };
    assert_eq!(r.code, 0, "{}", r.all());
    assert_only_kept_rows(db, &before);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["deleted_users"], 3, "{}", r.stdout);
    let del = &json["deleted_rows"];
    let pos = |t| rows_of(del, t).unwrap_or_else(|| panic!("{t} in {del}"));
    for t in TABLES {
        let gone = (before[t].len() - db.ids(t, "id").len()) as u64;
        assert_eq!(pos(t).1, gone, "{t}: the summary counts what was deleted");
    }
    // Delete order: children first.
    assert!(pos("try_on_image").0 < pos("try_on").0, "{del}");
    for t in ["try_on", "sessions", "accounts"] {
        assert!(pos(t).0 < pos("users").0, "{del}");
    }
}

backend_test!(
    app_tables_with_foreign_keys_are_deleted_children_first,
    |db: TestDb| {
        run_and_check(&db, true);
    }
);

backend_test!(
    app_tables_without_foreign_keys_are_deleted_the_same,
    |db: TestDb| {
        run_and_check(&db, false);
    }
);

/// Both commands exit 2, print every `needles` on stderr and change nothing.
fn assert_refused(db: &TestDb, config: &str, tables: &[&str], needles: &[&str]) {
    let before = db.fingerprint(tables);
    for cmd in ["plan", "run"] {
        let r = with_config(db, config, cmd);
        assert_eq!(r.code, 2, "{cmd}: a failed check is exit 2\n{}", r.all());
        for n in needles {
            assert!(r.stderr.contains(n), "{cmd}: {n:?}:\n{}", r.stderr);
        }
        assert_eq!(db.fingerprint(tables), before, "{cmd} changed nothing");
    }
}

backend_test!(
    unconfigured_table_referencing_users_stops_plan_and_run,
    |db: TestDb| {
        setup(&db, true);
        add_user_table(&db, "wishlist", "");
        let mut tables = TABLES.to_vec();
        tables.push("wishlist");
        let needles = [
            "wishlist.user_id references users.id",
            "[[tables]]",
            "table = \"wishlist\"",
            "user_column = \"user_id\"",
        ];
        assert_refused(&db, CONFIG, &tables, &needles);
    }
);

backend_test!(
    unconfigured_second_level_table_stops_plan_and_run,
    |db: TestDb| {
        setup(&db, true);
        let needles = [
            "try_on_image.try_on_id references try_on.id",
            "[[tables]]",
            "table = \"try_on_image\"",
            "column = \"try_on_id\"",
            "parent = \"try_on\"",
        ];
        assert_refused(&db, TRY_ON_ONLY, &TABLES, &needles);
    }
);

backend_test!(
    user_column_whose_foreign_key_points_elsewhere_is_refused,
    |db: TestDb| {
        setup(&db, true);
        let i = id(&db);
        // profiles share the user ids, so a run that trusted the config would delete notes.
        db.exec(&format!(
            "CREATE TABLE profiles (id {i} PRIMARY KEY);
             INSERT INTO profiles VALUES ('old1'), ('reg');
             CREATE TABLE notes (id {i} PRIMARY KEY, owner {i} NOT NULL{});
             INSERT INTO notes VALUES ('old1-n', 'old1'), ('reg-n', 'reg');",
            fk(true, "owner", "profiles", "")
        ));
        let config = format!("{CONFIG}\n[[tables]]\ntable = \"notes\"\nuser_column = \"owner\"\n");
        let mut tables = TABLES.to_vec();
        tables.extend(["profiles", "notes"]);
        assert_refused(&db, &config, &tables, &["notes.owner", "profiles"]);
    }
);

backend_test!(
    cascading_tables_are_found_counted_and_deleted,
    |db: TestDb| {
        setup(&db, true);
        add_user_table(&db, "favorites", " ON DELETE CASCADE");
        // A second level: cascades from a configured table.
        let i = id(&db);
        db.exec(&format!(
            "CREATE TABLE try_on_tag (id {i} PRIMARY KEY, try_on_id {i} NOT NULL{})",
            fk(true, "try_on_id", "try_on", " ON DELETE CASCADE")
        ));
        for (u, ..) in USERS {
            db.exec(&format!(
                "INSERT INTO try_on_tag VALUES ('{u}-g1', '{u}-t1'), ('{u}-g2', '{u}-t1')"
            ));
        }
        let tables = [TABLES.as_slice(), &["favorites", "try_on_tag"]].concat();
        let before = snapshot(&db, &tables);
        let p = with_config(&db, CONFIG, "plan --format json");
        assert_eq!(p.code, 0, "{}", p.all());
        let plan: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
        let r = with_config(&db, CONFIG, "run --format json");
        assert_eq!(r.code, 0, "{}", r.all());
        let run: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_only_kept_rows(&db, &before);
        for t in ["favorites", "try_on_tag"] {
            let gone = (before[t].len() - db.ids(t, "id").len()) as u64;
            let planned = rows_of(&plan["rows"], t);
            assert_eq!(planned.map(|p| p.1), Some(gone), "{t}: {}", plan["rows"]);
            let deleted = rows_of(&run["deleted_rows"], t);
            assert_eq!(deleted.map(|d| d.1), Some(gone), "{t}: {}", run);
        }
    }
);

// Integer ids everywhere, so a try_on or session id can equal a user id: a table cascading
// from a configured table (try_on_tag) or from sessions (session_event) loses exactly the rows
// under the deleted user's try_on and sessions, not the rows whose parent id equals a user id.
backend_test!(
    cascades_below_configured_tables_follow_their_parent,
    |db: TestDb| {
        db.exec(&support::default_schema(
            &db,
            ts_type(&db),
            "INTEGER",
            false,
        ));
        db.exec(
            "CREATE TABLE try_on (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, FOREIGN KEY (user_id) REFERENCES users (id));
             CREATE TABLE try_on_tag (id INTEGER PRIMARY KEY, try_on_id INTEGER NOT NULL, FOREIGN KEY (try_on_id) REFERENCES try_on (id) ON DELETE CASCADE);
             CREATE TABLE session_event (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE);",
        );
        let old = db.ts("2026-01-01 00:00:00");
        // User 1 is eligible, user 2 registered; user 2 owns try_on 1 and session 1.
        db.exec(&format!(
            "INSERT INTO users VALUES (1, {}, {old}), (2, {}, {old});
             INSERT INTO sessions VALUES (1, 2, {old}, {old}), (2, 1, {old}, {old});
             INSERT INTO try_on VALUES (1, 2), (2, 1);
             INSERT INTO try_on_tag VALUES (10, 1), (20, 2);
             INSERT INTO session_event VALUES (100, 1), (200, 2);",
            db.bool(true),
            db.bool(false)
        ));
        let r = with_config(&db, TRY_ON_ONLY, "run");
        let name = db.url().split(':').next().unwrap().to_string();
        assert_eq!(r.code, 0, "{name}: {}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["2"], "{name}");
        assert_eq!(db.ids("try_on", "id"), vec!["1"], "{name}");
        assert_eq!(db.ids("try_on_tag", "id"), vec!["10"], "{name}");
        assert_eq!(db.ids("session_event", "id"), vec!["100"], "{name}");
    }
);

/// `plan`'s "would delete rows" section: table → count.
fn plan_counts(stdout: &str) -> BTreeMap<String, u64> {
    stdout
        .lines()
        .skip_while(|l| !l.contains("would delete rows:"))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(|l| {
            let mut w = l.split_whitespace();
            let t = w.next().unwrap();
            let t = t.strip_prefix("public.").unwrap_or(t);
            (t.to_string(), w.next().unwrap().parse().unwrap())
        })
        .collect()
}

backend_test!(plan_counts_match_what_run_deletes, |db: TestDb| {
    setup(&db, true);
    add_user_table(&db, "favorites", " ON DELETE CASCADE");
    let tables = [TABLES.as_slice(), &["favorites"]].concat();
    let before: Vec<u64> = tables.iter().map(|t| db.count(t)).collect();
    let p = with_config(&db, CONFIG, "plan");
    assert_eq!(p.code, 0, "{}", p.all());
    let planned = plan_counts(&p.stdout);
    let r = with_config(&db, CONFIG, "run --batch-size 2");
    assert_eq!(r.code, 0, "{}", r.all());
    for (t, b) in tables.iter().zip(before) {
        let gone = b - db.count(t);
        assert!(gone > 0, "{t}: something to delete");
        assert_eq!(planned.get(*t), Some(&gone), "{t}:\n{}", p.stdout);
    }
    assert_eq!(planned.len(), tables.len(), "{planned:?}");
});

backend_test!(parent_column_other_than_id_is_followed, |db: TestDb| {
    setup(&db, true);
    let i = id(&db);
    db.exec(&format!(
        "CREATE TABLE try_on_share (id {i} PRIMARY KEY, try_on_code {i} NOT NULL, \
             FOREIGN KEY (try_on_code) REFERENCES try_on (code))"
    ));
    for (u, ..) in USERS {
        db.exec(&format!(
            "INSERT INTO try_on_share VALUES ('{u}-x1', '{u}-c1'), ('{u}-x2', '{u}-c1')"
        ));
    }
    let config = format!(
            "{CONFIG}\n[[tables]]\ntable = \"try_on_share\"\ncolumn = \"try_on_code\"\nparent = \"try_on\"\nparent_column = \"code\"\n"
        );
    let tables = [TABLES.as_slice(), &["try_on_share"]].concat();
    let before = snapshot(&db, &tables);
    let r = with_config(&db, &config, "run");
    assert_eq!(r.code, 0, "{}", r.all());
    assert_only_kept_rows(&db, &before);
});

/// Integer user ids; try_on.user_ref and try_on_note.try_on_ref are text (no foreign key
/// possible): users 0, 1, 2 are eligible (USERS order), 3..6 kept; try_on n*10 and n*10+1 belong
/// to user n, note n*100 to try_on n*10.
fn text_links(db: &TestDb) {
    db.exec(&support::default_schema_no_fk(db, ts_type(db), "INTEGER"));
    let i = id(db);
    db.exec(&format!(
        "CREATE TABLE try_on (id INTEGER PRIMARY KEY, user_ref {i} NOT NULL);
         CREATE TABLE try_on_note (id INTEGER PRIMARY KEY, try_on_ref {i} NOT NULL);"
    ));
    let ts = |d: &str| db.ts(&format!("{d} 00:00:00"));
    for (n, (_, anon, created, session)) in USERS.iter().enumerate() {
        let a = db.bool(*anon);
        let (t1, t2) = (n * 10, n * 10 + 1);
        db.exec(&format!(
            "INSERT INTO users VALUES ({n}, {a}, {});
             INSERT INTO try_on VALUES ({t1}, '{n}'), ({t2}, '{n}');
             INSERT INTO try_on_note VALUES ({}, '{t1}');",
            ts(created),
            n * 100
        ));
        if let Some((c, up)) = session {
            db.exec(&format!(
                "INSERT INTO sessions VALUES ({n}, {n}, {}, {})",
                ts(c),
                ts(up)
            ));
        }
    }
}

const TEXT_TRY_ON: &str =
    "[[tables]]\ntable = \"try_on\"\nuser_column = \"user_ref\"\ncompare_as_text = true\n";

backend_test!(
    text_columns_holding_integer_user_ids_are_compared_as_text,
    |db: TestDb| {
        text_links(&db);
        let r = with_config(&db, TEXT_TRY_ON, "run");
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["3", "4", "5", "6"]);
        let refs = db.ids("try_on", "user_ref");
        assert_eq!(refs, vec!["3", "3", "4", "4", "5", "5", "6", "6"]);
    }
);

// `compare_as_text` is accepted on a parent entry (a text column holding an integer key): it
// must be honoured, or refused before anything runs, not ignored.
backend_test!(
    compare_as_text_on_a_parent_entry_is_honoured_or_refused,
    |db: TestDb| {
        text_links(&db);
        let config = format!(
            "{TEXT_TRY_ON}[[tables]]\ntable = \"try_on_note\"\ncolumn = \"try_on_ref\"\nparent = \"try_on\"\ncompare_as_text = true\n"
        );
        let name = db.url().split(':').next().unwrap().to_string();
        let p = with_config(&db, &config, "plan");
        if p.code == 2 {
            return; // refused up front
        }
        assert_eq!(p.code, 0, "{name}: plan works or refuses (2)\n{}", p.all());
        let r = with_config(&db, &config, "run");
        assert_eq!(r.code, 0, "{name}: {}", r.all());
        assert_eq!(
            db.ids("try_on_note", "id"),
            vec!["300", "400", "500", "600"]
        );
    }
);

backend_test!(
    bad_table_entries_are_refused_with_one_line_and_nothing_changes,
    |db: &TestDb| {
        let entry = |t: &str, rest: &str| format!("[[tables]]\ntable = \"{t}\"\n{rest}\n");
        let image = entry(
            "try_on_image",
            "column = \"try_on_id\"\nparent = \"try_on\"",
        );
        let user = "user_column = \"user_id\"";
        // Each config is CONFIG but for the flaw under test: without the check, `run` would delete.
        #[rustfmt::skip]
    let cases = [
        ("unknown key", image.clone() + &entry("try_on", &format!("{user}\nuser_col = \"user_id\"")), vec!["user_col", "fix"]),
        ("neither link", image.clone() + &entry("try_on", ""), vec!["user_column", "parent"]),
        ("both links", image.clone() + &entry("try_on", &format!("{user}\ncolumn = \"user_id\"\nparent = \"users\"")), vec!["user_column", "parent"]),
        ("parent not configured", image.clone(), vec!["try_on", "add a [[tables]] entry"]),
        ("parent cycle", image.clone() + &entry("try_on", "column = \"user_id\"\nparent = \"try_on_image\""), vec!["cycle", "try_on"]),
        ("sessions listed again", CONFIG.to_string() + &entry("sessions", user), vec!["sessions", "twice"]),
        ("listed twice", format!("{CONFIG}{TRY_ON_ONLY}"), vec!["try_on", "twice"]),
    ];
        setup(db, true);
        let before = db.fingerprint(&TABLES);
        for (what, config, needles) in &cases {
            for cmd in ["plan", "run"] {
                let r = with_config(db, config, cmd);
                assert_eq!(r.code, 2, "{what} ({cmd}): exit 2\n{}", r.all());
                let err = r.stderr.trim();
                assert_eq!(err.lines().count(), 1, "{what} ({cmd}): one line:\n{err}");
                assert!(err.starts_with("anonsweep: error:"), "{what}: {err}");
                for n in needles {
                    assert!(err.contains(n), "{what} ({cmd}): mentions {n:?}: {err}");
                }
                assert_eq!(db.fingerprint(&TABLES), before, "{what} ({cmd})");
            }
        }
    }
);

// The same table under another spelling (schema-qualified) is still listed twice.
backend_test!(
    a_table_listed_twice_under_two_spellings_is_refused,
    |db: TestDb| {
        setup(&db, true);
        let schema = match &db {
            TestDb::Sqlite { .. } => "main".to_string(),
            TestDb::Pg { .. } => "public".to_string(),
            TestDb::Mysql { name } => name.clone(),
        };
        let config =
            format!("{CONFIG}[[tables]]\ntable = \"{schema}.try_on\"\nuser_column = \"user_id\"\n");
        assert_refused(&db, &config, &TABLES, &["try_on"]);
    }
);
