//! One connection type for every backend, and the few ways anonsweep talks to it:
//! execute a statement, count, read ids. Values are always bound parameters.

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::mysql::Mysql;
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp, Timestamptz};
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel_async::async_connection_wrapper::{AsyncConnectionWrapper, BlockOn};
use diesel_async::AsyncMysqlConnection;

/// MySQL/MariaDB through diesel-async's pure-Rust client, used synchronously.
pub type MysqlConnection = AsyncConnectionWrapper<AsyncMysqlConnection, MysqlRuntime>;

/// The single-threaded runtime that drives one MySQL connection: the one it was opened on (its
/// socket belongs to that runtime), handed over when the opened connection is wrapped.
pub struct MysqlRuntime(tokio::runtime::Runtime);

thread_local! {
    /// The runtime a connection was just opened on, until `MysqlConnection::from` takes it.
    static OPENED_ON: std::cell::RefCell<Option<tokio::runtime::Runtime>> =
        const { std::cell::RefCell::new(None) };
}

fn mysql_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a single-threaded tokio runtime")
}

impl BlockOn for MysqlRuntime {
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }

    fn get_runtime() -> Self {
        MysqlRuntime(
            OPENED_ON
                .with(|r| r.borrow_mut().take())
                .unwrap_or_else(mysql_runtime),
        )
    }
}

use crate::error::usage;
use crate::sql::dburl::{DbUrl, MysqlTls, SslMode};
use crate::sql::dialect::Stmt;
use crate::sql::dialect::{Backend, BindValue, Param};

/// A live connection to one of the supported backends.
pub enum Conn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
    Mysql(MysqlConnection),
}

/// What a statement's parameters are bound to.
#[derive(Clone, Copy, Debug)]
pub struct Values {
    pub cutoff: DateTime<Utc>,
    pub limit: i64,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

#[derive(QueryableByName)]
struct IdCountRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct IdTextRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<Text>)]
    t: Option<String>,
}

#[derive(QueryableByName)]
struct UserRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<Text>)]
    created_at: Option<String>,
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Nullable<Text>)]
    t: Option<String>,
}

#[derive(QueryableByName)]
struct PgPlanRow {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    line: String,
}

#[derive(QueryableByName)]
struct MysqlPlanRow {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "EXPLAIN")]
    plan: String,
}

#[derive(QueryableByName)]
struct SqlitePlanRow {
    #[diesel(sql_type = Text)]
    detail: String,
}

/// A user in the current batch: id and created_at as text.
#[derive(Clone, Debug)]
pub struct BatchUser {
    pub id: String,
    pub created_at: Option<String>,
}

/// One eligible user of `plan --list`: its id, `created_at` and latest activity (ISO-8601 UTC
/// text, and the column it came from), then the rows each table would lose, in the order the
/// query selects them (every column after the first four).
#[derive(Clone, Debug, PartialEq)]
pub struct ListRow {
    pub id: String,
    pub created_at: Option<String>,
    pub latest_at: Option<String>,
    pub latest_column: Option<String>,
    pub rows: Vec<u64>,
}

/// The named columns of a list row; the counts follow them.
const LIST_NAMED: usize = 4;

impl<DB> QueryableByName<DB> for ListRow
where
    DB: diesel::backend::Backend,
    String: diesel::deserialize::FromSql<Text, DB>,
    i64: diesel::deserialize::FromSql<BigInt, DB>,
{
    fn build<'a>(row: &impl diesel::row::NamedRow<'a, DB>) -> diesel::deserialize::Result<Self> {
        use diesel::row::{NamedRow, Row};
        let text = |name: &str| NamedRow::get::<Nullable<Text>, Option<String>>(row, name);
        let rows = (LIST_NAMED..Row::field_count(row))
            .map(|i| Row::get_value::<BigInt, i64, usize>(row, i).map(|n| n.max(0) as u64))
            .collect::<diesel::deserialize::Result<Vec<u64>>>()?;
        Ok(ListRow {
            id: NamedRow::get::<Text, String>(row, "id")?,
            created_at: text("created_at")?,
            latest_at: text("latest_at")?,
            latest_column: text("latest_column")?,
            rows,
        })
    }
}

