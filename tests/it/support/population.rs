//! A population for tests that interrupt or race runs (`lock`, `stop`): 200 eligible
//! anonymous users with sessions and accounts plus 15 that must stay, the whole-or-gone check,
//! and runs of the real binary in the background.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Run, TestDb};

pub const AS_OF: &str = "2026-11-26T00:00:00Z";
pub const REDIS: &str = "redis://127.0.0.1:6379";
/// Eligible users in every fixture (40 batches of 5: about 4 s with `--sleep-ms 100`).
pub const ELIGIBLE: usize = 200;

// ---------------------------------------------------------------------------------------------
// Fixture: ELIGIBLE abandoned anonymous users `e0000..` (two old sessions and an account each),
// and survivors: active anonymous `k0..` (a recent session), recent anonymous `n0..`,
// registered `r0..` (one session and one account each).
// ---------------------------------------------------------------------------------------------

pub fn setup(db: &TestDb) {
    let ts_type = if db.is_pg() { "TIMESTAMPTZ" } else { "TEXT" };
    db.exec(&super::default_schema(db, ts_type, "TEXT", false));
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

pub fn survivors() -> Vec<String> {
    let mut v: Vec<String> = ["k", "n", "r"]
        .iter()
        .flat_map(|p| (0..5).map(move |i| format!("{p}{i}")))
        .collect();
    v.sort();
    v
}

/// Rows of one text column `t`; on SQLite the read waits for a writer's commit.
pub fn texts(db: &TestDb, sql: &str) -> Vec<String> {
    try_texts(db, sql, true).unwrap_or_else(|e| panic!("{e}\n{sql}"))
}

pub fn try_texts(db: &TestDb, sql: &str, wait: bool) -> anyhow::Result<Vec<String>> {
    let mut c = db.conn();
    if !db.is_pg() && !db.is_mysql() && wait {
        c.batch_execute("PRAGMA busy_timeout = 10000")?;
    }
    Ok(c.texts(sql, &[])?
        .into_iter()
        .map(|v| v.unwrap_or_default())
        .collect())
}

pub fn user_ids(db: &TestDb) -> Vec<String> {
    let mut v = texts(db, &format!("SELECT {} AS t FROM users", db.text("id")));
    v.sort();
    v
}

pub fn users_left(db: &TestDb) -> usize {
    user_ids(db).len()
}

pub fn eligible_left(db: &TestDb) -> usize {
    user_ids(db).iter().filter(|id| id.starts_with('e')).count()
}

/// Every user is either whole (its sessions and account all there) or wholly gone (no row of it
/// left anywhere), and every survivor is whole.
pub fn assert_whole(db: &TestDb, label: &str) {
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

/// Every table's rows, for "nothing changed" checks; fails fast (no busy wait) on SQLite.
pub fn snapshot(db: &TestDb) -> anyhow::Result<Vec<String>> {
    let mut all = Vec::new();
    for table in ["users", "sessions", "accounts"] {
        let mut v = try_texts(
            db,
            &format!("SELECT {} AS t FROM {table}", db.text("id")),
            false,
        )?;
        v.sort();
        all.push(format!("{table}: {}", v.join(",")));
    }
    Ok(all)
}

/// `deleted users        N` from a text summary.
pub fn deleted_users(stdout: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("deleted users"))
        .unwrap_or_else(|| panic!("no `deleted users` line in:\n{stdout}"))
        .trim()
        .parse()
        .unwrap()
}

pub fn host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------------------------
// Background runs
// ---------------------------------------------------------------------------------------------

/// A run of the binary in the background; killed if the test panics.
pub struct Bg {
    child: Option<Child>,
    label: String,
}

pub fn spawn(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Bg {
    spawn_url(db, &db.url(), args, env)
}

pub fn spawn_url(db: &TestDb, url: &str, args: &[&str], env: &[(&str, &str)]) -> Bg {
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
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} {}", self.pid());
    }

    /// Polls `cond` (every 20 ms, up to 20 s) while the run goes on; fails if the run ends first.
    pub fn wait_for(&mut self, what: &str, mut cond: impl FnMut() -> bool) {
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
    pub fn wait_for_first_batch(&mut self, db: &TestDb) {
        let total = ELIGIBLE + 15;
        self.wait_for("a committed batch", || users_left(db) < total);
    }

    pub fn finish(&mut self) -> Run {
        self.child
            .take()
            .expect("still running")
            .wait_with_output()
            .expect("wait anonsweep")
            .into()
    }

    /// SIGKILL, and wait until the process is gone.
    pub fn kill_hard(&mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
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

/// Stops (SIGSTOP) a run at a moment when the database can be read (on SQLite, not in the middle
/// of a commit) and returns the database's rows then.
pub fn pause(bg: &Bg, db: &TestDb) -> Vec<String> {
    for _ in 0..200 {
        bg.signal("STOP");
        match snapshot(db) {
            Ok(s) => return s,
            Err(_) => {
                bg.signal("CONT");
                std::thread::sleep(Duration::from_millis(15));
            }
        }
    }
    panic!("could not read the database while the run was stopped");
}

pub fn slow_run<'a>(extra: &[&'a str]) -> Vec<&'a str> {
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

pub fn quick_run<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run", "--as-of", AS_OF, "--quiet"];
    v.extend_from_slice(extra);
    v
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

pub fn redis() -> redis::Connection {
    redis::Client::open(REDIS)
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .expect("Redis is reachable at 127.0.0.1:6379")
}

pub fn redis_get(key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query(&mut redis()).unwrap()
}

pub fn redis_del(key: &str) {
    let _: i64 = redis::cmd("DEL").arg(key).query(&mut redis()).unwrap();
}

/// The `anonsweep:lock:*` key whose holder is process `pid`, if any.
pub fn key_held_by(pid: u32) -> Option<String> {
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
