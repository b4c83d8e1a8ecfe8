//! One instance at a time per database: a Redis lock (`SET NX PX`, renewed, released by
//! compare-and-delete) or the database's own lock (PostgreSQL advisory lock, MySQL `GET_LOCK`,
//! a lock file beside a SQLite database). A second instance exits 75 and names the holder.
//! Before any lock: whether PostgreSQL is reached through a transaction-mode pooler, where a
//! session's advisory lock cannot hold (refused, exit 2).

use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};

use crate::sql::conn::Conn;
use crate::sql::dburl::DbUrl;
use crate::sql::dialect::Stmt;

/// Which lock a run takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockSpec {
    Redis(String),
    Database,
}

impl LockSpec {
    /// `database`, or a `redis://` / `rediss://` URL (its password is registered as a secret).
    pub fn parse(value: &str) -> anyhow::Result<LockSpec> {
        let v = value.trim();
        if v == "database" || v == "db" {
            return Ok(LockSpec::Database);
        }
        if v.starts_with("redis://") || v.starts_with("rediss://") {
            if let Ok(u) = url::Url::parse(v) {
                if let Some(p) = u.password() {
                    crate::error::register_secret(p);
                }
            }
            return Ok(LockSpec::Redis(v.to_string()));
        }
        Err(crate::error::usage(format!(
            "unknown lock {value:?}: use --lock database or --lock redis://host:6379 (or ANONSWEEP_LOCK_URL)"
        )))
    }
}

/// Who holds a lock.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    pub started_at: String,
    pub token: String,
}

impl Holder {
    fn me() -> Holder {
        Holder {
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            started_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            token: uuid::Uuid::new_v4().to_string(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "host {}, pid {}, started {}",
            self.host, self.pid, self.started_at
        )
    }
}

pub use crate::error::LockHeld;

fn held(what: &str, by: &str) -> anyhow::Error {
    anyhow::Error::new(LockHeld(format!(
        "another anonsweep run holds {what} for this database ({by}): nothing done; it will be free when that run ends"
    )))
}

/// A held lock. `lost()` turns true when a Redis renewal fails or the database lock's
/// connection dies; the run then stops after the batch in flight.
pub struct Guard {
    lost: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    keeper: Option<JoinHandle<()>>,
    release: Option<Box<dyn FnOnce() + Send>>,
    pub description: String,
}

impl Guard {
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// A flag that turns true when the lock is lost.
    pub fn lost_flag(&self) -> Arc<AtomicBool> {
        self.lost.clone()
    }

    /// Stops renewing and releases the lock (only if it is still ours).
    pub fn release(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.release.take() {
            r();
        }
        if let Some(k) = self.keeper.take() {
            let _ = k.join();
        }
    }
}

/// Whether `db` is reached through a transaction-mode connection pooler (PgBouncer with
/// `pool_mode = transaction`, and the like), which hands the server session to other clients
/// between transactions. `probe` is the plan's statement reading the server process's pid
/// (`Plan::pooler_probe`; none on other backends). Each round reads it twice on one connection
/// and once on a second, each read its own transaction: directly connected, the first
/// connection keeps its pid and the second has another; a transaction-mode pooler moves the
/// first between server sessions, or hands the one it released to the second. The second's read
/// comes between the first's two reads in odd rounds and after them in even ones, with uneven
/// pauses: a pool whose other clients free its sessions in a steady rhythm can otherwise hand
/// each connection the same session round after round. A session-mode pooler keeps a session
/// per client, like a direct connection (and is fine). `Some(evidence)` when one was seen.
pub fn detect_pooler(db: &DbUrl, probe: &[Stmt]) -> anyhow::Result<Option<String>> {
    let (Some(stmt), DbUrl::Postgres { .. }) = (probe.first(), db) else {
        return Ok(None);
    };
    let mut first = Conn::connect(db)?;
    let mut second = Conn::connect(db)?;
    let pid =
        |c: &mut Conn| -> anyhow::Result<String> { Ok(c.text(&stmt.sql)?.unwrap_or_default()) };
    // Uneven pauses (a small linear congruential sequence, seeded by the clock): a steady
    // rhythm of the pool's other clients cannot line up with them.
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(1);
    let mut pause = |most_us: u32| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        std::thread::sleep(std::time::Duration::from_micros(u64::from(
            (seed >> 8) % most_us.max(1),
        )));
    };
    for round in 0..crate::plan::POOLER_PROBE_ROUNDS {
        if round > 0 {
            // A pause lets the other clients' pattern move on between rounds.
            pause(1000 * round.min(10) as u32);
        }
        let a = pid(&mut first)?;
        pause(2000);
        let (b, a2) = if round % 2 == 1 {
            let b = pid(&mut second)?;
            pause(2000);
            (b, pid(&mut first)?)
        } else {
            let a2 = pid(&mut first)?;
            pause(2000);
            (pid(&mut second)?, a2)
        };
        if a != a2 {
            return Ok(Some(format!(
                "one connection was served by backend pid {a}, then by {a2}"
            )));
        }
        if b == a {
            return Ok(Some(format!(
                "backend pid {a} served two connections in turn"
            )));
        }
    }
    Ok(None)
}

