//! Stopping a run cleanly: SIGTERM / SIGINT and `--max-runtime` stop it after the batch in
//! flight (exit 6), the summary still printed with "stopped early", every user either wholly
//! deleted or wholly kept, and a rerun finishes the job. Also: progress lines on a non-terminal
//! stderr (none with `--quiet`), and bad `--max-runtime` / `--lock` values (exit 2, one line,
//! nothing deleted).
//!
//! Runs are made slow with `--batch-size 5 --sleep-ms 100`; nothing here asserts on timings.

use crate::support;

use support::{backend_test, Backend, Run, TestDb};

use support::population::*;

// ---------------------------------------------------------------------------------------------
// 7, 8. SIGTERM / SIGINT mid-run
// ---------------------------------------------------------------------------------------------

/// Signals a run after its first batch: exit 6, summary with "stopped early", no half-deleted
/// user; a rerun finishes. On SQLite the run also holds a Redis lock, released on the way out.
fn signal_mid_run(db: TestDb, sig: &str) {
    setup(&db);
    let with_lock = !db.is_pg();
    let mut args = slow_run(&[]);
    if with_lock {
        args.extend_from_slice(&["--lock", REDIS]);
    }
    let mut a = spawn(&db, &args, &[]);
    a.wait_for_first_batch(&db);
    let key = if with_lock {
        key_held_by(a.pid())
    } else {
        None
    };
    assert_eq!(key.is_some(), with_lock, "the run holds its Redis key");
    a.signal(sig);
    let r = a.finish();
    assert_eq!(r.code, 6, "SIG{sig}: exit 6\n{}", r.all());
    assert!(
        r.stdout.contains("stopped early"),
        "SIG{sig}: the summary is printed:\n{}",
        r.stdout
    );
    let deleted = deleted_users(&r.stdout);
    let left = eligible_left(&db);
    assert_eq!(
        deleted + left,
        ELIGIBLE,
        "SIG{sig}: the summary counts what is gone\n{}",
        r.stdout
    );
    assert!(
        deleted > 0 && left > 0,
        "SIG{sig}: stopped mid-run (deleted {deleted}, left {left})\n{}",
        r.all()
    );
    assert_whole(&db, &format!("after SIG{sig}"));
    if let Some(key) = key {
        assert_eq!(redis_get(&key), None, "SIG{sig}: the Redis key is released");
    }

    let c = db.run(&quick_run(&[]));
    assert_eq!(c.code, 0, "rerun after SIG{sig}\n{}", c.all());
    assert_eq!(deleted_users(&c.stdout), left, "{}", c.stdout);
    assert_eq!(eligible_left(&db), 0);
    assert_eq!(user_ids(&db), survivors());
    assert_whole(&db, &format!("rerun after SIG{sig}"));
}

backend_test!(
    sigterm_stops_after_the_batch_in_flight_with_exit_6,
    [sqlite, postgres],
    |db: TestDb| signal_mid_run(db, "TERM")
);

backend_test!(
    sigint_stops_after_the_batch_in_flight_with_exit_6,
    [sqlite, postgres],
    |db: TestDb| signal_mid_run(db, "INT")
);

// ---------------------------------------------------------------------------------------------
// 9. --max-runtime
// ---------------------------------------------------------------------------------------------

/// `--max-runtime 1s` on a run that needs about 8 s: exit 6 with some but not all users gone
/// (on PostgreSQL given as ANONSWEEP_MAX_RUNTIME); a rerun finishes.
fn max_runtime(db: TestDb) {
    setup(&db);
    let base = [
        "run",
        "--as-of",
        AS_OF,
        "--quiet",
        "--batch-size",
        "5",
        "--sleep-ms",
        "200",
    ];
    let r = if db.is_pg() {
        db.run_env(&base, &[("ANONSWEEP_MAX_RUNTIME", "1s")])
    } else {
        db.run(&[&base[..], &["--max-runtime", "1s"]].concat())
    };
    assert_eq!(r.code, 6, "--max-runtime: exit 6\n{}", r.all());
    assert!(
        r.stdout.contains("stopped early") && r.stdout.contains("--max-runtime"),
        "{}",
        r.stdout
    );
    let deleted = deleted_users(&r.stdout);
    let left = eligible_left(&db);
    assert_eq!(deleted + left, ELIGIBLE, "{}", r.stdout);
    assert!(
        deleted > 0 && left > 0,
        "some but not all: deleted {deleted}, left {left}\n{}",
        r.all()
    );
    assert_whole(&db, "after --max-runtime");

    let c = db.run(&quick_run(&["--max-runtime", "2h"]));
    assert_eq!(c.code, 0, "rerun\n{}", c.all());
    assert_eq!(deleted_users(&c.stdout), left);
    assert_eq!(user_ids(&db), survivors());
    assert_whole(&db, "after the rerun");
}

