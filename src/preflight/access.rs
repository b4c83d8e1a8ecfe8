//! How the counts read the users table on MySQL/MariaDB, chosen per run from a cheap estimate:
//! through the shipped `(is_anonymous, created_at)` index when few users are in its range, else
//! in primary-key order (`IGNORE INDEX`), as without the index. Through the index the users come
//! in creation order and every per-user probe of sessions and accounts lands on a random page;
//! in primary-key order the probes walk those indexes in order. On 1M demo users, 45 % of them
//! in the range, `plan`'s count took 44.8 s through the index and 10.1 s scanning (BENCHMARKS.md,
//! "MariaDB: the shipped indexes and the access path"). When the ids grow with creation time
//! (a sample of the range says so), the index gives the primary-key order too, and reads only
//! the users in the range: then the counts go through it at any share. On PostgreSQL the same
//! sample decides how the picks read sessions (`choose_pg`). Its reads are listed by `plan`.

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

/// Users read (the last created before the cutoff) to tell whether ids grow with creation time.
/// Above the share, the counts still go through the index when they do: the users then come in
/// id order either way, and the index holds only those in the range. On a copy of the 1M-user
/// daily benchmark with ids in creation order (15 % of the users in the range), listing the
/// eligible users took 0.15–0.18 s through the index and 0.26–0.56 s scanning.
pub const ORDER_SAMPLE: u64 = 1000;

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

/// The users index's range (anonymous, created before the cutoff), with the cutoff's
/// placeholder from `b`.
fn range(backend: Backend, settings: &Settings, f: &Formats, b: &mut Binder) -> String {
    let s = &settings.schema;
    let created = f.created_at.column_expr(
        backend,
        &format!("u.{}", quote(backend, &s.users_created_at)),
    );
    render(&templates::UsersRange {
        anonymous: &render(&templates::Anonymous {
            backend: backend.name(),
            column: &format!("u.{}", quote(backend, &s.users_is_anonymous)),
            is_int: f.anonymous_is_int,
        }),
        created_expr: &created,
        created_cutoff: &b.cutoff(f.created_at),
        created_earliest: &f.created_at.earliest(backend),
    })
}

/// Users in the index's range, from the index alone, at most the bound value.
fn in_range(settings: &Settings, f: &Formats, index: &str) -> Stmt {
    let mut b = Binder::placeholders(Backend::Mysql);
    let range = range(Backend::Mysql, settings, f, &mut b);
    let limit = b.limit();
    let sql = render(&templates::UsersInRange {
        users: &settings.schema.users.quoted(Backend::Mysql),
        index,
        range: &range,
        limit: &limit,
    });
    Stmt {
        sql,
        params: b.take(),
    }
}

/// Whether the users in the index's range come in id order (1) or not (0), from the last
/// [`ORDER_SAMPLE`] of them; `hint` makes MySQL read them from the index (PostgreSQL's partial
/// index is the way to them there).
fn in_order(backend: Backend, settings: &Settings, f: &Formats, hint: &str) -> Stmt {
    let s = &settings.schema;
    let mut b = Binder::placeholders(backend);
    let range = range(backend, settings, f, &mut b);
    let sql = render(&templates::UsersInOrder {
        users: &s.users.quoted(backend),
        hint,
        id: &quote(backend, &s.users_id),
        created: &quote(backend, &s.users_created_at),
        range: &range,
        sample: ORDER_SAMPLE,
    });
    Stmt {
        sql,
        params: b.take(),
    }
}

/// PostgreSQL, with the shipped users index: the picks probe each user's sessions when the ids
/// grow with creation time (see [`UsersAccess::ProbeEach`]); else the planner's merge join from
/// the cursor, faster by about a third where recent sessions are spread over the ids (the demo:
/// 20 against 33–60 ms for 5000 users), and many times slower where they all come last (10–197
/// against 15–31 ms).
fn choose_pg(
    conn: &mut Conn,
    settings: &Settings,
    f: &Formats,
    cutoff: DateTime<Utc>,
) -> anyhow::Result<Chosen> {
    let order_stmt = in_order(Backend::Postgres, settings, f, "");
    let ordered = conn.count(&order_stmt, Values { cutoff, limit: 0 })? == 1;
    let users = &settings.schema.users;
    let (access, note) = if ordered {
        (
            UsersAccess::ProbeEach,
            format!("access path: the ids of {users} grow with their creation times: each batch's pick reads its users' sessions one user at a time, through the index"),
        )
    } else {
        (
            UsersAccess::Chosen,
            format!("access path: the ids of {users} do not follow their creation times: each batch's pick reads the sessions after its cursor in one merge, as the planner chooses"),
        )
    };
    Ok(Chosen {
        access,
        note: Some(note),
        reads: vec![order_stmt],
    })
}

/// The bound of the range count: one more than the share allows of `rows`.
pub fn bound(rows: u64) -> u64 {
    rows.saturating_mul(MAX_INDEX_SHARE_PERCENT) / 100 + 1
}

/// Chooses the access path (MySQL: how the counts read users; PostgreSQL: how the picks read
/// sessions). On SQLite, or without the shipped users index, the optimizer chooses and nothing
/// is read.
pub fn choose(
    conn: &mut Conn,
    settings: &Settings,
    f: &Formats,
    cutoff: DateTime<Utc>,
) -> anyhow::Result<Chosen> {
    let backend = conn.backend();
    let none = Chosen {
        access: UsersAccess::Chosen,
        note: None,
        reads: Vec::new(),
    };
    if backend == Backend::Sqlite {
        return Ok(none);
    }
    let Some(spec) = indexes::users_spec(backend, &settings.schema, f) else {
        return Ok(none);
    };
    if !state::state(conn, &spec)?.exists {
        return Ok(none);
    }
    if backend == Backend::Postgres {
        return choose_pg(conn, settings, f, cutoff);
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
    let mut reads = vec![rows_stmt, range_stmt];
    let (access, note) = if n < limit {
        (
            UsersAccess::Chosen,
            format!(
                "access path: {n} of the about {rows} rows of {users} are anonymous and created before the cutoff (at most {MAX_INDEX_SHARE_PERCENT} %): the counts read them through index {}",
                spec.name
            ),
        )
    } else {
        let order_stmt = in_order(
            Backend::Mysql,
            settings,
            f,
            &format!(" FORCE INDEX ({index})"),
        );
        let ordered = conn.count(&order_stmt, Values { cutoff, limit: 0 })? == 1;
        reads.push(order_stmt);
        if ordered {
            (
                UsersAccess::Chosen,
                format!(
                    "access path: more than {MAX_INDEX_SHARE_PERCENT} % of the about {rows} rows of {users} are anonymous and created before the cutoff, but their ids grow with their creation times: the counts read them through index {}",
                    spec.name
                ),
            )
        } else {
            (
                UsersAccess::IgnoreIndex(index),
                format!(
                    "access path: more than {MAX_INDEX_SHARE_PERCENT} % of the about {rows} rows of {users} are anonymous and created before the cutoff: the counts scan {users} in primary-key order (IGNORE INDEX {}), faster at this share than reading them through the index",
                    spec.name
                ),
            )
        }
    };
    Ok(Chosen {
        access,
        note: Some(note),
        reads,
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
