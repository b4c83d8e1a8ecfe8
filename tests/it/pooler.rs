//! Through a real PgBouncer in `pool_mode = transaction` whose small pool other clients keep
//! busy, so that each transaction may run on another server session: `run` (many small batches)
//! deletes exactly the eligible users and leaves nothing in any server session; the pooler is
//! detected and said; `--lock database` is refused before anything is deleted (exit 2, the dry
//! run too) while a Redis lock works; `plan --sql-out` writes a script that, run through the
//! pooler too, deletes the same users; `migrate run` builds the indexes.
//!
//! Each test starts its own PgBouncer (the Debian package `pgbouncer`; `scripts/test` installs
//! it) on a free port with its own ini in a temp dir, as the `postgres` OS user when the tests run
//! as root (PgBouncer refuses root), in front of the shared PostgreSQL server (trust auth), and
//! stops it when the test ends, even when it fails. The users' ids are uuids, so the keyset
//! cursor the client carries between batches is cast back to uuid in every pick.

use crate::support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::{Conn, DbUrl, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";
/// Users 1..=ELIGIBLE are deleted; ELIGIBLE+1..=USERS stay.
const ELIGIBLE: u32 = 40;
const USERS: u32 = 60;
/// Small batches: many transactions, each of which may meet another server session.
const BATCH: &str = "3";
/// Server sessions in PgBouncer's pool, fewer than its clients (the busy ones and anonsweep's).
const POOL: u32 = 2;
const BUSY_CLIENTS: usize = 4;
const REDIS_LOCK: &str = "redis://127.0.0.1:6379/0";
/// What the binary says on stderr when it meets the pooler.
const SAID: &str = "PostgreSQL is reached through a transaction-mode connection pooler";

// ---------------------------------------------------------------------------------------------
// PgBouncer
// ---------------------------------------------------------------------------------------------

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `ANONSWEEP_TEST_PGBOUNCER`, `pgbouncer` on the PATH, or the Debian package's /usr/sbin one.
fn pgbouncer_bin() -> PathBuf {
    if let Ok(p) = std::env::var("ANONSWEEP_TEST_PGBOUNCER") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join("pgbouncer"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "pgbouncer not found: these tests start their own PgBouncer. Install the Debian \
                 package pgbouncer (bash scripts/test does) or point ANONSWEEP_TEST_PGBOUNCER at \
                 the binary"
            )
        })
}