/// The refusal of `--lock database` through a transaction-mode pooler (exit 2).
pub fn pooled_lock_refused(evidence: &str) -> anyhow::Error {
    crate::error::usage(format!(
        "--lock database cannot hold through a transaction-mode connection pooler ({evidence}): a PostgreSQL advisory lock belongs to one server session, which the pooler hands to other clients between transactions; nothing done; use --lock redis://host:6379 (or ANONSWEEP_LOCK_URL), or connect to PostgreSQL directly"
    ))
}

/// What identifies the database, asked from the server itself, so every spelling of its
/// address (`localhost` or `127.0.0.1`, a socket, a symlinked SQLite path) gives the same lock:
/// PostgreSQL's system identifier (else its address) and database; MySQL's host name, port and
/// database; SQLite's real file path.
pub fn identity(db: &DbUrl) -> anyhow::Result<String> {
    if let DbUrl::Sqlite { .. } = db {
        return Ok(db.identity());
    }
    let mut conn = Conn::connect(db)?;
    let id = match db {
        DbUrl::Postgres { .. } => conn.text(
            "SELECT concat_ws('/', coalesce((SELECT CAST(system_identifier AS TEXT) FROM pg_control_system()), \
             CAST(inet_server_addr() AS TEXT) || ':' || CAST(inet_server_port() AS TEXT)), current_database()) AS t",
        )?,
        _ => conn.text(
            "SELECT CAST(CONCAT_WS('/', @@hostname, @@port, DATABASE()) AS CHAR) AS t",
        )?,
    };
    Ok(format!(
        "{}:{}",
        db.backend().name(),
        id.unwrap_or_else(|| db.identity())
    ))
}

/// The lock's name for a database: stable for the same database, whoever connects and however
/// its address is written.
pub fn fingerprint(db: &DbUrl) -> anyhow::Result<String> {
    Ok(
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, identity(db)?.as_bytes())
            .simple()
            .to_string(),
    )
}

/// Takes the lock or fails with [`LockHeld`].
pub fn acquire(spec: &LockSpec, db: &DbUrl, ttl: Duration) -> anyhow::Result<Guard> {
    let fp = fingerprint(db)?;
    match spec {
        LockSpec::Redis(url) => redis_lock(url, &fp, ttl),
        LockSpec::Database => match db {
            DbUrl::Sqlite { path } => file_lock(path, &fp),
            _ => db_lock(db, &fp),
        },
    }
}

/// For a dry run: which lock `run` would take, and, when another run holds it, the same
/// [`LockHeld`] error `acquire` would fail with. Takes nothing (Redis `GET`, PostgreSQL
/// `pg_locks`, MySQL `IS_USED_LOCK`, a shared `try_lock` of the lock file, released at once).
pub fn probe(spec: &LockSpec, db: &DbUrl) -> anyhow::Result<(String, Option<anyhow::Error>)> {
    let fp = fingerprint(db)?;
    let (key, name) = db_lock_names(&fp);
    match spec {
        LockSpec::Redis(url) => {
            let mut con = redis_conn(url)?;
            let by: Option<String> = redis::cmd("GET")
                .arg(format!("anonsweep:lock:{fp}"))
                .query(&mut con)
                .map_err(|e| anyhow!("Redis lock: {}", crate::error::redact(&e.to_string())))?;
            let held = by.map(|v| {
                let who = serde_json::from_str::<Holder>(&v)
                    .map(|h| h.describe())
                    .unwrap_or_else(|_| "holder unknown".into());
                held("the Redis lock", &who)
            });
            Ok(("the Redis lock".into(), held))
        }
        LockSpec::Database => match db {
            DbUrl::Sqlite { path } => {
                let path = lock_file_path(path);
                let what = format!("the lock file {}", path.display());
                let Ok(mut f) = std::fs::File::open(&path) else {
                    return Ok((what, None));
                };
                match f.try_lock_shared() {
                    Ok(()) => {
                        let _ = f.unlock();
                        Ok((what, None))
                    }
                    Err(std::fs::TryLockError::WouldBlock) => {
                        let mut text = String::new();
                        let _ = f.read_to_string(&mut text);
                        let by = serde_json::from_str::<Holder>(text.trim())
                            .map(|h| h.describe())
                            .unwrap_or_else(|_| "holder unknown".into());
                        let e = held(&what, &by);
                        Ok((what, Some(e)))
                    }
                    Err(std::fs::TryLockError::Error(e)) => {
                        Err(anyhow!("cannot check {}: {e}", path.display()))
                    }
                }
            }
            _ => {
                let mut conn = Conn::connect(db)?;
                let by = match db {
                    DbUrl::Postgres { .. } => pg_holder(&mut conn, key)?,
                    _ => mysql_holder(&mut conn, &name)?,
                };
                let e = by.map(|b| held("the database lock", &b));
                Ok(("the database lock".into(), e))
            }
        },
    }
}