fn values(backend: Backend, params: &[Param], v: Values) -> Vec<BindValue> {
    values_after(backend, params, v, None)
}

fn values_after(
    backend: Backend,
    params: &[Param],
    v: Values,
    after: Option<&str>,
) -> Vec<BindValue> {
    values_between(backend, params, v, after, None, None)
}

/// The values of `params`; `after` is the previous page's last id (only the list's later pages
/// and the later picks bind one), `upto` the last id of a worker's range (only bounded picks).
fn values_between(
    backend: Backend,
    params: &[Param],
    v: Values,
    after: Option<&str>,
    upto: Option<&str>,
    ids: Option<&str>,
) -> Vec<BindValue> {
    params
        .iter()
        .map(|p| match p {
            Param::Cutoff(k) => k.bind_value(backend, v.cutoff),
            Param::TextBound => BindValue::Text(crate::sql::dialect::text_bound(v.cutoff)),
            Param::Limit => BindValue::Int(v.limit),
            Param::PageAfter => BindValue::Text(
                after
                    .expect("a page after the first is read with the previous page's last id")
                    .to_string(),
            ),
            Param::UpTo => BindValue::Text(
                upto.expect("a bounded pick is run with its range's last id")
                    .to_string(),
            ),
            Param::Ids => BindValue::Text(
                ids.expect("a statement over listed users is run with their ids")
                    .to_string(),
            ),
        })
        .collect()
}

macro_rules! bound {
    (Pg, $sql:expr, $binds:expr) => {{
        let mut q = diesel::sql_query($sql).into_boxed::<Pg>();
        for b in $binds {
            q = match b {
                BindValue::Timestamptz(t) => q.bind::<Timestamptz, _>(t),
                BindValue::Timestamp(t) => q.bind::<Timestamp, _>(t),
                BindValue::Text(t) => q.bind::<Text, _>(t),
                BindValue::Int(i) => q.bind::<BigInt, _>(i),
            };
        }
        q
    }};
    (Sqlite, $sql:expr, $binds:expr) => {{
        let mut q = diesel::sql_query($sql).into_boxed::<Sqlite>();
        for b in $binds {
            q = match b {
                // SQLite has no timestamp type: compare canonical ISO-8601 text.
                BindValue::Timestamptz(t) => q.bind::<Text, _>(crate::sql::dialect::iso_text(t)),
                BindValue::Timestamp(t) => {
                    q.bind::<Text, _>(crate::sql::dialect::iso_text(t.and_utc()))
                }
                BindValue::Text(t) => q.bind::<Text, _>(t),
                BindValue::Int(i) => q.bind::<BigInt, _>(i),
            };
        }
        q
    }};
    (Mysql, $sql:expr, $binds:expr) => {{
        let mut q = diesel::sql_query($sql).into_boxed::<Mysql>();
        for b in $binds {
            q = match b {
                // The session time zone is UTC: DATETIME and TIMESTAMP compare as UTC.
                BindValue::Timestamptz(t) => q.bind::<Timestamp, _>(t.naive_utc()),
                BindValue::Timestamp(t) => q.bind::<Timestamp, _>(t),
                BindValue::Text(t) => q.bind::<Text, _>(t),
                BindValue::Int(i) => q.bind::<BigInt, _>(i),
            };
        }
        q
    }};
}

