//! Reads the live schema before anything runs: tables and columns exist, and how timestamps
//! and the anonymous flag are stored (detected unless `timestamp_format` fixes it).

use anyhow::anyhow;

use super::reads::data_read;
use crate::config::settings::{Schema, Settings, TimestampFormat};
use crate::error::usage;
use crate::preflight::plausible::{self, TimeColumn};
use crate::sql::conn::Conn;
use crate::sql::dialect::Formats;
use crate::sql::dialect::{Backend, TimeKind};
use crate::sql::ident::{mysql_table_cond, quote, TableName};
use crate::sql::templates::{self, render};

/// The columns of one table: (name, declared type).
pub(crate) struct Columns {
    table: TableName,
    cols: Vec<(String, String)>,
}

impl Columns {
    /// (name, declared type in lower case), in table order.
    pub(crate) fn typed(&self) -> Vec<(String, String)> {
        self.cols
            .iter()
            .map(|(n, t)| (n.clone(), t.to_ascii_lowercase()))
            .collect()
    }

    pub(crate) fn ty(&self, col: &str, setting: &str) -> anyhow::Result<String> {
        match self.cols.iter().find(|(n, _)| n == col) {
            Some((_, t)) => Ok(t.to_ascii_lowercase()),
            None => {
                let list: Vec<&str> = self.cols.iter().take(15).map(|(n, _)| n.as_str()).collect();
                Err(anyhow!(
                    "column {col:?} not found in table {} (it has: {}): set {setting} in anonsweep.toml or choose the right --preset",
                    self.table,
                    list.join(", ")
                ))
            }
        }
    }
}

pub(crate) fn columns(
    conn: &mut Conn,
    table: &TableName,
    setting: &str,
) -> anyhow::Result<Columns> {
    let cols: Vec<(String, String)> = crate::sql::catalog::column_types(conn, table, false)?
        .into_iter()
        .map(|c| (c.name, c.ty))
        .collect();
    if cols.is_empty() {
        return Err(missing_table(table, setting));
    }
    Ok(Columns {
        table: table.clone(),
        cols,
    })
}

fn missing_table(table: &TableName, setting: &str) -> anyhow::Error {
    anyhow!("table {table} not found in the database: set {setting} in anonsweep.toml or choose the right --preset")
}

fn pg_time_kind(
    conn: &mut Conn,
    reads: &mut Vec<String>,
    table: &TableName,
    col: &str,
    ty: &str,
) -> anyhow::Result<TimeKind> {
    if ty.starts_with("timestamp") && ty.contains("with time zone") && !ty.contains("without") {
        return Ok(TimeKind::Timestamptz);
    }
    if ty.starts_with("timestamp") || ty == "date" {
        return Ok(TimeKind::Timestamp);
    }
    if ty == "text" || ty.starts_with("character varying") || ty.starts_with("varchar") {
        return Ok(TimeKind::IsoText);
    }
    if ty == "bigint" || ty == "integer" || ty == "numeric" {
        return epoch_unit(conn, reads, table, col);
    }
    Err(anyhow!(
        "column {table}.{col} has type {ty}, which anonsweep cannot compare as a time: use a timestamp, text or integer epoch column"
    ))
}

fn mysql_time_kind(
    conn: &mut Conn,
    reads: &mut Vec<String>,
    table: &TableName,
    col: &str,
    ty: &str,
) -> anyhow::Result<TimeKind> {
    if ty.starts_with("datetime") || ty.starts_with("timestamp") || ty == "date" {
        return Ok(TimeKind::Timestamp);
    }
    if ty.starts_with("bigint") || ty.starts_with("int") || ty.starts_with("decimal") {
        return epoch_unit(conn, reads, table, col);
    }
    Err(anyhow!(
        "column {table}.{col} has type {ty}, which anonsweep cannot compare as a time on MySQL: use DATETIME, TIMESTAMP or an integer epoch column"
    ))
}

fn epoch_unit(
    conn: &mut Conn,
    reads: &mut Vec<String>,
    table: &TableName,
    col: &str,
) -> anyhow::Result<TimeKind> {
    let b = conn.backend();
    let sql = render(&templates::MaxValue {
        max_text: &b.id_as_text(&format!("MAX({})", quote(b, col))),
        table: &templates::sample(&table.quoted(b)),
    });
    let max = data_read(conn, reads, sql)?
        .into_iter()
        .next()
        .and_then(|m| m.parse::<f64>().ok())
        .unwrap_or(0.0);
    // 1e11 seconds is the year 5138; 1e11 milliseconds is 1973.
    Ok(if max >= 1e11 {
        TimeKind::EpochMs
    } else {
        TimeKind::EpochS
    })
}

