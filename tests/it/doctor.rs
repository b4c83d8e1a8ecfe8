//! `anonsweep doctor`: exit 0 on a clean schema, exit 2 with the `[[tables]]` fix for an
//! unconfigured referencing table; every configuration value with its origin; the database's
//! time zone against columns without one (PostgreSQL); missing indexes until `migrate run`;
//! the JSON report's keys. Doctor changes nothing.

use crate::support;

use std::path::Path;

use serde_json::Value;
use support::{backend_test, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";
const TABLES: &[&str] = &["users", "sessions", "accounts"];

fn backend_name(db: &TestDb) -> &'static str {
    if db.is_pg() {
        "postgres"
    } else if db.is_mysql() {
        "mysql"
    } else {
        "sqlite"
    }
}

/// The default schema with a few rows (eligible, active and registered users).
fn setup(db: &TestDb, ts_type: &str) {
    db.exec(&support::default_schema(db, ts_type, "TEXT", false));
    let (t, f) = (db.bool(true), db.bool(false));
    let old = db.ts("2026-01-01 00:00:00");
    let recent = db.ts("2026-11-20 00:00:00");
    db.exec(&format!(
        "INSERT INTO users VALUES ('u1', {t}, {old});
         INSERT INTO users VALUES ('u2', {t}, {old});
         INSERT INTO users VALUES ('u3', {f}, {old});
         INSERT INTO sessions VALUES ('s1', 'u1', {old}, {old});
         INSERT INTO sessions VALUES ('s2', 'u2', {old}, {recent});
         INSERT INTO accounts VALUES ('a1', 'u1', 'anonymous');
         INSERT INTO accounts VALUES ('a3', 'u3', 'credential');"
    ));
}

fn default_ts(db: &TestDb) -> &'static str {
    if db.is_pg() {
        "TIMESTAMPTZ"
    } else {
        "TEXT"
    }
}

/// Every table, index and column: what "doctor changes nothing" compares.
fn schema_objects(db: &TestDb) -> Vec<String> {
    let sql = match db {
        TestDb::Sqlite { .. } => {
            "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') AS t FROM sqlite_master"
        }
        TestDb::Pg { .. } => {
            "SELECT CAST(c.relkind AS TEXT) || ' ' || c.relname AS t FROM pg_class AS c \
             JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        }
        TestDb::Mysql { .. } => {
            "SELECT CAST(CONCAT(table_name, ' ', index_name) AS CHAR) AS t FROM information_schema.statistics \
             WHERE table_schema = DATABASE() UNION ALL \
             SELECT CAST(CONCAT(table_name, ' ', column_name, ' ', column_type) AS CHAR) AS t \
             FROM information_schema.columns WHERE table_schema = DATABASE()"
        }
    };
    let mut v = db.strings(sql);
    v.sort();
    v
}

/// Runs `anonsweep doctor ARGS --database-url URL` in `dir`.
fn doctor_in(db: &TestDb, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> support::Run {
    let url = db.url();
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    all.extend(["--database-url", &url]);
    support::anonsweep_in(dir, &all, env)
}

fn json(r: &support::Run) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("doctor --format json is JSON ({e}):\n{}", r.all()))
}