macro_rules! with_query {
    ($self:ident, $stmt:ident, $v:ident, |$q:ident, $c:ident| $body:expr) => {{
        with_query!($self, $stmt, $v, None, |$q, $c| $body)
    }};
    ($self:ident, $stmt:ident, $v:ident, $after:expr, |$q:ident, $c:ident| $body:expr) => {{
        with_query!($self, $stmt, $v, $after, None, |$q, $c| $body)
    }};
    ($self:ident, $stmt:ident, $v:ident, $after:expr, $upto:expr, |$q:ident, $c:ident| $body:expr) => {{
        with_query!($self, $stmt, $v, $after, $upto, None, |$q, $c| $body)
    }};
    ($self:ident, $stmt:ident, $v:ident, $after:expr, $upto:expr, $ids:expr, |$q:ident, $c:ident| $body:expr) => {{
        let binds = values_between($self.backend(), &$stmt.params, $v, $after, $upto, $ids);
        match $self {
            Conn::Pg($c) => {
                let $q = bound!(Pg, $stmt.sql.as_str(), binds);
                $body
            }
            Conn::Sqlite($c) => {
                let $q = bound!(Sqlite, $stmt.sql.as_str(), binds);
                $body
            }
            Conn::Mysql($c) => {
                let $q = bound!(Mysql, $stmt.sql.as_str(), binds);
                $body
            }
        }
    }};
}

/// What makes a SQLite file unwritable, as far as its permissions tell, and the fix.
fn why_unwritable(path: &std::path::Path, said: &str) -> (String, String) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o7777);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let (file, dir_name) = (path.display(), dir.display());
    match (mode(path), mode(&dir)) {
        (Ok(m), _) if m & 0o222 == 0 => (
            format!("the file is read-only (mode {m:04o})"),
            format!("make it writable for the user running anonsweep (e.g. chmod u+w {file})"),
        ),
        (_, Ok(d)) if d & 0o222 == 0 => (
            format!("its directory {dir_name} is read-only (mode {d:04o}), so SQLite cannot create its journal {file}-journal there"),
            format!("make the directory {dir_name} writable for the user running anonsweep"),
        ),
        (Ok(m), Ok(d)) => (
            format!("SQLite says \"{said}\" (file mode {m:04o}, directory {dir_name} mode {d:04o})"),
            "make the file and its directory writable for the user running anonsweep".into(),
        ),
        _ => (
            format!("SQLite says \"{said}\""),
            "make the file and its directory writable for the user running anonsweep".into(),
        ),
    }
}

/// Opens a MySQL/MariaDB connection with the URL's TLS settings (`ssl-mode`, `ssl-ca`; see
/// docs/backends.md, "TLS"). A socket connection (`socket=…`) is local and takes no TLS.
async fn open_mysql(url: &DbUrl, tls: &MysqlTls) -> anyhow::Result<AsyncMysqlConnection> {
    use mysql_async::{DriverError, Error as MyError, OptsBuilder, SslOpts};
    let opts = mysql_async::Opts::from_url(&url.connect_string())
        .map_err(|e| anyhow::anyhow!("cannot connect to {url}: {e}"))?;
    let host = opts.ip_or_hostname().to_string();
    let mode = if opts.socket().is_some() {
        SslMode::Disabled
    } else {
        tls.mode
    };
    // As diesel-async's own `establish`: its statement cache, and affected rows = matched rows.
    let base = OptsBuilder::from_opts(opts)
        .stmt_cache_size(0)
        .client_found_rows(true);
    let unverified = SslOpts::default().with_danger_accept_invalid_certs(true);
    let verified = |name: Option<String>| {
        let roots = match &tls.ca {
            Some(ca) => SslOpts::default()
                .with_root_certs(vec![ca.clone().into()])
                .with_disable_built_in_roots(true),
            None => SslOpts::default(),
        };
        roots
            .with_danger_skip_domain_validation(mode == SslMode::VerifyCa)
            .with_danger_tls_hostname_override(name)
    };
    let open = |ssl: Option<SslOpts>| {
        // A TLS session stays on its TCP connection (no switch to the server's local socket).
        let opts = match ssl {
            Some(ssl) => base.clone().ssl_opts(ssl).prefer_socket(false),
            None => base.clone(),
        };
        mysql_async::Conn::new(opts)
    };
    let fail = |why: String| anyhow::anyhow!("cannot connect to {url}: {why}");
    let opened = match mode {
        SslMode::Disabled => open(None).await,
        SslMode::Preferred => match open(Some(unverified)).await {
            Err(MyError::Driver(DriverError::NoClientSslFlagFromServer)) => {
                crate::debug!(
                    "{url}: the server offers no TLS: connecting without (ssl-mode=PREFERRED)"
                );
                open(None).await
            }
            Err(e) if tls_cause(&e).is_some() => {
                crate::warn!(
                    "{url}: TLS with the server failed ({}): connecting without TLS, as {} allows",
                    tls_cause(&e).unwrap_or_default(),
                    tls.setting()
                );
                open(None).await
            }
            r => r,
        },
        SslMode::Required => open(Some(unverified)).await,
        SslMode::VerifyCa => match open(Some(verified(None))).await {
            // The chain verified (rustls checks it before the name), but mysql_async still
            // refuses a certificate that does not name the host: verify again, for a name the
            // certificate itself gives (the chain is checked again too).
            Err(e) => match cert_names(&e).and_then(|n| n.into_iter().find_map(verifiable_name)) {
                Some(name) => open(Some(verified(Some(name)))).await,
                None => Err(e),
            },
            ok => ok,
        },
        SslMode::VerifyIdentity => open(Some(verified(None))).await,
    };
    let conn = opened.map_err(|e| match &e {
        MyError::Driver(DriverError::NoClientSslFlagFromServer) => fail(tls.no_tls_offered()),
        _ => match (cert_names(&e), tls_cause(&e)) {
            (Some(names), _) => fail(tls.wrong_host(&host, &names)),
            (None, Some(cause)) if mode.verifies() && cause.contains("certificate") => {
                fail(tls.refused_certificate(&cause))
            }
            (None, Some(cause)) => fail(tls.failed(&cause)),
            (None, None) => fail(driver_said(&e)),
        },
    })?;
    AsyncMysqlConnection::try_from(conn)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {url}: {}", e.to_string().trim()))
}

