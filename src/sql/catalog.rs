//! Catalog queries per backend, returning typed rows: the database's foreign keys, every
//! table's columns, and the catalog identity of a configured table.

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;

use crate::sql::conn::Conn;
use crate::sql::dialect::Backend;
use crate::sql::ident::{mysql_table_cond, TableName};

/// A table by its catalog schema and name.
#[derive(QueryableByName, Clone, Debug)]
pub struct TableRow {
    #[diesel(sql_type = Text)]
    pub schema: String,
    #[diesel(sql_type = Text)]
    pub name: String,
}

/// One foreign key, by its first column (`columns` counts them all).
#[derive(QueryableByName, Clone, Debug)]
pub struct ForeignKeyRow {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub child_schema: String,
    #[diesel(sql_type = Text)]
    pub child: String,
    #[diesel(sql_type = Text)]
    pub column: String,
    #[diesel(sql_type = Text)]
    pub parent_schema: String,
    #[diesel(sql_type = Text)]
    pub parent: String,
    /// Empty on SQLite when the key references the parent's primary key implicitly.
    #[diesel(sql_type = Text)]
    pub parent_column: String,
    /// PostgreSQL's `confdeltype` letter, or the SQL rule (`CASCADE`, `SET NULL`, …).
    #[diesel(sql_type = Text)]
    pub on_delete: String,
    #[diesel(sql_type = BigInt)]
    pub columns: i64,
}

/// The catalog schema and name of `t`, or `None` when it does not exist.
pub fn table(conn: &mut Conn, t: &TableName) -> anyhow::Result<Option<TableRow>> {
    let b = conn.backend();
    let rows: Vec<TableRow> = match b {
        Backend::Postgres => conn.rows(
            "SELECT CAST(n.nspname AS TEXT) AS schema, CAST(c.relname AS TEXT) AS name FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
            &[&t.quoted(b)],
        )?,
        Backend::Sqlite => vec![TableRow {
            schema: t.schema.clone().unwrap_or_else(|| "main".into()),
            name: t.name.clone(),
        }],
        Backend::Mysql => {
            let (cond, binds) = mysql_table_cond(t);
            conn.rows(
                &format!(
                    "SELECT CAST(table_schema AS CHAR) AS `schema`, CAST(table_name AS CHAR) AS name \
                     FROM information_schema.tables WHERE {cond}"
                ),
                &binds.iter().map(String::as_str).collect::<Vec<_>>(),
            )?
        }
    };
    Ok(rows.into_iter().next())
}

