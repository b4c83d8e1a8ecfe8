//! Test support: the real binary, and throwaway databases (a SQLite file in a temp dir, or a
//! uniquely named PostgreSQL or MySQL/MariaDB database) that are dropped when the test ends;
//! `backend_test!` to run a test on each backend; the library's paths, re-exported in one place.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub mod cluster;
pub mod demo_sql;
pub mod peers;
mod per_backend;
pub mod population;
pub mod race_sql;

pub(crate) use per_backend::backend_test;

// ---------------------------------------------------------------------------------------------
// The library as the tests see it. Every path into `anonsweep` that a test uses is named here,
// and only here: when the library's modules move, this block is the one place to follow them.
// ---------------------------------------------------------------------------------------------

pub use anonsweep::config::settings::parse_as_of;
pub use anonsweep::error::{exit_code_for, one_line, redact, register_secret};
pub use anonsweep::exec::lock::{acquire as acquire_lock, LockSpec};
pub use anonsweep::indexes::status::committed as committed_migrations;
pub use anonsweep::output::metrics::{self, RunMetrics};
pub use anonsweep::output::notify::{EmailConfig, Event, EventKind, Notifier, Tls};
pub use anonsweep::sql::conn::Conn;
pub use anonsweep::sql::dburl::DbUrl;
pub use anonsweep::sql::dialect::Backend;

