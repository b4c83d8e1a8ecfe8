//! A deterministic synthetic population in the `default` preset's schema: users (60% anonymous)
//! created over 120 days, 0–3 sessions each, accounts for registered users and some guests.

use chrono::{DateTime, Utc};

use std::path::PathBuf;

use crate::error::usage;
use crate::sql::catalog;
use crate::sql::conn::Conn;
use crate::sql::dburl::DbUrl;
use crate::sql::dialect::Backend;

/// Table that marks a database as created by the demo (so it may be replaced).
pub const MARKER: &str = "anonsweep_demo";

/// SplitMix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn schema_sql(backend: Backend) -> Vec<String> {
    let (ts, boolean, id) = match backend {
        Backend::Postgres => ("TIMESTAMPTZ", "BOOLEAN", "TEXT"),
        Backend::Sqlite => ("TEXT", "INTEGER", "TEXT"),
        Backend::Mysql => ("DATETIME(3)", "BOOLEAN", "VARCHAR(36)"),
    };
    // Table-level foreign keys: MySQL ignores `REFERENCES` written inline on a column.
    vec![
        format!("CREATE TABLE {MARKER} (created_at {ts} NOT NULL)"),
        format!(
            "CREATE TABLE users (
  id {id} PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT,
  is_anonymous {boolean},
  created_at {ts} NOT NULL,
  updated_at {ts} NOT NULL
)"
        ),
        format!(
            "CREATE TABLE sessions (
  id {id} PRIMARY KEY,
  user_id {id} NOT NULL,
  token TEXT NOT NULL,
  created_at {ts} NOT NULL,
  updated_at {ts} NOT NULL,
  expires_at {ts} NOT NULL,
  FOREIGN KEY (user_id) REFERENCES users (id)
)"
        ),
        "CREATE INDEX sessions_user_id_idx ON sessions (user_id)".to_string(),
        format!(
            "CREATE TABLE accounts (
  id {id} PRIMARY KEY,
  user_id {id} NOT NULL,
  provider_id TEXT NOT NULL,
  created_at {ts} NOT NULL,
  FOREIGN KEY (user_id) REFERENCES users (id)
)"
        ),
        "CREATE INDEX accounts_user_id_idx ON accounts (user_id)".to_string(),
    ]
}