/// Every foreign key of the database (PostgreSQL: outside the system schemas; SQLite: the main
/// database; MySQL: into or out of the current database).
pub fn foreign_keys(conn: &mut Conn) -> anyhow::Result<Vec<ForeignKeyRow>> {
    let sql = match conn.backend() {
        Backend::Postgres => {
            "SELECT CAST(con.conname AS TEXT) AS name, CAST(n1.nspname AS TEXT) AS child_schema, \
                    CAST(c1.relname AS TEXT) AS child, CAST(a1.attname AS TEXT) AS \"column\", \
                    CAST(n2.nspname AS TEXT) AS parent_schema, CAST(c2.relname AS TEXT) AS parent, \
                    CAST(a2.attname AS TEXT) AS parent_column, CAST(con.confdeltype AS TEXT) AS on_delete, \
                    CAST(array_length(con.conkey, 1) AS BIGINT) AS columns \
             FROM pg_constraint con \
             JOIN pg_class c1 ON c1.oid = con.conrelid JOIN pg_namespace n1 ON n1.oid = c1.relnamespace \
             JOIN pg_class c2 ON c2.oid = con.confrelid JOIN pg_namespace n2 ON n2.oid = c2.relnamespace \
             JOIN pg_attribute a1 ON a1.attrelid = con.conrelid AND a1.attnum = con.conkey[1] \
             JOIN pg_attribute a2 ON a2.attrelid = con.confrelid AND a2.attnum = con.confkey[1] \
             WHERE con.contype = 'f' AND n1.nspname NOT IN ('pg_catalog', 'information_schema') \
             ORDER BY n1.nspname, c1.relname, con.conname"
        }
        Backend::Sqlite => {
            "SELECT m.name || '#' || f.id AS name, 'main' AS child_schema, m.name AS child, \
                    f.\"from\" AS \"column\", 'main' AS parent_schema, f.\"table\" AS parent, \
                    coalesce(f.\"to\", '') AS parent_column, f.on_delete AS on_delete, \
                    (SELECT COUNT(*) FROM pragma_foreign_key_list(m.name) g WHERE g.id = f.id) AS columns \
             FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND f.seq = 0 ORDER BY m.name, f.id"
        }
        Backend::Mysql => {
            "SELECT CAST(k.constraint_name AS CHAR) AS name, CAST(k.table_schema AS CHAR) AS child_schema, \
                    CAST(k.table_name AS CHAR) AS child, CAST(k.column_name AS CHAR) AS `column`, \
                    CAST(k.referenced_table_schema AS CHAR) AS parent_schema, \
                    CAST(k.referenced_table_name AS CHAR) AS parent, \
                    CAST(k.referenced_column_name AS CHAR) AS parent_column, \
                    CAST(r.delete_rule AS CHAR) AS on_delete, \
                    (SELECT COUNT(*) FROM information_schema.key_column_usage k2 \
                     WHERE k2.constraint_schema = k.constraint_schema AND k2.constraint_name = k.constraint_name \
                       AND k2.table_name = k.table_name) AS columns \
             FROM information_schema.key_column_usage k \
             JOIN information_schema.referential_constraints r \
               ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name \
              AND r.table_name = k.table_name \
             WHERE k.referenced_table_name IS NOT NULL AND k.ordinal_position = 1 \
               AND (k.table_schema = DATABASE() OR k.referenced_table_schema = DATABASE()) \
             ORDER BY k.table_schema, k.table_name, k.constraint_name"
        }
    };
    Ok(conn.rows(sql, &[])?)
}

/// A column of one table with its declared type.
#[derive(QueryableByName, Clone, Debug)]
pub struct ColumnTypeRow {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub ty: String,
}

/// The columns of `t` with their declared types, in column order (empty when `t` does not
/// exist). `writable_only` leaves generated columns out (what a restore inserts).
pub fn column_types(
    conn: &mut Conn,
    t: &TableName,
    writable_only: bool,
) -> anyhow::Result<Vec<ColumnTypeRow>> {
    let b = conn.backend();
    Ok(match b {
        Backend::Postgres => {
            let generated = if writable_only {
                "AND a.attgenerated = '' "
            } else {
                ""
            };
            conn.rows(
                &format!(
                    "SELECT CAST(a.attname AS TEXT) AS name, format_type(a.atttypid, a.atttypmod) AS ty \
                     FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 \
                     AND NOT a.attisdropped {generated}ORDER BY a.attnum"
                ),
                &[&t.quoted(b)],
            )?
        }
        Backend::Sqlite => {
            let schema = t.schema.clone().unwrap_or_else(|| "main".into());
            let (list, hidden) = if writable_only {
                ("pragma_table_xinfo", "WHERE hidden = 0 ")
            } else {
                ("pragma_table_info", "")
            };
            conn.rows(
                &format!("SELECT name, type AS ty FROM {list}(?1, ?2) {hidden}ORDER BY cid"),
                &[&t.name, &schema],
            )?
        }
        Backend::Mysql => {
            let (cond, binds) = mysql_table_cond(t);
            let generated = if writable_only {
                "AND extra NOT LIKE '%GENERATED%' "
            } else {
                ""
            };
            conn.rows(
                &format!(
                    "SELECT CAST(column_name AS CHAR) AS name, CAST(column_type AS CHAR) AS ty \
                     FROM information_schema.columns WHERE {cond} {generated}ORDER BY ordinal_position"
                ),
                &binds.iter().map(String::as_str).collect::<Vec<_>>(),
            )?
        }
    })
}

/// SQLite: whether the database has a trigger. A batch's deletes could then write rows the rule
/// reads (a trigger's writes are the run's own, and leave the change counter as it was).
pub fn sqlite_has_triggers(conn: &mut Conn) -> anyhow::Result<bool> {
    let rows = conn.texts(
        "SELECT name AS t FROM sqlite_master WHERE type = 'trigger' LIMIT 1",
        &[],
    )?;
    Ok(!rows.is_empty())
}