/// SQLite: the format of `col`, recognised from how its first rows are stored (the range
/// read of its table's compared `columns`, which the plausibility check then reuses).
fn sqlite_time_kind(
    conn: &mut Conn,
    reads: &mut Vec<String>,
    answers: &mut plausible::Answers,
    (table, columns): (&TableName, &[&str]),
    col: &str,
    declared: &str,
) -> anyhow::Result<TimeKind> {
    let st = plausible::sqlite_stored(conn, table, columns, col, reads, answers)?;
    let kinds: Vec<&str> = [
        ("integer", st.integer),
        ("real", st.real),
        ("text", st.text),
        ("blob", st.blob),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, _)| k)
    .collect();
    match kinds.as_slice() {
        [] => Ok(if declared.contains("int") { TimeKind::EpochMs } else { TimeKind::IsoText }),
        // 1e11 seconds is the year 5138; 1e11 milliseconds is 1973.
        ["integer"] => Ok(match st.max_number.trim().parse::<f64>() {
            Ok(max) if max >= 1e11 => TimeKind::EpochMs,
            _ => TimeKind::EpochS,
        }),
        ["text"] => {
            let bad = st.not_iso;
            if bad != 0 {
                return Err(usage(format!(
                    "{bad} values in {table}.{col} (of its first {} rows) are text but not ISO-8601 timestamps: fix those rows, or set timestamp_format if the column holds something else",
                    templates::SAMPLE_ROWS
                )));
            }
            Ok(TimeKind::IsoText)
        }
        other => Err(usage(format!(
            "{table}.{col} mixes value types ({}, in its first {} rows): anonsweep cannot compare them safely; convert the column to one format (ISO-8601 text or epoch integers)",
            other.join(", "),
            templates::SAMPLE_ROWS
        ))),
    }
}

/// Whether `col` alone is the primary key or has a unique index: deletes go by id, so a
/// non-unique id could take other rows with it.
fn id_is_unique(conn: &mut Conn, table: &TableName, col: &str) -> anyhow::Result<bool> {
    let rows = match conn.backend() {
        Backend::Postgres => conn.texts(
            "SELECT 'yes' AS t FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = $2",
            &[&table.quoted(Backend::Postgres), col],
        )?,
        Backend::Sqlite => {
            let schema = table.schema.clone().unwrap_or_else(|| "main".into());
            let mut rows = conn.texts(
                "SELECT 'yes' AS t FROM pragma_table_info(?1, ?2) WHERE name = ?3 AND pk = 1 \
                 AND (SELECT COUNT(*) FROM pragma_table_info(?1, ?2) WHERE pk > 0) = 1",
                &[&table.name, &schema, col],
            )?;
            rows.extend(conn.texts(
                "SELECT 'yes' AS t FROM pragma_index_list(?1, ?2) AS il WHERE il.\"unique\" = 1 AND il.partial = 0 \
                 AND (SELECT COUNT(*) FROM pragma_index_info(il.name, ?2)) = 1 \
                 AND (SELECT name FROM pragma_index_info(il.name, ?2)) = ?3",
                &[&table.name, &schema, col],
            )?);
            rows
        }
        Backend::Mysql => {
            let (cond, mut binds) = mysql_table_cond(table);
            binds.push(col.to_string());
            let sql = format!(
                "SELECT 'yes' AS t FROM information_schema.statistics s WHERE {cond} \
                 AND s.non_unique = 0 AND s.seq_in_index = 1 AND s.column_name = ? \
                 AND NOT EXISTS (SELECT 1 FROM information_schema.statistics s2 WHERE s2.table_schema = s.table_schema \
                   AND s2.table_name = s.table_name AND s2.index_name = s.index_name AND s2.seq_in_index = 2)"
            );
            conn.texts(&sql, &binds.iter().map(String::as_str).collect::<Vec<_>>())?
        }
    };
    Ok(!rows.is_empty())
}