/// The configuration entry `name` of a JSON report: (value, origin).
fn setting(report: &Value, name: &str) -> (String, String) {
    let e = report["configuration"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {}", report["configuration"]));
    (
        e["value"].as_str().unwrap().to_string(),
        e["origin"].as_str().unwrap().to_string(),
    )
}

backend_test!(
    a_clean_default_schema_passes_and_nothing_changes,
    |db: TestDb| {
        let what = backend_name(&db);
        setup(&db, default_ts(&db));
        let (rows, objects) = (db.fingerprint(TABLES), schema_objects(&db));
        let r = db.run(&["doctor", "--as-of", AS_OF]);
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        assert!(
            r.stdout.contains("result: 0 error(s)"),
            "{what}: {}",
            r.stdout
        );
        for section in [
            "configuration (value, and where it came from):",
            "schema:",
            "delete order (each batch, one transaction):",
            "foreign keys:\n  ok",
            "clock:",
            "indexes:",
        ] {
            assert!(
                r.stdout.contains(section),
                "{what}: section {section:?}:\n{}",
                r.stdout
            );
        }
        assert!(
            r.stdout.contains("1. sessions") && r.stdout.contains("3. users"),
            "{what}: {}",
            r.stdout
        );
        assert_eq!(db.fingerprint(TABLES), rows, "{what}: no row changed");
        assert_eq!(
            schema_objects(&db),
            objects,
            "{what}: no table or index changed"
        );
    }
);

backend_test!(
    an_unconfigured_referencing_table_is_an_error_with_the_fix,
    |db: TestDb| {
        let what = backend_name(&db);
        setup(&db, default_ts(&db));
        let id = if db.is_mysql() { "VARCHAR(64)" } else { "TEXT" };
        db.exec(&format!(
            "CREATE TABLE favorites (id {id} PRIMARY KEY, user_id {id} NOT NULL, \
             FOREIGN KEY (user_id) REFERENCES users (id));
             INSERT INTO favorites VALUES ('f1', 'u1');"
        ));
        let tables = ["users", "sessions", "accounts", "favorites"];
        let (rows, objects) = (db.fingerprint(&tables), schema_objects(&db));
        let dir = support::scratch();

        let r = doctor_in(&db, dir.path(), &["--as-of", AS_OF], &[]);
        assert_eq!(r.code, 2, "{what}: an error is exit 2\n{}", r.all());
        assert!(
            r.stdout
                .contains("ERROR: favorites.user_id references users.id"),
            "{what}: names the table:\n{}",
            r.stdout
        );
        let fix =
            "      [[tables]]\n      table = \"favorites\"\n      user_column = \"user_id\"\n";
        assert!(
            r.stdout.contains(fix),
            "{what}: the config lines that fix it:\n{}",
            r.stdout
        );
        assert!(
            r.stdout.contains("result: 1 error(s)"),
            "{what}: {}",
            r.stdout
        );

        let r = doctor_in(
            &db,
            dir.path(),
            &["--as-of", AS_OF, "--format", "json"],
            &[],
        );
        assert_eq!(r.code, 2, "{what}: {}", r.all());
        let j = json(&r);
        assert_eq!(j["errors"], 1, "{what}: {j}");
        let finding = &j["foreign_keys"][0];
        assert_eq!(finding["level"], "error");
        let fix_lines = finding["fix"].as_str().unwrap();
        assert_eq!(
            fix_lines,
            "[[tables]]\ntable = \"favorites\"\nuser_column = \"user_id\""
        );
        assert_eq!(db.fingerprint(&tables), rows, "{what}: nothing changed");
        assert_eq!(schema_objects(&db), objects, "{what}: nothing changed");

        // The fix, pasted into anonsweep.toml, makes doctor pass.
        std::fs::write(dir.path().join("anonsweep.toml"), format!("{fix_lines}\n")).unwrap();
        let r = doctor_in(&db, dir.path(), &["--as-of", AS_OF], &[]);
        assert_eq!(r.code, 0, "{what}: the fix works\n{}", r.all());
        assert!(
            r.stdout
                .contains("favorites (user_id = user id, configured)"),
            "{what}: favorites joins the delete order:\n{}",
            r.stdout
        );
        assert_eq!(db.fingerprint(&tables), rows, "{what}: nothing changed");
    }
);

backend_test!(
    configuration_values_show_where_they_came_from,
    [sqlite],
    |db: TestDb| {
        setup(&db, "TEXT");
        let dir = support::scratch();
        std::fs::write(
            dir.path().join("anonsweep.toml"),
            "retention_days = 42\nbatch_size = 50\n[users]\ntable = \"users\"\n",
        )
        .unwrap();
        let file = "file anonsweep.toml";

        // The file alone.
        let j = json(&doctor_in(
            &db,
            dir.path(),
            &["--as-of", AS_OF, "--format", "json"],
            &[],
        ));
        assert_eq!(setting(&j, "retention_days"), ("42".into(), file.into()));
        assert_eq!(setting(&j, "batch_size"), ("50".into(), file.into()));
        assert_eq!(setting(&j, "users.table"), ("users".into(), file.into()));
        assert_eq!(
            setting(&j, "users.id"),
            ("id".into(), "preset default".into())
        );
        assert_eq!(
            setting(&j, "lock_timeout_ms"),
            ("5000".into(), "default".into())
        );
        assert_eq!(setting(&j, "preset"), ("default".into(), "default".into()));
        assert_eq!(
            setting(&j, "as_of"),
            ("2026-11-26T00:00:00+00:00".into(), "flag --as-of".into())
        );
        assert_eq!(setting(&j, "database_url").1, "flag --database-url");

        // The environment beats the file.
        let env = [
            ("ANONSWEEP_RETENTION_DAYS", "41"),
            ("ANONSWEEP_PRESET", "default"),
        ];
        let j = json(&doctor_in(
            &db,
            dir.path(),
            &["--as-of", AS_OF, "--format", "json"],
            &env,
        ));
        assert_eq!(
            setting(&j, "retention_days"),
            ("41".into(), "env ANONSWEEP_RETENTION_DAYS".into())
        );
        assert_eq!(
            setting(&j, "preset"),
            ("default".into(), "env ANONSWEEP_PRESET".into())
        );

        // The flag beats both; the text report shows the same.
        let r = doctor_in(
            &db,
            dir.path(),
            &["--as-of", AS_OF, "--retention-days", "40"],
            &env,
        );
        assert_eq!(r.code, 0, "{}", r.all());
        let line = r
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("retention_days"))
            .unwrap_or_else(|| panic!("{}", r.stdout));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words, ["retention_days", "40", "flag", "--retention-days"]);
        let line = r
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("batch_size"))
            .unwrap();
        assert!(line.contains("50") && line.ends_with(file), "{line}");

        // DATABASE_URL from the environment.
        let url = db.url();
        let r = support::anonsweep_in(
            dir.path(),
            &["doctor", "--as-of", AS_OF, "--format", "json"],
            &[("DATABASE_URL", &url)],
        );
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(setting(&json(&r), "database_url").1, "env DATABASE_URL");
    }
);

