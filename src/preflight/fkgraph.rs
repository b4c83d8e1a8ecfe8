//! The database's foreign keys, read from its catalog, so the delete order and the tables that
//! reference users can be worked out instead of guessed.

use crate::sql::conn::Conn;
use crate::sql::dialect::Backend;
use crate::sql::ident::mysql_table_cond;
use crate::sql::ident::TableName;

/// What the database does to referencing rows when a referenced row is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDelete {
    Cascade,
    SetNull,
    SetDefault,
    Restrict,
    NoAction,
}

impl OnDelete {
    fn parse(v: &str) -> OnDelete {
        match v.trim().to_ascii_uppercase().as_str() {
            "C" | "CASCADE" => OnDelete::Cascade,
            "N" | "SET NULL" => OnDelete::SetNull,
            "D" | "SET DEFAULT" => OnDelete::SetDefault,
            "R" | "RESTRICT" => OnDelete::Restrict,
            _ => OnDelete::NoAction,
        }
    }

    pub fn sql(self) -> &'static str {
        match self {
            OnDelete::Cascade => "ON DELETE CASCADE",
            OnDelete::SetNull => "ON DELETE SET NULL",
            OnDelete::SetDefault => "ON DELETE SET DEFAULT",
            OnDelete::Restrict => "ON DELETE RESTRICT",
            OnDelete::NoAction => "ON DELETE NO ACTION",
        }
    }
}

/// A table as the catalog names it: schema (PostgreSQL schema, SQLite `main`, MySQL database)
/// and name. Compared case-insensitively on SQLite and MySQL.
#[derive(Clone, Debug)]
pub struct TableId {
    pub schema: String,
    pub name: String,
    fold_case: bool,
}

impl PartialEq for TableId {
    fn eq(&self, o: &TableId) -> bool {
        if self.fold_case {
            self.schema.eq_ignore_ascii_case(&o.schema) && self.name.eq_ignore_ascii_case(&o.name)
        } else {
            self.schema == o.schema && self.name == o.name
        }
    }
}

impl std::fmt::Display for TableId {
    /// As a user would configure it: PostgreSQL's `public` schema left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.fold_case && self.schema == "public" {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}", self.table_name())
        }
    }
}

impl TableId {
    fn new(backend: Backend, schema: &str, name: &str) -> TableId {
        TableId {
            schema: schema.to_string(),
            name: name.to_string(),
            fold_case: backend != Backend::Postgres,
        }
    }

    /// A name that reaches this table from anonsweep's connection: schema-qualified on
    /// PostgreSQL, bare for SQLite's `main` and MySQL's current database.
    pub fn table_name(&self) -> TableName {
        let bare = self.schema.is_empty() || self.schema == "main";
        TableName {
            schema: (!bare).then(|| self.schema.clone()),
            name: self.name.clone(),
        }
    }
}

/// One single-column foreign key (composite keys carry `composite`).
#[derive(Clone, Debug)]
pub struct Fk {
    pub name: String,
    pub child: TableId,
    pub column: String,
    pub parent: TableId,
    pub parent_column: String,
    pub on_delete: OnDelete,
    pub composite: bool,
}

/// The catalog name of a configured table, or `None` when it does not exist.
pub fn canonical(conn: &mut Conn, t: &TableName) -> anyhow::Result<Option<TableId>> {
    let b = conn.backend();
    Ok(match b {
        Backend::Postgres => conn
            .texts(
                "SELECT n.nspname || chr(9) || c.relname AS t FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
                &[&t.quoted(b)],
            )?
            .into_iter()
            .flatten()
            .next()
            .and_then(|r| r.split_once('\t').map(|(s, n)| TableId::new(b, s, n))),
        Backend::Sqlite => Some(TableId::new(
            b,
            t.schema.as_deref().unwrap_or("main"),
            &t.name,
        )),
        Backend::Mysql => {
            let (cond, binds) = mysql_table_cond(t);
            let sql = format!(
                "SELECT CAST(CONCAT(table_schema, CHAR(9), table_name) AS CHAR) AS t \
                 FROM information_schema.tables WHERE {cond}"
            );
            let db = current_mysql_db(conn)?;
            conn.texts(&sql, &binds.iter().map(String::as_str).collect::<Vec<_>>())?
                .into_iter()
                .flatten()
                .next()
                .and_then(|r| {
                    r.split_once('\t').map(|(s, n)| {
                        let s = if s == db { "" } else { s };
                        TableId::new(b, s, n)
                    })
                })
        }
    })
}

fn current_mysql_db(conn: &mut Conn) -> anyhow::Result<String> {
    Ok(conn.text("SELECT DATABASE() AS t")?.unwrap_or_default())
}