/// Checks the schema and returns how each compared column stores its values.
/// The storage formats, notes about them, and the reads of the application's data the detection
/// made (listed by `plan`).
pub fn inspect(
    conn: &mut Conn,
    settings: &Settings,
) -> anyhow::Result<(Formats, Vec<String>, Vec<String>)> {
    let s: &Schema = &settings.schema;
    let backend = conn.backend();
    let users = columns(conn, &s.users, "users.table")?;
    users.ty(&s.users_id, "users.id")?;
    if !id_is_unique(conn, &s.users, &s.users_id)? {
        return Err(anyhow!(
            "{}.{} is neither the primary key nor unique: anonsweep deletes users by id, so it must identify one row; set users.id to the table's primary key",
            s.users,
            s.users_id
        ));
    }
    let anon_ty = users.ty(&s.users_is_anonymous, "users.is_anonymous")?;
    let created_ty = users.ty(&s.users_created_at, "users.created_at")?;
    let mut users_activity_ty = Vec::new();
    for c in &s.users_activity {
        users_activity_ty.push(users.ty(c, "users.activity")?);
    }
    let sessions = columns(conn, &s.sessions, "sessions.table")?;
    sessions.ty(&s.sessions_user_id, "sessions.user_id")?;
    let mut activity_ty = Vec::new();
    for c in &s.sessions_activity {
        activity_ty.push(sessions.ty(c, "sessions.activity")?);
    }
    if let Some((t, c)) = &s.accounts {
        columns(conn, t, "accounts.table")?.ty(c, "accounts.user_id")?;
    }

    let mut notes = Vec::new();
    let anonymous_is_int = match backend {
        Backend::Postgres => match anon_ty.as_str() {
            "boolean" => false,
            "smallint" | "integer" | "bigint" => true,
            other => {
                return Err(anyhow!(
                    "column {}.{} has type {other}: expected boolean (or an integer 0/1)",
                    s.users,
                    s.users_is_anonymous
                ))
            }
        },
        Backend::Sqlite => false,
        Backend::Mysql => {
            let int = [
                "tinyint",
                "smallint",
                "mediumint",
                "int",
                "bigint",
                "bit",
                "boolean",
                "bool",
            ];
            if !int.iter().any(|t| anon_ty.starts_with(t)) {
                return Err(anyhow!(
                    "column {}.{} has type {anon_ty}: expected BOOLEAN / TINYINT(1)",
                    s.users,
                    s.users_is_anonymous
                ));
            }
            true
        }
    };

    let mut reads = Vec::new();
    let mut answers = plausible::Answers::new();
    // Each table's compared columns, in the plausibility check's order (its range read of a
    // table is the one SQLite's detection reads first).
    let users_compared: Vec<&str> = std::iter::once(s.users_created_at.as_str())
        .chain(s.users_activity.iter().map(String::as_str))
        .collect();
    let sessions_compared: Vec<&str> = s.sessions_activity.iter().map(String::as_str).collect();
    let mut kind_of =
        |conn: &mut Conn, table: &TableName, col: &str, ty: &str| -> anyhow::Result<TimeKind> {
            let k = match settings.timestamp_format {
                TimestampFormat::Fixed(k) => {
                    plausible::forced_fits(backend, table, col, ty, k, settings)?;
                    k
                }
                TimestampFormat::Auto => match backend {
                    Backend::Postgres => pg_time_kind(conn, &mut reads, table, col, ty),
                    Backend::Sqlite => {
                        let compared = if *table == s.users {
                            &users_compared
                        } else {
                            &sessions_compared
                        };
                        sqlite_time_kind(conn, &mut reads, &mut answers, (table, compared), col, ty)
                    }
                    Backend::Mysql => mysql_time_kind(conn, &mut reads, table, col, ty),
                }?,
            };
            // MySQL TIMESTAMP columns are converted by the (UTC) session; the others carry no zone.
            let zoned = backend == Backend::Mysql && ty.starts_with("timestamp");
            if k == TimeKind::Timestamp && !zoned {
                notes.push(format!(
                    "{table}.{col} is {ty} (no time zone): values assumed UTC"
                ));
            }
            Ok(k)
        };
    let created_at = kind_of(conn, &s.users, &s.users_created_at, &created_ty)?;
    let mut activity = Vec::new();
    for (c, ty) in s.sessions_activity.iter().zip(&activity_ty) {
        activity.push(kind_of(conn, &s.sessions, c, ty)?);
    }
    let mut users_activity = Vec::new();
    for (c, ty) in s.users_activity.iter().zip(&users_activity_ty) {
        users_activity.push(kind_of(conn, &s.users, c, ty)?);
    }
    let compared: Vec<TimeColumn> = std::iter::once((&s.users, &s.users_created_at, created_at))
        .chain(
            s.sessions_activity
                .iter()
                .zip(&activity)
                .map(|(c, k)| (&s.sessions, c, *k)),
        )
        .chain(
            s.users_activity
                .iter()
                .zip(&users_activity)
                .map(|(c, k)| (&s.users, c, *k)),
        )
        .map(|(table, column, kind)| TimeColumn {
            table: table.clone(),
            column: column.clone(),
            kind,
        })
        .collect();
    plausible::check(conn, settings, &compared, &mut reads, &answers)?;
    Ok((
        Formats {
            created_at,
            activity,
            users_activity,
            anonymous_is_int,
            // Chosen after the index checks (`access`).
            users_access: Default::default(),
            // Read after the index checks too.
            triggers: false,
            assumed: false,
        },
        notes,
        reads,
    ))
}