// `backend` is read from the database URL: its origin is the URL's.
backend_test!(
    the_backend_origin_is_the_database_urls,
    [sqlite],
    |db: TestDb| {
        setup(&db, "TEXT");
        let dir = support::scratch();
        let url = db.url();
        let r = support::anonsweep_in(
            dir.path(),
            &["doctor", "--as-of", AS_OF, "--format", "json"],
            &[("DATABASE_URL", &url)],
        );
        assert_eq!(r.code, 0, "{}", r.all());
        let j = json(&r);
        assert_eq!(setting(&j, "database_url").1, "env DATABASE_URL");
        assert_eq!(
            setting(&j, "backend"),
            ("sqlite".into(), "env DATABASE_URL".into()),
            "no --database-url flag was given"
        );
    }
);

// Doctor lists what `run` will use: the run settings it shows (batch size, caps) come from the
// environment when set there, as they do from the file.
backend_test!(
    run_settings_from_the_environment_are_shown_as_run_uses_them,
    [sqlite],
    |db: TestDb| {
        setup(&db, "TEXT");
        let dir = support::scratch();
        std::fs::write(dir.path().join("anonsweep.toml"), "max_fraction = 0.5\n").unwrap();
        let env = [
            ("ANONSWEEP_BATCH_SIZE", "77"),
            ("ANONSWEEP_MAX_DELETIONS", "0"),
            ("ANONSWEEP_MAX_FRACTION", "0.9"),
        ];
        // What run uses: the environment's values (here the deletion cap stops it).
        let url = db.url();
        let r = support::anonsweep_in(
            dir.path(),
            &["run", "--as-of", AS_OF, "--database-url", &url],
            &env,
        );
        assert_eq!(r.code, 4, "{}", r.all());
        assert!(
            r.stderr
                .contains("more than max_deletions 0 (from env ANONSWEEP_MAX_DELETIONS)"),
            "{}",
            r.stderr
        );

        let j = json(&doctor_in(
            &db,
            dir.path(),
            &["--as-of", AS_OF, "--format", "json"],
            &env,
        ));
        assert_eq!(db.count("users"), 3, "nothing deleted");
        assert_eq!(
            setting(&j, "batch_size"),
            ("77".into(), "env ANONSWEEP_BATCH_SIZE".into())
        );
        assert_eq!(
            setting(&j, "max_deletions"),
            ("0".into(), "env ANONSWEEP_MAX_DELETIONS".into())
        );
        assert_eq!(
            setting(&j, "max_fraction"),
            ("0.9".into(), "env ANONSWEEP_MAX_FRACTION".into())
        );
    }
);

