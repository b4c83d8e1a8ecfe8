//! Safety caps on `run`: `--max-deletions` and `--max-fraction` (flag, environment, config
//! file) and an `--as-of` later than the clock stop the run with exit 4, the numbers on stderr,
//! nothing deleted and no archive written; a cap that is not exceeded lets the run delete
//! normally; `--allow-future-as-of` lets a future as-of run; bad cap values are usage errors.

use crate::support;

use std::path::Path;

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

/// Ten eligible anonymous users e0…e9 (old, old sessions), two anonymous users with recent
/// activity (a0, a1) and two registered users (r0, r1): 12 anonymous, 10 eligible (83.3%).
fn setup(db: &TestDb) {
    let ts_type = if db.is_pg() { "TIMESTAMPTZ" } else { "TEXT" };
    db.exec(&support::default_schema(db, ts_type, "TEXT", false));
    let (t, f) = (db.bool(true), db.bool(false));
    let old = db.ts("2026-01-01 00:00:00");
    let recent = db.ts("2026-11-20 00:00:00");
    let mut sql = String::new();
    for i in 0..10 {
        sql += &format!("INSERT INTO users VALUES ('e{i}', {t}, {old});\n");
        sql += &format!("INSERT INTO sessions VALUES ('se{i}', 'e{i}', {old}, {old});\n");
        sql += &format!("INSERT INTO accounts VALUES ('ae{i}', 'e{i}', 'anonymous');\n");
    }
    for i in 0..2 {
        sql += &format!("INSERT INTO users VALUES ('a{i}', {t}, {old});\n");
        sql += &format!("INSERT INTO sessions VALUES ('sa{i}', 'a{i}', {old}, {recent});\n");
        sql += &format!("INSERT INTO users VALUES ('r{i}', {f}, {old});\n");
        sql += &format!("INSERT INTO sessions VALUES ('sr{i}', 'r{i}', {old}, {old});\n");
    }
    db.exec(&sql);
}

const KEPT: &[&str] = &["a0", "a1", "r0", "r1"];

