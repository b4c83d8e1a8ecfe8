//! The per-backend SQL of the concurrency suite (PostgreSQL and MySQL/MariaDB), so that the
//! suite's populations, writer thread and checks are written once: server-side number series,
//! the writer's statements and the errors it may meet, and row locks held by another session.

use super::{Backend, Conn, TestDb};

/// A `FROM` item with the integers 1..=n, every `step`th, and the expression naming one.
pub fn series(db: &TestDb, n: u32, step: u32) -> (String, &'static str) {
    match db.backend() {
        Backend::Postgres => (format!("generate_series(1, {n}, {step}) AS g"), "g"),
        // MariaDB's sequence engine.
        Backend::Mysql if step == 1 => (format!("seq_1_to_{n}"), "seq"),
        Backend::Mysql => (format!("seq_1_to_{n}_step_{step}"), "seq"),
        Backend::Sqlite => unreachable!("the concurrency suite runs on the servers"),
    }
}

/// `prefix` followed by the number `n` (an SQL expression) zero-padded to `width` digits.
pub fn padded(db: &TestDb, prefix: &str, n: &str, width: u32) -> String {
    if db.is_mysql() {
        format!("CONCAT('{prefix}', LPAD({n}, {width}, '0'))")
    } else {
        format!("'{prefix}' || lpad({n}::text, {width}, '0')")
    }
}

/// `prefix` followed by the number `n` (an SQL expression).
pub fn numbered(db: &TestDb, prefix: &str, n: &str) -> String {
    if db.is_mysql() {
        format!("CONCAT('{prefix}', {n})")
    } else {
        format!("'{prefix}' || {n}")
    }
}

/// Fresh planner statistics for `tables`.
pub fn analyze(db: &TestDb, tables: &[&str]) -> String {
    if db.is_mysql() {
        format!("ANALYZE TABLE {}", tables.join(", "))
    } else {
        tables.iter().map(|t| format!("ANALYZE {t};")).collect()
    }
}

/// The schema the connection works in (for `information_schema` lookups).
pub fn current_schema(db: &TestDb) -> &'static str {
    if db.is_mysql() {
        "DATABASE()"
    } else {
        "current_schema()"
    }
}

/// The server's clock in UTC, as `YYYY-MM-DD HH:MM:SS` (a column named `t`).
pub fn utc_now(db: &TestDb) -> &'static str {
    if db.is_mysql() {
        "SELECT CAST(UTC_TIMESTAMP() AS CHAR) AS t"
    } else {
        "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS t"
    }
}

/// `expr` is anything but FALSE (TRUE or NULL).
pub fn not_false(db: &TestDb, expr: &str) -> String {
    if db.is_mysql() {
        format!("NOT ({expr} <=> FALSE)")
    } else {
        format!("{expr} IS DISTINCT FROM FALSE")
    }
}

/// Lowest-numbered user `u…` the run has not reached yet (anonymous, no session: still a
/// candidate), as a column `t`.
pub fn frontier(backend: Backend) -> &'static str {
    match backend {
        Backend::Mysql => {
            "SELECT CAST(u.id AS CHAR) AS t FROM users AS u \
             WHERE u.id LIKE 'u%' AND u.is_anonymous = 1 \
               AND NOT EXISTS (SELECT 1 FROM sessions AS s WHERE s.user_id = u.id) \
             ORDER BY u.id LIMIT 1"
        }
        _ => {
            "SELECT CAST(MIN(u.id) AS TEXT) AS t FROM users AS u \
             WHERE u.id LIKE 'u%' AND u.is_anonymous \
               AND NOT EXISTS (SELECT 1 FROM sessions AS s WHERE s.user_id = u.id)"
        }
    }
}

/// A fresh session (stamped with the server's clock) for user `id`.
pub fn insert_session(backend: Backend, session: &str, id: &str) -> String {
    match backend {
        Backend::Mysql => format!(
            "INSERT INTO sessions VALUES ('{session}', '{id}', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))"
        ),
        _ => format!("INSERT INTO sessions VALUES ('{session}', '{id}', now(), now())"),
    }
}

/// Registers user `id` if it is still anonymous, in one autocommit statement: `Ok(true)` if
/// this changed the row, `Ok(false)` if there was no anonymous row (already registered, or
/// gone), `Err` with the server's message otherwise (or for an answer that is neither).
pub fn register(conn: &mut Conn, backend: Backend, id: &str) -> Result<bool, String> {
    let single = |conn: &mut Conn, sql: &str| -> Result<Option<String>, String> {
        Ok(conn
            .texts(sql, &[])
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .flatten())
    };
    let changed = match backend {
        Backend::Mysql => {
            conn.batch_execute(&format!(
                "UPDATE users SET is_anonymous = FALSE WHERE id = '{id}' AND is_anonymous = 1"
            ))
            .map_err(|e| e.to_string())?;
            // ROW_COUNT() on the same connection right after tells whether it changed a row.
            single(conn, "SELECT CAST(ROW_COUNT() AS CHAR) AS t")?
        }
        _ => single(
            conn,
            &format!(
                "WITH x AS (UPDATE users SET is_anonymous = FALSE WHERE id = '{id}' AND is_anonymous RETURNING id) \
                 SELECT CAST(COUNT(*) AS TEXT) AS t FROM x"
            ),
        )?,
    };
    match changed.as_deref() {
        Some("1") => Ok(true),
        Some("0") => Ok(false),
        other => Err(format!("rows changed: {other:?}")),
    }
}

/// What a statement of the writer that failed ran into.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The user is gone (its row was deleted first): an expected foreign-key violation.
    UserGone,
    /// InnoDB chose the statement as a deadlock victim: rolled back, nothing committed.
    DeadlockVictim,
    /// Anything else (there should be none).
    Unexpected,
}

pub fn classify(backend: Backend, message: &str) -> WriteError {
    match backend {
        Backend::Mysql
            if message
                .to_lowercase()
                .contains("foreign key constraint fails") =>
        {
            WriteError::UserGone
        }
        Backend::Mysql if message.contains("Deadlock found") => WriteError::DeadlockVictim,
        // On PostgreSQL a deadlock of the writer's one-row statements is not expected.
        Backend::Postgres if message.contains("foreign key") => WriteError::UserGone,
        _ => WriteError::Unexpected,
    }
}

/// Statements that start a transaction and take a shared lock on the row of user `id`, as an
/// uncommitted child insert would (the SELECT returns the id as `t`).
pub fn hold_user_row(backend: Backend, id: &str) -> (&'static str, String) {
    match backend {
        Backend::Mysql => (
            "START TRANSACTION",
            format!("SELECT CAST(id AS CHAR) AS t FROM users WHERE id = '{id}' LOCK IN SHARE MODE"),
        ),
        _ => (
            "BEGIN",
            format!("SELECT id AS t FROM users WHERE id = '{id}' FOR KEY SHARE"),
        ),
    }
}

/// A `--lock-timeout-ms` that a held row lock outlasts (InnoDB waits whole seconds).
pub fn short_lock_timeout_ms(backend: Backend) -> &'static str {
    match backend {
        Backend::Mysql => "1000",
        _ => "100",
    }
}
