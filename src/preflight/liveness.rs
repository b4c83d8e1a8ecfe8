//! Can the sessions table show who is active? When sessions live elsewhere (better-auth's
//! secondary storage keeps them in Redis) the table is empty or stale, every old guest looks
//! inactive and the rule silently becomes "older than the cutoff". This check refuses that
//! unless the configuration says so (`sessions.source = "none"` with a users activity column,
//! or `age_only = true`). Its reads are listed by `plan`.

use chrono::{DateTime, Utc};

use super::children::Finding;
use crate::config::settings::Schema;
use crate::indexes::state;
use crate::sql::catalog;
use crate::sql::conn::{Conn, Values};
use crate::sql::dialect::{Backend, Binder, Formats, Stmt};
use crate::sql::ident::{quote, TableName};
use crate::sql::templates::{self, render, Newest, TimeCmp};

/// Rows the quick first look reads: a table's newest ones.
pub const NEWEST_ROWS: u64 = 1000;

/// `SELECT COUNT(*) … LIMIT 1`: 1 when `table` has a row (with any of `at_or_after` at or after
/// the cutoff), among its newest rows only with `newest`; its placeholders come from `b`.
fn any_row(
    b: &mut Binder,
    table: &str,
    alias: &str,
    at_or_after: &[TimeCmp],
    newest: Option<&Newest>,
) -> Stmt {
    let sql = render(&templates::AnyRow {
        table,
        alias,
        at_or_after,
        newest,
    });
    Stmt {
        sql,
        params: b.take(),
    }
}

/// The newest rows of `table`, reading only `columns`: in a live application a recent row is
/// most likely there, wherever the table keeps its old rows. A table that stores its rows in
/// creation order (most do) has its recent rows at the end, where a scan from the start comes
/// last. `None` where no index gives that order cheaply (a first look that sorted the table
/// would cost more than the scan it saves).
fn newest(
    conn: &mut Conn,
    table: &TableName,
    key: &str,
    columns: &[&String],
) -> anyhow::Result<Option<Newest>> {
    let backend = conn.backend();
    let has_rowid = backend == Backend::Sqlite && catalog::sqlite_has_rowid(conn, table)?;
    if !has_rowid && !state::led_by(conn, table, key)? {
        return Ok(None);
    }
    Ok(Some(Newest {
        columns: columns
            .iter()
            .map(|c| quote(backend, c))
            .collect::<Vec<_>>()
            .join(", "),
        order: backend.newest_first(&quote(backend, key), has_rowid),
        rows: NEWEST_ROWS,
    }))
}

/// Asks `stmt`, recording it among the statements that ran.
fn ask(conn: &mut Conn, stmt: Stmt, v: Values, ran: &mut Vec<Stmt>) -> anyhow::Result<bool> {
    let n = conn.count(&stmt, v)?;
    ran.push(stmt);
    Ok(n > 0)
}

/// Whether a row has any of the columns at or after the cutoff: the newest rows first (when
/// there is a first look), then, only when none of them has, the whole table (so the answer is
/// the whole table's).
fn any_recent(
    conn: &mut Conn,
    look: [Option<Stmt>; 2],
    v: Values,
    ran: &mut Vec<Stmt>,
) -> anyhow::Result<bool> {
    for stmt in look.into_iter().flatten() {
        if ask(conn, stmt, v, ran)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Runs the check; returns the findings and the statements it ran (for `plan`'s listing).
pub fn check(
    conn: &mut Conn,
    s: &Schema,
    f: &Formats,
    cutoff: DateTime<Utc>,
) -> anyhow::Result<(Vec<Finding>, Vec<Stmt>)> {
    // Sessions not read, or deleting by age acknowledged: nothing to refuse.
    if !s.sessions_show_activity || s.age_only {
        return Ok((Vec::new(), Vec::new()));
    }
    let backend: Backend = conn.backend();
    let q = |c: &str| quote(backend, c);
    let mut b = Binder::placeholders(backend);
    let sessions = s.sessions.quoted(backend);
    let users = s.users.quoted(backend);
    let any_session = any_row(&mut b, &sessions, "s", &[], None);
    let users_newest = newest(conn, &s.users, &s.users_id, &[&s.users_created_at])?;
    let sessions_newest = newest(
        conn,
        &s.sessions,
        &s.sessions_user_id,
        &s.sessions_activity.iter().collect::<Vec<_>>(),
    )?;
    // The first look (when there is one), then the whole table (`Some(None)`).
    let recent_users = [users_newest.as_ref().map(Some), Some(None)].map(|look| {
        let newest = look?;
        let created = TimeCmp::new(
            f.created_at,
            backend,
            &format!("u.{}", q(&s.users_created_at)),
            b.cutoff(f.created_at),
        );
        Some(any_row(&mut b, &users, "u", &[created], newest))
    });
    let recent_sessions = [sessions_newest.as_ref().map(Some), Some(None)].map(|look| {
        let newest = look?;
        let active: Vec<TimeCmp> = s
            .sessions_activity
            .iter()
            .zip(&f.activity)
            .map(|(c, k)| TimeCmp::new(*k, backend, &format!("s.{}", q(c)), b.cutoff(*k)))
            .collect();
        Some(any_row(&mut b, &sessions, "s", &active, newest))
    });
    let v = Values { cutoff, limit: 0 };
    let mut ran = Vec::new();
    let mut findings = Vec::new();
    let fix = String::from(
        "if the sessions live elsewhere (better-auth's secondaryStorage keeps them in Redis), take activity from a users column your app updates: [users] activity = [\"last_seen_at\"] and [sessions] source = \"none\"; or set age_only = true to accept deleting guests by age alone",
    );
    // Users created after the cutoff say the application is in use: then some session must show
    // activity after it too, or the sessions are not where liveness is recorded. (A dormant
    // application, with no recent users, may well have no recent sessions.)
    if any_recent(conn, recent_users, v, &mut ran)?
        && !any_recent(conn, recent_sessions, v, &mut ran)?
    {
        let what = if ask(conn, any_session, v, &mut ran)? {
            format!(
                "no row of {} shows activity at or after the cutoff although users were created after it: the sessions table looks stale",
                s.sessions
            )
        } else {
            format!(
                "the sessions table {} has no rows although users were created after the cutoff",
                s.sessions
            )
        };
        findings.push(Finding::error(
            format!("{what}, so every old guest would look inactive and be deleted"),
            Some(fix),
        ));
    }
    Ok((findings, ran))
}