/// Runs `anonsweep ARGS --database-url URL` in `dir` (where an `anonsweep.toml` may be).
fn run_in(db: &TestDb, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> support::Run {
    let url = db.url();
    let mut all = args.to_vec();
    all.extend(["--database-url", &url]);
    support::anonsweep_in(dir, &all, env)
}

/// A cap given one way: extra arguments, environment, config file contents.
struct Case {
    what: &'static str,
    args: Vec<&'static str>,
    env: Vec<(&'static str, &'static str)>,
    file: Option<&'static str>,
}

fn case(
    what: &'static str,
    args: &[&'static str],
    env: &[(&'static str, &'static str)],
    file: Option<&'static str>,
) -> Case {
    Case {
        what,
        args: args.to_vec(),
        env: env.to_vec(),
        file,
    }
}

/// Runs `run --as-of AS_OF --archive-dir …` with the case's cap in a fresh directory; returns
/// the result and whether an archive file was written.
fn run_case(db: &TestDb, c: &Case) -> (support::Run, bool) {
    let dir = support::scratch();
    if let Some(text) = c.file {
        std::fs::write(dir.path().join("anonsweep.toml"), text).unwrap();
    }
    let archive = dir.path().join("archive");
    let mut args = vec![
        "run",
        "--as-of",
        AS_OF,
        "--archive-dir",
        archive.to_str().unwrap(),
    ];
    args.extend(c.args.iter().copied());
    let r = run_in(db, dir.path(), &args, &c.env);
    let archived = std::fs::read_dir(&archive)
        .map(|d| d.count() > 0)
        .unwrap_or(false);
    (r, archived)
}

backend_test!(
    each_cap_from_flag_env_and_file_stops_the_run_with_exit_4,
    |db: TestDb| {
        let deletions = "10 users are eligible, more than max_deletions 9";
        let fraction = "10 of 12 anonymous users (83.3%) are eligible, more than max_fraction 0.8";
        let cases = [
            (
                case("--max-deletions", &["--max-deletions", "9"], &[], None),
                deletions,
                "(from flag --max-deletions)",
            ),
            (
                case(
                    "ANONSWEEP_MAX_DELETIONS",
                    &[],
                    &[("ANONSWEEP_MAX_DELETIONS", "9")],
                    None,
                ),
                deletions,
                "(from env ANONSWEEP_MAX_DELETIONS)",
            ),
            (
                case(
                    "max_deletions in the file",
                    &[],
                    &[],
                    Some("max_deletions = 9\n"),
                ),
                deletions,
                "(from file anonsweep.toml)",
            ),
            (
                case("--max-fraction", &["--max-fraction", "0.8"], &[], None),
                fraction,
                "(from flag --max-fraction)",
            ),
            (
                case(
                    "ANONSWEEP_MAX_FRACTION",
                    &[],
                    &[("ANONSWEEP_MAX_FRACTION", "0.8")],
                    None,
                ),
                fraction,
                "(from env ANONSWEEP_MAX_FRACTION)",
            ),
            (
                case(
                    "max_fraction in the file",
                    &[],
                    &[],
                    Some("max_fraction = 0.8\n"),
                ),
                fraction,
                "(from file anonsweep.toml)",
            ),
            // The flag wins over the environment and the file.
            (
                case(
                    "--max-deletions over env and file",
                    &["--max-deletions", "9"],
                    &[("ANONSWEEP_MAX_DELETIONS", "1000")],
                    Some("max_deletions = 1000\n"),
                ),
                deletions,
                "(from flag --max-deletions)",
            ),
            // The environment wins over the file.
            (
                case(
                    "ANONSWEEP_MAX_FRACTION over the file",
                    &[],
                    &[("ANONSWEEP_MAX_FRACTION", "0.8")],
                    Some("max_fraction = 1.0\n"),
                ),
                fraction,
                "(from env ANONSWEEP_MAX_FRACTION)",
            ),
        ];
        setup(&db);
        let before = db.fingerprint(TABLES);
        for (c, numbers, origin) in &cases {
            let what = format!("{}: {}", backend_name(&db), c.what);
            let (r, archived) = run_case(&db, c);
            assert_eq!(r.code, 4, "{what}: a cap is exit 4\n{}", r.all());
            assert!(
                r.stderr.contains(numbers) && r.stderr.contains(origin),
                "{what}: stderr names the numbers ({numbers}) and the origin ({origin}):\n{}",
                r.stderr
            );
            assert!(r.stderr.contains("nothing deleted"), "{what}: {}", r.stderr);
            assert_eq!(db.fingerprint(TABLES), before, "{what}: nothing deleted");
            assert!(
                !archived,
                "{what}: no archive for a run that deletes nothing"
            );
        }
    }
);

backend_test!(
    caps_that_are_not_exceeded_let_the_run_delete,
    |db: TestDb| {
        let cases = [
            case(
                "both flags",
                &["--max-deletions", "11", "--max-fraction", "0.85"],
                &[],
                None,
            ),
            case(
                "env",
                &[],
                &[
                    ("ANONSWEEP_MAX_DELETIONS", "1000"),
                    ("ANONSWEEP_MAX_FRACTION", "1"),
                ],
                None,
            ),
            case(
                "file",
                &[],
                &[],
                Some("max_deletions = 50\nmax_fraction = 0.9\n"),
            ),
            // A low cap in the file, overridden by the flag.
            case(
                "flag over file",
                &["--max-deletions", "100"],
                &[],
                Some("max_deletions = 1\n"),
            ),
        ];
        setup(&db);
        for c in &cases {
            let what = format!("{}: {}", backend_name(&db), c.what);
            let copy = db.copy();
            let (r, archived) = run_case(&copy, c);
            assert_eq!(r.code, 0, "{what}: {}", r.all());
            assert_eq!(copy.ids("users", "id"), KEPT, "{what}");
            assert_eq!(copy.ids("sessions", "id"), ["sa0", "sa1", "sr0", "sr1"]);
            assert_eq!(copy.count("accounts"), 0, "{what}");
            assert!(archived, "{what}: the run archived what it deleted");
        }
    }
);

// The anonymous users are a count of their own: `plan` always shows them, `run` counts them only
// for its max_fraction cap. Without the cap the run deletes the same users and says so.
backend_test!(
    a_run_counts_the_anonymous_users_only_for_max_fraction,
    |db: TestDb| {
        let what = backend_name(&db);
        setup(&db);
        let plan = db.run(&["plan", "--as-of", AS_OF, "--format", "json"]);
        assert_eq!(plan.code, 0, "{what}: {}", plan.all());
        let j: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
        assert_eq!(j["total_anonymous"], 12, "{what}: plan counts them");
        assert_eq!(j["eligible"], 10, "{what}");

        let copy = db.copy();
        let r = copy.run(&["run", "--as-of", AS_OF, "--format", "json"]);
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert!(j["total_anonymous"].is_null(), "{what}: {}", r.stdout);
        assert_eq!(j["deleted_users"], 10, "{what}: {}", r.stdout);
        assert_eq!(copy.ids("users", "id"), KEPT, "{what}: without the cap");

        let copy = db.copy();
        let r = copy.run(&["run", "--as-of", AS_OF]);
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        assert!(
            r.stdout
                .contains("anonymous users      not counted (only max_fraction needs them"),
            "{what}: the text summary says why:\n{}",
            r.stdout
        );
        assert_eq!(copy.ids("users", "id"), KEPT, "{what}: text summary");

        let r = db.run(&[
            "run",
            "--as-of",
            AS_OF,
            "--format",
            "json",
            "--max-fraction",
            "0.9",
        ]);
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(
            j["total_anonymous"], 12,
            "{what}: counted for the cap: {}",
            r.stdout
        );
        assert_eq!(db.ids("users", "id"), KEPT, "{what}: with the cap");
    }
);

// A cap that is reached but not exceeded: ten users eligible and `--max-deletions 10`, or
// nobody eligible and `--max-deletions 0`. Neither is "more than max_deletions", so the run
// deletes every eligible user and succeeds (exit 0) without claiming it stopped early.
backend_test!(
    a_cap_equal_to_the_eligible_count_is_not_exceeded,
    [sqlite, postgres],
    |db: TestDb| {
        let mut problems = Vec::new();
        let what = backend_name(&db);
        setup(&db);
        let r = db.run(&["run", "--as-of", AS_OF, "--max-deletions", "10"]);
        assert_eq!(db.ids("users", "id"), KEPT, "{what}: all ten deleted");
        assert_eq!(db.ids("sessions", "id"), ["sa0", "sa1", "sr0", "sr1"]);
        if r.code != 0 || r.stdout.contains("stopped early") {
            problems.push(format!(
                "{what}, 10 eligible, --max-deletions 10: exit {} (want 0)\n{}",
                r.code,
                r.all()
            ));
        }
        // Nothing left to delete, cap 0.
        let before = db.fingerprint(TABLES);
        let r = db.run(&["run", "--as-of", AS_OF, "--max-deletions", "0"]);
        assert_eq!(db.fingerprint(TABLES), before, "{what}: nothing to delete");
        if r.code != 0 || r.stdout.contains("stopped early") {
            problems.push(format!(
                "{what}, 0 eligible, --max-deletions 0: exit {} (want 0)\n{}",
                r.code,
                r.all()
            ));
        }
        assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    }
);

backend_test!(a_future_as_of_is_refused_unless_allowed, |db: TestDb| {
    let what = backend_name(&db);
    setup(&db);
    let before = db.fingerprint(TABLES);
    let dir = support::scratch();

    let r = run_in(&db, dir.path(), &["run", "--as-of", "2099-01-01"], &[]);
    assert_eq!(r.code, 4, "{what}: {}", r.all());
    assert!(
        r.stderr
            .contains("--as-of 2099-01-01T00:00:00Z is later than this machine's clock")
            && r.stderr.contains("nothing deleted"),
        "{what}: {}",
        r.stderr
    );
    assert_eq!(db.fingerprint(TABLES), before, "{what}: nothing deleted");

    let r = run_in(
        &db,
        dir.path(),
        &["run"],
        &[("ANONSWEEP_AS_OF", "2099-01-01T00:00:00Z")],
    );
    assert_eq!(r.code, 4, "{what}: from the environment too\n{}", r.all());
    assert_eq!(db.fingerprint(TABLES), before);

    // Allowed: the cutoff is 2098-12-02, so every anonymous user is eligible.
    let r = run_in(
        &db,
        dir.path(),
        &["run", "--as-of", "2099-01-01", "--allow-future-as-of"],
        &[],
    );
    assert_eq!(r.code, 0, "{what}: {}", r.all());
    assert_eq!(db.ids("users", "id"), ["r0", "r1"], "{what}");
    assert_eq!(db.ids("sessions", "id"), ["sr0", "sr1"], "{what}");
    assert_eq!(db.count("accounts"), 0, "{what}");
});

backend_test!(
    bad_cap_values_are_usage_errors,
    [sqlite, postgres],
    |db: TestDb| {
        let cases = [
            case("negative deletions", &["--max-deletions=-1"], &[], None),
            case("text deletions", &["--max-deletions", "lots"], &[], None),
            case(
                "fractional deletions",
                &["--max-deletions", "1.5"],
                &[],
                None,
            ),
            case("negative fraction", &["--max-fraction=-0.1"], &[], None),
            case(
                "negative fraction, separate",
                &["--max-fraction", "-0.5"],
                &[],
                None,
            ),
            case("fraction above 1", &["--max-fraction", "1.5"], &[], None),
            case("text fraction", &["--max-fraction", "half"], &[], None),
            case("NaN fraction", &["--max-fraction", "NaN"], &[], None),
            case(
                "env deletions",
                &[],
                &[("ANONSWEEP_MAX_DELETIONS", "-5")],
                None,
            ),
            case(
                "env fraction",
                &[],
                &[("ANONSWEEP_MAX_FRACTION", "2")],
                None,
            ),
            case("file deletions", &[], &[], Some("max_deletions = -1\n")),
            case(
                "file deletions text",
                &[],
                &[],
                Some("max_deletions = \"many\"\n"),
            ),
            case("file fraction", &[], &[], Some("max_fraction = 1.01\n")),
            case(
                "file fraction text",
                &[],
                &[],
                Some("max_fraction = \"half\"\n"),
            ),
        ];
        setup(&db);
        let before = db.fingerprint(TABLES);
        for c in &cases {
            let what = format!("{}: {}", backend_name(&db), c.what);
            let (r, archived) = run_case(&db, c);
            assert_eq!(r.code, 2, "{what}: bad usage is exit 2\n{}", r.all());
            assert!(
                r.stderr.contains("max deletions")
                    || r.stderr.contains("max fraction")
                    || r.stderr.contains("unexpected argument '-0'"),
                "{what}: stderr names the setting: {}",
                r.stderr
            );
            assert_eq!(db.fingerprint(TABLES), before, "{what}: nothing deleted");
            assert!(!archived, "{what}");
        }
    }
);
