//! `restore`: puts archived users and their rows back, same ids, parents before children, one
//! transaction per user; refuses when a user's id exists again.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, Context};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::archive::{Contents, UserRecord};
use crate::error::usage;
use crate::sql::conn::Conn;
use crate::sql::dialect::Backend;
use crate::sql::ident::TableName;

/// What a restore did.
#[derive(Debug, Default, Serialize)]
pub struct Restored {
    pub users: u64,
    /// Rows inserted per table.
    pub rows: BTreeMap<String, u64>,
    /// Users whose batch never committed: still in the database, nothing to restore.
    pub not_deleted: Vec<String>,
}

/// A table name from an archive (`schema.table` or `table`), quoted for `backend`.
fn quoted_table(backend: Backend, label: &str) -> String {
    archived_table(label).quoted(backend)
}

/// A table name from an archive: `schema.table` or `table`.
fn archived_table(label: &str) -> TableName {
    match label.split_once('.') {
        Some((s, n)) => TableName {
            schema: Some(s.to_string()),
            name: n.to_string(),
        },
        None => TableName {
            schema: None,
            name: label.to_string(),
        },
    }
}

/// The JSON path of a key, for SQLite and MySQL.
fn json_path(key: &str) -> String {
    format!("'$.\"{}\"'", key.replace('\'', "''").replace('"', "\\\""))
}

/// Columns a row can be inserted into (generated columns left out), by table.
struct Columns {
    /// (name, type) of each insertable column, by table.
    cache: HashMap<String, Vec<(String, String)>>,
}

impl Columns {
    fn insertable(
        &mut self,
        conn: &mut Conn,
        table: &str,
    ) -> anyhow::Result<&Vec<(String, String)>> {
        if !self.cache.contains_key(table) {
            let cols: Vec<(String, String)> =
                crate::sql::catalog::column_types(conn, &archived_table(table), true)?
                    .into_iter()
                    .map(|c| (c.name, c.ty))
                    .collect();
            if cols.is_empty() {
                return Err(anyhow!(
                    "table {table} from the archive does not exist in this database: restore into the database the archive came from"
                ));
            }
            self.cache.insert(table.to_string(), cols);
        }
        Ok(&self.cache[table])
    }
}

/// An INSERT of one archived row (bound as JSON text) into `table`, for the row's keys.
fn insert_sql(backend: Backend, table: &str, cols: &[&(String, String)]) -> String {
    let q = |c: &str| crate::sql::ident::quote(backend, c);
    let t = quoted_table(backend, table);
    let names: Vec<String> = cols.iter().map(|(c, _)| q(c)).collect();
    match backend {
        Backend::Postgres => {
            let picked: Vec<String> = cols.iter().map(|(c, _)| format!("r.{}", q(c))).collect();
            format!(
                "INSERT INTO {t} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM json_populate_record(NULL::{t}, CAST($1 AS json)) AS r",
                names.join(", "),
                picked.join(", ")
            )
        }
        Backend::Sqlite => {
            let values: Vec<String> = cols
                .iter()
                .map(|(c, _)| format!("json_extract(?1, {})", json_path(c)))
                .collect();
            format!(
                "INSERT INTO {t} ({}) VALUES ({})",
                names.join(", "),
                values.join(", ")
            )
        }
        Backend::Mysql => {
            let values: Vec<String> = cols
                .iter()
                .map(|(c, ty)| {
                    // Binary columns were archived as {"b64": …}.
                    let path = if crate::sql::dialect::is_binary(ty) {
                        json_path(c).replace("\"'", "\".\"b64\"'")
                    } else {
                        json_path(c)
                    };
                    let e = format!("JSON_EXTRACT(@anonsweep_row, {path})");
                    let value = format!("JSON_UNQUOTE({e})");
                    let value = if crate::sql::dialect::is_binary(ty) {
                        format!("FROM_BASE64({value})")
                    } else {
                        value
                    };
                    format!("CASE WHEN JSON_TYPE({e}) = 'NULL' THEN NULL ELSE {value} END")
                })
                .collect();
            format!(
                "INSERT INTO {t} ({}) SELECT {}",
                names.join(", "),
                values.join(", ")
            )
        }
    }
}

/// Whether the user of `row` (its users row as JSON) exists in the database.
fn user_exists(conn: &mut Conn, r: &UserRecord, row: &str) -> anyhow::Result<bool> {
    let b = conn.backend();
    let t = quoted_table(b, &r.users_table);
    let id = match b {
        Backend::Mysql => format!("`{}`", r.users_id),
        _ => format!("\"{}\"", r.users_id),
    };
    let sql = match b {
        Backend::Postgres => format!(
            "SELECT COUNT(*) AS n FROM {t} AS u WHERE u.{id} = (json_populate_record(NULL::{t}, CAST($1 AS json))).{id}"
        ),
        Backend::Sqlite => format!(
            "SELECT COUNT(*) AS n FROM {t} AS u WHERE u.{id} = json_extract(?1, {})",
            json_path(&r.users_id)
        ),
        Backend::Mysql => format!(
            "SELECT COUNT(*) AS n FROM {t} AS u WHERE u.{id} = JSON_UNQUOTE(JSON_EXTRACT(?, {}))",
            json_path(&r.users_id)
        ),
    };
    Ok(conn.count_texts(&sql, &[row])? > 0)
}

