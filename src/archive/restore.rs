//! `restore`: puts archived users and their rows back, same ids, parents before children, in
//! one transaction per chunk of users (a user is never half restored; when a chunk fails, its
//! users are retried one transaction each, so the error names the user and the users before it
//! stay restored); refuses when a user's id exists again, unless told to skip those users.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{anyhow, Context};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::archive::{Contents, UserRecord};
use crate::error::usage;
use crate::sql::conn::Conn;
use crate::sql::dialect::{is_binary, Backend};
use crate::sql::ident::{quote, TableName};
use crate::sql::templates::{json_path_key, render, ExistingUsers, RestoreColumn, RestoreRows};

/// Users restored in one transaction.
const CHUNK_USERS: usize = 500;
/// Rows (as JSON text) one statement carries at most: one INSERT per table and chunk, split
/// when a table's rows are more than this (MySQL's max_allowed_packet is 16 MB by default).
const STATEMENT_BYTES: usize = 4 << 20;
/// Rows one statement carries at most.
const STATEMENT_ROWS: usize = 2000;
/// Users one existence check looks up.
const CHECK_USERS: usize = 1000;

/// What a restore did.
#[derive(Debug, Default, Serialize)]
pub struct Restored {
    pub users: u64,
    /// Rows inserted per table.
    pub rows: BTreeMap<String, u64>,
    /// Users whose batch never committed: still in the database, nothing to restore.
    pub not_deleted: Vec<String>,
    /// With `skip_existing`: archived users whose id exists in the database again, left as
    /// they are (none of their archived rows restored).
    pub skipped_existing: Vec<String>,
}

/// How a restore goes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Users whose id exists again are skipped (and reported) instead of refusing the restore.
    pub skip_existing: bool,
}

/// Told how far a restore is (the command draws it; this layer only counts).
pub trait Progress {
    /// Before the first user, with the number of users to restore.
    fn start(&mut self, _total: u64) {}
    /// After each committed transaction: users restored so far.
    fn restored(&mut self, _users: u64) {}
    /// When the restore ends, done or not.
    fn finish(&mut self) {}
}

/// No progress shown.
pub struct Silent;

impl Progress for Silent {}

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

/// `rows` as one JSON array, each row's text as the archive holds it.
fn json_array<'a>(rows: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, r) in rows.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r);
    }
    out.push(']');
    out
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

/// An INSERT of archived rows (bound as one JSON array of row objects, in order) into `table`,
/// for the rows' keys.
fn insert_sql(backend: Backend, table: &str, cols: &[&(String, String)]) -> String {
    let columns: Vec<RestoreColumn> = cols
        .iter()
        .map(|(c, ty)| RestoreColumn {
            name: quote(backend, c),
            key: json_path_key(c),
            binary: is_binary(ty),
        })
        .collect();
    render(&RestoreRows {
        backend: backend.name(),
        table: &quoted_table(backend, table),
        columns: &columns,
        rows: &backend.placeholder(1),
    })
}

/// A query selecting (as `t`) the 0-based position of each row of a bound JSON array of users
/// rows whose id exists in `users_table`.
fn existing_sql(backend: Backend, users_table: &str, users_id: &str) -> String {
    render(&ExistingUsers {
        backend: backend.name(),
        users: &quoted_table(backend, users_table),
        id: &quote(backend, users_id),
        id_key: &json_path_key(users_id),
        rows: &backend.placeholder(1),
    })
}

/// `rows` in consecutive parts one statement can carry: at most `max_rows` rows and
/// `STATEMENT_BYTES` of text (a larger row alone).
fn pieces<'r, 'a>(rows: &'r [&'a str], max_rows: usize) -> Vec<&'r [&'a str]> {
    let mut out = Vec::new();
    let mut from = 0;
    while from < rows.len() {
        let (mut to, mut bytes) = (from, 0);
        while to < rows.len()
            && to - from < max_rows
            && (to == from || bytes + rows[to].len() <= STATEMENT_BYTES)
        {
            bytes += rows[to].len() + 1;
            to += 1;
        }
        out.push(&rows[from..to]);
        from = to;
    }
    out
}

/// The users row of a record, as JSON text.
fn users_row(r: &UserRecord) -> anyhow::Result<&str> {
    r.tables
        .iter()
        .find(|t| t.table == r.users_table)
        .and_then(|t| t.rows.first())
        .map(|r| r.get())
        .ok_or_else(|| {
            anyhow!(
                "archive record of user {} has no {} row",
                r.user_id,
                r.users_table
            )
        })
}