/// Sleeps up to `d`, waking early when `stop` is set.
fn nap(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
    }
}

const RENEW: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

fn redis_conn(url: &str) -> anyhow::Result<redis::Connection> {
    let client = redis::Client::open(url).map_err(|e| {
        crate::error::usage(format!(
            "bad lock URL: {}: use redis://host:6379",
            crate::error::redact(&e.to_string())
        ))
    })?;
    client
        .get_connection_with_timeout(Duration::from_secs(5))
        .map_err(|e| {
            anyhow!(
                "cannot connect to the Redis lock server: {}",
                crate::error::redact(&e.to_string())
            )
        })
}

fn redis_lock(url: &str, fp: &str, ttl: Duration) -> anyhow::Result<Guard> {
    let key = format!("anonsweep:lock:{fp}");
    let me = Holder::me();
    let value = serde_json::to_string(&me)?;
    let ttl_ms = ttl.as_millis().max(1000) as u64;
    let mut con = redis_conn(url)?;
    let ok: Option<String> = redis::cmd("SET")
        .arg(&key)
        .arg(&value)
        .arg("NX")
        .arg("PX")
        .arg(ttl_ms)
        .query(&mut con)
        .map_err(|e| anyhow!("Redis lock: {}", crate::error::redact(&e.to_string())))?;
    if ok.is_none() {
        let by: Option<String> = redis::cmd("GET").arg(&key).query(&mut con).ok().flatten();
        let by = by
            .and_then(|v| serde_json::from_str::<Holder>(&v).ok())
            .map(|h| h.describe())
            .unwrap_or_else(|| "holder unknown".into());
        return Err(held("the Redis lock", &by));
    }
    let lost = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let keeper = {
        let (lost, stop, key, value, url) = (
            lost.clone(),
            stop.clone(),
            key.clone(),
            value.clone(),
            url.to_string(),
        );
        std::thread::spawn(move || {
            let script = redis::Script::new(RENEW);
            let mut con = Some(con);
            let mut last_ok = Instant::now();
            loop {
                nap(&stop, Duration::from_millis(ttl_ms / 3));
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                if con.is_none() {
                    con = redis_conn(&url).ok();
                }
                let renewed: Option<i64> = con.as_mut().and_then(|c| {
                    script
                        .key(&key)
                        .arg(&value)
                        .arg(ttl_ms)
                        .invoke::<i64>(c)
                        .ok()
                });
                match renewed {
                    Some(1) => last_ok = Instant::now(),
                    Some(_) => {
                        crate::warn!("the Redis lock was taken over or expired: stopping after the batch in flight");
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    None => {
                        con = None;
                        if last_ok.elapsed() >= Duration::from_millis(ttl_ms) {
                            crate::warn!("cannot renew the Redis lock for longer than its TTL: stopping after the batch in flight");
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            }
        })
    };
    let release_url = url.to_string();
    Ok(Guard {
        lost,
        stop,
        keeper: Some(keeper),
        release: Some(Box::new(move || {
            if let Ok(mut c) = redis_conn(&release_url) {
                let _: Result<i64, _> = redis::Script::new(RELEASE)
                    .key(&key)
                    .arg(&value)
                    .invoke(&mut c);
            }
        })),
        description: format!("Redis lock anonsweep:lock:{fp}"),
    })
}

/// SQLite: an exclusive lock on a file beside the database (the OS drops it when the process
/// dies, even by SIGKILL). Holding SQLite's own write lock for the whole run would block the
/// application's writes.
/// Beside the real file, so every path to it (a symlink, `..`) finds the same lock.
fn lock_file_path(db: &std::path::Path) -> PathBuf {
    let real = db.canonicalize().unwrap_or_else(|_| db.to_path_buf());
    PathBuf::from(format!("{}.anonsweep-lock", real.display()))
}

/// The PostgreSQL advisory-lock key and the MySQL lock name for a database's fingerprint.
fn db_lock_names(fp: &str) -> (i64, String) {
    (
        i64::from_str_radix(&fp[..15], 16).unwrap_or(0),
        format!("anonsweep:{}", &fp[..32]),
    )
}

/// Who holds the PostgreSQL advisory lock `key`, if anyone.
fn pg_holder(conn: &mut Conn, key: i64) -> anyhow::Result<Option<String>> {
    Ok(conn.text(&format!(
        "SELECT string_agg(a.application_name || ' (backend pid ' || a.pid || ', since ' || to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ')', ', ') AS t \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {} AND l.objid = {} AND l.objsubid = 1",
        (key >> 32) as u32,
        (key & 0xffff_ffff) as u32
    ))?)
}

/// Who holds the MySQL lock `name`, if anyone.
fn mysql_holder(conn: &mut Conn, name: &str) -> anyhow::Result<Option<String>> {
    Ok(conn
        .texts(
            "SELECT CAST(CONCAT('connection ', p.id, ' from ', p.host, ', for ', p.time, ' s') AS CHAR) AS t \
             FROM information_schema.processlist p WHERE p.id = IS_USED_LOCK(?)",
            &[name],
        )?
        .into_iter()
        .flatten()
        .next())
}

fn file_lock(db: &std::path::Path, fp: &str) -> anyhow::Result<Guard> {
    let path = lock_file_path(db);
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = f.read_to_string(&mut text);
            let by = serde_json::from_str::<Holder>(text.trim())
                .map(|h| h.describe())
                .unwrap_or_else(|_| "holder unknown".into());
            return Err(held(&format!("the lock file {}", path.display()), &by));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(anyhow!("cannot lock {}: {e}", path.display()))
        }
    }
    f.set_len(0)?;
    f.rewind()?;
    writeln!(f, "{}", serde_json::to_string(&Holder::me())?)?;
    f.flush()?;
    let _ = fp;
    Ok(Guard {
        lost: Arc::new(AtomicBool::new(false)),
        stop: Arc::new(AtomicBool::new(false)),
        keeper: None,
        release: Some(Box::new(move || {
            let _ = f.set_len(0);
            let _ = f.unlock();
        })),
        description: format!("lock file {}", path.display()),
    })
}

/// PostgreSQL `pg_try_advisory_lock` / MySQL `GET_LOCK`, on a connection of its own that a
/// thread keeps alive; if that connection dies, the lock is gone and the run stops.
fn db_lock(db: &DbUrl, fp: &str) -> anyhow::Result<Guard> {
    let me = Holder::me();
    let mut conn = Conn::connect(db)?;
    let (key, name) = db_lock_names(fp);
    let got = match db {
        DbUrl::Postgres { .. } => {
            // The holder's name is visible to others in pg_stat_activity.
            conn.batch_execute(&format!(
                "SET application_name = 'anonsweep lock: host {} pid {} started {}'",
                me.host.replace('\'', ""),
                me.pid,
                me.started_at
            ))?;
            conn.text(&format!(
                "SELECT CAST(pg_try_advisory_lock({key}) AS TEXT) AS t"
            ))?
            .as_deref()
                == Some("true")
        }
        _ => {
            conn.texts("SELECT CAST(GET_LOCK(?, 0) AS CHAR) AS t", &[&name])?
                .into_iter()
                .flatten()
                .next()
                .as_deref()
                == Some("1")
        }
    };
    if !got {
        let by = match db {
            DbUrl::Postgres { .. } => pg_holder(&mut conn, key)?,
            _ => mysql_holder(&mut conn, &name)?,
        }
        .unwrap_or_else(|| "holder unknown".into());
        return Err(held("the database lock", &by));
    }
    let lost = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let keeper = {
        let (lost, stop) = (lost.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut conn = conn;
            loop {
                nap(&stop, Duration::from_secs(2));
                if stop.load(Ordering::SeqCst) {
                    // Ending the session releases the lock; wait for the release signal.
                    let _ = rx.recv_timeout(Duration::from_secs(5));
                    drop(conn);
                    return;
                }
                if conn.text("SELECT CAST(1 AS CHAR(1)) AS t").is_err() {
                    crate::warn!("the database lock's connection was lost: stopping after the batch in flight");
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
            }
        })
    };
    Ok(Guard {
        lost,
        stop,
        keeper: Some(keeper),
        release: Some(Box::new(move || {
            let _ = tx.send(());
        })),
        description: "database lock".to_string(),
    })
}