/// The users row of a record, as JSON text.
fn users_row(r: &UserRecord) -> anyhow::Result<String> {
    let t = r
        .tables
        .iter()
        .find(|t| t.table == r.users_table)
        .and_then(|t| t.rows.first())
        .map(|r| r.get().to_string())
        .ok_or_else(|| {
            anyhow!(
                "archive record of user {} has no {} row",
                r.user_id,
                r.users_table
            )
        })?;
    Ok(t)
}

/// Chooses the records to restore: the last committed record of each user (of `only`, if given).
pub fn select<'a>(
    c: &'a Contents,
    only: &[String],
) -> anyhow::Result<(Vec<&'a UserRecord>, Vec<&'a UserRecord>)> {
    let mut committed: BTreeMap<&str, &UserRecord> = BTreeMap::new();
    let mut uncommitted: BTreeMap<&str, &UserRecord> = BTreeMap::new();
    for u in &c.users {
        if c.committed.contains(&(u.run_id.clone(), u.batch)) {
            committed.insert(&u.user_id, u);
            uncommitted.remove(u.user_id.as_str());
        } else if !committed.contains_key(u.user_id.as_str()) {
            uncommitted.insert(&u.user_id, u);
        }
    }
    if !only.is_empty() {
        for id in only {
            if !committed.contains_key(id.as_str()) && !uncommitted.contains_key(id.as_str()) {
                return Err(usage(format!(
                    "user {id} is not in the archive: check the id (the archive holds {} users)",
                    committed.len() + uncommitted.len()
                )));
            }
        }
        committed.retain(|k, _| only.iter().any(|o| o == k));
        uncommitted.retain(|k, _| only.iter().any(|o| o == k));
    }
    Ok((
        committed.into_values().collect(),
        uncommitted.into_values().collect(),
    ))
}

/// Restores `records`. Every user is checked first: if one exists again, nothing is restored.
/// `unsure` users (batch without a commit mark) that still exist are reported, not restored.
pub fn restore(
    conn: &mut Conn,
    records: &[&UserRecord],
    unsure: &[&UserRecord],
) -> anyhow::Result<Restored> {
    let mut out = Restored::default();
    let mut todo: Vec<(&UserRecord, String)> = Vec::new();
    let mut exist = Vec::new();
    for r in records {
        let row = users_row(r)?;
        if user_exists(conn, r, &row)? {
            exist.push(r.user_id.clone());
        } else {
            todo.push((r, row));
        }
    }
    if !exist.is_empty() {
        let shown: Vec<&str> = exist.iter().take(5).map(String::as_str).collect();
        return Err(usage(format!(
            "{} archived user(s) exist in the database again ({}{}): restore refused, nothing restored; leave them out with --user, or remove the new rows first",
            exist.len(),
            shown.join(", "),
            if exist.len() > 5 { ", …" } else { "" }
        )));
    }
    for r in unsure {
        let row = users_row(r)?;
        if user_exists(conn, r, &row)? {
            out.not_deleted.push(r.user_id.clone());
        } else {
            // The commit mark was lost (a crash right after the commit): the user is gone.
            todo.push((r, row));
        }
    }
    let mut columns = Columns {
        cache: HashMap::new(),
    };
    for (r, _) in &todo {
        conn.transaction(|c| -> anyhow::Result<()> {
            // Parents before children: the reverse of the delete order.
            for t in r.tables.iter().rev() {
                let have = columns.insertable(c, &t.table)?.clone();
                for row in &t.rows {
                    let obj: HashMap<String, &RawValue> =
                        serde_json::from_str(row.get()).map_err(|_| {
                            anyhow!(
                                "archive row of {} for user {} is not an object",
                                t.table,
                                r.user_id
                            )
                        })?;
                    let cols: Vec<&(String, String)> =
                        have.iter().filter(|(c, _)| obj.contains_key(c)).collect();
                    let json = row.get();
                    let binds: &[&str] = if c.backend() == Backend::Mysql {
                        c.execute_texts("SET @anonsweep_row = ?", &[json])?;
                        &[]
                    } else {
                        &[json]
                    };
                    c.execute_texts(&insert_sql(c.backend(), &t.table, &cols), binds)
                        .with_context(|| {
                            format!("cannot restore a row of {} for user {}", t.table, r.user_id)
                        })?;
                    *out.rows.entry(t.table.clone()).or_default() += 1;
                }
            }
            Ok(())
        })?;
        out.users += 1;
    }
    Ok(out)
}
