//! Stopping a run cleanly: SIGTERM / SIGINT and `--max-runtime` stop it after the batch in
//! flight (exit 6), the summary still printed with "stopped early", every user either wholly
//! deleted or wholly kept, and a rerun finishes the job. Also: progress lines on a non-terminal
//! stderr (none with `--quiet`), and bad `--max-runtime` / `--lock` values (exit 2, one line,
//! nothing deleted).
//!
//! Runs are made slow with `--batch-size 5 --sleep-ms 100`; nothing here asserts on timings.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Run, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";
const REDIS: &str = "redis://127.0.0.1:6379";
/// Eligible users in every fixture (40 batches of 5: about 4 s with `--sleep-ms 100`).
const ELIGIBLE: usize = 200;

// ---------------------------------------------------------------------------------------------
// Fixture: ELIGIBLE abandoned anonymous users `e0000..` (two old sessions and an account each),
// and survivors: active anonymous `k0..` (a recent session), recent anonymous `n0..`,
// registered `r0..` (one session and one account each).
// ---------------------------------------------------------------------------------------------

fn setup(db: &TestDb) {
    let ts_type = if db.is_pg() { "TIMESTAMPTZ" } else { "TEXT" };
    db.exec(&support::default_schema(db, ts_type, "TEXT", false));
    let (t, f) = (db.bool(true), db.bool(false));
    let old = db.ts("2026-01-01 00:00:00");
    let old_session = db.ts("2026-01-02 00:00:00");
    let recent = db.ts("2026-11-20 00:00:00");
    let (mut users, mut sessions, mut accounts) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..ELIGIBLE {
        let id = format!("e{i:04}");
        users.push(format!("('{id}', {t}, {old})"));
        for s in 1..=2 {
            sessions.push(format!(
                "('{id}-s{s}', '{id}', {old_session}, {old_session})"
            ));
        }
        accounts.push(format!("('{id}-a', '{id}', 'anonymous')"));
    }
    for i in 0..5 {
        for (prefix, anon, created, session) in [
            ("k", t, &old, &recent),
            ("n", t, &recent, &recent),
            ("r", f, &old, &old_session),
        ] {
            let id = format!("{prefix}{i}");
            users.push(format!("('{id}', {anon}, {created})"));
            sessions.push(format!("('{id}-s1', '{id}', {session}, {session})"));
            accounts.push(format!("('{id}-a', '{id}', 'email')"));
        }
    }
    let mut sql = String::new();
    for (table, rows) in [
        ("users", &users),
        ("sessions", &sessions),
        ("accounts", &accounts),
    ] {
        for chunk in rows.chunks(100) {
            sql += &format!("INSERT INTO {table} VALUES {};\n", chunk.join(", "));
        }
    }
    db.exec(&sql);
    assert_eq!(users_left(db), ELIGIBLE + 15);
}

fn survivors() -> Vec<String> {
    let mut v: Vec<String> = ["k", "n", "r"]
        .iter()
        .flat_map(|p| (0..5).map(move |i| format!("{p}{i}")))
        .collect();
    v.sort();
    v
}

/// Rows of one text column `t`; on SQLite the read waits for a writer's commit.
fn texts(db: &TestDb, sql: &str) -> Vec<String> {
    try_texts(db, sql, true).unwrap_or_else(|e| panic!("{e}\n{sql}"))
}

fn try_texts(db: &TestDb, sql: &str, wait: bool) -> anyhow::Result<Vec<String>> {
    let mut c = db.conn();
    if !db.is_pg() && !db.is_mysql() && wait {
        c.batch_execute("PRAGMA busy_timeout = 10000")?;
    }
    Ok(c.texts(sql, &[])?
        .into_iter()
        .map(|v| v.unwrap_or_default())
        .collect())
}

fn user_ids(db: &TestDb) -> Vec<String> {
    let mut v = texts(db, &format!("SELECT {} AS t FROM users", db.text("id")));
    v.sort();
    v
}

fn users_left(db: &TestDb) -> usize {
    user_ids(db).len()
}

fn eligible_left(db: &TestDb) -> usize {
    user_ids(db).iter().filter(|id| id.starts_with('e')).count()
}

/// Every user is either whole (its sessions and account all there) or wholly gone (no row of it
/// left anywhere), and every survivor is whole.
fn assert_whole(db: &TestDb, label: &str) {
    let users: BTreeSet<String> = user_ids(db).into_iter().collect();
    let mut rows: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for (table, what) in [("sessions", "session"), ("accounts", "account")] {
        for uid in texts(
            db,
            &format!("SELECT {} AS t FROM {table}", db.text("user_id")),
        ) {
            assert!(
                users.contains(&uid),
                "{label}: user {uid} is gone but a {what} of it is left (half-deleted)"
            );
            *rows.entry((uid, what)).or_default() += 1;
        }
    }
    for u in &users {
        let sessions = rows.get(&(u.clone(), "session")).copied().unwrap_or(0);
        let accounts = rows.get(&(u.clone(), "account")).copied().unwrap_or(0);
        let want = if u.starts_with('e') { 2 } else { 1 };
        assert_eq!(
            (sessions, accounts),
            (want, 1),
            "{label}: user {u} is still there but lost rows (half-deleted)"
        );
    }
    for s in survivors() {
        assert!(users.contains(&s), "{label}: survivor {s} was deleted");
    }
}

/// `deleted users        N` from a text summary.
fn deleted_users(stdout: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("deleted users"))
        .unwrap_or_else(|| panic!("no `deleted users` line in:\n{stdout}"))
        .trim()
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Background runs
// ---------------------------------------------------------------------------------------------

