//! `run --max-replica-lag` against a real PostgreSQL streaming standby: a throwaway primary and a
//! `pg_basebackup -R` standby of it (`support::cluster`), the population of `support::population`
//! on the primary, the standby's replay paused with `pg_wal_replay_pause()`. The run must stop
//! deleting while the standby lags (the replicas taken from the primary's `pg_stat_replication`,
//! or given with `--replica`), say so, go on once the replay resumes, account for the time it
//! waited, and stop cleanly with exit 8 after `--max-lag-wait`. The lag queries it sends (as both
//! servers' statement logs show them) are in the plan's listing. A MariaDB replica (two
//! throwaway `mariadbd`) whose SQL thread stops mid-run pauses the run the same way. The
//! refusals (SQLite, an unreachable or non-replica `--replica`, MySQL without `--replica`) run on
//! the shared servers.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::statement_log::{normalise, pg_log_statements, plan_statements};
use crate::support::cluster::{MariaServer, PgCluster};
use crate::support::{self, population, Conn, DbUrl, Run, TestDb};

const AS_OF: &str = population::AS_OF;
const ELIGIBLE: usize = population::ELIGIBLE;

/// Every statement in both servers' logs (for the listing check), prefixed as
/// `statement_log::pg_log_statements` reads it.
const LOG_CONF: &str = "logging_collector = off\n\
                        log_statement = 'all'\n\
                        log_line_prefix = '%m [%p] '\n\
                        log_timezone = 'UTC'\n";

/// The standby's name in `pg_stat_replication` (its walreceiver's application_name).
const STANDBY_NAME: &str = "anonsweep_standby";

// ---------------------------------------------------------------------------------------------
// A primary and its streaming standby.
// ---------------------------------------------------------------------------------------------

/// A primary and a standby streaming from it; the standby is stopped first.
struct Pair {
    standby: PgCluster,
    primary: PgCluster,
}

impl Pair {
    fn start() -> Pair {
        let primary = PgCluster::start(
            "anonsweep-primary-",
            &format!("wal_level = replica\nmax_wal_senders = 5\n{LOG_CONF}"),
        );
        // The base backup and the standby connect with the replication protocol.
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(primary.data().join("pg_hba.conf"))
            .and_then(|mut f| f.write_all(b"\nhost replication all 127.0.0.1/32 trust\n"))
            .expect("append to pg_hba.conf");
        let out = primary
            .tool("pg_ctl")
            .arg("-D")
            .arg(primary.data())
            .arg("reload")
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl reload: {out:?}");
        // The standby reports its replay position every second even while nothing arrives.
        let standby = PgCluster::standby_of(
            &primary,
            "anonsweep-standby-",
            &format!(
                "\ncluster_name = '{STANDBY_NAME}'\nhot_standby = on\nwal_receiver_status_interval = 1s\n"
            ),
        );
        let pair = Pair { standby, primary };
        let url = pair.primary.url("postgres");
        // (Not through pg_stat_replication: the logs' statements on it are the run's.)
        wait_until("the standby streams from the primary", 60, || {
            strings(
                &url,
                "SELECT CAST(COUNT(*) AS TEXT) AS t FROM pg_stat_get_wal_senders() WHERE state = 'streaming'",
            ) == ["1"]
        });
        pair
    }

    /// A new database on the primary with the population, replayed on the standby.
    fn database(&self, name: &str) -> (String, String) {
        exec(
            &self.primary.url("postgres"),
            &format!("CREATE DATABASE {name}"),
        );
        let (p, s) = (self.primary.url(name), self.standby.url(name));
        populate(&p);
        wait_until("the standby has replayed the population", 60, || {
            try_strings(&s, "SELECT CAST(COUNT(*) AS TEXT) AS t FROM users")
                .is_ok_and(|v| v == [(ELIGIBLE + 15).to_string()])
        });
        (p, s)
    }

    fn pause_replay(&self) {
        exec(
            &self.standby.url("postgres"),
            "SELECT pg_wal_replay_pause()",
        );
        let url = self.standby.url("postgres");
        wait_until("the replay is paused", 30, || {
            strings(&url, "SELECT CAST(pg_is_wal_replay_paused() AS TEXT) AS t") == ["true"]
        });
    }