fn ts(backend: Backend, epoch_s: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp(epoch_s, 0).unwrap_or_default();
    match backend {
        Backend::Postgres => format!("'{}'", t.format("%Y-%m-%d %H:%M:%S+00")),
        Backend::Sqlite => format!("'{}'", t.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
        Backend::Mysql => format!("'{}'", t.format("%Y-%m-%d %H:%M:%S")),
    }
}

struct Buffers {
    users: Vec<String>,
    sessions: Vec<String>,
    accounts: Vec<String>,
}

const CHUNK: usize = 500;

fn flush(conn: &mut Conn, table: &str, rows: &mut Vec<String>, force: bool) -> anyhow::Result<()> {
    if rows.is_empty() || (!force && rows.len() < CHUNK) {
        return Ok(());
    }
    let sql = format!("INSERT INTO {table} VALUES {}", rows.join(","));
    conn.batch_execute(&sql)?;
    rows.clear();
    Ok(())
}

/// Counts of what was generated.
#[derive(Debug, Default, Clone, Copy)]
pub struct Population {
    pub users: u64,
    pub anonymous: u64,
    pub sessions: u64,
    pub accounts: u64,
}

/// Creates the schema and fills it with `n` users, as of `now`.
pub fn fill(conn: &mut Conn, n: u64, now: DateTime<Utc>) -> anyhow::Result<Population> {
    let backend = conn.backend();
    for ddl in schema_sql(backend) {
        conn.batch_execute(&ddl)?;
    }
    let now_s = now.timestamp();
    conn.batch_execute(&format!(
        "INSERT INTO {MARKER} VALUES ({})",
        ts(backend, now_s)
    ))?;
    let (t, f) = match backend {
        Backend::Postgres | Backend::Mysql => ("TRUE", "FALSE"),
        Backend::Sqlite => ("1", "0"),
    };
    let mut rng = Rng(0x5EED_2026);
    let mut b = Buffers {
        users: Vec::new(),
        sessions: Vec::new(),
        accounts: Vec::new(),
    };
    let mut pop = Population::default();
    let day = 86_400i64;
    conn.transaction(|c| -> anyhow::Result<()> {
        for i in 1..=n {
            let id = format!("usr_{i:09}");
            let anonymous = rng.chance(60);
            let created = now_s - rng.below((120 * day) as u64) as i64;
            let age = (now_s - created).max(1);
            let flag = if anonymous {
                t
            } else if rng.chance(10) {
                "NULL"
            } else {
                f
            };
            let (name, email) = if anonymous {
                ("'Anonymous'".to_string(), "NULL".to_string())
            } else {
                (format!("'User {i}'"), format!("'user{i}@example.com'"))
            };
            b.users.push(format!(
                "('{id}',{name},{email},{flag},{},{})",
                ts(backend, created),
                ts(backend, created)
            ));
            pop.users += 1;
            pop.anonymous += anonymous as u64;
            let sessions = if rng.chance(15) { 0 } else { 1 + rng.below(3) };
            for k in 0..sessions {
                let s_created = created + rng.below(age as u64) as i64;
                let s_updated = (s_created + rng.below((3 * day) as u64) as i64).min(now_s);
                b.sessions.push(format!(
                    "('ses_{i:09}_{k}','{id}','tok{i}x{k}',{},{},{})",
                    ts(backend, s_created),
                    ts(backend, s_updated),
                    ts(backend, s_updated + 7 * day)
                ));
                pop.sessions += 1;
            }
            if !anonymous || rng.chance(10) {
                let provider = if anonymous { "anonymous" } else { "credential" };
                b.accounts.push(format!(
                    "('acc_{i:09}','{id}','{provider}',{})",
                    ts(backend, created)
                ));
                pop.accounts += 1;
            }
            flush(c, "users", &mut b.users, false)?;
            if b.users.is_empty() {
                flush(c, "sessions", &mut b.sessions, true)?;
                flush(c, "accounts", &mut b.accounts, true)?;
            }
        }
        flush(c, "users", &mut b.users, true)?;
        flush(c, "sessions", &mut b.sessions, true)?;
        flush(c, "accounts", &mut b.accounts, true)?;
        Ok(())
    })?;
    match backend {
        Backend::Postgres => {
            conn.batch_execute("ANALYZE users; ANALYZE sessions; ANALYZE accounts")?
        }
        Backend::Mysql => conn.batch_execute("ANALYZE TABLE users, sessions, accounts")?,
        Backend::Sqlite => {}
    }
    Ok(pop)
}

/// Opens the database the demo fills: a SQLite file is created (an earlier demo's file is
/// replaced, any other file refused); a PostgreSQL or MySQL database must be empty.
pub fn open_target(url: &DbUrl) -> anyhow::Result<Conn> {
    match url {
        DbUrl::Sqlite { path } => {
            if path.exists() {
                let not_ours = || {
                    usage(format!(
                        "{} exists and was not made by `anonsweep demo`: pass another --database-url path",
                        path.display()
                    ))
                };
                let mut c = Conn::connect(url)?;
                // A file that is not a SQLite database at all is refused the same way.
                let marked = catalog::tables(&mut c)
                    .map_err(|_| not_ours())?
                    .iter()
                    .any(|t| t.name == MARKER);
                drop(c);
                if !marked {
                    return Err(not_ours());
                }
                std::fs::remove_file(path)?;
                for ext in ["-wal", "-shm", "-journal"] {
                    let mut p = path.clone().into_os_string();
                    p.push(ext);
                    let _ = std::fs::remove_file(PathBuf::from(p));
                }
            }
            Conn::create_sqlite(path)
        }
        DbUrl::Postgres { .. } | DbUrl::Mysql { .. } => {
            let mut c = Conn::connect(url)?;
            // Only an empty database: any table of an application means "not ours".
            let found = catalog::tables(&mut c)?;
            if let Some(t) = found.first() {
                let t = match url.backend() {
                    Backend::Mysql => t.name.clone(),
                    _ => format!("{}.{}", t.schema, t.name),
                };
                return Err(usage(format!(
                    "the database already has a table {t}: the demo fills only an empty database (create one with `createdb`)"
                )));
            }
            Ok(c)
        }
    }
}
