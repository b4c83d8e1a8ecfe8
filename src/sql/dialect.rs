//! What differs between SQL dialects: placeholders, literals, temp tables, row locks, time comparisons.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A database backend anonsweep can render SQL for and run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }

    pub fn parse(value: &str) -> Option<Backend> {
        match value.to_ascii_lowercase().as_str() {
            "sqlite" | "sqlite3" => Some(Backend::Sqlite),
            "postgres" | "postgresql" | "pg" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::Mysql),
            _ => None,
        }
    }

    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::Mysql];

    /// The settings each connection makes when it opens, before any other statement (the
    /// plan lists them first). PostgreSQL: UTC, a name in `pg_stat_activity`, and no JIT
    /// compilation (on a count over a million users it costs about a second before the first
    /// row, for statements that run once). MySQL: UTC for DATETIME/TIMESTAMP comparisons; READ
    /// COMMITTED, so a batch locks only the rows it matches (no gap locks) and each statement
    /// sees the latest commits. SQLite: foreign keys enforced, as applications enable them.
    pub fn on_connect(self) -> &'static [&'static str] {
        match self {
            Backend::Sqlite => &["PRAGMA foreign_keys = ON"],
            Backend::Postgres => &[
                "SET TIME ZONE 'UTC'",
                "SET application_name = 'anonsweep'",
                "SET jit = off",
            ],
            Backend::Mysql => &[
                "SET time_zone = '+00:00'",
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            ],
        }
    }

    /// The order that puts a table's newest rows first (descending), as far as its storage
    /// tells: SQLite's rowid, the order the rows were inserted in, when the table has one; else
    /// `key` (quoted), an indexed column: a user id, which applications often make grow with
    /// time, or a random one, whose last rows are then a sample of the table.
    pub fn newest_first(self, key: &str, has_rowid: bool) -> String {
        match self {
            Backend::Sqlite if has_rowid => "rowid".to_string(),
            _ => key.to_string(),
        }
    }

    /// Prefix that makes a name refer to the connection's temporary schema only.
    pub fn temp_schema(self) -> &'static str {
        match self {
            Backend::Sqlite => "temp.",
            Backend::Postgres => "pg_temp.",
            // MySQL has no temporary schema: a temporary table shadows a base table of that name.
            Backend::Mysql => "",
        }
    }

    /// Row-lock clause for the candidate users (SQLite locks the whole database instead).
    pub fn lock_clause(self, alias: &str) -> String {
        match self {
            Backend::Sqlite => String::new(),
            Backend::Postgres => format!("FOR UPDATE OF {alias}"),
            Backend::Mysql => "FOR UPDATE".to_string(),
        }
    }

    /// Users per batch unless configured, from BENCHMARKS.md (1M users). PostgreSQL: the
    /// fastest size whose p99 batch stays far under 250 ms (batch cost is linear, the per-batch
    /// overhead is not). MySQL: wall time is nearly flat in the size, p99 is linear. SQLite: a
    /// batch holds the whole database's write lock, so application writes wait for it.
    pub fn default_batch_size(self) -> u64 {
        match self {
            Backend::Postgres => 5000,
            Backend::Mysql => 2000,
            Backend::Sqlite => 1000,
        }
    }

    /// Whether rows can be locked individually (`SELECT ... FOR UPDATE`).
    pub fn has_row_locks(self) -> bool {
        matches!(self, Backend::Postgres | Backend::Mysql)
    }

    /// Empties one of our temporary tables. PostgreSQL: `TRUNCATE`, so a table refilled every
    /// batch never bloats with dead rows (autovacuum does not see temporary tables).
    pub fn clear_table(self, table: &str) -> String {
        match self {
            Backend::Sqlite => format!("DELETE FROM {table}"),
            // Run before the transaction: TRUNCATE commits implicitly on MySQL.
            Backend::Mysql => format!("TRUNCATE TABLE {table}"),
            Backend::Postgres => format!("TRUNCATE {table}"),
        }
    }

    /// Converts any id to text for reporting.
    pub fn text_type(self) -> &'static str {
        match self {
            Backend::Mysql => "CHAR",
            _ => "TEXT",
        }
    }

    /// An expression as text.
    pub fn id_as_text(self, expr: &str) -> String {
        match self {
            Backend::Mysql => format!("CAST({expr} AS CHAR)"),
            _ => format!("CAST({expr} AS TEXT)"),
        }
    }

    /// A text parameter compared with a column declared `ty` (`None`: not known): PostgreSQL
    /// casts it to that type (text when unknown); MySQL to an integer for an integer column
    /// (a string would be compared as a double); SQLite's column affinity converts it.
    pub fn text_param_as(self, placeholder: &str, ty: Option<&str>) -> String {
        match self {
            Backend::Postgres => format!("CAST({placeholder} AS {})", ty.unwrap_or("TEXT")),
            Backend::Mysql => match ty.map(str::to_ascii_lowercase) {
                Some(t) if t.contains("int") && t.contains("unsigned") => {
                    format!("CAST({placeholder} AS UNSIGNED)")
                }
                Some(t) if t.contains("int") => format!("CAST({placeholder} AS SIGNED)"),
                _ => placeholder.to_string(),
            },
            Backend::Sqlite => placeholder.to_string(),
        }
    }

    /// Drops one of our temporary tables.
    pub fn drop_temp(self, table: &str) -> String {
        match self {
            Backend::Mysql => format!("DROP TEMPORARY TABLE {table}"),
            _ => format!("DROP TABLE {}{table}", self.temp_schema()),
        }
    }

    /// The placeholder for the `n`th bound value (1-based): `$n`, `?n`, or MySQL's positional `?`.
    /// The one place placeholders are written.
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Backend::Postgres => format!("${n}"),
            Backend::Sqlite => format!("?{n}"),
            Backend::Mysql => "?".to_string(),
        }
    }

    /// A boolean literal (PostgreSQL's TRUE/FALSE; 1/0 elsewhere).
    pub fn bool_literal(self, v: bool) -> &'static str {
        match (self, v) {
            (Backend::Postgres, true) => "TRUE",
            (Backend::Postgres, false) => "FALSE",
            (_, true) => "1",
            (_, false) => "0",
        }
    }

    /// How a script opens its single transaction.
    pub fn begin(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE;",
            Backend::Postgres => "BEGIN;",
            Backend::Mysql => "START TRANSACTION;",
        }
    }
}

