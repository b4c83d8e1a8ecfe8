//! Can the sessions table show who is active? When sessions live elsewhere (better-auth's
//! secondary storage keeps them in Redis) the table is empty or stale, every old guest looks
//! inactive and the rule silently becomes "older than the cutoff". This check refuses that
//! unless the configuration says so (`sessions.source = "none"` with a users activity column,
//! or `age_only = true`). Its reads are listed by `plan`.

use chrono::{DateTime, Utc};

use super::children::Finding;
use crate::config::settings::Schema;
use crate::sql::conn::{Conn, Values};
use crate::sql::dialect::{Backend, Binder, Formats, Stmt};
use crate::sql::ident::quote;
use crate::sql::templates::{self, render, TimeCmp};

/// `SELECT COUNT(*) … LIMIT 1`: 1 when `table` has a row (with any of `at_or_after` at or after
/// the cutoff); its placeholders come from `b`.
fn any_row(b: &mut Binder, table: &str, alias: &str, at_or_after: &[TimeCmp]) -> Stmt {
    let sql = render(&templates::AnyRow {
        table,
        alias,
        at_or_after,
    });
    Stmt {
        sql,
        params: b.take(),
    }
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
    let any_session = any_row(&mut b, &sessions, "s", &[]);
    let recent_users = {
        let created = TimeCmp::new(
            f.created_at,
            backend,
            &format!("u.{}", q(&s.users_created_at)),
            b.cutoff(f.created_at),
        );
        any_row(&mut b, &users, "u", &[created])
    };
    let recent_sessions = {
        let active: Vec<TimeCmp> = s
            .sessions_activity
            .iter()
            .zip(&f.activity)
            .map(|(c, k)| TimeCmp::new(*k, backend, &format!("s.{}", q(c)), b.cutoff(*k)))
            .collect();
        any_row(&mut b, &sessions, "s", &active)
    };
    let v = Values { cutoff, limit: 0 };
    let mut ran = Vec::new();
    let mut ask = |conn: &mut Conn, stmt: Stmt| -> anyhow::Result<bool> {
        let n = conn.count(&stmt, v)?;
        ran.push(stmt);
        Ok(n > 0)
    };
    let mut findings = Vec::new();
    let fix = String::from(
        "if the sessions live elsewhere (better-auth's secondaryStorage keeps them in Redis), take activity from a users column your app updates: [users] activity = [\"last_seen_at\"] and [sessions] source = \"none\"; or set age_only = true to accept deleting guests by age alone",
    );
    // Users created after the cutoff say the application is in use: then some session must show
    // activity after it too, or the sessions are not where liveness is recorded. (A dormant
    // application, with no recent users, may well have no recent sessions.)
    if ask(conn, recent_users)? {
        let what = if ask(conn, any_session)? {
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
        if !ask(conn, recent_sessions)? {
            findings.push(Finding::error(
                format!("{what}, so every old guest would look inactive and be deleted"),
                Some(fix),
            ));
        }
    }
    Ok((findings, ran))
}