/// A connection error as diesel-async words it (the server's message without its code).
fn driver_said(e: &mysql_async::Error) -> String {
    use mysql_async::Error as MyError;
    let said = match e {
        MyError::Driver(e) => e.to_string(),
        MyError::Io(e) => e.to_string(),
        MyError::Other(e) => e.to_string(),
        MyError::Server(e) => e.message.clone(),
        MyError::Url(e) => e.to_string(),
    };
    said.trim().to_string()
}

/// The TLS library's error inside a mysql_async error, if TLS is what failed.
fn tls_rustls(e: &mysql_async::Error) -> Option<&rustls::Error> {
    use mysql_async::{Error as MyError, IoError, TlsError};
    match e {
        MyError::Io(IoError::Tls(TlsError::Tls(t))) => Some(t),
        // tokio-rustls reports a failed handshake as an I/O error wrapping rustls's.
        MyError::Io(IoError::Io(io)) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

/// Why TLS failed, if it did.
fn tls_cause(e: &mysql_async::Error) -> Option<String> {
    use mysql_async::{Error as MyError, IoError};
    match (tls_rustls(e), e) {
        (Some(t), _) => Some(t.to_string()),
        (None, MyError::Io(IoError::Tls(t))) => Some(t.to_string()),
        _ => None,
    }
}

/// The names a refused certificate gives (its subjectAltName entries), when it was refused only
/// for not naming the host.
fn cert_names(e: &mysql_async::Error) -> Option<Vec<String>> {
    use rustls::CertificateError;
    match tls_rustls(e)? {
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            presented,
            ..
        }) => Some(
            presented
                .iter()
                .map(|p| {
                    let inner = p
                        .strip_prefix("DnsName(\"")
                        .and_then(|r| r.strip_suffix("\")"))
                        .or_else(|| p.strip_prefix("IpAddress(")?.strip_suffix(')'));
                    inner.unwrap_or(p).to_string()
                })
                .collect(),
        ),
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => Some(Vec::new()),
        _ => None,
    }
}

/// A host name a certificate name stands for, to verify it against (`*.example.com`:
/// `a.example.com`); none for names that are not host names.
fn verifiable_name(name: String) -> Option<String> {
    let name = match name.strip_prefix("*.") {
        Some(rest) => format!("a.{rest}"),
        None => name,
    };
    rustls::pki_types::ServerName::try_from(name.as_str())
        .is_ok()
        .then_some(name)
}