/// How a timestamp column stores its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeKind {
    /// PostgreSQL `timestamp with time zone`.
    Timestamptz,
    /// PostgreSQL `timestamp without time zone`, values assumed to be UTC.
    Timestamp,
    /// ISO-8601 text (`2026-10-12T12:47:36.065Z`), compared after normalising.
    IsoText,
    /// Integer milliseconds since the Unix epoch (Drizzle's `timestamp_ms`).
    EpochMs,
    /// Integer seconds since the Unix epoch.
    EpochS,
}

impl TimeKind {
    pub fn name(self) -> &'static str {
        match self {
            TimeKind::Timestamptz => "timestamptz",
            TimeKind::Timestamp => "timestamp (UTC assumed)",
            TimeKind::IsoText => "iso-text",
            TimeKind::EpochMs => "epoch-ms",
            TimeKind::EpochS => "epoch-s",
        }
    }

    /// The value `--timestamp-format` (and the `plan --list` template) calls this format by.
    pub fn format_value(self) -> &'static str {
        match self {
            TimeKind::Timestamptz => "timestamptz",
            TimeKind::Timestamp => "timestamp",
            TimeKind::IsoText => "iso-text",
            TimeKind::EpochMs => "epoch-ms",
            TimeKind::EpochS => "epoch-s",
        }
    }

    /// SQLite text read as a time: ISO-8601 text, compared as its Julian day number. The same
    /// parser as `strftime` (any ISO-8601 form, zone offsets applied, NULL for what it cannot
    /// read), at a fraction of the cost: nothing is formatted back into text.
    fn sqlite_text(backend: Backend, kind: TimeKind) -> bool {
        backend == Backend::Sqlite
            && matches!(
                kind,
                TimeKind::IsoText | TimeKind::Timestamptz | TimeKind::Timestamp
            )
    }

    /// The column expression the comparison is made on (against [`Binder::cutoff`]).
    pub fn column_expr(self, backend: Backend, col: &str) -> String {
        match (backend, self) {
            _ if Self::sqlite_text(backend, self) => format!("julianday({col})"),
            (Backend::Postgres, TimeKind::IsoText) => format!("CAST({col} AS TIMESTAMPTZ)"),
            _ => col.to_string(),
        }
    }

    /// The earliest plausible time as a literal in this format (1990-01-01, [`EARLIEST`]):
    /// the rule reads an earlier value as one in doubt, never as a long-abandoned account.
    pub fn earliest(self, backend: Backend) -> String {
        let t = DateTime::<Utc>::from_timestamp(EARLIEST, 0).expect("1990 is a valid time");
        self.literal(backend, t)
    }

    /// Whether [`column_expr`](Self::column_expr) can be NULL for a value that is not NULL
    /// (SQLite text it cannot parse): the rule then reads the value as one in doubt.
    pub fn may_not_read(self, backend: Backend) -> bool {
        Self::sqlite_text(backend, self)
    }

    /// The column as the `plan --list` output shows it: SQLite text normalised to
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`; elsewhere as the list template formats it.
    pub fn display_expr(self, backend: Backend, col: &str) -> String {
        if Self::sqlite_text(backend, self) {
            format!("strftime('%Y-%m-%dT%H:%M:%fZ', {col})")
        } else {
            self.column_expr(backend, col)
        }
    }

    /// The cutoff as a SQL literal, for the DBA script (SQLite: read once, as in
    /// [`Binder::cutoff`]).
    pub fn literal(self, backend: Backend, cutoff: DateTime<Utc>) -> String {
        match (backend, self) {
            (Backend::Postgres, TimeKind::Timestamptz | TimeKind::IsoText) => {
                format!("TIMESTAMPTZ '{}'", cutoff.format("%Y-%m-%d %H:%M:%S+00"))
            }
            (Backend::Postgres, TimeKind::Timestamp) => {
                format!("TIMESTAMP '{}'", cutoff.format("%Y-%m-%d %H:%M:%S"))
            }
            (_, TimeKind::EpochMs) => cutoff.timestamp_millis().to_string(),
            (_, TimeKind::EpochS) => cutoff.timestamp().to_string(),
            (Backend::Sqlite, _) => format!("(SELECT julianday('{}'))", iso_text(cutoff)),
            // DATETIME and TIMESTAMP alike, with the session time zone set to UTC.
            (Backend::Mysql, _) => format!("TIMESTAMP '{}'", cutoff.format("%Y-%m-%d %H:%M:%S")),
        }
    }

    /// The kind of value bound for this column's cutoff.
    pub fn bind_value(self, backend: Backend, cutoff: DateTime<Utc>) -> BindValue {
        match (backend, self) {
            (Backend::Postgres, TimeKind::Timestamptz | TimeKind::IsoText) => {
                BindValue::Timestamptz(cutoff)
            }
            (Backend::Postgres, TimeKind::Timestamp) => BindValue::Timestamp(cutoff.naive_utc()),
            (_, TimeKind::EpochMs) => BindValue::Int(cutoff.timestamp_millis()),
            (_, TimeKind::EpochS) => BindValue::Int(cutoff.timestamp()),
            (Backend::Sqlite, _) => BindValue::Text(iso_text(cutoff)),
            (Backend::Mysql, _) => BindValue::Timestamp(cutoff.naive_utc()),
        }
    }
}

/// 1990-01-01T00:00:00Z, in seconds since 1970: no compared time of an application's guest
/// accounts is earlier. The rule reads an earlier one as a value in doubt (it keeps the user),
/// and the pre-flight check refuses a column whose values lie before it.
pub const EARLIEST: i64 = 631_152_000;

/// The canonical text form SQLite comparisons use: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn iso_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The largest zone offset SQLite's date parser reads (`+14:59`), rounded up.
const MAX_ZONE_OFFSET_HOURS: i64 = 15;

/// The cutoff plus the largest zone offset, as canonical text: a SQLite time text that sorts
/// at or after it is after the cutoff, whatever its form or offset, or is not a time SQLite
/// reads (text sorts by its date first, then by `T`, the hour, …; a form that sorts earlier,
/// `2026-10-28 03:00` or a `+14:00` offset, sorts before it and is read in full). So the rule
/// may decide on the text alone for such a value, exactly as on the parsed time.
pub fn text_bound(cutoff: DateTime<Utc>) -> String {
    iso_text(cutoff + chrono::Duration::hours(MAX_ZONE_OFFSET_HOURS))
}

/// A value bound to a statement parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum BindValue {
    Timestamptz(DateTime<Utc>),
    Timestamp(chrono::NaiveDateTime),
    Text(String),
    Int(i64),
}

/// What a statement parameter stands for; resolved to a value when the statement runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// The cutoff, in the storage format of one kind of column.
    Cutoff(TimeKind),
    /// The batch size.
    Limit,
    /// The last id of the previous page, as text (`plan --list` reads the eligible users in
    /// keyset pages).
    PageAfter,
    /// The last id of a worker's range, as text (`--workers`): a bounded pick takes no user
    /// after it.
    UpTo,
    /// SQLite text columns: [`text_bound`] of the cutoff (the rule's quick text test).
    TextBound,
    /// The ids of the users a batch may take, as one JSON array of text (a run whose count
    /// listed its eligible users).
    Ids,
}

/// Hands out placeholders (or literals, for the DBA script) while a statement is rendered.
pub struct Binder {
    backend: Backend,
    literal_cutoff: Option<DateTime<Utc>>,
    params: Vec<Param>,
}

impl Binder {
    /// Placeholders (`$1`, `?1`) that `run` binds.
    pub fn placeholders(backend: Backend) -> Binder {
        Binder {
            backend,
            literal_cutoff: None,
            params: Vec::new(),
        }
    }

    /// Literals, for a standalone script.
    pub fn literals(backend: Backend, cutoff: DateTime<Utc>) -> Binder {
        Binder {
            backend,
            literal_cutoff: Some(cutoff),
            params: Vec::new(),
        }
    }

    pub fn is_literal(&self) -> bool {
        self.literal_cutoff.is_some()
    }

    fn placeholder(&mut self, p: Param) -> String {
        if self.backend == Backend::Mysql {
            // Positional `?` only: every use is its own parameter.
            self.params.push(p);
            return self.backend.placeholder(self.params.len());
        }
        let idx = match self.params.iter().position(|q| *q == p) {
            Some(i) => i + 1,
            None => {
                self.params.push(p);
                self.params.len()
            }
        };
        self.backend.placeholder(idx)
    }

    /// The cutoff for a column of `kind`.
    pub fn cutoff(&mut self, kind: TimeKind) -> String {
        match self.literal_cutoff {
            Some(c) => kind.literal(self.backend, c),
            // Bound as ISO-8601 text, compared as a Julian day like the column (`column_expr`).
            // In a scalar subquery SQLite reads it once per statement; a bare `julianday(?)` in
            // the rule's correlated subqueries is parsed again for every session it is compared
            // with (a third of the daily run's listing, BENCHMARKS.md).
            None if TimeKind::sqlite_text(self.backend, kind) => {
                format!(
                    "(SELECT julianday({}))",
                    self.placeholder(Param::Cutoff(kind))
                )
            }
            None => self.placeholder(Param::Cutoff(kind)),
        }
    }

    /// SQLite text columns: [`text_bound`] of the cutoff, for a plain text comparison with the
    /// column, before any value is parsed. `None` for every other column.
    pub fn text_bound(&mut self, kind: TimeKind) -> Option<String> {
        if !TimeKind::sqlite_text(self.backend, kind) {
            return None;
        }
        Some(match self.literal_cutoff {
            Some(c) => format!("'{}'", text_bound(c)),
            None => self.placeholder(Param::TextBound),
        })
    }

    /// The batch size placeholder.
    pub fn limit(&mut self) -> String {
        self.placeholder(Param::Limit)
    }

    /// The placeholder for the previous page's last id (`plan --list`).
    pub fn page_after(&mut self) -> String {
        self.placeholder(Param::PageAfter)
    }

    /// The placeholder for the last id of a worker's range (`--workers`).
    pub fn upto(&mut self) -> String {
        self.placeholder(Param::UpTo)
    }

    /// The listed ids (a JSON array of text).
    pub fn ids(&mut self) -> String {
        self.placeholder(Param::Ids)
    }

    /// The parameters handed out so far, in placeholder order.
    pub fn take(&mut self) -> Vec<Param> {
        std::mem::take(&mut self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn placeholders_are_reused_per_param() {
        let mut b = Binder::placeholders(Backend::Postgres);
        assert_eq!(b.cutoff(TimeKind::Timestamptz), "$1");
        assert_eq!(b.cutoff(TimeKind::EpochMs), "$2");
        assert_eq!(b.cutoff(TimeKind::Timestamptz), "$1");
        assert_eq!(b.limit(), "$3");
        assert_eq!(b.take().len(), 3);
    }

    #[test]
    fn literals_are_exact() {
        let c = Utc.with_ymd_and_hms(2026, 10, 27, 13, 0, 0).unwrap();
        assert_eq!(
            TimeKind::IsoText.literal(Backend::Sqlite, c),
            "(SELECT julianday('2026-10-27T13:00:00.000Z'))"
        );
        assert_eq!(
            TimeKind::EpochMs.literal(Backend::Sqlite, c),
            "1793106000000"
        );
        assert_eq!(
            TimeKind::Timestamp.literal(Backend::Postgres, c),
            "TIMESTAMP '2026-10-27 13:00:00'"
        );
    }
}

/// How each compared column stores its values (detected, configured or assumed).
#[derive(Clone, Debug, PartialEq)]
pub struct Formats {
    pub created_at: TimeKind,
    /// The sessions' activity columns.
    pub activity: Vec<TimeKind>,
    /// The users' activity columns.
    pub users_activity: Vec<TimeKind>,
    /// `is_anonymous` is an integer column (0/1) rather than a boolean.
    pub anonymous_is_int: bool,
    /// How the eligibility counts read the users table (chosen by the pre-flight pass).
    pub users_access: UsersAccess,
    /// SQLite: the database has triggers, so a batch's own deletes may write what the rule
    /// reads; every pick then evaluates the rule (no change-counter picks).
    pub triggers: bool,
    /// True when nothing was read from a database.
    pub assumed: bool,
}

/// How the statements that evaluate the rule for every user (the counts) read the users table.
/// MySQL/MariaDB: through the shipped `(is_anonymous, created_at)` index the rows come in
/// creation order, so every per-user probe of sessions and accounts lands on a random page;
/// in primary-key order the probes walk those indexes in order. Above a small share of old
/// anonymous users the table scan is faster (BENCHMARKS.md, "MariaDB: the shipped indexes and
/// the access path").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum UsersAccess {
    /// As the database's optimizer chooses.
    #[default]
    Chosen,
    /// Not through this index (its quoted name): MySQL `IGNORE INDEX`, what the optimizer
    /// does without the shipped users index.
    IgnoreIndex(String),
    /// PostgreSQL, ids that grow with creation time: the picks probe each user's sessions
    /// (`Eligible::probe_each`); the counts as the optimizer chooses.
    ProbeEach,
}

impl UsersAccess {
    /// The index hint written after `FROM users AS u` (with its leading space), or nothing.
    pub fn hint(&self, backend: Backend) -> String {
        match (self, backend) {
            (UsersAccess::IgnoreIndex(quoted), Backend::Mysql) => {
                format!(" IGNORE INDEX ({quoted})")
            }
            _ => String::new(),
        }
    }
}

impl Formats {
    /// What `sql` renders without a connection: the configured format, else the backend's usual one.
    pub fn assumed(
        backend: Backend,
        fixed: Option<TimeKind>,
        activity_columns: usize,
        users_activity_columns: usize,
    ) -> Formats {
        let kind = match fixed {
            Some(k) => k,
            None => match backend {
                Backend::Sqlite => TimeKind::IsoText,
                Backend::Postgres => TimeKind::Timestamptz,
                Backend::Mysql => TimeKind::Timestamp,
            },
        };
        Formats {
            created_at: kind,
            activity: vec![kind; activity_columns],
            users_activity: vec![kind; users_activity_columns],
            anonymous_is_int: false,
            users_access: UsersAccess::Chosen,
            triggers: false,
            assumed: true,
        }
    }
}

impl Formats {
    /// Every compared column's storage: created_at, the sessions' activity, the users' activity.
    pub fn all(&self) -> impl Iterator<Item = &TimeKind> {
        std::iter::once(&self.created_at)
            .chain(&self.activity)
            .chain(&self.users_activity)
    }
}

/// One SQL statement and the parameters it binds, in placeholder order.
#[derive(Clone, Debug)]
pub struct Stmt {
    pub sql: String,
    pub params: Vec<Param>,
}

/// A MySQL column type holding bytes (archived as base64).
pub fn is_binary(ty: &str) -> bool {
    let t = ty.to_ascii_lowercase();
    t.contains("blob") || t.starts_with("binary") || t.starts_with("varbinary")
}