backend_test!(
    max_runtime_stops_after_the_batch_in_flight_with_exit_6,
    [sqlite, postgres],
    |db: TestDb| max_runtime(db)
);

// ---------------------------------------------------------------------------------------------
// 10. Progress lines
// ---------------------------------------------------------------------------------------------

// A run of about 7 s (one user per batch, 100 ms apart, ended by --max-runtime 7s), stderr a
// pipe: a plain `progress: N/M users deleted` line without --quiet, none with it.
backend_test!(
    progress_lines_on_a_pipe_unless_quiet,
    [sqlite],
    |backend: Backend| {
        fn long_run(backend: Backend, quiet: bool) -> (Run, usize) {
            let db = TestDb::new(backend);
            setup(&db);
            let mut args = vec![
                "run",
                "--as-of",
                AS_OF,
                "--batch-size",
                "1",
                "--sleep-ms",
                "100",
                "--max-runtime",
                "7s",
            ];
            if quiet {
                args.push("--quiet");
            }
            let r = db.run(&args);
            assert_eq!(r.code, 6, "quiet {quiet}\n{}", r.all());
            assert_whole(&db, "progress run");
            let left = eligible_left(&db);
            (r, left)
        }
        let (loud, quiet) = std::thread::scope(|s| {
            let l = s.spawn(|| long_run(backend, false));
            let q = s.spawn(|| long_run(backend, true));
            (l.join().unwrap(), q.join().unwrap())
        });
        let (r, left) = loud;
        let lines: Vec<&str> = r
            .stderr
            .lines()
            .filter_map(|l| l.split_once("progress: ").map(|(_, rest)| rest))
            .collect();
        assert!(
            !lines.is_empty(),
            "a run of 7 s writes a progress line (every 5 s):\n{}",
            r.stderr
        );
        for l in &lines {
            let (done, rest) = l
                .split_once('/')
                .unwrap_or_else(|| panic!("progress: N/M …: {l}"));
            let done: usize = done.parse().unwrap_or_else(|_| panic!("N: {l}"));
            let (total, rest) = rest.split_once(' ').unwrap();
            assert_eq!(total, ELIGIBLE.to_string(), "M is the eligible count: {l}");
            assert!(rest.starts_with("users deleted"), "{l}");
            assert!(
                done > 0 && done <= ELIGIBLE - left,
                "N ({done}) is what was deleted so far (at the end {}): {l}",
                ELIGIBLE - left
            );
        }
        assert!(
            !r.stdout.contains("progress"),
            "progress goes to stderr:\n{}",
            r.stdout
        );
        let (q, _) = quiet;
        assert!(
            !q.stderr.contains("progress"),
            "--quiet: no progress line:\n{}",
            q.stderr
        );
        assert!(q.stdout.contains("stopped early"), "{}", q.stdout);
    }
);

// ---------------------------------------------------------------------------------------------
// 11. Bad --max-runtime / --lock values
// ---------------------------------------------------------------------------------------------

fn assert_usage_error(db: &TestDb, what: &str, r: &Run, before: &[String]) {
    assert_eq!(r.code, 2, "{what}: exit 2\n{}", r.all());
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: one line on stderr:\n{}", r.stderr);
    assert!(
        r.stdout.trim().is_empty(),
        "{what}: no summary:\n{}",
        r.stdout
    );
    assert_eq!(
        db.fingerprint(&["users", "sessions", "accounts"]),
        before,
        "{what}: nothing deleted"
    );
}