/// A PgBouncer in transaction mode in front of the test server; killed on drop.
struct PgBouncer {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl PgBouncer {
    fn start() -> PgBouncer {
        let server = url::Url::parse(&support::pg_server()).expect("ANONSWEEP_TEST_PG_URL");
        let user = match server.username() {
            "" => "postgres",
            u => u,
        }
        .to_string();
        let mut target = format!(
            "host={} port={} user={user}",
            server.host_str().unwrap_or("127.0.0.1"),
            server.port().unwrap_or(5432)
        );
        if let Some(pw) = server.password() {
            target += &format!(" password={pw}");
        }
        let mut dir = tempfile::Builder::new()
            .prefix("anonsweep-pgbouncer-")
            .tempdir()
            .expect("tempdir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join("users.txt"), format!("\"{user}\" \"\"\n")).unwrap();
        let bin = pgbouncer_bin();
        let as_root = is_root();
        if as_root {
            // PgBouncer refuses to run as root: its files belong to the postgres OS user.
            let out = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .output()
                .expect("chown");
            assert!(out.status.success(), "chown: {out:?}");
        }
        let mut last = String::new();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let ini = dir.path().join("pgbouncer.ini");
            let log = dir.path().join("pgbouncer.log");
            std::fs::write(
                &ini,
                format!(
                    "[databases]\n\
                     * = {target}\n\
                     [pgbouncer]\n\
                     listen_addr = 127.0.0.1\n\
                     listen_port = {port}\n\
                     unix_socket_dir =\n\
                     auth_type = trust\n\
                     auth_file = {}\n\
                     pool_mode = transaction\n\
                     default_pool_size = {POOL}\n\
                     max_client_conn = 100\n\
                     logfile = {}\n",
                    dir.path().join("users.txt").display(),
                    log.display()
                ),
            )
            .unwrap();
            let mut cmd = if as_root {
                let mut c = Command::new("setpriv");
                c.args([
                    "--reuid=postgres",
                    "--regid=postgres",
                    "--init-groups",
                    "--",
                ])
                .arg(&bin);
                c
            } else {
                Command::new(&bin)
            };
            // setpriv execs PgBouncer: the child's pid is PgBouncer's own.
            let child = cmd
                .arg(&ini)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
            let mut b = PgBouncer { child, dir, port };
            if b.wait_ready() {
                return b;
            }
            last = b.log();
            b.kill();
            dir = std::mem::replace(&mut b.dir, tempfile::tempdir().unwrap());
        }
        panic!("PgBouncer did not start: {last}");
    }

    /// Whether it accepts connections (through to the server) within a few seconds.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let url = self.url("postgres");
            if Conn::connect(&DbUrl::parse(&url).unwrap())
                .and_then(|mut c| Ok(c.text("SELECT CAST(1 AS TEXT) AS t")?))
                .is_ok()
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn log(&mut self) -> String {
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            if let Ok(Some(_)) = self.child.try_wait() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
        }
        format!(
            "{err}{}",
            std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
        )
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The URL of `db` through the pooler.
    fn url(&self, db: &str) -> String {
        let server = url::Url::parse(&support::pg_server()).unwrap();
        let user = match server.username() {
            "" => "postgres",
            u => u,
        };
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// Other clients keeping the pool busy
// ---------------------------------------------------------------------------------------------

/// Clients with their own connections through the pooler, each running short transactions
/// (a read and a 10 ms sleep) until stopped, so the pool's server sessions keep changing hands.
struct Busy {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Busy {
    fn start(url: &str, clients: usize) -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let threads = (0..clients)
            .map(|_| {
                let (url, stop, done) = (url.to_string(), stop.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut c = Conn::connect(&DbUrl::parse(&url).unwrap())
                        .expect("a busy client connects through the pooler");
                    while !stop.load(Ordering::SeqCst) {
                        c.batch_execute(
                            "BEGIN; SELECT COUNT(*) FROM users; SELECT pg_sleep(0.01); COMMIT",
                        )
                        .expect("a busy client's transaction");
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        Busy {
            stop,
            done,
            threads,
        }
    }

    /// Stops the clients; how many transactions they ran.
    fn stop(&mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            t.join().expect("a busy client failed");
        }
        self.done.load(Ordering::SeqCst)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture and checks
// ---------------------------------------------------------------------------------------------

/// The uuid of user `n` (as SQL over an integer expression).
fn uid(n: &str) -> String {
    format!("CAST(md5('user' || {n}) AS uuid)")
}

/// USERS users with uuid ids: 1..=ELIGIBLE anonymous, old, with old sessions (one or two) and
/// some accounts (deleted); then kept: ten with a recent session, five registered, five
/// created recently.
fn fixture(db: &TestDb) {
    let (old, recent) = (
        "TIMESTAMPTZ '2026-01-01 00:00:00+00'",
        "TIMESTAMPTZ '2026-11-20 00:00:00+00'",
    );
    let (active, registered) = (ELIGIBLE + 10, ELIGIBLE + 15);
    db.exec(&format!(
        "CREATE TABLE users (id UUID PRIMARY KEY, is_anonymous BOOLEAN, created_at TIMESTAMPTZ);
         CREATE TABLE sessions (id UUID PRIMARY KEY, user_id UUID NOT NULL REFERENCES users (id),
           created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ);
         CREATE INDEX sessions_user_idx ON sessions (user_id);
         CREATE TABLE accounts (id UUID PRIMARY KEY, user_id UUID NOT NULL REFERENCES users (id),
           provider TEXT);
         INSERT INTO users
           SELECT {u}, NOT (g > {active} AND g <= {registered}),
                  CASE WHEN g > {registered} THEN {recent} ELSE {old} END
           FROM generate_series(1, {USERS}) AS g;
         INSERT INTO sessions
           SELECT CAST(md5('session' || g || '-' || k) AS uuid), {u},
                  {old}, CASE WHEN g > {ELIGIBLE} AND g <= {active} THEN {recent} ELSE {old} END
           FROM generate_series(1, {USERS}) AS g, generate_series(1, 1 + g % 2) AS k;
         INSERT INTO accounts
           SELECT CAST(md5('account' || g) AS uuid), {u}, 'anonymous'
           FROM generate_series(1, {USERS}) AS g WHERE g % 3 = 0;
         ANALYZE;",
        u = uid("g"),
    ));
}

fn texts(db: &TestDb, sql: &str) -> Vec<String> {
    let mut v = db.strings(sql);
    v.sort();
    v
}

/// The ids of users `from..=to`, as text.
fn ids(db: &TestDb, from: u32, to: u32) -> Vec<String> {
    texts(
        db,
        &format!(
            "SELECT CAST({} AS TEXT) AS t FROM generate_series({from}, {to}) AS g",
            uid("g")
        ),
    )
}

/// Exactly the eligible users are gone, with every row of theirs; the others are whole.
fn assert_only_eligible_deleted(db: &TestDb) {
    let kept = ids(db, ELIGIBLE + 1, USERS);
    assert_eq!(
        texts(db, "SELECT CAST(id AS TEXT) AS t FROM users"),
        kept,
        "the users left are exactly the ones that are not eligible"
    );
    for (table, per_kept_user) in [
        ("sessions", "1 + g % 2"),
        ("accounts", "CASE WHEN g % 3 = 0 THEN 1 ELSE 0 END"),
    ] {
        let left = texts(
            db,
            &format!("SELECT CAST(user_id AS TEXT) AS t FROM {table}"),
        );
        let expected = texts(
            db,
            &format!(
                "SELECT CAST({} AS TEXT) AS t FROM generate_series({}, {USERS}) AS g, \
                 generate_series(1, 3) AS k WHERE k <= {per_kept_user}",
                uid("g"),
                ELIGIBLE + 1
            ),
        );
        assert_eq!(
            left, expected,
            "{table}: the rows of the kept users, and only theirs"
        );
    }
}

/// Nothing of a run stays in any server session: no batch or cursor table of any session
/// (temporary tables of every session of the database are in its catalog), no advisory lock.
fn assert_no_session_state(db: &TestDb) {
    assert_eq!(
        db.strings(
            "SELECT CAST(COUNT(*) AS TEXT) AS t FROM pg_class \
             WHERE relname IN ('anonsweep_batch', 'anonsweep_cursor')"
        ),
        vec!["0"],
        "a batch table was left in a server session"
    );
    assert_eq!(
        db.strings(
            "SELECT CAST(COUNT(*) AS TEXT) AS t FROM pg_locks \
             WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        vec!["0"],
        "an advisory lock was left in a server session"
    );
}

fn name(db: &TestDb) -> &str {
    match db {
        TestDb::Pg { name } => name,
        _ => unreachable!("the pooler tests run on PostgreSQL"),
    }
}

/// `anonsweep ARGS --database-url URL` in `dir`.
fn anonsweep(dir: &Path, url: &str, args: &[&str]) -> support::Run {
    let mut all = args.to_vec();
    all.extend(["--database-url", url]);
    support::anonsweep_in(dir, &all, &[])
}

fn json(r: &support::Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("JSON on stdout: {e}\n{}", r.all()))
}

/// Whether the stderr line that names the pooler is there.
fn said(r: &support::Run) -> bool {
    r.stderr.lines().any(|l| l.contains(SAID))
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn run_through_the_pooler_deletes_exactly_the_eligible_users() {
    run_through_the_pooler(&[]);
}

/// A run through a transaction-mode PgBouncer with the pool kept busy; `extra`: more `run`
/// options (the workers tests pass `--workers`).
pub(crate) fn run_through_the_pooler(extra: &[&str]) {
    let db = TestDb::pg();
    fixture(&db);
    let pgb = PgBouncer::start();
    let url = pgb.url(name(&db));
    let mut busy = Busy::start(&url, BUSY_CLIENTS);
    let dir = support::scratch();
    let audit = dir.path().join("audit.jsonl");
    let r = anonsweep(
        dir.path(),
        &url,
        &[
            "run",
            "--as-of",
            AS_OF,
            "--batch-size",
            BATCH,
            "--format",
            "json",
            "--audit-log",
            audit.to_str().unwrap(),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .collect::<Vec<_>>(),
    );
    assert_eq!(r.code, 0, "run through the pooler: exit 0\n{}", r.all());
    assert!(said(&r), "the pooler is said on stderr:\n{}", r.stderr);
    let j = json(&r);
    assert!(j["pooler"].is_string(), "the report names the pooler: {j}");
    assert_eq!(j["deleted_users"], ELIGIBLE, "{j}");
    assert!(j["failed"].as_array().is_some_and(|f| f.is_empty()), "{j}");
    assert!(
        j["batches"].as_u64().unwrap() >= u64::from(ELIGIBLE / 3),
        "many small batches: {j}"
    );
    assert!(busy.stop() > 0, "the other clients kept the pool busy");
    assert_only_eligible_deleted(&db);
    assert_no_session_state(&db);
    // The audit log names exactly the deleted users, once each.
    let mut logged: Vec<String> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["user_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    logged.sort();
    assert_eq!(logged, ids(&db, 1, ELIGIBLE), "the audit log");
    // A second run finds nothing left to do.
    let again = anonsweep(dir.path(), &url, &["run", "--as-of", AS_OF, "-q"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_only_eligible_deleted(&db);
}

#[test]
fn the_database_lock_through_the_pooler_is_refused_and_a_redis_lock_works() {
    let db = TestDb::pg();
    fixture(&db);
    let pgb = PgBouncer::start();
    let url = pgb.url(name(&db));
    let mut busy = Busy::start(&url, BUSY_CLIENTS);
    let dir = support::scratch();
    let all = ids(&db, 1, USERS);
    let users = || texts(&db, "SELECT CAST(id AS TEXT) AS t FROM users");
    for dry in [false, true] {
        let mut args = vec!["run", "--as-of", AS_OF, "--batch-size", BATCH];
        args.extend(["--lock", "database"]);
        if dry {
            args.push("--dry-run");
        }
        let r = anonsweep(dir.path(), &url, &args);
        assert_eq!(
            r.code,
            2,
            "--lock database through the pooler (dry run: {dry}): exit 2\n{}",
            r.all()
        );
        let refusal: Vec<&str> = r.stderr.lines().filter(|l| l.contains("error:")).collect();
        assert_eq!(refusal.len(), 1, "one error line:\n{}", r.stderr);
        for part in [
            "--lock database",
            "advisory lock",
            "--lock redis://",
            "nothing done",
        ] {
            assert!(refusal[0].contains(part), "{part:?} in {:?}", refusal[0]);
        }
        assert!(said(&r), "the pooler is said on stderr:\n{}", r.stderr);
        assert_eq!(users(), all, "nothing deleted (dry run: {dry})");
        assert_no_session_state(&db);
    }
    let r = anonsweep(
        dir.path(),
        &url,
        &[
            "run",
            "--as-of",
            AS_OF,
            "--batch-size",
            BATCH,
            "--lock",
            REDIS_LOCK,
        ],
    );
    assert_eq!(
        r.code,
        0,
        "--lock redis:// through the pooler: exit 0\n{}",
        r.all()
    );
    assert!(said(&r), "the pooler is said on stderr:\n{}", r.stderr);
    assert!(
        r.stdout.contains("pooler               transaction-mode ("),
        "the text report names the pooler:\n{}",
        r.stdout
    );
    assert!(busy.stop() > 0, "the other clients kept the pool busy");
    assert_only_eligible_deleted(&db);
    assert_no_session_state(&db);
}

#[test]
fn plan_sql_out_and_migrate_run_work_through_the_pooler() {
    let db = TestDb::pg();
    fixture(&db);
    let pgb = PgBouncer::start();
    let url = pgb.url(name(&db));
    let mut busy = Busy::start(&url, BUSY_CLIENTS);
    let dir = support::scratch();

    // migrate run: CREATE INDEX CONCURRENTLY outside any transaction, recorded by diesel's harness.
    let m = anonsweep(dir.path(), &url, &["migrate", "run"]);
    assert_eq!(
        m.code,
        0,
        "migrate run through the pooler: exit 0\n{}",
        m.all()
    );
    assert!(
        m.stderr.contains("without --lock-timeout-ms"),
        "says the builds go without the lock timeout:\n{}",
        m.stderr
    );
    let status = anonsweep(dir.path(), &url, &["migrate", "status", "--format", "json"]);
    assert_eq!(status.code, 0, "{}", status.all());
    let wanted: Vec<serde_json::Value> = json(&status)["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["skipped"] == false)
        .cloned()
        .collect();
    assert!(!wanted.is_empty(), "{}", status.stdout);
    for i in &wanted {
        assert!(
            i["applied"] == true && i["exists"] == true && i["valid"] == true,
            "index built, valid and recorded: {i}"
        );
    }
    let valid = texts(
        &db,
        "SELECT c.relname || ':' || CAST(i.indisvalid AS TEXT) AS t FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'anonsweep%'",
    );
    assert_eq!(valid.len(), wanted.len(), "{valid:?}");
    assert!(valid.iter().all(|v| v.ends_with(":true")), "{valid:?}");
    let again = anonsweep(dir.path(), &url, &["migrate", "run"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(
        !again
            .stdout
            .lines()
            .any(|l| l.trim_start().starts_with("created")),
        "nothing built twice:\n{}",
        again.stdout
    );

    // plan --sql-out: the counts and the script, nothing changed.
    let script = dir.path().join("cleanup.sql");
    let p = anonsweep(
        dir.path(),
        &url,
        &[
            "plan",
            "--as-of",
            AS_OF,
            "--format",
            "json",
            "--sql-out",
            script.to_str().unwrap(),
        ],
    );
    assert_eq!(
        p.code,
        0,
        "plan --sql-out through the pooler: exit 0\n{}",
        p.all()
    );
    assert!(said(&p), "the pooler is said on stderr:\n{}", p.stderr);
    let j = json(&p);
    assert_eq!(j["eligible"], ELIGIBLE, "{j}");
    assert!(j["pooler"].is_string(), "the plan names the pooler: {j}");
    assert_eq!(
        texts(&db, "SELECT CAST(id AS TEXT) AS t FROM users"),
        ids(&db, 1, USERS),
        "plan changed nothing"
    );
    // The script, run by psql through the pooler too (one transaction), deletes the same users.
    let out = Command::new("psql")
        .args(["-X", "-q", "-d", &url, "-f"])
        .arg(&script)
        .output()
        .expect("the psql client is installed");
    assert!(
        out.status.success(),
        "the script through the pooler: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(busy.stop() > 0, "the other clients kept the pool busy");
    assert_only_eligible_deleted(&db);
    assert_no_session_state(&db);
}