    fn resume_replay(&self) {
        exec(
            &self.standby.url("postgres"),
            "SELECT pg_wal_replay_resume()",
        );
    }

    /// Every statement both servers logged that reads a replica's lag.
    fn lag_statements(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in [&self.primary, &self.standby] {
            let log = std::fs::read_to_string(c.log_path()).unwrap_or_default();
            out.extend(pg_log_statements(&log).into_iter().filter(|s| {
                s.contains("pg_stat_replication") || s.contains("pg_last_wal_replay_lsn")
            }));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The population (as `support::population::setup`, on a server of its own) and its checks.
// ---------------------------------------------------------------------------------------------

fn connect(url: &str) -> anyhow::Result<Conn> {
    Conn::connect(&DbUrl::parse(url).unwrap())
}

fn is_mysql(url: &str) -> bool {
    url.starts_with("mysql://")
}

/// Runs a script (MySQL takes one statement at a time).
fn exec(url: &str, sql: &str) {
    let mut c = connect(url).unwrap_or_else(|e| panic!("connect {url}: {e:#}"));
    let stmts = if is_mysql(url) {
        support::split_statements(sql)
    } else {
        vec![sql.to_string()]
    };
    for s in stmts {
        c.batch_execute(&s).unwrap_or_else(|e| panic!("{e}\n{s}"));
    }
}

fn try_strings(url: &str, sql: &str) -> anyhow::Result<Vec<String>> {
    Ok(connect(url)?
        .texts(sql, &[])?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

fn strings(url: &str, sql: &str) -> Vec<String> {
    try_strings(url, sql).unwrap_or_else(|e| panic!("{url}: {e:#}\n{sql}"))
}

fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < until, "no {what} after {secs} s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// ELIGIBLE abandoned anonymous users `e0000..` (two old sessions and an account each) and 15
/// that stay: active anonymous `k0..`, recent anonymous `n0..`, registered `r0..`.
fn populate(url: &str) {
    let mysql = is_mysql(url);
    let (id, time) = if mysql {
        ("VARCHAR(64)", "DATETIME(3)")
    } else {
        ("TEXT", "TIMESTAMPTZ")
    };
    let mut sql = format!(
        "CREATE TABLE users (id {id} PRIMARY KEY, is_anonymous BOOLEAN, created_at {time});
         CREATE TABLE sessions (id {id} PRIMARY KEY, user_id {id} NOT NULL, created_at {time},
                                updated_at {time}, FOREIGN KEY (user_id) REFERENCES users (id));
         CREATE INDEX sessions_user_idx ON sessions (user_id);
         CREATE TABLE accounts (id {id} PRIMARY KEY, user_id {id} NOT NULL, provider TEXT,
                                FOREIGN KEY (user_id) REFERENCES users (id));\n",
    );
    let ts = |t: &str| {
        if mysql {
            format!("'{t}'")
        } else {
            format!("TIMESTAMPTZ '{t}+00'")
        }
    };
    let (old, old_session, recent) = (
        ts("2026-01-01 00:00:00"),
        ts("2026-01-02 00:00:00"),
        ts("2026-11-20 00:00:00"),
    );
    let (mut users, mut sessions, mut accounts) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..ELIGIBLE {
        let id = format!("e{i:04}");
        users.push(format!("('{id}', TRUE, {old})"));
        for s in 1..=2 {
            sessions.push(format!(
                "('{id}-s{s}', '{id}', {old_session}, {old_session})"
            ));
        }
        accounts.push(format!("('{id}-a', '{id}', 'anonymous')"));
    }
    for i in 0..5 {
        for (prefix, anon, created, session) in [
            ("k", "TRUE", &old, &recent),
            ("n", "TRUE", &recent, &recent),
            ("r", "FALSE", &old, &old_session),
        ] {
            let id = format!("{prefix}{i}");
            users.push(format!("('{id}', {anon}, {created})"));
            sessions.push(format!("('{id}-s1', '{id}', {session}, {session})"));
            accounts.push(format!("('{id}-a', '{id}', 'email')"));
        }
    }
    for (table, rows) in [
        ("users", &users),
        ("sessions", &sessions),
        ("accounts", &accounts),
    ] {
        sql += &format!("INSERT INTO {table} VALUES {};\n", rows.join(", "));
    }
    exec(url, &sql);
}

fn user_ids(url: &str) -> BTreeSet<String> {
    strings(url, "SELECT id AS t FROM users")
        .into_iter()
        .collect()
}

fn eligible_left(url: &str) -> usize {
    user_ids(url)
        .iter()
        .filter(|id| id.starts_with('e'))
        .count()
}

/// Every user is whole (its sessions and account all there) or wholly gone, and every survivor
/// is whole.
fn assert_whole(url: &str, label: &str) {
    let users = user_ids(url);
    for (table, per_user) in [("sessions", 2), ("accounts", 1)] {
        let row = if is_mysql(url) {
            "CONCAT(user_id, ' ', CAST(COUNT(*) AS CHAR))"
        } else {
            "user_id || ' ' || CAST(COUNT(*) AS TEXT)"
        };
        let rows = strings(
            url,
            &format!("SELECT {row} AS t FROM {table} GROUP BY user_id"),
        );
        let mut owners = BTreeSet::new();
        for r in rows {
            let (uid, n) = r.split_once(' ').unwrap();
            assert!(
                users.contains(uid),
                "{label}: user {uid} is gone but rows of it are left in {table}"
            );
            let want = if uid.starts_with('e') { per_user } else { 1 };
            assert_eq!(
                n,
                want.to_string(),
                "{label}: user {uid} lost rows of {table}"
            );
            owners.insert(uid.to_string());
        }
        for u in &users {
            assert!(
                owners.contains(u),
                "{label}: user {u} lost every row of {table}"
            );
        }
    }
    for s in population::survivors() {
        assert!(users.contains(&s), "{label}: survivor {s} was deleted");
    }
}

/// Only the survivors are left, each whole.
fn assert_only_survivors(url: &str, label: &str) {
    let want: BTreeSet<String> = population::survivors().into_iter().collect();
    assert_eq!(user_ids(url), want, "{label}: users left");
    assert_whole(url, label);
}

// ---------------------------------------------------------------------------------------------
// A run in the background, its output in files (read while it runs).
// ---------------------------------------------------------------------------------------------

struct Bg {
    child: Option<Child>,
    dir: tempfile::TempDir,
    label: String,
}

impl Bg {
    fn spawn(args: &[&str]) -> Bg {
        let dir = support::scratch();
        let out = std::fs::File::create(dir.path().join("stdout")).unwrap();
        let err = std::fs::File::create(dir.path().join("stderr")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_anonsweep"));
        cmd.args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, _) in std::env::vars() {
            if k == "DATABASE_URL" || k.starts_with("ANONSWEEP_") {
                cmd.env_remove(k);
            }
        }
        Bg {
            child: Some(cmd.spawn().expect("spawn anonsweep")),
            dir,
            label: format!("anonsweep {}", args.join(" ")),
        }
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        self.file("stderr")
    }

    fn running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// Polls `cond` while the run goes on; fails if the run ends first.
    fn wait_for(&mut self, what: &str, secs: u64, mut cond: impl FnMut(&Bg) -> bool) {
        let until = Instant::now() + Duration::from_secs(secs);
        while !cond(self) {
            if !self.running() {
                let r = self.finish(10);
                panic!("{}: ended before {what}:\n{}", self.label, r.all());
            }
            assert!(
                Instant::now() < until,
                "{}: no {what} after {secs} s:\n{}",
                self.label,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn finish(&mut self, secs: u64) -> Run {
        let until = Instant::now() + Duration::from_secs(secs);
        while self.running() {
            if Instant::now() > until {
                let _ = self.child.as_mut().unwrap().kill();
                panic!(
                    "{}: still running after {secs} s:\n{}",
                    self.label,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = self.child.take().unwrap().wait().unwrap();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.file("stdout"),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn run_args<'a>(url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "run",
        "--max-replica-lag",
        "1s",
        "--batch-size",
        "5",
        "--sleep-ms",
        "100",
        "--as-of",
        AS_OF,
        "--database-url",
        url,
    ];
    a.extend(extra);
    a
}

/// `waited for replicas  1.53s (…)` from a text summary.
fn waited_text(stdout: &str) -> f64 {
    let line = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("waited for replicas"))
        .unwrap_or_else(|| panic!("no `waited for replicas` line in:\n{stdout}"));
    line.trim()
        .split('s')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// With the standby's replay paused: the run deletes a few batches, then waits (and says so)
/// with nothing deleted meanwhile; after the replay resumes it finishes (exit 0) with exactly
/// the eligible users gone on the primary and, once it has caught up, on the standby. Returns
/// the run.
fn pauses_until_the_standby_replays(pair: &Pair, db: &str, extra: &[&str], label: &str) -> Run {
    let (primary, standby) = pair.database(db);
    pair.pause_replay();
    let mut bg = Bg::spawn(&run_args(&primary, extra));
    bg.wait_for("wait for the lagging standby", 60, |b| {
        b.stderr().contains("waiting for the replicas")
    });
    let stderr = bg.stderr();
    assert!(
        stderr.contains("more than --max-replica-lag 1s"),
        "{label}: {stderr}"
    );
    let left = eligible_left(&primary);
    assert!(left < ELIGIBLE, "{label}: no batch ran before the wait");
    assert!(left > 0, "{label}: the run did not wait before the end");
    // Waiting: no batch for a while, and the paused standby still has everyone.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        bg.running(),
        "{label}: the run ended while the standby lagged"
    );
    assert_eq!(
        eligible_left(&primary),
        left,
        "{label}: users were deleted while the standby lagged:\n{}",
        bg.stderr()
    );
    assert_eq!(user_ids(&standby).len(), ELIGIBLE + 15, "{label}");
    pair.resume_replay();
    let r = bg.finish(90);
    assert_eq!(r.code, 0, "{label}: {}", r.all());
    assert!(
        r.stderr.contains("the replicas caught up after waiting"),
        "{label}: {}",
        r.stderr
    );
    assert_only_survivors(&primary, &format!("{label}: primary"));
    wait_until("the standby has replayed the deletes", 60, || {
        user_ids(&standby).len() == 15
    });
    assert_only_survivors(&standby, &format!("{label}: standby"));
    r
}

#[test]
fn the_run_waits_while_the_standby_lags_then_finishes() {
    let pair = Pair::start();

    // The standbys from the primary's pg_stat_replication; the text summary.
    let r = pauses_until_the_standby_replays(&pair, "app_primary", &[], "from the primary");
    assert!(
        r.stderr.contains(STANDBY_NAME),
        "the lagging standby is named: {}",
        r.stderr
    );
    assert_eq!(
        population::deleted_users(&r.stdout),
        ELIGIBLE,
        "{}",
        r.stdout
    );
    let waited = waited_text(&r.stdout);
    assert!(waited >= 1.5, "waited {waited}s:\n{}", r.stdout);

    // The standby given with --replica; the JSON summary.
    let replica = pair.standby.url("app_replica");
    let r = pauses_until_the_standby_replays(
        &pair,
        "app_replica",
        &["--replica", &replica, "--format", "json"],
        "--replica",
    );
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["deleted_users"], ELIGIBLE as u64, "{j}");
    let waited = j["replica_lag_waited_seconds"].as_f64().unwrap();
    assert!(waited >= 1.5, "{j}");
    assert!(j["replica_lag_waits"].as_u64().unwrap() >= 1, "{j}");
    assert!(
        j["duration_seconds"].as_f64().unwrap() > waited,
        "the wait is part of the run: {j}"
    );

    // What the runs sent to watch the replicas is what the plan lists.
    let scratch = support::scratch();
    let dry = support::anonsweep_in(
        scratch.path(),
        &run_args(&pair.primary.url("app_primary"), &["--dry-run"]),
        &[],
    );
    assert_eq!(dry.code, 0, "{}", dry.all());
    let shown = plan_statements(&dry.stdout);
    let logged = pair.lag_statements();
    for needle in ["pg_stat_replication", "pg_last_wal_replay_lsn"] {
        assert!(
            logged.iter().any(|s| s.contains(needle)),
            "no statement on {needle} in the server logs"
        );
    }
    for s in &logged {
        assert!(
            shown.contains(&normalise(s)),
            "sent but not in the plan's listing:\n{s}\n\nplan:\n{}",
            dry.stdout
        );
    }
}

#[test]
fn the_run_stops_after_max_lag_wait_and_the_dry_run_reports_the_lag() {
    let pair = Pair::start();
    let (primary, standby) = pair.database("app");
    let replica = standby.clone();
    let scratch = support::scratch();
    let dry = |extra: &[&str]| {
        let mut a = run_args(&primary, &["--dry-run", "--format", "json"]);
        a.extend(extra);
        let r = support::anonsweep_in(scratch.path(), &a, &[]);
        assert_eq!(r.code, 0, "{}", r.all());
        let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        j["replicas"].clone()
    };

    // Streaming and caught up: the dry run lists the standby, from the primary and as --replica.
    let w = dry(&[]);
    let listed = w["replicas"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{w}");
    assert!(
        listed[0]["replica"]
            .as_str()
            .unwrap()
            .contains(STANDBY_NAME),
        "{w}"
    );
    assert_eq!(w["max_lag_seconds"], 1.0, "{w}");
    assert_eq!(w["max_wait_seconds"], 600.0, "{w}");
    let w = dry(&["--replica", &replica]);
    assert_eq!(w["replicas"][0]["lagging"], false, "{w}");
    assert_eq!(w["replicas"][0]["lag_seconds"], 0.0, "{w}");

    pair.pause_replay();
    let mut bg = Bg::spawn(&run_args(&primary, &["--max-lag-wait", "2s"]));
    let r = bg.finish(90);
    assert_eq!(r.code, 8, "{}", r.all());
    assert!(r.stderr.contains("--max-lag-wait"), "{}", r.stderr);
    assert!(
        r.stdout.contains("stopped early") && r.stdout.contains("--max-lag-wait"),
        "{}",
        r.stdout
    );
    let waited = waited_text(&r.stdout);
    assert!(
        (2.0..10.0).contains(&waited),
        "waited {waited}s: {}",
        r.stdout
    );
    let left = eligible_left(&primary);
    assert!(left > 0 && left < ELIGIBLE, "{left} left: {}", r.all());
    assert_eq!(
        population::deleted_users(&r.stdout),
        ELIGIBLE - left,
        "{}",
        r.stdout
    );
    assert_whole(&primary, "stopped by --max-lag-wait");

    // Paused with WAL to replay: the dry run reports the standby lagging.
    let w = dry(&["--replica", &replica]);
    assert_eq!(w["replicas"][0]["lagging"], true, "{w}");
    assert!(
        w["replicas"][0]["lag_seconds"].as_f64().unwrap() > 1.0,
        "{w}"
    );
    assert!(
        w["replicas"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("replay is paused"),
        "{w}"
    );

    // A rerun after the replay resumed finishes the job.
    pair.resume_replay();
    let r = Bg::spawn(&run_args(&primary, &[])).finish(90);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_only_survivors(&primary, "rerun");
}

/// A MariaDB replica (`--replica`, the only way on MySQL/MariaDB): its SQL thread stopped in the
/// middle of the run (`Seconds_Behind_Master` NULL: not replicating) makes the run wait, and
/// started again lets it finish.
#[test]
fn a_stopped_mariadb_replica_pauses_the_run() {
    let (primary_server, replica_server) = MariaServer::primary_and_replica();
    exec(&primary_server.url("mysql"), "CREATE DATABASE app");
    let (primary, replica) = (primary_server.url("app"), replica_server.url("app"));
    populate(&primary);
    wait_until("the replica has the population", 60, || {
        try_strings(&replica, "SELECT CAST(COUNT(*) AS CHAR) AS t FROM users")
            .is_ok_and(|v| v == [(ELIGIBLE + 15).to_string()])
    });
    let scratch = support::scratch();
    let dry = support::anonsweep_in(
        scratch.path(),
        &run_args(
            &primary,
            &["--dry-run", "--format", "json", "--replica", &replica],
        ),
        &[],
    );
    assert_eq!(dry.code, 0, "{}", dry.all());
    let j: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    let listed = &j["replicas"]["replicas"][0];
    assert_eq!(listed["lag_seconds"], 0.0, "{j}");
    assert_eq!(listed["lagging"], false, "{j}");

    let mut bg = Bg::spawn(&run_args(&primary, &["--replica", &replica]));
    bg.wait_for("a first batch", 60, |_| eligible_left(&primary) < ELIGIBLE);
    exec(&replica_server.url("mysql"), "STOP SLAVE SQL_THREAD");
    bg.wait_for("wait for the stopped replica", 60, |b| {
        b.stderr().contains("waiting for the replicas")
    });
    assert!(
        bg.stderr().contains("Seconds_Behind_Master is NULL"),
        "{}",
        bg.stderr()
    );
    let left = eligible_left(&primary);
    assert!(left > 0, "the run did not wait before the end");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(bg.running(), "the run ended while the replica was stopped");
    assert_eq!(
        eligible_left(&primary),
        left,
        "deleted while the replica was stopped"
    );
    exec(&replica_server.url("mysql"), "START SLAVE SQL_THREAD");
    let r = bg.finish(90);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(waited_text(&r.stdout) >= 1.5, "{}", r.stdout);
    assert_only_survivors(&primary, "MariaDB primary");
    wait_until("the replica has replayed the deletes", 60, || {
        user_ids(&replica).len() == 15
    });
    assert_only_survivors(&replica, "MariaDB replica");
}

// ---------------------------------------------------------------------------------------------
// Refusals, on the shared servers.
// ---------------------------------------------------------------------------------------------

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn sqlite_refuses_max_replica_lag() {
    let db = TestDb::sqlite();
    population::setup(&db);
    for extra in [&[][..], &["--dry-run"]] {
        let mut a = vec!["run", "--max-replica-lag", "5s", "--as-of", AS_OF];
        a.extend(extra);
        let r = db.run(&a);
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(
            r.stderr.contains("--max-replica-lag") && r.stderr.contains("SQLite"),
            "{}",
            r.stderr
        );
        assert_eq!(r.stderr.trim().lines().count(), 1, "one line: {}", r.stderr);
    }
    assert_eq!(population::users_left(&db), ELIGIBLE + 15);
}

#[test]
fn postgres_refuses_a_replica_it_cannot_watch() {
    let db = TestDb::pg();
    population::setup(&db);
    let unreachable = format!(
        "postgres://postgres:replica-secret@127.0.0.1:{}/app",
        closed_port()
    );
    // Not a standby: the shared server itself.
    let primary = db.url();
    for (replica, says) in [
        (unreachable.as_str(), "cannot connect"),
        (primary.as_str(), "not a standby"),
        (
            "mysql://root@127.0.0.1:3306/mysql",
            "not a postgres database",
        ),
    ] {
        for dry in [true, false] {
            let mut a = vec![
                "run",
                "--max-replica-lag",
                "5s",
                "--replica",
                replica,
                "--as-of",
                AS_OF,
            ];
            if dry {
                a.push("--dry-run");
            }
            let r = db.run(&a);
            assert_eq!(r.code, 2, "{replica} (dry run {dry}): {}", r.all());
            assert!(r.stderr.contains(says), "{replica}: {}", r.stderr);
            assert!(r.stderr.contains("--replica"), "{}", r.stderr);
            assert!(!r.all().contains("replica-secret"), "{}", r.all());
        }
    }
    assert_eq!(population::users_left(&db), ELIGIBLE + 15);
    // Bad values are refused before anything is read.
    for (flag, value) in [("--max-replica-lag", "soon"), ("--max-replica-lag", "0s")] {
        let r = db.run(&["run", flag, value, "--as-of", AS_OF]);
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(r.stderr.contains(flag), "{}", r.stderr);
    }
    let r = db.run(&["run", "--max-replica-lag", "5s", "--max-lag-wait", "later"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("--max-lag-wait"), "{}", r.stderr);
    // --replica and --max-lag-wait only mean something with --max-replica-lag.
    let r = db.run(&["run", "--max-lag-wait", "5s", "--as-of", AS_OF]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert_eq!(population::users_left(&db), ELIGIBLE + 15);
}

#[test]
fn mysql_needs_each_replica_given() {
    let db = TestDb::mysql();
    population::setup(&db);
    let r = db.run(&["run", "--max-replica-lag", "5s", "--as-of", AS_OF]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("--replica"), "{}", r.stderr);
    // The shared server replicates from nobody: SHOW REPLICA STATUS is empty.
    let url = db.url();
    let r = db.run(&[
        "run",
        "--dry-run",
        "--max-replica-lag",
        "5s",
        "--replica",
        &url,
        "--as-of",
        AS_OF,
    ]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("not a replica"), "{}", r.stderr);
    assert_eq!(population::users_left(&db), ELIGIBLE + 15);
}
