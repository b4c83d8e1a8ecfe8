//! The database's foreign keys, read from its catalog, so the delete order and the tables that
//! reference users can be worked out instead of guessed.

use crate::sql::catalog;
use crate::sql::conn::Conn;
use crate::sql::dialect::Backend;
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
    let db = current_mysql_db(conn)?;
    Ok(catalog::table(conn, t)?.map(|r| TableId::new(b, &local(b, &db, &r.schema), &r.name)))
}

/// MySQL: the current database is the schema of an unqualified name, written as none.
fn local(b: Backend, current_db: &str, schema: &str) -> String {
    if b == Backend::Mysql && schema == current_db {
        String::new()
    } else {
        schema.to_string()
    }
}

fn current_mysql_db(conn: &mut Conn) -> anyhow::Result<String> {
    if conn.backend() != Backend::Mysql {
        return Ok(String::new());
    }
    Ok(conn.text("SELECT DATABASE() AS t")?.unwrap_or_default())
}

/// Every foreign key of the database (PostgreSQL: outside the system schemas; SQLite: the main
/// database; MySQL: into or out of the current database).
pub fn load(conn: &mut Conn) -> anyhow::Result<Vec<Fk>> {
    let b = conn.backend();
    let db = current_mysql_db(conn)?;
    let mut out = Vec::new();
    for r in catalog::foreign_keys(conn)? {
        let parent_column = if r.parent_column.is_empty() {
            // SQLite: a key that names no column references the parent's primary key.
            sqlite_pk(conn, &r.parent)?.unwrap_or_default()
        } else {
            r.parent_column
        };
        out.push(Fk {
            name: r.name,
            child: TableId::new(b, &local(b, &db, &r.child_schema), &r.child),
            column: r.column,
            parent: TableId::new(b, &local(b, &db, &r.parent_schema), &r.parent),
            parent_column,
            on_delete: OnDelete::parse(&r.on_delete),
            composite: r.columns != 1,
        });
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

/// A column as the catalog lists it.
#[derive(Clone, Debug)]
pub struct CatalogColumn {
    pub name: String,
    /// The declared type, in lower case.
    pub ty: String,
    /// This column alone is its table's primary key.
    pub primary_key: bool,
}

/// Every table of the database with its columns (declared types, primary key), in one catalog
/// read: for spotting user-id columns that have no foreign key, and for recognising a schema.
pub fn all_columns(conn: &mut Conn) -> anyhow::Result<Vec<(TableId, Vec<CatalogColumn>)>> {
    let b = conn.backend();
    let mut out: Vec<(TableId, Vec<CatalogColumn>)> = Vec::new();
    for r in catalog::columns_with_keys(conn)? {
        let id = TableId::new(b, &r.schema, &r.table);
        let col = CatalogColumn {
            name: r.column,
            ty: r.ty.to_ascii_lowercase(),
            primary_key: r.primary_key == 1,
        };
        match out.last_mut() {
            Some((t, cols)) if *t == id => cols.push(col),
            _ => out.push((id, vec![col])),
        }
    }
    Ok(out)
}