/// SQLite: whether `table` has a rowid (is not `WITHOUT ROWID`), the order its rows were
/// inserted in.
pub fn sqlite_has_rowid(conn: &mut Conn, table: &TableName) -> anyhow::Result<bool> {
    let schema = table.schema.clone().unwrap_or_else(|| "main".into());
    let rows = conn.texts(
        "SELECT CAST(wr AS TEXT) AS t FROM pragma_table_list WHERE schema = ?1 AND name = ?2",
        &[&schema, &table.name],
    )?;
    Ok(matches!(rows.first(), Some(Some(wr)) if wr == "0"))
}

/// The application's tables (PostgreSQL: outside the system schemas; MySQL: the current
/// database; SQLite: the main database), ordered by schema and name.
pub fn tables(conn: &mut Conn) -> anyhow::Result<Vec<TableRow>> {
    let sql = match conn.backend() {
        Backend::Postgres => {
            "SELECT CAST(schemaname AS TEXT) AS schema, CAST(tablename AS TEXT) AS name FROM pg_tables \
             WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        }
        Backend::Sqlite => {
            "SELECT 'main' AS schema, name FROM sqlite_master \
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 2"
        }
        Backend::Mysql => {
            "SELECT CAST(table_schema AS CHAR) AS `schema`, CAST(table_name AS CHAR) AS name \
             FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1, 2"
        }
    };
    Ok(conn.rows(sql, &[])?)
}

/// A column of a base table with its declared type, and whether it alone is its table's
/// primary key.
#[derive(QueryableByName, Clone, Debug)]
pub struct ColumnInfoRow {
    #[diesel(sql_type = Text)]
    pub schema: String,
    #[diesel(sql_type = Text)]
    pub table: String,
    #[diesel(sql_type = Text)]
    pub column: String,
    #[diesel(sql_type = Text)]
    pub ty: String,
    /// 1 when this column is the whole primary key of its table, else 0.
    #[diesel(sql_type = BigInt)]
    pub primary_key: i64,
}

/// Every column of every base table with its declared type and primary-key flag, in table and
/// column order, in one query .
pub fn columns_with_keys(conn: &mut Conn) -> anyhow::Result<Vec<ColumnInfoRow>> {
    let sql = match conn.backend() {
        Backend::Postgres => {
            "SELECT CAST(n.nspname AS TEXT) AS schema, CAST(c.relname AS TEXT) AS \"table\", \
                    CAST(a.attname AS TEXT) AS \"column\", format_type(a.atttypid, a.atttypmod) AS ty, \
                    CAST(CASE WHEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid \
                         AND i.indisprimary AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum) \
                         THEN 1 ELSE 0 END AS BIGINT) AS primary_key \
             FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast%' \
             ORDER BY n.nspname, c.relname, a.attnum"
        }
        Backend::Sqlite => {
            "SELECT 'main' AS schema, m.name AS \"table\", c.name AS \"column\", c.type AS ty, \
                    CASE WHEN c.pk = 1 AND (SELECT COUNT(*) FROM pragma_table_info(m.name) k \
                         WHERE k.pk > 0) = 1 THEN 1 ELSE 0 END AS primary_key \
             FROM sqlite_master m, pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, c.cid"
        }
        Backend::Mysql => {
            "SELECT '' AS `schema`, CAST(c.table_name AS CHAR) AS `table`, \
                    CAST(c.column_name AS CHAR) AS `column`, CAST(c.column_type AS CHAR) AS ty, \
                    CAST(CASE WHEN EXISTS (SELECT 1 FROM information_schema.statistics s \
                         WHERE s.table_schema = c.table_schema AND s.table_name = c.table_name \
                           AND s.index_name = 'PRIMARY' AND s.column_name = c.column_name) \
                     AND (SELECT COUNT(*) FROM information_schema.statistics s \
                         WHERE s.table_schema = c.table_schema AND s.table_name = c.table_name \
                           AND s.index_name = 'PRIMARY') = 1 \
                    THEN 1 ELSE 0 END AS SIGNED) AS primary_key \
             FROM information_schema.columns c JOIN information_schema.tables t \
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE' \
             WHERE c.table_schema = DATABASE() ORDER BY c.table_name, c.ordinal_position"
        }
    };
    Ok(conn.rows(sql, &[])?)
}