/// Which of `records` exist in the database (by their users row's id): their positions.
/// One query per users table and up to `CHECK_USERS` users.
fn existing(conn: &mut Conn, records: &[&UserRecord]) -> anyhow::Result<BTreeSet<usize>> {
    let mut by_table: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        by_table
            .entry((r.users_table.as_str(), r.users_id.as_str()))
            .or_default()
            .push(i);
    }
    let mut out = BTreeSet::new();
    for ((table, id), all) in by_table {
        let sql = existing_sql(conn.backend(), table, id);
        let rows = all
            .iter()
            .map(|&i| users_row(records[i]))
            .collect::<anyhow::Result<Vec<&str>>>()?;
        let mut first = 0;
        for part in pieces(&rows, CHECK_USERS) {
            let found = conn
                .texts(&sql, &[&json_array(part.iter().copied())])
                .with_context(|| {
                    format!("cannot check which archived users exist again in {table}")
                })?;
            for n in found.into_iter().flatten() {
                let k: usize = n
                    .parse()
                    .map_err(|_| anyhow!("the existence check returned {n:?}"))?;
                let i = *all
                    .get(first + k)
                    .filter(|_| k < part.len())
                    .ok_or_else(|| anyhow!("the existence check returned {k}"))?;
                out.insert(i);
            }
            first += part.len();
        }
    }
    Ok(out)
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

/// Up to five ids, then `…`.
fn some_ids(ids: &[String]) -> String {
    let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
    format!(
        "{}{}",
        shown.join(", "),
        if ids.len() > 5 { ", …" } else { "" }
    )
}

/// Restores `records`. Every user is checked first: if one exists again, nothing is restored
/// (with `skip_existing`, those users are left out and reported). `unsure` users (batch without
/// a commit mark) that still exist are reported, not restored.
pub fn restore(
    conn: &mut Conn,
    records: &[&UserRecord],
    unsure: &[&UserRecord],
    opts: Options,
    progress: &mut dyn Progress,
) -> anyhow::Result<Restored> {
    let mut out = Restored::default();
    let exist = existing(conn, records)?;
    if !exist.is_empty() {
        let ids: Vec<String> = exist.iter().map(|&i| records[i].user_id.clone()).collect();
        if !opts.skip_existing {
            return Err(usage(format!(
                "{} archived user(s) exist in the database again ({}): restore refused, nothing restored; pass --skip-existing to restore the others and leave these as they are, leave them out with --user, or remove the new rows first",
                ids.len(),
                some_ids(&ids)
            )));
        }
        out.skipped_existing = ids;
    }
    let mut todo: Vec<&UserRecord> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| !exist.contains(i))
        .map(|(_, r)| *r)
        .collect();
    let still = existing(conn, unsure)?;
    for (i, r) in unsure.iter().enumerate() {
        if still.contains(&i) {
            out.not_deleted.push(r.user_id.clone());
        } else {
            // The commit mark was lost (a crash right after the commit): the user is gone.
            todo.push(r);
        }
    }
    let mut columns = Columns {
        cache: HashMap::new(),
    };
    progress.start(todo.len() as u64);
    let result = restore_all(conn, &todo, &mut columns, &mut out, progress);
    progress.finish();
    result.map(|()| out)
}

/// Restores `todo` chunk by chunk, one transaction each; a chunk that fails is retried user by
/// user, and the first user that fails stops the restore with its error.
fn restore_all(
    conn: &mut Conn,
    todo: &[&UserRecord],
    columns: &mut Columns,
    out: &mut Restored,
    progress: &mut dyn Progress,
) -> anyhow::Result<()> {
    let stopped = |e: anyhow::Error, out: &Restored| {
        e.context(match out.users {
            0 => "restore stopped, no user restored".to_string(),
            n => format!(
                "restore stopped, {n} user(s) restored before this one (each with all its rows; once this is fixed, run the restore again with --skip-existing)"
            ),
        })
    };
    for (chunk, order) in chunks(todo) {
        let done = conn.transaction(|c| insert_users(c, chunk, &order, columns));
        match done {
            Ok(rows) => add(out, chunk.len(), rows),
            Err(e) if chunk.len() == 1 => return Err(stopped(e, out)),
            Err(_) => {
                for r in chunk {
                    let one = std::slice::from_ref(r);
                    let order = delete_order(r);
                    match conn.transaction(|c| insert_users(c, one, &order, columns)) {
                        Ok(rows) => add(out, 1, rows),
                        Err(e) => return Err(stopped(e, out)),
                    }
                    progress.restored(out.users);
                }
            }
        }
        progress.restored(out.users);
    }
    Ok(())
}

fn add(out: &mut Restored, users: usize, rows: BTreeMap<String, u64>) {
    out.users += users as u64;
    for (t, n) in rows {
        *out.rows.entry(t).or_default() += n;
    }
}