/// Sets the test database's default time zone (new connections pick it up).
fn set_zone(db: &TestDb, zone: &str) {
    let TestDb::Pg { name } = db else {
        unreachable!()
    };
    db.exec(&format!("ALTER DATABASE {name} SET timezone = '{zone}'"));
}

fn zone_warnings(j: &Value) -> Vec<String> {
    j["clock"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_string())
        .filter(|m| m.contains("time zone"))
        .collect()
}

backend_test!(
    pg_time_zone_warning_for_columns_without_a_zone,
    [postgres],
    |db: TestDb| {
        // timestamp columns, New York: warned, with the zone and the columns; a warning, not an error.
        setup(&db, "TIMESTAMP");
        set_zone(&db, "America/New_York");
        let objects = schema_objects(&db);
        let rows = db.fingerprint(TABLES);
        let r = db.run(&["doctor", "--as-of", AS_OF]);
        assert_eq!(r.code, 0, "a warning is not an error\n{}", r.all());
        assert!(
        r.stdout.contains("database time zone America/New_York")
            && r.stdout.contains(
                "warning: the database's default time zone is America/New_York, and users.created_at, sessions.created_at, sessions.updated_at have no time zone"
            ),
        "{}",
        r.stdout
    );
        let j = json(&db.run(&["doctor", "--as-of", AS_OF, "--format", "json"]));
        assert_eq!(j["clock"]["time_zone"], "America/New_York");
        let w = zone_warnings(&j);
        assert_eq!(w.len(), 1, "{j}");
        assert!(w[0].contains("America/New_York"), "{}", w[0]);
        assert!(j["warnings"].as_u64().unwrap() >= 1);
        assert_eq!(schema_objects(&db), objects);
        assert_eq!(db.fingerprint(TABLES), rows);

        // The same zone with timestamptz columns: nothing to warn about.
        let tz = TestDb::pg();
        setup(&tz, "TIMESTAMPTZ");
        set_zone(&tz, "America/New_York");
        let j = json(&tz.run(&["doctor", "--as-of", AS_OF, "--format", "json"]));
        assert_eq!(j["clock"]["time_zone"], "America/New_York");
        assert_eq!(zone_warnings(&j), Vec::<String>::new(), "{j}");

        // timestamp columns in a UTC database: nothing to warn about.
        let utc = TestDb::pg();
        setup(&utc, "TIMESTAMP");
        set_zone(&utc, "UTC");
        let j = json(&utc.run(&["doctor", "--as-of", AS_OF, "--format", "json"]));
        assert_eq!(j["clock"]["time_zone"], "UTC");
        assert_eq!(zone_warnings(&j), Vec::<String>::new(), "{j}");

        // Mixed: only the columns without a zone are named.
        let mixed = TestDb::pg();
        setup(&mixed, "TIMESTAMPTZ");
        mixed.exec(
        "ALTER TABLE sessions ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC'",
    );
        set_zone(&mixed, "Europe/Berlin");
        let j = json(&mixed.run(&["doctor", "--as-of", AS_OF, "--format", "json"]));
        let w = zone_warnings(&j);
        assert_eq!(w.len(), 1, "{j}");
        assert!(
            w[0].contains("Europe/Berlin, and sessions.updated_at has no time zone")
                && !w[0].contains("users.created_at"),
            "{}",
            w[0]
        );
    }
);

