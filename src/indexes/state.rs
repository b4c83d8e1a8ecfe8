//! What the database already has: our indexes (present, valid) and equivalent indexes of its own.

use serde::Serialize;

use crate::indexes::IndexSpec;
use crate::sql::conn::Conn;
use crate::sql::dialect::Backend;
use crate::sql::ident::TableName;

/// The state of one wanted index.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IndexState {
    pub exists: bool,
    /// False for a PostgreSQL index left INVALID by an interrupted concurrent build.
    pub valid: bool,
    /// Another index on the same table led by the same column, if any.
    pub equivalent: Option<String>,
}

fn first(rows: Vec<Option<String>>) -> Option<String> {
    rows.into_iter().flatten().next()
}

/// Whether `table` has a valid, whole-table index led by `column` (any name).
pub fn led_by(conn: &mut Conn, table: &TableName, column: &str) -> anyhow::Result<bool> {
    let probe = IndexSpec {
        seq: 0,
        slug: "probe".into(),
        name: String::new(),
        table: table.clone(),
        columns: String::new(),
        first_column: column.to_string(),
        predicate: String::new(),
        purpose: String::new(),
        optional_if_equivalent: true,
    };
    Ok(state(conn, &probe)?.equivalent.is_some())
}

/// Reads the state of `spec`'s index.
pub fn state(conn: &mut Conn, spec: &IndexSpec) -> anyhow::Result<IndexState> {
    let backend = conn.backend();
    let table = spec.table.quoted(backend);
    match backend {
        Backend::Postgres => {
            let valid = first(conn.texts(
                "SELECT CAST(i.indisvalid AS TEXT) AS t FROM pg_index i \
                 JOIN pg_class c ON c.oid = i.indexrelid \
                 WHERE i.indrelid = to_regclass($1) AND c.relname = $2",
                &[&table, &spec.name],
            )?);
            let equivalent = first(conn.texts(
                "SELECT CAST(c.relname AS TEXT) AS t FROM pg_index i \
                 JOIN pg_class c ON c.oid = i.indexrelid \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
                 WHERE i.indrelid = to_regclass($1) AND a.attname = $2 AND c.relname <> $3 \
                   AND i.indisvalid AND i.indpred IS NULL \
                 ORDER BY c.relname LIMIT 1",
                &[&table, &spec.first_column, &spec.name],
            )?);
            Ok(IndexState {
                exists: valid.is_some(),
                valid: valid.as_deref() == Some("true"),
                equivalent,
            })
        }
        Backend::Sqlite => {
            let schema = spec.table.schema.clone().unwrap_or_else(|| "main".into());
            let exists = first(conn.texts(
                &format!(
                    "SELECT name AS t FROM {}.sqlite_master WHERE type = 'index' AND name = ?1",
                    crate::sql::ident::quote(backend, &schema)
                ),
                &[&spec.name],
            )?)
            .is_some();
            let equivalent = first(conn.texts(
                "SELECT il.name AS t FROM pragma_index_list(?1, ?2) AS il, pragma_index_info(il.name, ?2) AS ii \
                 WHERE ii.seqno = 0 AND ii.name = ?3 AND il.name <> ?4 AND il.partial = 0 \
                 ORDER BY il.name LIMIT 1",
                &[&spec.table.name, &schema, &spec.first_column, &spec.name],
            )?);
            Ok(IndexState {
                exists,
                valid: exists,
                equivalent,
            })
        }
        Backend::Mysql => {
            let (cond, binds) = crate::sql::ident::mysql_table_cond(&spec.table);
            let mut b1 = binds.clone();
            b1.push(spec.name.clone());
            let exists = first(conn.texts(
                &format!(
                    "SELECT CAST(index_name AS CHAR) AS t FROM information_schema.statistics WHERE {cond} AND index_name = ? LIMIT 1"
                ),
                &b1.iter().map(String::as_str).collect::<Vec<_>>(),
            )?)
            .is_some();
            let mut b2 = binds;
            b2.push(spec.first_column.clone());
            b2.push(spec.name.clone());
            let equivalent = first(conn.texts(
                &format!(
                    "SELECT CAST(index_name AS CHAR) AS t FROM information_schema.statistics WHERE {cond} \
                     AND seq_in_index = 1 AND column_name = ? AND index_name <> ? ORDER BY index_name LIMIT 1"
                ),
                &b2.iter().map(String::as_str).collect::<Vec<_>>(),
            )?);
            Ok(IndexState {
                exists,
                valid: exists,
                equivalent,
            })
        }
    }
}