/// A record's tables in delete order.
fn delete_order(r: &UserRecord) -> Vec<String> {
    r.tables.iter().map(|t| t.table.clone()).collect()
}

/// The delete order of a chunk's tables: every record's order (a table before the next) at
/// once.
#[derive(Clone, Debug, Default)]
struct Order {
    /// Tables, first seen first.
    tables: Vec<String>,
    /// (a, b): table a is deleted before table b (b restored before a).
    before: BTreeSet<(usize, usize)>,
}

impl Order {
    fn index(&mut self, table: &str) -> usize {
        match self.tables.iter().position(|t| t == table) {
            Some(i) => i,
            None => {
                self.tables.push(table.to_string());
                self.tables.len() - 1
            }
        }
    }

    /// Adds a record's order: `false`, and nothing changed, when it contradicts the orders
    /// already added (a table before another in one, after it in the other).
    fn add(&mut self, r: &UserRecord) -> bool {
        let mut next = self.clone();
        let idx: Vec<usize> = r.tables.iter().map(|t| next.index(&t.table)).collect();
        for w in idx.windows(2) {
            if w[0] != w[1] {
                next.before.insert((w[0], w[1]));
            }
        }
        if next.sorted().is_none() {
            return false;
        }
        *self = next;
        true
    }

    /// Every table in an order that keeps every (a before b), ties first seen first; `None`
    /// when the pairs contradict each other.
    fn sorted(&self) -> Option<Vec<String>> {
        let n = self.tables.len();
        let mut placed = vec![false; n];
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let next = (0..n).find(|&b| {
                !placed[b] && !self.before.iter().any(|&(a, b2)| b2 == b && !placed[a])
            })?;
            placed[next] = true;
            out.push(self.tables[next].clone());
        }
        Some(out)
    }
}

/// Consecutive runs of at most `CHUNK_USERS` users whose delete orders agree, each with the
/// delete order of all their tables.
fn chunks<'a, 'b>(todo: &'b [&'a UserRecord]) -> Vec<(&'b [&'a UserRecord], Vec<String>)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut order = Order::default();
    for (i, r) in todo.iter().enumerate() {
        if i - start == CHUNK_USERS || !order.add(r) {
            let done = std::mem::take(&mut order);
            out.push((&todo[start..i], done.sorted().unwrap_or_default()));
            start = i;
            order.add(r);
        }
    }
    if start < todo.len() {
        out.push((&todo[start..], order.sorted().unwrap_or_default()));
    }
    out
}

/// Rows of one table with the same columns, and those columns (name, type).
type Group<'a> = (Vec<&'a (String, String)>, Vec<&'a str>);

