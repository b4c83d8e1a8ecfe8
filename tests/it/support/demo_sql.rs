//! The per-backend SQL of the demo suite, so that its census of a demo database (written
//! independently of anonsweep) and its checks are written once for SQLite, PostgreSQL and
//! MySQL/MariaDB.

use super::Backend;

/// `WITH c AS (…)`: the demo's own as-of (the `anonsweep_demo` row) minus 30 days, as `c.cutoff`.
pub fn cutoff_cte(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "WITH c AS (SELECT created_at - INTERVAL '30 days' AS cutoff FROM anonsweep_demo)"
        }
        // The demo writes every SQLite timestamp as YYYY-MM-DDTHH:MM:SS.mmmZ, so text order is time order.
        Backend::Sqlite => {
            "WITH c AS (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '-30 days') AS cutoff FROM anonsweep_demo)"
        }
        Backend::Mysql => {
            "WITH c AS (SELECT created_at - INTERVAL 30 DAY AS cutoff FROM anonsweep_demo)"
        }
    }
}

/// User `u` is anonymous.
pub fn anonymous(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "u.is_anonymous IS TRUE",
        Backend::Sqlite | Backend::Mysql => "u.is_anonymous = 1",
    }
}

/// User `u` is registered (is_anonymous false or NULL).
pub fn registered(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "u.is_anonymous IS NOT TRUE",
        Backend::Sqlite | Backend::Mysql => "(u.is_anonymous = 0 OR u.is_anonymous IS NULL)",
    }
}

/// `expr` as text.
pub fn text(backend: Backend, expr: &str) -> String {
    match backend {
        Backend::Mysql => format!("CAST({expr} AS CHAR)"),
        Backend::Sqlite | Backend::Postgres => format!("CAST({expr} AS TEXT)"),
    }
}

/// The marker's as-of, `YYYY-MM-DDTHH:MM:SS` in UTC, as `t`.
pub fn marker_as_of(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') AS t FROM anonsweep_demo"
        }
        Backend::Sqlite => "SELECT substr(created_at, 1, 19) AS t FROM anonsweep_demo",
        Backend::Mysql => {
            "SELECT CAST(DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s') AS CHAR) AS t FROM anonsweep_demo"
        }
    }
}

/// The database's tables, sorted, as `t`.
pub fn tables(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        }
        Backend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        }
        Backend::Mysql => {
            "SELECT CAST(table_name AS CHAR) AS t FROM information_schema.tables \
             WHERE table_schema = DATABASE() ORDER BY 1"
        }
    }
}

/// A table of one text primary key `id`, named `name` (quoted: `user` is reserved), holding `row`.
pub fn one_row_table(backend: Backend, name: &str, row: &str) -> String {
    match backend {
        Backend::Mysql => format!(
            "CREATE TABLE `{name}` (id VARCHAR(36) PRIMARY KEY);\nINSERT INTO `{name}` VALUES ('{row}')"
        ),
        Backend::Sqlite | Backend::Postgres => format!(
            "CREATE TABLE \"{name}\" (id TEXT PRIMARY KEY); INSERT INTO \"{name}\" VALUES ('{row}');"
        ),
    }
}

/// The ids of table `name` (quoted), as `t`.
pub fn ids_of(backend: Backend, name: &str) -> String {
    match backend {
        Backend::Mysql => format!("SELECT CAST(id AS CHAR) AS t FROM `{name}`"),
        Backend::Sqlite | Backend::Postgres => format!("SELECT id AS t FROM \"{name}\""),
    }
}

/// How anonsweep's messages name the table `name` of the default schema.
pub fn named_in_messages(backend: Backend, name: &str) -> String {
    match backend {
        Backend::Postgres => format!("public.{name}"),
        Backend::Sqlite | Backend::Mysql => name.to_string(),
    }
}