impl Conn {
    /// Connects. A SQLite file must already exist; nothing is created.
    pub fn connect(url: &DbUrl) -> anyhow::Result<Conn> {
        match url {
            DbUrl::Sqlite { path } => {
                if path.is_dir() {
                    return Err(usage(format!(
                        "SQLite database path {} is a directory, not a database file: give the database file's own path in --database-url / DATABASE_URL",
                        path.display()
                    )));
                }
                if !path.is_file() {
                    return Err(usage(format!(
                        "SQLite database file {} does not exist: check --database-url / DATABASE_URL",
                        path.display()
                    )));
                }
                let mut c = SqliteConnection::establish(&url.connect_string())
                    .with_context(|| format!("cannot open SQLite database {url}"))?;
                if let Some(t) = crate::sql::trace::enabled() {
                    c.set_instrumentation(t);
                }
                for sql in Backend::Sqlite.on_connect() {
                    diesel::sql_query(*sql).execute(&mut c)?;
                }
                Ok(Conn::Sqlite(c))
            }
            DbUrl::Postgres { .. } => {
                let mut c = PgConnection::establish(&url.connect_string()).map_err(|e| {
                    let said = e.to_string();
                    match url.pg_tls_hint(&said) {
                        Some(hint) => {
                            anyhow::anyhow!("cannot connect to {url}: {}: {hint}", said.trim())
                        }
                        None => anyhow::anyhow!("cannot connect to {url}: {}", said.trim()),
                    }
                })?;
                // Nothing is prepared by name for later: a transaction-mode pooler may run the
                // next statement on another server session, where that name does not exist.
                // (`sql_query` already sends each statement unnamed, parsed and run at once;
                // this covers diesel's own queries, such as the migration harness's.)
                c.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
                if let Some(t) = crate::sql::trace::enabled() {
                    c.set_instrumentation(t);
                }
                for sql in Backend::Postgres.on_connect() {
                    diesel::sql_query(*sql).execute(&mut c)?;
                }
                Ok(Conn::Pg(c))
            }
            DbUrl::Mysql { tls, .. } => {
                let runtime = mysql_runtime();
                let opened = runtime.block_on(open_mysql(url, tls))?;
                OPENED_ON.with(|r| *r.borrow_mut() = Some(runtime));
                let mut c = MysqlConnection::from(opened);
                if let Some(t) = crate::sql::trace::enabled() {
                    c.set_instrumentation(t);
                }
                use diesel::connection::SimpleConnection;
                for sql in Backend::Mysql.on_connect() {
                    c.batch_execute(sql)?;
                }
                Ok(Conn::Mysql(c))
            }
        }
    }

    /// `run` only: a SQLite database this process cannot write (a read-only file, or a read-only
    /// directory where SQLite cannot create its journal) is refused once, before the first
    /// batch, instead of failing every user. Probed by a write that is rolled back
    /// (`PRAGMA user_version` set to its own value), so the file stays byte for byte the same;
    /// a probe that finds the database busy leaves the answer to the batches. Other backends:
    /// nothing to check.
    pub fn check_writable(&mut self, url: &DbUrl) -> anyhow::Result<()> {
        let DbUrl::Sqlite { path } = url else {
            return Ok(());
        };
        let version = self
            .text("SELECT CAST(user_version AS TEXT) AS t FROM pragma_user_version")?
            .unwrap_or_else(|| "0".into());
        let probe = self.batch_execute("BEGIN IMMEDIATE").and_then(|()| {
            let set = self.batch_execute(&format!(
                "PRAGMA user_version = {}",
                version.parse::<i64>().unwrap_or(0)
            ));
            let _ = self.batch_execute("ROLLBACK");
            set
        });
        let Err(e) = probe else {
            return Ok(());
        };
        let said = e.to_string();
        if !said.contains("readonly") && !said.contains("unable to open") {
            return Ok(());
        }
        let (why, fix) = why_unwritable(path, &said);
        Err(anyhow::anyhow!(
            "SQLite database {} cannot be written: {why}: nothing was changed; {fix} (`anonsweep plan` still shows what would go)",
            path.display(),
        ))
    }

