//! Configuration precedence (flag > environment > anonsweep.toml > preset), `.env`, the audit
//! log, JSON summaries and `run --dry-run`.

use crate::support;

use support::{backend_test, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";
const AGE_ONLY: &str = "age_only = true\n";

/// Users created 5, 15, 25 and 45 days before AS_OF, all anonymous, no sessions (SQLite): a rule
/// by age alone, acknowledged in `anonsweep.toml` (`age_only = true`), since an empty sessions
/// table is otherwise refused.
fn aged_users(db: &TestDb) {
    std::fs::write(db.dir().join("anonsweep.toml"), AGE_ONLY).unwrap();
    db.exec(&support::default_schema(db, "TEXT", "TEXT", false));
    db.exec(
        "INSERT INTO users VALUES
           ('d05', 1, '2026-11-21T00:00:00.000Z'), ('d15', 1, '2026-11-11T00:00:00.000Z'),
           ('d25', 1, '2026-11-01T00:00:00.000Z'), ('d45', 1, '2026-10-12T00:00:00.000Z');
         INSERT INTO accounts VALUES ('a1', 'd45', 'anonymous');",
    );
}

fn plan_json(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let mut a = vec!["plan", "--format", "json", "--as-of", AS_OF];
    a.extend(args);
    let r = db.run_env(&a, env);
    assert_eq!(r.code, 0, "{}", r.all());
    serde_json::from_str(&r.stdout).unwrap()
}

fn setting<'a>(json: &'a serde_json::Value, name: &str) -> (&'a str, &'a str) {
    let s = json["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap();
    (s["value"].as_str().unwrap(), s["origin"].as_str().unwrap())
}

backend_test!(
    retention_precedence_flag_env_file_default,
    [sqlite],
    |db: TestDb| {
        aged_users(&db);
        std::fs::write(
            db.dir().join("anonsweep.toml"),
            format!("{AGE_ONLY}retention_days = 10\n"),
        )
        .unwrap();
        let env = [("ANONSWEEP_RETENTION_DAYS", "20")];

        let j = plan_json(&db, &["--retention-days", "40"], &env);
        assert_eq!(
            setting(&j, "retention_days"),
            ("40", "flag --retention-days")
        );
        assert_eq!(j["eligible"], 1, "only d45 is older than 40 days");

        let j = plan_json(&db, &[], &env);
        assert_eq!(
            setting(&j, "retention_days"),
            ("20", "env ANONSWEEP_RETENTION_DAYS")
        );
        assert_eq!(j["eligible"], 2);

        let j = plan_json(&db, &[], &[]);
        assert_eq!(setting(&j, "retention_days").0, "10");
        assert!(setting(&j, "retention_days").1.starts_with("file "));
        assert_eq!(j["eligible"], 3);
        assert_eq!(j["cutoff"], "2026-11-16T00:00:00Z");

        std::fs::write(db.dir().join("anonsweep.toml"), AGE_ONLY).unwrap();
        let j = plan_json(&db, &[], &[]);
        assert_eq!(setting(&j, "retention_days"), ("30", "default"));
        assert_eq!(j["eligible"], 1);

        // And `run` obeys the same value: retention 20 from the environment deletes d25 and d45.
        let r = db.run_env(&["run", "--as-of", AS_OF], &env);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(db.ids("users", "id"), vec!["d05", "d15"]);
    }
);

backend_test!(
    preset_precedence_and_table_overrides,
    [sqlite],
    |db: TestDb| {
        aged_users(&db);
        std::fs::write(
            db.dir().join("anonsweep.toml"),
            format!("{AGE_ONLY}preset = 'better-auth'\n[users]\ntable = 'users'\n"),
        )
        .unwrap();
        // The file's preset would look for "session"; the flag wins and the file's override still applies.
        let j = plan_json(&db, &["--preset", "default"], &[]);
        assert_eq!(setting(&j, "preset"), ("default", "flag --preset"));
        assert_eq!(setting(&j, "users.table").0, "users");
        assert!(setting(&j, "users.table").1.starts_with("file "));
        assert_eq!(
            setting(&j, "sessions.table"),
            ("sessions", "preset default")
        );
        let r = db.run_env(&["plan", "--as-of", AS_OF], &[]);
        assert_eq!(
            r.code,
            1,
            "better-auth's column names do not exist here: {}",
            r.all()
        );
        assert!(r.stderr.contains("isAnonymous"), "{}", r.stderr);
        let r = db.run_env(
            &["plan", "--as-of", AS_OF],
            &[("ANONSWEEP_PRESET", "default")],
        );
        assert_eq!(r.code, 0, "{}", r.all());
    }
);

backend_test!(dotenv_supplies_database_url, [sqlite], |db: TestDb| {
    aged_users(&db);
    let TestDb::Sqlite { path, .. } = &db else {
        unreachable!()
    };
    let dir = support::scratch();
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "DATABASE_URL=sqlite://{}\nANONSWEEP_RETENTION_DAYS=20\n",
            path.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("anonsweep.toml"), AGE_ONLY).unwrap();
    let r = support::anonsweep_in(dir.path(), &["run", "--as-of", AS_OF], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(db.ids("users", "id"), vec!["d05", "d15"]);
});

backend_test!(
    dry_run_changes_nothing_and_run_json_and_audit_log_match_the_database,
    [sqlite],
    |db: TestDb| {
        aged_users(&db);
        let dry = db.run(&[
            "run",
            "--dry-run",
            "--as-of",
            AS_OF,
            "--retention-days",
            "20",
        ]);
        assert_eq!(dry.code, 0, "{}", dry.all());
        assert!(dry.stdout.contains("dry run, nothing changed"));
        assert_eq!(db.count("users"), 4);

        let audit = db.dir().join("audit.jsonl");
        let r = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--retention-days",
            "20",
            "--format",
            "json",
            "--audit-log",
            audit.to_str().unwrap(),
            "--batch-size",
            "1",
        ]);
        assert_eq!(r.code, 0, "{}", r.all());
        let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(j["deleted_users"], 2);
        // Counted only for a max_fraction cap (none here).
        assert!(j["total_anonymous"].is_null(), "{}", r.stdout);
        assert_eq!(j["eligible"], 2);
        assert_eq!(j["batches"], 2);
        assert_eq!(
            j["deleted_rows"][1],
            serde_json::json!({"table": "accounts", "rows": 1})
        );
        assert_eq!(db.ids("users", "id"), vec!["d05", "d15"]);

        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut ids: Vec<&str> = lines
            .iter()
            .map(|l| l["user_id"].as_str().unwrap())
            .collect();
        ids.sort();
        assert_eq!(ids, vec!["d25", "d45"]);
        let d45 = lines.iter().find(|l| l["user_id"] == "d45").unwrap();
        assert_eq!(d45["rows"]["accounts"], 1);
        assert_eq!(d45["rows"]["sessions"], 0);
        assert_eq!(d45["created_at"], "2026-10-12T00:00:00.000Z");
        assert_eq!(d45["run_id"], j["run_id"]);
        assert!(d45["deleted_at"].as_str().unwrap().ends_with('Z'));

        // Appends, never truncates.
        db.exec("INSERT INTO users VALUES ('d99', 1, '2025-01-01T00:00:00.000Z')");
        let r = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--audit-log",
            audit.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0);
        assert_eq!(std::fs::read_to_string(&audit).unwrap().lines().count(), 3);
    }
);

