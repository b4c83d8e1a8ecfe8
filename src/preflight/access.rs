//! How the counts read the users table on MySQL/MariaDB, chosen per run from a cheap estimate:
//! through the shipped `(is_anonymous, created_at)` index when few users are in its range, else
//! in primary-key order (`IGNORE INDEX`), as without the index. Through the index the users come
//! in creation order and every per-user probe of sessions and accounts lands on a random page;
//! in primary-key order the probes walk those indexes in order. On 1M demo users, 45 % of them
//! in the range, `plan`'s count took 44.8 s through the index and 10.1 s scanning (BENCHMARKS.md,
//! "MariaDB: the shipped indexes and the access path"). Its reads are listed by `plan`.

use chrono::{DateTime, Utc};

use crate::config::settings::Settings;
use crate::indexes::{self, state};
use crate::sql::conn::{Conn, Values};
use crate::sql::dialect::{Backend, Binder, Formats, Stmt, UsersAccess};
use crate::sql::ident::{quote, string_literal};
use crate::sql::templates::{self, render};

/// Up to this share of the table's rows (in percent) in the index's range, the counts go through
/// the index; above it they scan. Measured on the 1M demo: the index was faster up to 3.5 % and
/// even at about 6 %, the scan 2× faster at 11 % and 4.4× at 45 %.
pub const MAX_INDEX_SHARE_PERCENT: u64 = 3;

/// What the estimate decided, with the note `plan` prints and the statements it ran.
pub struct Chosen {
    pub access: UsersAccess,
    pub note: Option<String>,
    pub reads: Vec<Stmt>,
}

/// The table's estimated rows (InnoDB statistics).
fn table_rows(settings: &Settings) -> Stmt {
    let t = &settings.schema.users;
    let schema = match &t.schema {
        Some(s) => string_literal(s),
        None => "DATABASE()".to_string(),
    };
    Stmt {
        sql: render(&templates::TableRows {
            schema: &schema,
            table: &string_literal(&t.name),
        }),
        params: Vec::new(),
    }
}

/// Users in the index's range, from the index alone, at most the bound value.
fn in_range(settings: &Settings, f: &Formats, index: &str) -> Stmt {
    let backend = Backend::Mysql;
    let s = &settings.schema;
    let mut b = Binder::placeholders(backend);
    let created = f.created_at.column_expr(
        backend,
        &format!("u.{}", quote(backend, &s.users_created_at)),
    );
    let cutoff = b.cutoff(f.created_at);
    let limit = b.limit();
    let sql = render(&templates::UsersInRange {
        users: &s.users.quoted(backend),
        index,
        anonymous: &render(&templates::Anonymous {
            backend: backend.name(),
            column: &format!("u.{}", quote(backend, &s.users_is_anonymous)),
            is_int: f.anonymous_is_int,
        }),
        created_expr: &created,
        created_cutoff: &cutoff,
        created_earliest: &f.created_at.earliest(backend),
        limit: &limit,
    });
    Stmt {
        sql,
        params: b.take(),
    }
}

/// The bound of the range count: one more than the share allows of `rows`.
pub fn bound(rows: u64) -> u64 {
    rows.saturating_mul(MAX_INDEX_SHARE_PERCENT) / 100 + 1
}

/// Chooses the access path. Elsewhere than MySQL, or without the shipped users index, the
/// optimizer chooses and nothing is read.
pub fn choose(
    conn: &mut Conn,
    settings: &Settings,
    f: &Formats,
    cutoff: DateTime<Utc>,
) -> anyhow::Result<Chosen> {
    let none = Chosen {
        access: UsersAccess::Chosen,
        note: None,
        reads: Vec::new(),
    };
    if conn.backend() != Backend::Mysql {
        return Ok(none);
    }
    let Some(spec) = indexes::users_spec(Backend::Mysql, &settings.schema, f) else {
        return Ok(none);
    };
    if !state::state(conn, &spec)?.exists {
        return Ok(none);
    }
    let index = quote(Backend::Mysql, &spec.name);
    let rows_stmt = table_rows(settings);
    let rows = conn.count(&rows_stmt, Values { cutoff, limit: 0 })?;
    let limit = bound(rows);
    let range_stmt = in_range(settings, f, &index);
    let n = conn.count(
        &range_stmt,
        Values {
            cutoff,
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
        },
    )?;
    let users = &settings.schema.users;
    let (access, note) = if n >= limit {
        (
            UsersAccess::IgnoreIndex(index),
            format!(
                "access path: more than {MAX_INDEX_SHARE_PERCENT} % of the about {rows} rows of {users} are anonymous and created before the cutoff: the counts scan {users} in primary-key order (IGNORE INDEX {}), faster at this share than reading them through the index",
                spec.name
            ),
        )
    } else {
        (
            UsersAccess::Chosen,
            format!(
                "access path: {n} of the about {rows} rows of {users} are anonymous and created before the cutoff (at most {MAX_INDEX_SHARE_PERCENT} %): the counts read them through index {}",
                spec.name
            ),
        )
    };
    Ok(Chosen {
        access,
        note: Some(note),
        reads: vec![rows_stmt, range_stmt],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_one_more_than_the_share() {
        assert_eq!(bound(0), 1);
        assert_eq!(bound(100), 4);
        assert_eq!(bound(1_000_000), 30_001);
        assert_eq!(bound(u64::MAX), u64::MAX / 100 + 1);
    }
}