/// The PostgreSQL server tests use (`ANONSWEEP_TEST_PG_URL`, default the local trust-auth server).
pub fn pg_server() -> String {
    std::env::var("ANONSWEEP_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The MySQL/MariaDB server tests use (`ANONSWEEP_TEST_MYSQL_URL`, default the local root account).
pub fn mysql_server() -> String {
    std::env::var("ANONSWEEP_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

fn mysql_admin() -> Conn {
    Conn::connect(&DbUrl::parse(&format!("{}/mysql", mysql_server())).unwrap())
        .expect("MariaDB/MySQL is reachable (set ANONSWEEP_TEST_MYSQL_URL)")
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Output of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `anonsweep ARGS` in `dir` with a clean environment (no DATABASE_URL or ANONSWEEP_* leaks in).
pub fn anonsweep_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_anonsweep"));
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k == "DATABASE_URL" || k.starts_with("ANONSWEEP_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run anonsweep").into()
}

/// A scratch directory for config files, scripts and SQLite databases.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A throwaway database.
pub enum TestDb {
    Sqlite {
        dir: tempfile::TempDir,
        path: PathBuf,
    },
    Pg {
        name: String,
    },
    Mysql {
        name: String,
    },
}

impl TestDb {
    /// A fresh database on `backend`.
    pub fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres => TestDb::pg(),
            Backend::Mysql => TestDb::mysql(),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            TestDb::Sqlite { .. } => Backend::Sqlite,
            TestDb::Pg { .. } => Backend::Postgres,
            TestDb::Mysql { .. } => Backend::Mysql,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = scratch();
        let path = dir.path().join("app.db");
        std::fs::File::create(&path).unwrap();
        TestDb::Sqlite { dir, path }
    }

    pub fn pg() -> TestDb {
        let name = unique("anonsweep_t");
        let mut admin = Conn::connect(&DbUrl::parse(&format!("{}/postgres", pg_server())).unwrap())
            .expect("PostgreSQL is reachable (set ANONSWEEP_TEST_PG_URL)");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        TestDb::Pg { name }
    }

    pub fn mysql() -> TestDb {
        let name = unique("anonsweep_t");
        mysql_admin()
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        TestDb::Mysql { name }
    }

    pub fn is_pg(&self) -> bool {
        matches!(self, TestDb::Pg { .. })
    }

    pub fn is_mysql(&self) -> bool {
        matches!(self, TestDb::Mysql { .. })
    }

    /// `CAST(expr AS TEXT)` in this backend's words.
    pub fn text(&self, expr: &str) -> String {
        if self.is_mysql() {
            format!("CAST({expr} AS CHAR)")
        } else {
            format!("CAST({expr} AS TEXT)")
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            TestDb::Pg { name } => format!("{}/{name}", pg_server()),
            TestDb::Mysql { name } => format!("{}/{name}", mysql_server()),
        }
    }

    /// A directory to run the binary in.
    pub fn dir(&self) -> PathBuf {
        match self {
            TestDb::Sqlite { dir, .. } => dir.path().to_path_buf(),
            TestDb::Pg { .. } | TestDb::Mysql { .. } => std::env::temp_dir(),
        }
    }

    pub fn conn(&self) -> Conn {
        Conn::connect(&DbUrl::parse(&self.url()).unwrap()).expect("connect to test database")
    }

    /// Runs statements on one connection (one at a time on MySQL, which takes no batches).
    pub fn exec(&self, sql: &str) {
        let mut c = self.conn();
        if !self.is_mysql() {
            c.batch_execute(sql)
                .unwrap_or_else(|e| panic!("{e}\n{sql}"));
            return;
        }
        for stmt in split_statements(sql) {
            c.batch_execute(&stmt)
                .unwrap_or_else(|e| panic!("{e}\n{stmt}"));
        }
    }

    /// Rows of one text column; the query must name it `t`.
    pub fn strings(&self, sql: &str) -> Vec<String> {
        self.conn()
            .texts(sql, &[])
            .unwrap_or_else(|e| panic!("{e}\n{sql}"))
            .into_iter()
            .map(|v| v.unwrap_or_default())
            .collect()
    }

    pub fn count(&self, table: &str) -> u64 {
        self.strings(&format!(
            "SELECT {} AS t FROM {table}",
            self.text("COUNT(*)")
        ))[0]
            .parse()
            .unwrap()
    }

    /// Sorted ids of a table, as text.
    pub fn ids(&self, table: &str, col: &str) -> Vec<String> {
        let mut v = self.strings(&format!("SELECT {} AS t FROM {table}", self.text(col)));
        v.sort();
        v
    }

    /// Runs the binary with `--database-url` for this database appended.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let url = self.url();
        let mut all: Vec<&str> = args.to_vec();
        all.push("--database-url");
        all.push(&url);
        anonsweep_in(&self.dir(), &all, env)
    }

    /// A fingerprint of every row of every table: equal fingerprints mean equal data.
    pub fn fingerprint(&self, tables: &[&str]) -> Vec<String> {
        tables
            .iter()
            .map(|t| {
                let rows = match self {
                    TestDb::Pg { .. } => {
                        self.strings(&format!("SELECT CAST(x AS TEXT) AS t FROM {t} AS x"))
                    }
                    TestDb::Sqlite { .. } => {
                        let cols = self.strings(&format!(
                            "SELECT name AS t FROM pragma_table_info('{}')",
                            t.trim_matches('"')
                        ));
                        let expr = cols
                            .iter()
                            .map(|c| format!("quote(\"{c}\")"))
                            .collect::<Vec<_>>()
                            .join(" || '|' || ");
                        self.strings(&format!("SELECT {expr} AS t FROM {t}"))
                    }
                    TestDb::Mysql { .. } => {
                        let cols = self.strings(&format!(
                            "SELECT CAST(column_name AS CHAR) AS t FROM information_schema.columns \
                             WHERE table_schema = DATABASE() AND table_name = '{}' ORDER BY ordinal_position",
                            t.trim_matches('`')
                        ));
                        let expr = cols
                            .iter()
                            .map(|c| format!("QUOTE(`{c}`)"))
                            .collect::<Vec<_>>()
                            .join(", ");
                        self.strings(&format!(
                            "SELECT CAST(CONCAT_WS('|', {expr}) AS CHAR) AS t FROM {t}"
                        ))
                    }
                };
                let mut rows = rows;
                rows.sort();
                format!("{t}: {} rows: {}", rows.len(), rows.join(";"))
            })
            .collect()
    }

    /// Runs a SQL script with the backend's own command-line client.
    pub fn run_script(&self, script: &Path) -> Run {
        let mut cmd = match self {
            TestDb::Pg { .. } => {
                let mut c = Command::new("psql");
                c.arg("-X")
                    .arg("-q")
                    .arg("-d")
                    .arg(self.url())
                    .arg("-f")
                    .arg(script);
                c
            }
            TestDb::Sqlite { path, .. } => {
                let mut c = Command::new("sqlite3");
                c.arg(path).stdin(std::fs::File::open(script).unwrap());
                c
            }
            TestDb::Mysql { name } => {
                let u = url::Url::parse(&mysql_server()).unwrap();
                let client = if Command::new("mariadb").arg("--version").output().is_ok() {
                    "mariadb"
                } else {
                    "mysql"
                };
                let mut c = Command::new(client);
                c.arg(format!("--host={}", u.host_str().unwrap_or("127.0.0.1")))
                    .arg(format!("--port={}", u.port().unwrap_or(3306)))
                    .arg(format!(
                        "--user={}",
                        if u.username().is_empty() {
                            "root"
                        } else {
                            u.username()
                        }
                    ));
                if let Some(pw) = u.password() {
                    c.arg(format!("--password={pw}"));
                }
                c.arg(name).stdin(std::fs::File::open(script).unwrap());
                c
            }
        };
        cmd.output()
            .expect("the psql / sqlite3 client is installed")
            .into()
    }

    /// A copy of this database (a new file, or a new database from this one as template).
    pub fn copy(&self) -> TestDb {
        match self {
            TestDb::Sqlite { path, .. } => {
                let dir = scratch();
                let p2 = dir.path().join("copy.db");
                std::fs::copy(path, &p2).unwrap();
                TestDb::Sqlite { dir, path: p2 }
            }
            TestDb::Pg { name } => {
                let copy = unique("anonsweep_t");
                let mut admin =
                    Conn::connect(&DbUrl::parse(&format!("{}/postgres", pg_server())).unwrap())
                        .unwrap();
                admin
                    .batch_execute(&format!("CREATE DATABASE {copy} TEMPLATE {name}"))
                    .unwrap();
                TestDb::Pg { name: copy }
            }
            TestDb::Mysql { name } => {
                // No templates: copy each table (structure, then rows), foreign keys off meanwhile.
                let copy = TestDb::mysql();
                let TestDb::Mysql { name: to } = &copy else {
                    unreachable!()
                };
                let tables = self.strings(
                    "SELECT CAST(table_name AS CHAR) AS t FROM information_schema.tables \
                     WHERE table_schema = DATABASE() ORDER BY 1",
                );
                let mut c = copy.conn();
                c.batch_execute("SET FOREIGN_KEY_CHECKS = 0").unwrap();
                for t in &tables {
                    c.batch_execute(&format!("CREATE TABLE {to}.`{t}` LIKE {name}.`{t}`"))
                        .unwrap();
                    c.batch_execute(&format!(
                        "INSERT INTO {to}.`{t}` SELECT * FROM {name}.`{t}`"
                    ))
                    .unwrap();
                }
                // CREATE TABLE … LIKE keeps no foreign keys: add them back as declared.
                let fks = self.strings(
                    "SELECT CAST(CONCAT(k.table_name, '|', k.column_name, '|', k.referenced_table_name, '|', \
                       k.referenced_column_name, '|', r.delete_rule) AS CHAR) AS t \
                     FROM information_schema.key_column_usage k JOIN information_schema.referential_constraints r \
                       ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name \
                     WHERE k.table_schema = DATABASE() AND k.referenced_table_name IS NOT NULL",
                );
                for fk in fks {
                    let p: Vec<&str> = fk.split('|').collect();
                    c.batch_execute(&format!(
                        "ALTER TABLE `{}` ADD FOREIGN KEY (`{}`) REFERENCES `{}` (`{}`) ON DELETE {}",
                        p[0], p[1], p[2], p[3], p[4]
                    ))
                    .unwrap();
                }
                c.batch_execute("SET FOREIGN_KEY_CHECKS = 1").unwrap();
                copy
            }
        }
    }

    /// A UTC time `YYYY-MM-DD HH:MM:SS` as this backend's native literal.
    pub fn ts(&self, t: &str) -> String {
        match self {
            TestDb::Pg { .. } => format!("TIMESTAMPTZ '{t}+00'"),
            TestDb::Sqlite { .. } => format!("'{}.000Z'", t.replace(' ', "T")),
            TestDb::Mysql { .. } => format!("'{t}'"),
        }
    }

    pub fn bool(&self, b: bool) -> &'static str {
        match (self, b) {
            (TestDb::Pg { .. } | TestDb::Mysql { .. }, true) => "TRUE",
            (TestDb::Pg { .. } | TestDb::Mysql { .. }, false) => "FALSE",
            (TestDb::Sqlite { .. }, true) => "1",
            (TestDb::Sqlite { .. }, false) => "0",
        }
    }
}

/// A database that outlives its test is left behind on the server for good (nothing else drops
/// `anonsweep_t_*`), so every backend's is dropped here; a failure is reported, never a panic
/// (which, while a failed test unwinds, would abort the whole binary).
impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, drop) = match self {
            // The TempDir removes the directory, and the file with it.
            TestDb::Sqlite { .. } => return,
            TestDb::Pg { name } => (
                format!("{}/postgres", pg_server()),
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            ),
            TestDb::Mysql { name } => (
                format!("{}/mysql", mysql_server()),
                format!("DROP DATABASE IF EXISTS {name}"),
            ),
        };
        let dropped = Conn::connect(&DbUrl::parse(&admin).unwrap()).and_then(|mut c| {
            if self.is_mysql() {
                // DROP DATABASE waits for the metadata locks of open transactions: bounded.
                c.batch_execute("SET SESSION lock_wait_timeout = 60")?;
            }
            Ok(c.batch_execute(&drop)?)
        });
        if let Err(e) = dropped {
            eprintln!("warning: test database left behind: {drop}: {e}");
        }
    }
}

