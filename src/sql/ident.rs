//! Validated SQL identifiers (table and column names from configuration) and their quoting.

use crate::error::usage;
use crate::sql::dialect::Backend;

/// A table name, optionally schema-qualified (`auth.users`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

fn check_part(part: &str, setting: &str, whole: &str) -> anyhow::Result<()> {
    let ok_first = part
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let ok_rest = part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if part.is_empty() || !ok_first || !ok_rest {
        return Err(usage(format!(
            "invalid identifier {whole:?} for {setting}: use letters, digits and underscores, starting with a letter or underscore (schema-qualify a table with one dot, e.g. auth.users)"
        )));
    }
    if part.len() > 63 {
        return Err(usage(format!(
            "identifier {whole:?} for {setting} is longer than 63 characters: use the real (shorter) name"
        )));
    }
    Ok(())
}

/// Validates a column name.
pub fn column(value: &str, setting: &str) -> anyhow::Result<String> {
    check_part(value, setting, value)?;
    Ok(value.to_string())
}

/// Validates a table name, with at most one schema qualifier.
pub fn table(value: &str, setting: &str) -> anyhow::Result<TableName> {
    let parts: Vec<&str> = value.split('.').collect();
    match parts.as_slice() {
        [name] => {
            check_part(name, setting, value)?;
            Ok(TableName {
                schema: None,
                name: name.to_string(),
            })
        }
        [schema, name] => {
            check_part(schema, setting, value)?;
            check_part(name, setting, value)?;
            Ok(TableName {
                schema: Some(schema.to_string()),
                name: name.to_string(),
            })
        }
        _ => Err(usage(format!(
            "invalid table name {value:?} for {setting}: use `table` or `schema.table`"
        ))),
    }
}

/// Quotes one identifier for the backend, doubling any quote character inside it: the one
/// place that quotes names, whether configured (validated) or read from a catalog or an archive.
pub fn quote(backend: Backend, ident: &str) -> String {
    match backend {
        Backend::Postgres | Backend::Sqlite => format!("\"{}\"", ident.replace('"', "\"\"")),
        Backend::Mysql => format!("`{}`", ident.replace('`', "``")),
    }
}

/// A SQL string literal: quotes doubled.
pub fn string_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl TableName {
    /// The quoted, possibly qualified name.
    pub fn quoted(&self, backend: Backend) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", quote(backend, s), quote(backend, &self.name)),
            None => quote(backend, &self.name),
        }
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// `table_schema = … AND table_name = …` for a MySQL table (the schema is the database),
/// honouring `lower_case_table_names`.
pub fn mysql_table_cond(table: &TableName) -> (String, Vec<String>) {
    let schema = match &table.schema {
        Some(_) => "table_schema = ?",
        None => "table_schema = DATABASE()",
    };
    let cond = format!(
        "{schema} AND (table_name = ? OR (@@lower_case_table_names <> 0 AND LOWER(table_name) = LOWER(?)))"
    );
    let mut binds: Vec<String> = table.schema.iter().cloned().collect();
    binds.push(table.name.clone());
    binds.push(table.name.clone());
    (cond, binds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_quotes_and_spaces() {
        assert!(column("bad\"name", "x").is_err());
        assert!(column("a b", "x").is_err());
        assert!(column("", "x").is_err());
        assert!(table("a.b.c", "x").is_err());
        assert!(table("users; drop", "x").is_err());
    }

    #[test]
    fn quotes_camel_case_and_schema() {
        let t = table("auth.users", "x").unwrap();
        assert_eq!(t.quoted(Backend::Postgres), "\"auth\".\"users\"");
        assert_eq!(quote(Backend::Sqlite, "isAnonymous"), "\"isAnonymous\"");
    }
}