/// A run of the binary in the background; killed if the test panics.
struct Bg {
    child: Option<Child>,
    label: String,
}

fn spawn(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Bg {
    spawn_url(db, &db.url(), args, env)
}

fn spawn_url(db: &TestDb, url: &str, args: &[&str], env: &[(&str, &str)]) -> Bg {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anonsweep"));
    cmd.args(args)
        .args(["--database-url", url])
        .current_dir(db.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k == "DATABASE_URL" || k.starts_with("ANONSWEEP_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    Bg {
        child: Some(cmd.spawn().expect("spawn anonsweep")),
        label: format!("anonsweep {}", args.join(" ")),
    }
}

impl Bg {
    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} {}", self.pid());
    }

    /// Polls `cond` (every 20 ms, up to 20 s) while the run goes on; fails if the run ends first.
    fn wait_for(&mut self, what: &str, mut cond: impl FnMut() -> bool) {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if cond() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let r = self.finish();
                panic!(
                    "{}: ended ({status}) before {what}:\n{}",
                    self.label,
                    r.all()
                );
            }
            assert!(
                Instant::now() < until,
                "{}: no {what} after 20 s",
                self.label
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the run has committed at least one batch on `db`.
    fn wait_for_first_batch(&mut self, db: &TestDb) {
        let total = ELIGIBLE + 15;
        self.wait_for("a committed batch", || users_left(db) < total);
    }

    fn finish(&mut self) -> Run {
        self.child
            .take()
            .expect("still running")
            .wait_with_output()
            .expect("wait anonsweep")
            .into()
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn slow_run<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "run",
        "--as-of",
        AS_OF,
        "--batch-size",
        "5",
        "--sleep-ms",
        "100",
        "--quiet",
    ];
    v.extend_from_slice(extra);
    v
}

fn quick_run<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run", "--as-of", AS_OF, "--quiet"];
    v.extend_from_slice(extra);
    v
}

/// Runs `f` on each database at once, each in its own thread.
fn each_parallel(dbs: Vec<fn() -> TestDb>, f: fn(TestDb)) {
    std::thread::scope(|s| {
        let handles: Vec<_> = dbs.into_iter().map(|mk| s.spawn(move || f(mk()))).collect();
        let mut panics = Vec::new();
        for h in handles {
            if let Err(e) = h.join() {
                panics.push(
                    e.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default(),
                );
            }
        }
        assert!(panics.is_empty(), "{}", panics.join("\n---\n"));
    });
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

fn redis() -> redis::Connection {
    redis::Client::open(REDIS)
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .expect("Redis is reachable at 127.0.0.1:6379")
}

fn redis_get(key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query(&mut redis()).unwrap()
}

/// The `anonsweep:lock:*` key whose holder is process `pid`, if any.
fn key_held_by(pid: u32) -> Option<String> {
    let mut con = redis();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("anonsweep:lock:*")
        .query(&mut con)
        .unwrap();
    keys.into_iter().find(|k| {
        let v: Option<String> = redis::cmd("GET").arg(k).query(&mut con).unwrap();
        v.and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok())
            .is_some_and(|j| j["pid"] == pid)
    })
}

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

fn sigterm(db: TestDb) {
    signal_mid_run(db, "TERM")
}

fn sigint(db: TestDb) {
    signal_mid_run(db, "INT")
}

#[test]
fn sigterm_stops_after_the_batch_in_flight_with_exit_6() {
    each_parallel(vec![TestDb::sqlite, TestDb::pg], sigterm);
}

#[test]
fn sigint_stops_after_the_batch_in_flight_with_exit_6() {
    each_parallel(vec![TestDb::sqlite, TestDb::pg], sigint);
}

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

#[test]
fn max_runtime_stops_after_the_batch_in_flight_with_exit_6() {
    each_parallel(vec![TestDb::sqlite, TestDb::pg], max_runtime);
}

// ---------------------------------------------------------------------------------------------
// 10. Progress lines
// ---------------------------------------------------------------------------------------------

/// A run of about 7 s (one user per batch, 100 ms apart, ended by --max-runtime 7s), stderr a
/// pipe: a plain `progress: N/M users deleted` line without --quiet, none with it.
#[test]
fn progress_lines_on_a_pipe_unless_quiet() {
    fn long_run(quiet: bool) -> (Run, usize) {
        let db = TestDb::sqlite();
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
        let l = s.spawn(|| long_run(false));
        let q = s.spawn(|| long_run(true));
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

#[test]
fn bad_max_runtime_and_lock_values_are_usage_errors() {
    let db = TestDb::sqlite();
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

/// A negative duration as its own argument, the way most people type it: still the tool's own
/// one-line message (other numeric options accept leading hyphens for this reason).
#[test]
fn negative_max_runtime_is_a_one_line_usage_error() {
    let db = TestDb::sqlite();
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

/// A duration too long to add to the clock (u64::MAX seconds, 300 billion years) is refused
/// (exit 2, one line, nothing deleted) or taken as "no limit" (exit 0), never a panic.
#[test]
fn huge_max_runtime_does_not_panic() {
    for v in ["18446744073709551615s", "300000000000years"] {
        let db = TestDb::sqlite();
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

/// On a terminal (a pseudo-terminal made by util-linux `script`), `run` draws a progress bar with
/// deleted/eligible; with `--quiet` it draws none. Either way the job is done.
#[test]
fn progress_bar_on_a_terminal_unless_quiet() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("note: `script` (util-linux) is missing: progress-bar test skipped");
        return;
    }
    for quiet in [false, true] {
        let db = TestDb::sqlite();
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