/// Inserts every row of `users`, table by table in the reverse of `order` (parents before
/// children): one INSERT per table and set of keys (split when large). Rows inserted per table.
fn insert_users(
    conn: &mut Conn,
    users: &[&UserRecord],
    order: &[String],
    columns: &mut Columns,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let who = || match users {
        [one] => format!("user {}", one.user_id),
        _ => format!(
            "users {} … {}",
            users.first().map(|u| u.user_id.as_str()).unwrap_or(""),
            users.last().map(|u| u.user_id.as_str()).unwrap_or("")
        ),
    };
    let mut counts = BTreeMap::new();
    for table in order.iter().rev() {
        let have = columns.insertable(conn, table)?.clone();
        // The rows of this table, grouped by the columns they have (in first-seen order).
        let mut groups: Vec<Group> = Vec::new();
        for r in users {
            for t in r.tables.iter().filter(|t| t.table == *table) {
                for row in &t.rows {
                    let obj: HashMap<&str, &RawValue> =
                        serde_json::from_str(row.get()).map_err(|_| {
                            anyhow!(
                                "archive row of {} for user {} is not an object",
                                t.table,
                                r.user_id
                            )
                        })?;
                    let cols: Vec<&(String, String)> = have
                        .iter()
                        .filter(|(c, _)| obj.contains_key(c.as_str()))
                        .collect();
                    match groups.iter_mut().find(|(c, _)| *c == cols) {
                        Some((_, rows)) => rows.push(row.get()),
                        None => groups.push((cols, vec![row.get()])),
                    }
                }
            }
        }
        for (cols, rows) in &groups {
            let sql = insert_sql(conn.backend(), table, cols);
            for part in pieces(rows, STATEMENT_ROWS) {
                let n = conn
                    .execute_texts(&sql, &[&json_array(part.iter().copied())])
                    .with_context(|| format!("cannot restore rows of {table} for {}", who()))?;
                if n != part.len() {
                    return Err(anyhow!(
                        "restoring rows of {table} for {} inserted {n} of {} rows",
                        who(),
                        part.len()
                    ));
                }
                *counts.entry(table.clone()).or_default() += n as u64;
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, tables: &[&str]) -> UserRecord {
        UserRecord {
            kind: "user".into(),
            run_id: "r".into(),
            batch: 1,
            user_id: id.into(),
            archived_at: String::new(),
            users_table: "users".into(),
            users_id: "id".into(),
            tables: tables
                .iter()
                .map(|t| crate::archive::TableRows {
                    table: t.to_string(),
                    rows: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn delete_orders_merge_and_a_disagreement_starts_a_new_chunk() {
        let a = record("a", &["sessions", "users"]);
        let b = record("b", &["accounts", "users"]);
        let c = record("c", &["events", "sessions", "accounts", "users"]);
        let d = record("d", &["accounts", "sessions", "users"]);
        let all = [&a, &b, &c, &d];
        let got = chunks(&all);
        assert_eq!(got.len(), 2, "d orders sessions and accounts the other way");
        assert_eq!(got[0].0.len(), 3);
        assert_eq!(got[0].1, ["events", "sessions", "accounts", "users"]);
        assert_eq!(got[1].0.len(), 1);
        assert_eq!(got[1].1, ["accounts", "sessions", "users"]);
    }

    #[test]
    fn pieces_keep_every_row_in_order_within_the_limits() {
        let big = "x".repeat(STATEMENT_BYTES);
        let rows = ["a", "b", big.as_str(), "c", "d", "e"];
        let got = pieces(&rows, 2);
        assert_eq!(
            got,
            [
                &["a", "b"][..],
                &[big.as_str()][..],
                &["c", "d"][..],
                &["e"][..]
            ]
        );
    }

    #[test]
    fn inserts_read_each_key_of_the_archived_rows() {
        let cols = [
            ("id".to_string(), "int".to_string()),
            ("it's \"odd\"'".to_string(), "blob".to_string()),
        ];
        let refs: Vec<&(String, String)> = cols.iter().collect();
        let one_line = |b| {
            let sql = insert_sql(b, "app.users", &refs);
            sql.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        assert_eq!(
            one_line(Backend::Postgres),
            r#"INSERT INTO "app"."users" ("id", "it's ""odd""'") OVERRIDING SYSTEM VALUE SELECT r."id", r."it's ""odd""'" FROM json_populate_recordset(NULL::"app"."users", CAST($1 AS json)) AS r"#
        );
        assert_eq!(
            one_line(Backend::Sqlite),
            r#"INSERT INTO "app"."users" ("id", "it's ""odd""'") SELECT json_extract(j.value, '$."id"'), json_extract(j.value, '$."it''s \"odd\"''"') FROM json_each(?1) AS j ORDER BY j.key"#
        );
        // Bytes were archived as {"b64": …}: the path goes one key further, after the whole name.
        let bytes = r#"JSON_EXTRACT(x.r, '$."it''s \"odd\"''"."b64"')"#;
        assert_eq!(
            one_line(Backend::Mysql),
            format!(
                r#"INSERT INTO `app`.`users` (`id`, `it's "odd"'`) SELECT CASE WHEN JSON_TYPE(JSON_EXTRACT(x.r, '$."id"')) = 'NULL' THEN NULL ELSE JSON_UNQUOTE(JSON_EXTRACT(x.r, '$."id"')) END, CASE WHEN JSON_TYPE({bytes}) = 'NULL' THEN NULL ELSE FROM_BASE64(JSON_UNQUOTE({bytes})) END FROM JSON_TABLE(?, '$[*]' COLUMNS (n FOR ORDINALITY, r JSON PATH '$')) AS x ORDER BY x.n"#
            )
        );
        assert_eq!(
            existing_sql(Backend::Sqlite, "users", "id")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            r#"SELECT CAST(j.key AS TEXT) AS t FROM json_each(?1) AS j WHERE EXISTS (SELECT 1 FROM "users" AS u WHERE u."id" = json_extract(j.value, '$."id"'))"#
        );
    }

    #[test]
    fn chunks_hold_at_most_chunk_users() {
        let rs: Vec<UserRecord> = (0..CHUNK_USERS * 2 + 1)
            .map(|i| record(&i.to_string(), &["users"]))
            .collect();
        let refs: Vec<&UserRecord> = rs.iter().collect();
        let sizes: Vec<usize> = chunks(&refs).iter().map(|(c, _)| c.len()).collect();
        assert_eq!(sizes, [CHUNK_USERS, CHUNK_USERS, 1]);
    }
}