/// The seed schema (`default` preset) with foreign keys; `ts` is the timestamp column type and
/// `id` the id type (TEXT and TIMESTAMPTZ become VARCHAR(64) and DATETIME(3) on MySQL).
pub fn default_schema(db: &TestDb, ts: &str, id: &str, cascade: bool) -> String {
    schema_with(db, ts, id, Some(cascade))
}

/// The seed schema with no foreign keys at all (better-auth's MySQL DDL, which MySQL ignores).
pub fn default_schema_no_fk(db: &TestDb, ts: &str, id: &str) -> String {
    schema_with(db, ts, id, None)
}

fn schema_with(db: &TestDb, ts: &str, id: &str, fk: Option<bool>) -> String {
    let (bool_t, ts, id) = match db {
        TestDb::Pg { .. } => ("BOOLEAN", ts.to_string(), id.to_string()),
        TestDb::Sqlite { .. } => ("INTEGER", ts.to_string(), id.to_string()),
        TestDb::Mysql { .. } => (
            "BOOLEAN",
            if ts == "TIMESTAMPTZ" || ts == "TEXT" {
                "DATETIME(3)".to_string()
            } else {
                ts.to_string()
            },
            if id == "TEXT" {
                "VARCHAR(64)".to_string()
            } else {
                id.to_string()
            },
        ),
    };
    let refs = match fk {
        Some(cascade) => format!(
            ", FOREIGN KEY (user_id) REFERENCES users (id){}",
            if cascade { " ON DELETE CASCADE" } else { "" }
        ),
        None => String::new(),
    };
    format!(
        "CREATE TABLE users (id {id} PRIMARY KEY, is_anonymous {bool_t}, created_at {ts});
         CREATE TABLE sessions (id {id} PRIMARY KEY, user_id {id} NOT NULL, created_at {ts}, updated_at {ts}{refs});
         CREATE INDEX sessions_user_idx ON sessions (user_id);
         CREATE TABLE accounts (id {id} PRIMARY KEY, user_id {id} NOT NULL, provider TEXT{refs});"
    )
}

/// Splits a script at semicolons outside quotes.
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for ch in sql.chars() {
        match (quote, ch) {
            (None, '\'' | '"' | '`') => {
                quote = Some(ch);
                cur.push(ch);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(ch);
            }
            (None, ';') => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
            }
            _ => cur.push(ch),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}