    /// Opens a SQLite file for writing, creating it (only the demo does this).
    pub fn create_sqlite(path: &std::path::Path) -> anyhow::Result<Conn> {
        let mut c = SqliteConnection::establish(&path.to_string_lossy())
            .with_context(|| format!("cannot create SQLite database {}", path.display()))?;
        diesel::sql_query("PRAGMA foreign_keys = ON").execute(&mut c)?;
        Ok(Conn::Sqlite(c))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Conn::Pg(_) => Backend::Postgres,
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Mysql(_) => Backend::Mysql,
        }
    }

    /// Runs a statement without parameters (DDL, pragmas, transaction control).
    pub fn batch_execute(&mut self, sql: &str) -> QueryResult<()> {
        use diesel::connection::SimpleConnection;
        match self {
            Conn::Pg(c) => c.batch_execute(sql),
            Conn::Sqlite(c) => c.batch_execute(sql),
            Conn::Mysql(c) => c.batch_execute(sql),
        }
    }

    /// Executes a statement; returns the number of rows it affected.
    pub fn execute(&mut self, stmt: &Stmt, v: Values) -> QueryResult<usize> {
        with_query!(self, stmt, v, |q, c| q.execute(c))
    }

    /// Executes a statement that may bind the keyset cursor (`after`: the previous batch's last
    /// id, as text); returns the number of rows it affected.
    pub fn execute_after(
        &mut self,
        stmt: &Stmt,
        v: Values,
        after: Option<&str>,
    ) -> QueryResult<usize> {
        with_query!(self, stmt, v, after, |q, c| q.execute(c))
    }

    /// Executes a pick of a worker's range: after the keyset cursor `after` (if any), up to the
    /// range's last id `upto` (if it has one); returns the number of rows it affected.
    pub fn execute_between(
        &mut self,
        stmt: &Stmt,
        v: Values,
        after: Option<&str>,
        upto: Option<&str>,
    ) -> QueryResult<usize> {
        with_query!(self, stmt, v, after, upto, |q, c| q.execute(c))
    }

    /// Executes a statement over listed users (`ids`: a JSON array of their ids as text);
    /// returns the number of rows it affected.
    pub fn execute_in(&mut self, stmt: &Stmt, v: Values, ids: &str) -> QueryResult<usize> {
        with_query!(self, stmt, v, None, None, Some(ids), |q, c| q.execute(c))
    }

    /// Runs a statement over listed users (`ids`, as in [`Conn::execute_in`]) selecting one
    /// nullable text column `t`.
    pub fn text_in(&mut self, stmt: &Stmt, v: Values, ids: &str) -> QueryResult<Option<String>> {
        let row: TextRow =
            with_query!(self, stmt, v, None, None, Some(ids), |q, c| q.get_result(c))?;
        Ok(row.t)
    }

    /// Runs a `SELECT COUNT(*) AS n` statement.
    pub fn count(&mut self, stmt: &Stmt, v: Values) -> QueryResult<u64> {
        let row: CountRow = with_query!(self, stmt, v, |q, c| q.get_result(c))?;
        Ok(row.n.max(0) as u64)
    }

    /// Runs a statement selecting one nullable text column `t`.
    pub fn text_of(&mut self, stmt: &Stmt, v: Values) -> QueryResult<Option<String>> {
        let row: TextRow = with_query!(self, stmt, v, |q, c| q.get_result(c))?;
        Ok(row.t)
    }

    /// Runs a statement selecting `id` as text.
    pub fn ids(&mut self, stmt: &Stmt, v: Values) -> QueryResult<Vec<String>> {
        let rows: Vec<IdRow> = with_query!(self, stmt, v, |q, c| q.load(c))?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// Runs a statement selecting `id` as text and hands each id to `each` as its row arrives
    /// (MySQL streams them; libpq reads the whole result first).
    pub fn for_each_id(
        &mut self,
        stmt: &Stmt,
        v: Values,
        mut each: impl FnMut(String) -> std::io::Result<()>,
    ) -> anyhow::Result<()> {
        with_query!(self, stmt, v, |q, c| {
            for row in q.load_iter::<IdRow, diesel::connection::DefaultLoadingMode>(c)? {
                each(row?.id)?;
            }
        });
        Ok(())
    }

    /// Runs a statement selecting `id` and `n`.
    pub fn id_counts(&mut self, stmt: &Stmt, v: Values) -> QueryResult<Vec<(String, u64)>> {
        let rows: Vec<IdCountRow> = with_query!(self, stmt, v, |q, c| q.load(c))?;
        Ok(rows
            .into_iter()
            .map(|r| (r.id, r.n.max(0) as u64))
            .collect())
    }

    /// Runs a statement selecting `id` and `t` as text.
    pub fn id_texts(
        &mut self,
        stmt: &Stmt,
        v: Values,
    ) -> QueryResult<Vec<(String, Option<String>)>> {
        let rows: Vec<IdTextRow> = with_query!(self, stmt, v, |q, c| q.load(c))?;
        Ok(rows.into_iter().map(|r| (r.id, r.t)).collect())
    }

    /// Executes `sql` with text parameters; returns the number of rows it affected.
    pub fn execute_texts(&mut self, sql: &str, bind: &[&str]) -> QueryResult<usize> {
        let binds: Vec<BindValue> = bind
            .iter()
            .map(|b| BindValue::Text(b.to_string()))
            .collect();
        match self {
            Conn::Pg(c) => bound!(Pg, sql, binds).execute(c),
            Conn::Sqlite(c) => bound!(Sqlite, sql, binds).execute(c),
            Conn::Mysql(c) => bound!(Mysql, sql, binds).execute(c),
        }
    }

    /// Runs a `SELECT COUNT(*) AS n` with text parameters.
    pub fn count_texts(&mut self, sql: &str, bind: &[&str]) -> QueryResult<u64> {
        let binds: Vec<BindValue> = bind
            .iter()
            .map(|b| BindValue::Text(b.to_string()))
            .collect();
        let row: CountRow = match self {
            Conn::Pg(c) => bound!(Pg, sql, binds).get_result(c)?,
            Conn::Sqlite(c) => bound!(Sqlite, sql, binds).get_result(c)?,
            Conn::Mysql(c) => bound!(Mysql, sql, binds).get_result(c)?,
        };
        Ok(row.n.max(0) as u64)
    }

    /// Runs a statement selecting `id` and `created_at` as text.
    pub fn users(&mut self, stmt: &Stmt, v: Values) -> QueryResult<Vec<BatchUser>> {
        let rows: Vec<UserRow> = with_query!(self, stmt, v, |q, c| q.load(c))?;
        Ok(rows
            .into_iter()
            .map(|r| BatchUser {
                id: r.id,
                created_at: r.created_at,
            })
            .collect())
    }

    /// Reads one page of `plan --list`: the first (`after` = `None`) or the one after the
    /// previous page's last id.
    pub fn list_page(
        &mut self,
        stmt: &Stmt,
        v: Values,
        after: Option<&str>,
    ) -> QueryResult<Vec<ListRow>> {
        let binds = values_after(self.backend(), &stmt.params, v, after);
        match self {
            Conn::Pg(c) => bound!(Pg, stmt.sql.as_str(), binds).load(c),
            Conn::Sqlite(c) => bound!(Sqlite, stmt.sql.as_str(), binds).load(c),
            Conn::Mysql(c) => bound!(Mysql, stmt.sql.as_str(), binds).load(c),
        }
    }

    /// The database's plan for a statement (`EXPLAIN` / `EXPLAIN QUERY PLAN`), one line each.
    pub fn explain(&mut self, stmt: &Stmt, v: Values) -> QueryResult<Vec<String>> {
        let binds = values(self.backend(), &stmt.params, v);
        match self {
            Conn::Pg(c) => {
                let sql = format!("EXPLAIN {}", stmt.sql);
                let q = bound!(Pg, sql.as_str(), binds);
                let rows: Vec<PgPlanRow> = q.load(c)?;
                Ok(rows.into_iter().map(|r| r.line).collect())
            }
            Conn::Sqlite(c) => {
                let sql = format!("EXPLAIN QUERY PLAN {}", stmt.sql);
                let q = bound!(Sqlite, sql.as_str(), binds);
                let rows: Vec<SqlitePlanRow> = q.load(c)?;
                Ok(rows.into_iter().map(|r| r.detail).collect())
            }
            Conn::Mysql(c) => {
                let sql = format!("EXPLAIN FORMAT=JSON {}", stmt.sql);
                let q = bound!(Mysql, sql.as_str(), binds);
                let rows: Vec<MysqlPlanRow> = q.load(c)?;
                Ok(rows
                    .iter()
                    .flat_map(|r| r.plan.lines().map(str::to_string))
                    .collect())
            }
        }
    }

    /// Runs a query returning one nullable text column named `t`.
    pub fn text(&mut self, sql: &str) -> QueryResult<Option<String>> {
        let row: TextRow = match self {
            Conn::Pg(c) => diesel::sql_query(sql).get_result(c)?,
            Conn::Sqlite(c) => diesel::sql_query(sql).get_result(c)?,
            Conn::Mysql(c) => diesel::sql_query(sql).get_result(c)?,
        };
        Ok(row.t)
    }

    /// Runs a query returning rows of one text column named `t`.
    pub fn texts(&mut self, sql: &str, bind: &[&str]) -> QueryResult<Vec<Option<String>>> {
        let rows: Vec<TextRow> = match self {
            Conn::Pg(c) => {
                let mut q = diesel::sql_query(sql).into_boxed::<Pg>();
                for b in bind {
                    q = q.bind::<Text, _>(b.to_string());
                }
                q.load(c)?
            }
            Conn::Sqlite(c) => {
                let mut q = diesel::sql_query(sql).into_boxed::<Sqlite>();
                for b in bind {
                    q = q.bind::<Text, _>(b.to_string());
                }
                q.load(c)?
            }
            Conn::Mysql(c) => {
                let mut q = diesel::sql_query(sql).into_boxed::<Mysql>();
                for b in bind {
                    q = q.bind::<Text, _>(b.to_string());
                }
                q.load(c)?
            }
        };
        Ok(rows.into_iter().map(|r| r.t).collect())
    }

    /// Runs a query with text parameters and loads typed rows (catalog queries).
    pub fn rows<T>(&mut self, sql: &str, bind: &[&str]) -> QueryResult<Vec<T>>
    where
        T: QueryableByName<Pg> + QueryableByName<Sqlite> + QueryableByName<Mysql> + 'static,
    {
        let binds: Vec<BindValue> = bind
            .iter()
            .map(|b| BindValue::Text(b.to_string()))
            .collect();
        match self {
            Conn::Pg(c) => bound!(Pg, sql, binds).load(c),
            Conn::Sqlite(c) => bound!(Sqlite, sql, binds).load(c),
            Conn::Mysql(c) => bound!(Mysql, sql, binds).load(c),
        }
    }

    /// The database server's clock, as UTC text.
    pub fn server_clock(&mut self) -> QueryResult<Option<String>> {
        match self.backend() {
            Backend::Postgres => self.text(
                "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS t",
            ),
            Backend::Sqlite => self.text("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now') AS t"),
            Backend::Mysql => {
                self.text("SELECT DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%dT%H:%i:%sZ') AS t")
            }
        }
    }

    /// Runs `f` in one transaction (SQLite: `BEGIN IMMEDIATE`, taking the write lock up front).
    /// Commits when `f` succeeds, rolls back when it fails.
    pub fn transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Conn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        let begin = self.backend().begin().trim_end_matches(';').to_string();
        self.batch_execute(&begin)?;
        match f(self) {
            Ok(v) => match self.batch_execute("COMMIT") {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = self.batch_execute("ROLLBACK");
                    Err(e.into())
                }
            },
            Err(e) => {
                let _ = self.batch_execute("ROLLBACK");
                Err(e)
            }
        }
    }
}