backend_test!(
    logs_go_to_stderr_with_timestamps_and_data_to_stdout,
    [sqlite],
    |db: TestDb| {
        aged_users(&db);
        let r = db.run_env(&["run", "--as-of", AS_OF], &[("ANONSWEEP_LOG", "debug")]);
        assert_eq!(r.code, 0);
        assert!(r.stdout.starts_with("anonsweep run:"), "{}", r.stdout);
        let first = r.stderr.lines().next().unwrap();
        assert!(
            first.starts_with("2026-") || first.starts_with("20"),
            "{first}"
        );
        assert!(r.stderr.contains("DEBUG batch 1"), "{}", r.stderr);
        let quiet = db.run_env(&["plan", "--as-of", AS_OF], &[("ANONSWEEP_LOG", "error")]);
        assert!(quiet.stderr.is_empty(), "{}", quiet.stderr);
    }
);

// An audit log that cannot be written (a full disk: /dev/full) stops the run after the batch
// that already committed, with exit code 5, instead of deleting users it cannot record.
backend_test!(
    an_unwritable_audit_log_stops_the_run_with_exit_5,
    [sqlite],
    |db: TestDb| {
        aged_users(&db);
        let r = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--retention-days",
            "1",
            "--batch-size",
            "1",
            "--audit-log",
            "/dev/full",
        ]);
        assert_eq!(r.code, 5, "{}", r.all());
        assert!(
            r.stderr.contains("cannot write the audit log"),
            "{}",
            r.stderr
        );
        assert_eq!(db.count("users"), 3, "only the first batch (one user) went");
    }
);

// Without a configured batch size each backend uses its own default (BENCHMARKS.md): 5000 on
// PostgreSQL, 2000 on MySQL/MariaDB, 1000 on SQLite. 6000 eligible users therefore take 2, 3
// and 6 batches, and all of them are gone.
backend_test!(
    the_default_batch_size_depends_on_the_backend,
    |db: TestDb| {
        db.exec(&support::default_schema(&db, "TIMESTAMPTZ", "TEXT", false));
        for chunk in 0..12 {
            let rows: Vec<String> = (0..500)
                .map(|i| {
                    format!(
                        "('u{:05}', {}, {})",
                        chunk * 500 + i,
                        db.bool(true),
                        db.ts("2026-01-01 00:00:00")
                    )
                })
                .collect();
            db.exec(&format!("INSERT INTO users VALUES {}", rows.join(", ")));
        }
        db.exec(&format!(
            "INSERT INTO users VALUES ('r1', {}, {})",
            db.bool(false),
            db.ts("2026-01-01 00:00:00")
        ));
        let (size, batches) = if db.is_pg() {
            ("5000", 2)
        } else if db.is_mysql() {
            ("2000", 3)
        } else {
            ("1000", 6)
        };
        let plan = plan_json(&db, &[], &[]);
        assert_eq!(setting(&plan, "batch_size"), (size, "default"));
        // Fixed batches (no time target): the default size alone decides their number.
        let r = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--format",
            "json",
            "--target-batch-ms",
            "0",
        ]);
        assert_eq!(r.code, 0, "{}", r.all());
        let json: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
        assert_eq!(json["batches"].as_u64(), Some(batches), "{}", r.stdout);
        assert_eq!(json["deleted_users"].as_u64(), Some(6000));
        assert_eq!(db.ids("users", "id"), vec!["r1".to_string()]);
    }
);