fn index_messages(j: &Value) -> Vec<String> {
    j["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect()
}

backend_test!(
    missing_indexes_are_listed_until_migrate_run,
    |db: TestDb| {
        let what = backend_name(&db);
        setup(&db, default_ts(&db));
        let objects = schema_objects(&db);
        let j = json(&db.run(&["doctor", "--as-of", AS_OF, "--format", "json"]));
        let missing = index_messages(&j);
        let mut wanted = vec!["anonsweep_sessions_user_id_created_at_updated_at"];
        // SQLite ships no users index (a scan in rowid order beats it).
        if db.is_pg() || db.is_mysql() {
            wanted.push("anonsweep_users_created_at_anon");
        }
        // MySQL indexes a foreign key's column by itself: accounts.user_id already has one.
        if !db.is_mysql() {
            wanted.push("anonsweep_accounts_user_id");
        }
        assert_eq!(missing.len(), wanted.len(), "{what}: {missing:?}");
        for name in wanted {
            assert!(
                missing
                    .iter()
                    .any(|m| m.contains(&format!("index {name} is missing"))
                        && m.contains("anonsweep migrate run")),
                "{what}: {name} listed as missing: {missing:?}"
            );
        }
        assert!(
            j["indexes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["level"] == "warning"),
            "{what}: {j}"
        );
        // Doctor only looks.
        let again = json(&db.run(&["doctor", "--as-of", AS_OF, "--format", "json"]));
        assert_eq!(index_messages(&again), missing, "{what}");
        assert_eq!(
            schema_objects(&db),
            objects,
            "{what}: doctor created nothing"
        );

        let r = db.run(&["migrate", "run"]);
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        assert_ne!(
            schema_objects(&db),
            objects,
            "{what}: migrate created indexes"
        );
        let r = db.run(&["doctor", "--as-of", AS_OF]);
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        assert!(
            r.stdout.contains("indexes:\n  ok\n"),
            "{what}: no index missing after migrate run:\n{}",
            r.stdout
        );
        let j = json(&db.run(&["doctor", "--as-of", AS_OF, "--format", "json"]));
        assert_eq!(index_messages(&j), Vec::<String>::new(), "{what}");
    }
);

backend_test!(
    json_report_has_every_section,
    [sqlite, postgres],
    |db: TestDb| {
        let what = backend_name(&db);
        setup(&db, default_ts(&db));
        let r = db.run(&["doctor", "--as-of", AS_OF, "--format", "json"]);
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        let j = json(&r);
        for key in [
            "configuration",
            "schema",
            "storage",
            "delete_order",
            "foreign_keys",
            "clock",
            "indexes",
            "errors",
            "warnings",
        ] {
            assert!(j.get(key).is_some(), "{what}: key {key} in {j}");
        }
        for key in ["database", "local", "skew_secs", "time_zone", "findings"] {
            assert!(
                j["clock"].get(key).is_some(),
                "{what}: clock.{key} in {}",
                j["clock"]
            );
        }
        assert!(j["configuration"].as_array().unwrap().len() > 10);
        for e in j["configuration"].as_array().unwrap() {
            assert!(
                e["name"].is_string() && e["value"].is_string() && e["origin"].is_string(),
                "{e}"
            );
        }
        let order: Vec<&str> = j["delete_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert_eq!(order.len(), 3, "{what}: {order:?}");
        assert!(order[0].starts_with("sessions") && order[1].starts_with("accounts"));
        assert!(order[2].starts_with("users"), "{order:?}");
        let storage = j["storage"].as_array().unwrap();
        assert_eq!(
            storage.len(),
            3,
            "{what}: created_at and two activity columns"
        );
        assert!(storage[0]
            .as_str()
            .unwrap()
            .starts_with("users.created_at: "));
        assert_eq!(j["errors"], 0);
        let warnings = j["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .chain(j["clock"]["findings"].as_array().unwrap())
            .chain(j["foreign_keys"].as_array().unwrap())
            .chain(j["schema"].as_array().unwrap())
            .filter(|f| f["level"] == "warning")
            .count();
        assert_eq!(j["warnings"], warnings as u64, "{what}: {j}");
        assert!(j["clock"]["local"].as_str().unwrap().ends_with('Z'));
        assert!(j["clock"]["skew_secs"].as_i64().unwrap().abs() <= 60);
        if db.is_pg() {
            assert!(j["clock"]["time_zone"].is_string());
        } else {
            assert!(j["clock"]["time_zone"].is_null());
        }
    }
);

// `try_on` references users and `try_on_image` references `try_on`, neither cascading nor
// configured: one doctor pass reports both, children first, each with its lines; pasted
// together they make doctor pass.
backend_test!(
    an_unconfigured_chain_is_reported_whole_in_one_pass,
    |db: TestDb| {
        let what = backend_name(&db);
        setup(&db, default_ts(&db));
        let id = if db.is_mysql() { "VARCHAR(64)" } else { "TEXT" };
        db.exec(&format!(
            "CREATE TABLE try_on (id {id} PRIMARY KEY, user_id {id} NOT NULL, \
             FOREIGN KEY (user_id) REFERENCES users (id));
             CREATE TABLE try_on_image (id {id} PRIMARY KEY, try_on_id {id} NOT NULL, \
             FOREIGN KEY (try_on_id) REFERENCES try_on (id));
             INSERT INTO try_on VALUES ('t1', 'u1');
             INSERT INTO try_on_image VALUES ('i1', 't1');"
        ));
        let dir = support::scratch();
        let r = doctor_in(
            &db,
            dir.path(),
            &["--as-of", AS_OF, "--format", "json"],
            &[],
        );
        assert_eq!(r.code, 2, "{what}: {}", r.all());
        let j = json(&r);
        assert_eq!(j["errors"], 2, "{what}: both levels at once: {j}");
        let errors: Vec<&Value> = j["foreign_keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["level"] == "error")
            .collect();
        assert!(
            errors[0]["message"]
                .as_str()
                .unwrap()
                .starts_with("try_on_image.try_on_id references try_on.id"),
            "{what}: the child first (delete order): {j}"
        );
        assert!(
            errors[1]["message"]
                .as_str()
                .unwrap()
                .starts_with("try_on.user_id references users.id"),
            "{what}: {j}"
        );
        let image_fix = "[[tables]]\ntable = \"try_on_image\"\ncolumn = \"try_on_id\"\nparent = \"try_on\"\nparent_column = \"id\"";
        let try_on_fix = "[[tables]]\ntable = \"try_on\"\nuser_column = \"user_id\"";
        assert_eq!(errors[0]["fix"], image_fix, "{what}");
        assert_eq!(errors[1]["fix"], try_on_fix, "{what}");

        // The text report shows both, with their lines.
        let r = doctor_in(&db, dir.path(), &["--as-of", AS_OF], &[]);
        assert_eq!(r.code, 2, "{what}: {}", r.all());
        assert!(
            r.stdout.contains("result: 2 error(s)"),
            "{what}: {}",
            r.stdout
        );
        let indented = |fix: &str| {
            fix.lines()
                .map(|l| format!("      {l}\n"))
                .collect::<String>()
        };
        let (a, b) = (
            r.stdout.find(&indented(image_fix)),
            r.stdout.find(&indented(try_on_fix)),
        );
        assert!(a.is_some() && b.is_some() && a < b, "{what}: {}", r.stdout);

        // Both pasted at once: nothing left to report.
        std::fs::write(
            dir.path().join("anonsweep.toml"),
            format!("{image_fix}\n{try_on_fix}\n"),
        )
        .unwrap();
        let r = doctor_in(&db, dir.path(), &["--as-of", AS_OF], &[]);
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        let r = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--config",
            dir.path().join("anonsweep.toml").to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        assert_eq!(db.count("try_on_image"), 0, "{what}");
        assert_eq!(db.count("try_on"), 0, "{what}");
    }
);

// A table keyed by the user's id (`profiles.id`, cascading) makes `id` a user column; another
// table's own primary key named `id` is its rows' id, not a user's: no warning for it, while a
// real look-alike column without a foreign key still gets one.
backend_test!(
    a_tables_own_primary_key_is_not_a_user_id_lookalike,
    |db: TestDb| {
        let what = backend_name(&db);
        setup(&db, default_ts(&db));
        let id = if db.is_mysql() { "VARCHAR(64)" } else { "TEXT" };
        db.exec(&format!(
            "CREATE TABLE profiles (id {id} PRIMARY KEY, bio TEXT, \
             FOREIGN KEY (id) REFERENCES users (id) ON DELETE CASCADE);
             CREATE TABLE products (id {id} PRIMARY KEY, title TEXT);
             CREATE TABLE notes (id {id} PRIMARY KEY, user_id {id});"
        ));
        let r = db.run(&["doctor", "--as-of", AS_OF, "--format", "json"]);
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        let j = json(&r);
        let lookalikes: Vec<String> = j["foreign_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["message"].as_str().unwrap().to_string())
            .filter(|m| m.contains("looks like a user id"))
            .collect();
        assert_eq!(lookalikes.len(), 1, "{what}: {lookalikes:?}");
        assert!(
            lookalikes[0].starts_with("notes.user_id looks like a user id"),
            "{what}: {lookalikes:?}"
        );
        assert!(
            j["delete_order"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d.as_str().unwrap().contains("profiles (id = user id")),
            "{what}: {j}"
        );
    }
);

/// The lines of the text report's section `title` (the indented lines under `title:`).
fn section_lines<'a>(stdout: &'a str, title: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .skip_while(|l| *l != format!("{title}:"))
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .collect()
}

// A check that could not run (here: no users table, so nothing after the schema check ran) is
// "not checked" with the reason, never "ok": in text, and in JSON as {"not_checked": reason}
// instead of the (empty) list of findings; `not_checked` lists them all. A database where every
// check runs has none.
backend_test!(
    checks_that_could_not_run_are_not_checked_not_ok,
    |db: &TestDb| {
        let what = backend_name(db);
        db.exec("CREATE TABLE unrelated (id INTEGER PRIMARY KEY)");
        let dir = support::scratch();
        let r = doctor_in(db, dir.path(), &["--as-of", AS_OF], &[]);
        assert_eq!(r.code, 2, "{what}: {}", r.all());
        for title in [
            "foreign keys",
            "indexes",
            "clock",
            "delete order (each batch, one transaction)",
        ] {
            let lines = section_lines(&r.stdout, title);
            assert_eq!(lines.len(), 1, "{what}: {title}: {}", r.stdout);
            assert!(
                lines[0].trim_start().starts_with("not checked: ") && lines[0].contains("schema"),
                "{what}: {title} says why it was not checked: {}",
                r.stdout
            );
        }
        assert!(
            !r.stdout.contains("  ok\n"),
            "{what}: nothing is ok: {}",
            r.stdout
        );

        let r = doctor_in(db, dir.path(), &["--as-of", AS_OF, "--format", "json"], &[]);
        assert_eq!(r.code, 2, "{what}: {}", r.all());
        let j = json(&r);
        assert_eq!(j["schema"][0]["level"], "error", "{what}: {j}");
        for key in [
            "foreign_keys",
            "indexes",
            "activity",
            "delete_order",
            "clock",
        ] {
            let why = j[key]["not_checked"].as_str();
            assert!(
                why.is_some_and(|w| w.contains("schema")),
                "{what}: {key}: {j}"
            );
            assert_eq!(j["not_checked"][key].as_str(), why, "{what}: {key}: {j}");
        }

        // Every check runs: nothing is "not checked".
        let db2 = TestDb::new(db.backend());
        setup(&db2, default_ts(&db2));
        let r = doctor_in(
            &db2,
            dir.path(),
            &["--as-of", AS_OF, "--format", "json"],
            &[],
        );
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        let j = json(&r);
        assert_eq!(j["not_checked"], serde_json::json!({}), "{what}: {j}");
        assert!(
            j["foreign_keys"].is_array() && j["indexes"].is_array(),
            "{what}: {j}"
        );
        let r = doctor_in(&db2, dir.path(), &["--as-of", AS_OF], &[]);
        assert!(!r.stdout.contains("not checked"), "{what}: {}", r.stdout);
    }
);

/// Every configuration entry's origin names its flag, variable, file or preset (or is the
/// default): never a bare `file`.
fn assert_origins_named(j: &Value, what: &str) {
    for e in j["configuration"].as_array().unwrap() {
        let o = e["origin"].as_str().unwrap();
        let named = |prefix: &str| o.strip_prefix(prefix).is_some_and(|n| !n.trim().is_empty());
        assert!(
            o == "default"
                || named("flag --")
                || named("env ")
                || named("file ")
                || named("preset "),
            "{what}: {} comes from {o:?}",
            e["name"]
        );
    }
}

// `accounts = disabled` comes from the preset when the preset disables it (supabase), from the
// file when the file does; the other entries name their source too. (The supabase tables do
// not exist here: only the configuration is looked at.)
backend_test!(
    origins_name_the_preset_file_flag_or_variable,
    |db: &TestDb| {
        let what = backend_name(db);
        setup(db, default_ts(db));
        let run_dir = support::scratch();
        let conf = support::scratch();

        // The preset from the flag, no file.
        let r = doctor_in(
            db,
            run_dir.path(),
            &["--as-of", AS_OF, "--format", "json", "--preset", "supabase"],
            &[],
        );
        let j = json(&r);
        assert_eq!(
            setting(&j, "accounts"),
            ("disabled".into(), "preset supabase".into()),
            "{what}"
        );
        assert_eq!(setting(&j, "preset").1, "flag --preset", "{what}");
        assert_origins_named(&j, what);

        // The preset from the environment.
        let r = doctor_in(
            db,
            run_dir.path(),
            &["--as-of", AS_OF, "--format", "json"],
            &[("ANONSWEEP_PRESET", "supabase")],
        );
        let j = json(&r);
        assert_eq!(setting(&j, "accounts").1, "preset supabase", "{what}");
        assert_eq!(setting(&j, "preset").1, "env ANONSWEEP_PRESET", "{what}");
        assert_origins_named(&j, what);

        // The preset from a file that says nothing about accounts.
        let file = conf.path().join("preset.toml");
        std::fs::write(&file, "preset = \"supabase\"\n").unwrap();
        let file_s = file.to_str().unwrap();
        let r = doctor_in(
            db,
            run_dir.path(),
            &["--as-of", AS_OF, "--format", "json", "--config", file_s],
            &[],
        );
        let j = json(&r);
        assert_eq!(setting(&j, "preset").1, format!("file {file_s}"), "{what}");
        assert_eq!(setting(&j, "accounts").1, "preset supabase", "{what}");
        assert_origins_named(&j, what);

        // Accounts disabled by the file.
        let file = conf.path().join("accounts.toml");
        std::fs::write(&file, "[accounts]\nenabled = false\n").unwrap();
        let file_s = file.to_str().unwrap();
        let r = doctor_in(
            db,
            run_dir.path(),
            &["--as-of", AS_OF, "--format", "json", "--config", file_s],
            &[],
        );
        // (accounts.user_id references users, so doctor reports an unconfigured table.)
        let j = json(&r);
        assert_eq!(
            setting(&j, "accounts"),
            ("disabled".into(), format!("file {file_s}")),
            "{what}"
        );
        assert_origins_named(&j, what);
        let r = doctor_in(
            db,
            run_dir.path(),
            &["--as-of", AS_OF, "--config", file_s],
            &[],
        );
        let line = r
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("accounts "))
            .unwrap_or_else(|| panic!("{what}: {}", r.stdout));
        assert!(
            line.trim_end().ends_with(&format!("file {file_s}")),
            "{what}: {line}"
        );
    }
);

// More than one worker on SQLite, from the environment or the config file: doctor reports the
// error `run` would stop with (exit 2), naming where the setting came from.
backend_test!(
    workers_above_one_on_sqlite_is_an_error,
    [sqlite],
    |db: TestDb| {
        setup(&db, default_ts(&db));
        let dir = tempfile::tempdir().unwrap();
        let r = doctor_in(
            &db,
            dir.path(),
            &["--as-of", AS_OF],
            &[("ANONSWEEP_WORKERS", "3")],
        );
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(r.stdout.contains("--workers 3"), "{}", r.stdout);
        assert!(r.stdout.contains("ANONSWEEP_WORKERS"), "{}", r.stdout);
        assert!(r.stdout.contains("use --workers 1"), "{}", r.stdout);
        let r = doctor_in(
            &db,
            dir.path(),
            &["--as-of", AS_OF],
            &[("ANONSWEEP_WORKERS", "1")],
        );
        assert_eq!(r.code, 0, "{}", r.all());
    }
);