/// Every foreign key of the database (PostgreSQL: outside the system schemas; SQLite: the main
/// database; MySQL: into or out of the current database).
pub fn load(conn: &mut Conn) -> anyhow::Result<Vec<Fk>> {
    let b = conn.backend();
    let rows: Vec<String> = match b {
        Backend::Postgres => conn.texts(
            "SELECT concat_ws(chr(9), n1.nspname, c1.relname, a1.attname, n2.nspname, c2.relname, a2.attname, \
                    con.confdeltype, con.conname, array_length(con.conkey, 1)) AS t \
             FROM pg_constraint con \
             JOIN pg_class c1 ON c1.oid = con.conrelid JOIN pg_namespace n1 ON n1.oid = c1.relnamespace \
             JOIN pg_class c2 ON c2.oid = con.confrelid JOIN pg_namespace n2 ON n2.oid = c2.relnamespace \
             JOIN pg_attribute a1 ON a1.attrelid = con.conrelid AND a1.attnum = con.conkey[1] \
             JOIN pg_attribute a2 ON a2.attrelid = con.confrelid AND a2.attnum = con.confkey[1] \
             WHERE con.contype = 'f' AND n1.nspname NOT IN ('pg_catalog', 'information_schema') \
             ORDER BY n1.nspname, c1.relname, con.conname",
            &[],
        )?,
        Backend::Sqlite => conn.texts(
            "SELECT m.name || char(9) || f.\"from\" || char(9) || f.\"table\" || char(9) || \
                    coalesce(f.\"to\", '') || char(9) || f.on_delete || char(9) || f.id || char(9) || \
                    (SELECT COUNT(*) FROM pragma_foreign_key_list(m.name) g WHERE g.id = f.id) AS t \
             FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND f.seq = 0 ORDER BY m.name, f.id",
            &[],
        )?,
        Backend::Mysql => conn.texts(
            "SELECT CAST(CONCAT_WS(CHAR(9), k.table_schema, k.table_name, k.column_name, \
                    k.referenced_table_schema, k.referenced_table_name, k.referenced_column_name, \
                    r.delete_rule, k.constraint_name, \
                    (SELECT COUNT(*) FROM information_schema.key_column_usage k2 \
                     WHERE k2.constraint_schema = k.constraint_schema AND k2.constraint_name = k.constraint_name \
                       AND k2.table_name = k.table_name)) AS CHAR) AS t \
             FROM information_schema.key_column_usage k \
             JOIN information_schema.referential_constraints r \
               ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name \
              AND r.table_name = k.table_name \
             WHERE k.referenced_table_name IS NOT NULL AND k.ordinal_position = 1 \
               AND (k.table_schema = DATABASE() OR k.referenced_table_schema = DATABASE()) \
             ORDER BY k.table_schema, k.table_name, k.constraint_name",
            &[],
        )?,
    }
    .into_iter()
    .flatten()
    .collect();
    let db = if b == Backend::Mysql {
        current_mysql_db(conn)?
    } else {
        String::new()
    };
    let mut out = Vec::new();
    for r in rows {
        let f: Vec<&str> = r.split('\t').collect();
        let fk = match b {
            Backend::Sqlite if f.len() == 7 => {
                let parent_column = if f[3].is_empty() {
                    sqlite_pk(conn, f[2])?.unwrap_or_default()
                } else {
                    f[3].to_string()
                };
                Fk {
                    name: format!("{}#{}", f[0], f[5]),
                    child: TableId::new(b, "main", f[0]),
                    column: f[1].to_string(),
                    parent: TableId::new(b, "main", f[2]),
                    parent_column,
                    on_delete: OnDelete::parse(f[4]),
                    composite: f[6] != "1",
                }
            }
            Backend::Postgres | Backend::Mysql if f.len() == 9 => {
                let schema = |s: &str| {
                    if b == Backend::Mysql && s == db {
                        String::new()
                    } else {
                        s.to_string()
                    }
                };
                Fk {
                    name: f[7].to_string(),
                    child: TableId::new(b, &schema(f[0]), f[1]),
                    column: f[2].to_string(),
                    parent: TableId::new(b, &schema(f[3]), f[4]),
                    parent_column: f[5].to_string(),
                    on_delete: OnDelete::parse(f[6]),
                    composite: f[8] != "1",
                }
            }
            _ => continue,
        };
        out.push(fk);
    }
    Ok(out)
}

fn sqlite_pk(conn: &mut Conn, table: &str) -> anyhow::Result<Option<String>> {
    Ok(conn
        .texts(
            "SELECT name AS t FROM pragma_table_info(?1) WHERE pk = 1",
            &[table],
        )?
        .into_iter()
        .flatten()
        .next())
}

/// Every table of the database with its columns, for spotting user-id columns that have no
/// foreign key: (table, columns).
pub fn all_columns(conn: &mut Conn) -> anyhow::Result<Vec<(TableId, Vec<String>)>> {
    let b = conn.backend();
    let rows: Vec<String> = match b {
        Backend::Postgres => conn.texts(
            "SELECT concat_ws(chr(9), n.nspname, c.relname, a.attname) AS t FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast%' \
             ORDER BY n.nspname, c.relname, a.attnum",
            &[],
        )?,
        Backend::Sqlite => conn.texts(
            "SELECT 'main' || char(9) || m.name || char(9) || c.name AS t \
             FROM sqlite_master m, pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, c.cid",
            &[],
        )?,
        Backend::Mysql => conn.texts(
            "SELECT CAST(CONCAT_WS(CHAR(9), '', c.table_name, c.column_name) AS CHAR) AS t \
             FROM information_schema.columns c JOIN information_schema.tables t \
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE' \
             WHERE c.table_schema = DATABASE() ORDER BY c.table_name, c.ordinal_position",
            &[],
        )?,
    }
    .into_iter()
    .flatten()
    .collect();
    let mut out: Vec<(TableId, Vec<String>)> = Vec::new();
    for r in rows {
        let f: Vec<&str> = r.split('\t').collect();
        if f.len() != 3 {
            continue;
        }
        let id = TableId::new(b, f[0], f[1]);
        match out.last_mut() {
            Some((t, cols)) if *t == id => cols.push(f[2].to_string()),
            _ => out.push((id, vec![f[2].to_string()])),
        }
    }
    Ok(out)
}