backend_test!(
    bad_max_runtime_and_lock_values_are_usage_errors,
    [sqlite],
    |db: TestDb| {
        setup(&db);
        let before = db.fingerprint(&["users", "sessions", "accounts"]);
        let flags: [&[&str]; 10] = [
            &["--max-runtime", "abc"],
            &["--max-runtime", "10"],
            &["--max-runtime", "1x"],
            &["--max-runtime", ""],
            &["--max-runtime=-1s"],
            &["--lock", "bogus"],
            &["--lock", ""],
            &["--lock", "postgres://127.0.0.1/x"],
            &["--lock", "redis://127.0.0.1:99999"],
            &["--lock", "redis:"],
        ];
        for extra in flags {
            let r = db.run(&quick_run(extra));
            assert_usage_error(&db, &extra.join(" "), &r, &before);
        }
        for (k, v) in [
            ("ANONSWEEP_MAX_RUNTIME", "soon"),
            ("ANONSWEEP_LOCK_URL", "memcached://127.0.0.1"),
        ] {
            let r = db.run_env(&quick_run(&[]), &[(k, v)]);
            assert_usage_error(&db, &format!("{k}={v}"), &r, &before);
        }
    }
);

// A negative duration as its own argument, the way most people type it: still the tool's own
// one-line message (other numeric options accept leading hyphens for this reason).
backend_test!(
    negative_max_runtime_is_a_one_line_usage_error,
    [sqlite],
    |db: TestDb| {
        setup(&db);
        let before = db.fingerprint(&["users", "sessions", "accounts"]);
        let r = db.run(&quick_run(&["--max-runtime", "-1s"]));
        assert_usage_error(&db, "--max-runtime -1s", &r, &before);
        assert!(
            r.stderr.contains("--max-runtime"),
            "names the option:\n{}",
            r.stderr
        );
    }
);

// A duration too long to add to the clock (u64::MAX seconds, 300 billion years) is refused
// (exit 2, one line, nothing deleted) or taken as "no limit" (exit 0), never a panic.
backend_test!(
    huge_max_runtime_does_not_panic,
    [sqlite],
    |backend: Backend| {
        for v in ["18446744073709551615s", "300000000000years"] {
            let db = TestDb::new(backend);
            setup(&db);
            let before = db.fingerprint(&["users", "sessions", "accounts"]);
            let r = db.run(&quick_run(&["--max-runtime", v]));
            assert!(
                !r.stderr.contains("panicked") && (r.code == 0 || r.code == 2),
                "--max-runtime {v}: exit {}\n{}",
                r.code,
                r.stderr
            );
            if r.code == 2 {
                assert_usage_error(&db, &format!("--max-runtime {v}"), &r, &before);
            } else {
                assert_eq!(user_ids(&db), survivors());
            }
        }
    }
);

// On a terminal (a pseudo-terminal made by util-linux `script`), `run` draws a progress bar with
// deleted/eligible; with `--quiet` it draws none. Either way the job is done.
backend_test!(
    progress_bar_on_a_terminal_unless_quiet,
    [sqlite],
    |backend: Backend| {
        if std::process::Command::new("script")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("note: `script` (util-linux) is missing: progress-bar test skipped");
            return;
        }
        for quiet in [false, true] {
            let db = TestDb::new(backend);
            setup(&db);
            let mut cmd = format!(
                "{} run --database-url {} --as-of {AS_OF} --batch-size 20 --sleep-ms 20",
                env!("CARGO_BIN_EXE_anonsweep"),
                db.url()
            );
            if quiet {
                cmd += " --quiet";
            }
            let out = std::process::Command::new("script")
                .args(["-qec", &cmd, "/dev/null"])
                .current_dir(db.dir())
                .env_remove("DATABASE_URL")
                .output()
                .expect("run script");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{text}");
            // The bar is redrawn at most 20 times a second: any state of it will do.
            let bar = format!("/{ELIGIBLE} users deleted");
            assert_eq!(text.contains(&bar), !quiet, "quiet={quiet}:\n{text}");
            assert!(!text.contains("progress:"), "no plain lines on a terminal");
            assert_eq!(eligible_left(&db), 0);
            assert_whole(&db, "after the run");
        }
    }
);
