//! Plausibility of every compared time column, once its storage format is detected or forced:
//! a forced `timestamp_format` must fit the column's declared type (checked before any read of
//! the data), and the column's values, read in that format, must lie between 1990-01-01 and one
//! day after the as-of (or this machine's clock, if later). Otherwise the rule would compare the
//! wrong times — epoch seconds read as milliseconds all land in January 1970, so every anonymous
//! user looks abandoned — and the check refuses (a usage error, exit 2) with the format that fits.
//! One read-only query per table ([`check`]), recorded in `reads` so `plan` lists it.

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::settings::{fmt_time, Settings, TimestampFormat};
use crate::error::usage;
use crate::sql::conn::Conn;
use crate::sql::dialect::{Backend, TimeKind};
use crate::sql::ident::{quote, TableName};
use crate::sql::templates::{self, render, RangeColumn};

pub use crate::sql::dialect::EARLIEST;

/// How far after the as-of (or this machine's clock, if later) a value may lie: clocks differ.
pub const LATEST_AFTER: TimeDelta = TimeDelta::days(1);

/// An ISO-8601 timestamp in a PostgreSQL text column (what `CAST(… AS TIMESTAMPTZ)` reads as
/// such): a date, optionally a time with optional seconds and fraction, optionally a zone.
pub const PG_ISO_PATTERN: &str = "^[0-9]{4}-[01][0-9]-[0-3][0-9]([T ][0-2][0-9]:[0-5][0-9](:[0-6][0-9]([.][0-9]+)?)?)? ?([Zz]|UTC|[+-][0-9]{2}(:?[0-9]{2})?)?$";

/// A compared time column and the format it is read in.
#[derive(Clone, Debug)]
pub struct TimeColumn {
    pub table: TableName,
    pub column: String,
    pub kind: TimeKind,
}

/// Where `timestamp_format` came from, when it fixed the format (`None`: detected).
fn forced_origin(s: &Settings) -> Option<String> {
    match s.timestamp_format {
        TimestampFormat::Auto => None,
        TimestampFormat::Fixed(_) => Some(
            s.effective
                .iter()
                .find(|e| e.name == "timestamp_format")
                .map(|e| e.origin.clone())
                .unwrap_or_else(|| "the configuration".into()),
        ),
    }
}

/// How to set `timestamp_format` to `value`, where it is set now (a file, the environment),
/// else with the flag.
fn set_format(s: &Settings, value: &str) -> String {
    let origin = forced_origin(s).unwrap_or_default();
    if let Some(path) = origin.strip_prefix("file ") {
        format!("set timestamp_format = \"{value}\" in {path}")
    } else if origin.starts_with("env ") {
        format!("set ANONSWEEP_TIMESTAMP_FORMAT={value}")
    } else {
        format!("use --timestamp-format {value}")
    }
}

/// What a declared type can hold: the formats that compare it exactly, and the one to suggest
/// (`None`: an epoch, whose unit `auto` detects). `None` when no format can compare it.
fn declared_fits(backend: Backend, ty: &str) -> Option<(&'static [TimeKind], Option<TimeKind>)> {
    use TimeKind::*;
    let int = |prefixes: &[&str]| prefixes.iter().any(|p| ty.starts_with(p));
    match backend {
        // Declared types are affinities only: the values are checked instead (`check`).
        Backend::Sqlite => Some((&[Timestamptz, Timestamp, IsoText, EpochMs, EpochS], None)),
        Backend::Postgres => {
            if ty.starts_with("timestamp")
                && ty.contains("with time zone")
                && !ty.contains("without")
            {
                // The session's zone is UTC: a timestamp cutoff compares exactly too.
                Some((&[Timestamptz, Timestamp], Some(Timestamptz)))
            } else if ty.starts_with("timestamp") || ty == "date" {
                Some((&[Timestamp, Timestamptz], Some(Timestamp)))
            } else if ty == "text"
                || ty.starts_with("character varying")
                || ty.starts_with("varchar")
            {
                Some((&[IsoText], Some(IsoText)))
            } else if int(&["bigint", "integer", "numeric"]) {
                Some((&[EpochMs, EpochS], None))
            } else {
                None
            }
        }
        Backend::Mysql => {
            if ty.starts_with("datetime") || ty.starts_with("timestamp") || ty == "date" {
                // All three bind a DATETIME cutoff in the session's UTC.
                Some((&[Timestamp, Timestamptz, IsoText], Some(Timestamp)))
            } else if int(&["bigint", "int", "decimal"]) {
                Some((&[EpochMs, EpochS], None))
            } else {
                None
            }
        }
    }
}

/// A forced format must fit the column's declared type: refused (exit 2) before any SQL runs
/// on the data, naming the column, its type, the format and the fix. SQLite declares
/// affinities only; its values are checked by [`check`].
pub fn forced_fits(
    backend: Backend,
    table: &TableName,
    column: &str,
    ty: &str,
    kind: TimeKind,
    s: &Settings,
) -> anyhow::Result<()> {
    let origin = forced_origin(s).unwrap_or_else(|| "the configuration".into());
    let forced = kind.format_value();
    let Some((fits, suggest)) = declared_fits(backend, ty) else {
        return Err(usage(format!(
            "{table}.{column} has type {ty}, which no timestamp_format can compare as a time (timestamp_format {forced} from {origin}): nothing was changed; use a {} column",
            match backend {
                Backend::Mysql => "DATETIME, TIMESTAMP or integer epoch",
                _ => "timestamp, text or integer epoch",
            }
        )));
    };
    if fits.contains(&kind) {
        return Ok(());
    }
    let reads = match kind {
        TimeKind::Timestamptz | TimeKind::Timestamp => "timestamp columns",
        TimeKind::IsoText => "ISO-8601 text columns",
        TimeKind::EpochMs | TimeKind::EpochS => "integer epoch columns",
    };
    let fix = match suggest {
        Some(k) => format!(
            "{}, or auto (it detects each column's format)",
            set_format(s, k.format_value())
        ),
        None => format!(
            "{} (it detects epoch-ms or epoch-s from the values)",
            set_format(s, "auto")
        ),
    };
    Err(usage(format!(
        "{table}.{column} has type {ty}, but timestamp_format {forced} (from {origin}) is for {reads}: the comparison would fail or compare the wrong values; nothing was changed; {fix}"
    )))
}

/// How the range query reads a column (the template's `shape`).
fn shape(backend: Backend, kind: TimeKind) -> &'static str {
    match (backend, kind) {
        (Backend::Sqlite, _) => "sqlite",
        (_, TimeKind::EpochMs | TimeKind::EpochS) => "epoch",
        (Backend::Postgres, TimeKind::IsoText) => "text",
        _ => "time",
    }
}

/// The fields the range query returns for a column of `shape`.
fn width(shape: &str) -> usize {
    match shape {
        "sqlite" => 9,
        _ => 2,
    }
}

/// What the range query found about one column.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    /// Values the format cannot read: how many, and what they are (singular, plural).
    unreadable: Vec<(u64, (&'static str, &'static str))>,
    /// The least and greatest time as the format reads them, in seconds since 1970.
    range: Option<(f64, f64)>,
    /// The least and greatest value as stored, when that is not a time (epochs).
    raw: Option<(String, String)>,
    /// The same values in the other formats they could be in, with the times each gives.
    others: Vec<(TimeKind, (f64, f64))>,
}

fn count(f: &str) -> u64 {
    f.trim().parse().unwrap_or(0)
}

fn number(f: &str) -> Option<f64> {
    let f = f.trim();
    (!f.is_empty()).then(|| f.parse().unwrap_or(f64::NAN))
}

fn pair(lo: &str, hi: &str) -> Option<(f64, f64)> {
    Some((number(lo)?, number(hi)?))
}

/// Epoch values as seconds since 1970.
fn as_seconds(kind: TimeKind, (lo, hi): (f64, f64)) -> (f64, f64) {
    match kind {
        TimeKind::EpochMs => (lo / 1000.0, hi / 1000.0),
        _ => (lo, hi),
    }
}

fn other_unit(kind: TimeKind) -> TimeKind {
    match kind {
        TimeKind::EpochMs => TimeKind::EpochS,
        _ => TimeKind::EpochMs,
    }
}

const TEXT: (&str, &str) = ("text value", "text values");
const NOT_ISO: (&str, &str) = (
    "text value that is not an ISO-8601 timestamp",
    "text values that are not ISO-8601 timestamps",
);
const NUMBER: (&str, &str) = ("number", "numbers");
const BLOB: (&str, &str) = ("blob", "blobs");

/// Decodes one column's fields (see `templates/preflight/time_range.sql`).
fn decode(shape: &str, kind: TimeKind, f: &[&str]) -> Seen {
    let epoch = matches!(kind, TimeKind::EpochMs | TimeKind::EpochS);
    let mut seen = Seen::default();
    match shape {
        "sqlite" => {
            let (n_num, n_text, n_bad, n_blob) =
                (count(f[0]), count(f[3]), count(f[4]), count(f[7]));
            let numbers = pair(f[1], f[2]).filter(|_| n_num > 0);
            let texts = pair(f[5], f[6]).filter(|_| n_text > n_bad);
            let only_numbers = n_num > 0 && n_text == 0 && n_blob == 0;
            let only_iso = n_text > 0 && n_bad == 0 && n_num == 0 && n_blob == 0;
            let unreadable = if epoch {
                seen.range = numbers.map(|r| as_seconds(kind, r));
                seen.raw = numbers.map(|_| (f[1].to_string(), f[2].to_string()));
                [(n_text, TEXT), (n_blob, BLOB)]
            } else {
                seen.range = texts;
                [(n_num, NUMBER), (n_bad, NOT_ISO)]
            };
            seen.unreadable = unreadable.into_iter().filter(|(n, _)| *n > 0).collect();
            if !epoch && n_blob > 0 {
                seen.unreadable.push((n_blob, BLOB));
            }
            if let (true, Some(r)) = (only_numbers, numbers) {
                for k in [TimeKind::EpochMs, TimeKind::EpochS] {
                    if k != kind {
                        seen.others.push((k, as_seconds(k, r)));
                    }
                }
            }
            if let (true, true, Some(r)) = (epoch, only_iso, texts) {
                seen.others.push((TimeKind::IsoText, r));
            }
        }
        "epoch" => {
            let r = pair(f[0], f[1]);
            seen.range = r.map(|r| as_seconds(kind, r));
            seen.raw = r.map(|_| (f[0].to_string(), f[1].to_string()));
            if let Some(r) = r {
                let k = other_unit(kind);
                seen.others.push((k, as_seconds(k, r)));
            }
        }
        _ => seen.range = pair(f[0], f[1]),
    }
    seen
}

/// A time in seconds since 1970, as the messages show it.
fn show(secs: f64) -> String {
    if secs.is_nan() {
        return "a value that is not a number".into();
    }
    if secs.is_infinite() {
        return if secs > 0.0 { "infinity" } else { "-infinity" }.into();
    }
    match DateTime::<Utc>::from_timestamp(secs.floor() as i64, 0) {
        Some(t) => fmt_time(t),
        None => format!("{secs:.0} s after 1970 (beyond any calendar)"),
    }
}

fn plural(n: u64, (one, many): (&str, &str)) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Refuses a column whose values the format cannot read, or whose times are implausible.
fn judge(s: &Settings, c: &TimeColumn, seen: &Seen, now: DateTime<Utc>) -> anyhow::Result<()> {
    let label = format!("{}.{}", c.table, c.column);
    let read_as = match forced_origin(s) {
        Some(o) => format!("{} (timestamp_format from {o})", c.kind.format_value()),
        None => format!("{} (detected)", c.kind.format_value()),
    };
    let latest = s.as_of.max(now) + LATEST_AFTER;
    let fits = |(lo, hi): (f64, f64)| lo >= EARLIEST as f64 && hi <= latest.timestamp() as f64;
    let suggestion = |otherwise: String| match seen.others.iter().find(|(_, r)| fits(*r)) {
        Some((k, (lo, hi))) => format!(
            "read as {} they span {} to {}: {}",
            k.format_value(),
            show(*lo),
            show(*hi),
            set_format(s, k.format_value())
        ),
        None => otherwise,
    };
    if !seen.unreadable.is_empty() {
        let what: Vec<String> = seen
            .unreadable
            .iter()
            .map(|(n, w)| plural(*n, *w))
            .collect();
        return Err(usage(format!(
            "{label}, read as {read_as}, holds {} (in its first {} rows): the rule cannot compare them as times; nothing was changed; {}",
            what.join(" and "),
            templates::SAMPLE_ROWS,
            suggestion(
                "fix or NULL those rows (or set timestamp_format to the column's real format)"
                    .into()
            )
        )));
    }
    let Some((lo, hi)) = seen.range else {
        return Ok(());
    };
    if fits((lo, hi)) {
        return Ok(());
    }
    let raw = match &seen.raw {
        Some((a, b)) => format!(" (stored {a} to {b})"),
        None => String::new(),
    };
    Err(usage(format!(
        "{label}, read as {read_as}, spans {} to {}{raw} in its first {} rows, outside {} to {} (the as-of, or this machine's clock if later, plus one day): the rule would compare the wrong times; nothing was changed; {}",
        show(lo),
        show(hi),
        templates::SAMPLE_ROWS,
        show(EARLIEST as f64),
        fmt_time(latest),
        suggestion(format!(
            "no timestamp format fits these values: fix the rows outside that range, or check that {label} is the right column"
        ))
    )))
}

/// The range query of one table's compared columns, in their order.
fn range_sql(backend: Backend, table: &TableName, range: &[RangeColumn]) -> String {
    render(&templates::TimeRange {
        backend: backend.name(),
        table: &templates::sample(&table.quoted(backend)),
        columns: range,
        iso_pattern: PG_ISO_PATTERN,
    })
}

/// Range reads already made, by their SQL text, with their answer: SQLite's format detection
/// reads each table's range query first ([`sqlite_stored`]), and [`check`] reuses the answer.
pub type Answers = std::collections::HashMap<String, String>;

/// How one SQLite column's first rows are stored, for format detection.
#[derive(Debug)]
pub struct Stored {
    pub integer: u64,
    pub real: u64,
    pub text: u64,
    pub blob: u64,
    /// Text values that are not ISO-8601 timestamps.
    pub not_iso: u64,
    /// The greatest number, as stored.
    pub max_number: String,
}

/// SQLite: how `column` of `table` is stored over the table's first rows, from the range query
/// of the table's compared `columns` (in [`check`]'s order; read once, kept in `answers` for
/// [`check`]). A malformed answer is an error, never "no values".
pub fn sqlite_stored(
    conn: &mut Conn,
    table: &TableName,
    columns: &[&str],
    column: &str,
    reads: &mut Vec<String>,
    answers: &mut Answers,
) -> anyhow::Result<Stored> {
    let range: Vec<RangeColumn> = columns
        .iter()
        .map(|c| RangeColumn {
            column: quote(Backend::Sqlite, c),
            shape: "sqlite",
        })
        .collect();
    let sql = range_sql(Backend::Sqlite, table, &range);
    let text = match answers.get(&sql) {
        Some(t) => t.clone(),
        None => {
            let t = super::reads::data_read(conn, reads, sql.clone())?
                .into_iter()
                .next()
                .unwrap_or_default();
            answers.insert(sql, t.clone());
            t
        }
    };
    let unexpected = || {
        anyhow::anyhow!("reading the value types of {table}.{column}: unexpected answer {text:?}")
    };
    let fields: Vec<&str> = text.split('|').collect();
    let n = width("sqlite");
    let at = columns.iter().position(|c| *c == column).map(|i| i * n);
    let f = at
        .and_then(|at| fields.get(at..at + n))
        .filter(|_| fields.len() == n * columns.len())
        .ok_or_else(unexpected)?;
    let num = |i: usize| f[i].trim().parse::<u64>().map_err(|_| unexpected());
    let (numbers, real) = (num(0)?, num(8)?);
    Ok(Stored {
        integer: numbers.saturating_sub(real),
        real,
        text: num(3)?,
        blob: num(7)?,
        not_iso: num(4)?,
        max_number: f[2].to_string(),
    })
}

/// Reads the range of every column in `columns` over the table's first rows (one query per
/// table, recorded in `reads`, or its answer from `answers`) and refuses (exit 2) the first
/// whose values its format cannot read or whose times lie before 1990-01-01 or more than a day
/// after the as-of. Empty columns and NULLs pass. Rows past the sample are read fail-safe by
/// the rule itself.
pub fn check(
    conn: &mut Conn,
    s: &Settings,
    columns: &[TimeColumn],
    reads: &mut Vec<String>,
    answers: &Answers,
) -> anyhow::Result<()> {
    let backend = conn.backend();
    let now = Utc::now();
    let mut tables: Vec<&TableName> = Vec::new();
    for c in columns {
        if !tables.contains(&&c.table) {
            tables.push(&c.table);
        }
    }
    for table in tables {
        let cols: Vec<&TimeColumn> = columns.iter().filter(|c| &c.table == table).collect();
        let range: Vec<RangeColumn> = cols
            .iter()
            .map(|c| RangeColumn {
                column: quote(backend, &c.column),
                shape: shape(backend, c.kind),
            })
            .collect();
        let sql = range_sql(backend, table, &range);
        let names: Vec<String> = cols
            .iter()
            .map(|c| format!("{table}.{}", c.column))
            .collect();
        let texts: Vec<(&TimeColumn, String)> = cols
            .iter()
            .zip(&range)
            .filter(|(_, r)| r.shape == "text")
            .map(|(c, r)| (*c, r.column.clone()))
            .collect();
        if !texts.is_empty() {
            let quoted: Vec<String> = texts.iter().map(|(_, q)| q.clone()).collect();
            let sql = render(&templates::NotIsoText {
                table: &templates::sample(&table.quoted(backend)),
                columns: &quoted,
                iso_pattern: PG_ISO_PATTERN,
            });
            let counts = super::reads::data_read(conn, reads, sql)?
                .into_iter()
                .next()
                .unwrap_or_default();
            for ((c, _), n) in texts.iter().zip(counts.split('|')) {
                let seen = Seen {
                    unreadable: vec![(count(n), NOT_ISO)],
                    ..Seen::default()
                };
                if count(n) > 0 {
                    judge(s, c, &seen, now)?;
                }
            }
        }
        let known = answers.get(&sql).cloned();
        let row = match known {
            Some(text) => Ok(vec![text]),
            None => super::reads::data_read(conn, reads, sql),
        }
        .map_err(|e| {
            let why = crate::error::one_line(&e);
            if range.iter().any(|r| r.shape == "text") {
                // A text value shaped like a timestamp that PostgreSQL still cannot read.
                usage(format!(
                    "reading the times of {} failed: {why}: nothing was changed; fix the value PostgreSQL cannot read as a timestamp",
                    names.join(", ")
                ))
            } else {
                e.context(format!("reading the times of {}", names.join(", ")))
            }
        })?;
        let text = row.into_iter().next().unwrap_or_default();
        let fields: Vec<&str> = text.split('|').collect();
        let mut at = 0;
        for (c, r) in cols.iter().zip(&range) {
            let n = width(r.shape);
            let Some(f) = fields.get(at..at + n) else {
                return Err(anyhow::anyhow!(
                    "reading the times of {}: unexpected answer {text:?}",
                    names.join(", ")
                ));
            };
            at += n;
            judge(s, c, &decode(r.shape, c.kind, f), now)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_read_as_milliseconds_suggest_seconds() {
        let seen = decode("epoch", TimeKind::EpochMs, &["1764000000", "1791820000"]);
        let (lo, hi) = seen.range.unwrap();
        assert!(hi < EARLIEST as f64, "{lo} {hi}");
        assert_eq!(seen.others.len(), 1);
        assert_eq!(seen.others[0].0, TimeKind::EpochS);
        assert_eq!(show(seen.others[0].1 .0), "2025-11-24T16:00:00Z");
    }

    #[test]
    fn sqlite_fields_name_what_the_format_cannot_read() {
        // Integers, read as ISO-8601 text.
        let f = ["3", "1764000000", "1791820000", "0", "0", "", "", "0"];
        let seen = decode("sqlite", TimeKind::IsoText, &f);
        assert_eq!(seen.unreadable, vec![(3, NUMBER)]);
        assert_eq!(seen.others.len(), 2);
        // Empty column: nothing to judge.
        let f = ["0", "", "", "0", "0", "", "", "0"];
        assert_eq!(decode("sqlite", TimeKind::EpochMs, &f), Seen::default());
    }

    #[test]
    fn shown_times_survive_any_value() {
        assert_eq!(show(f64::INFINITY), "infinity");
        assert_eq!(show(EARLIEST as f64), "1990-01-01T00:00:00Z");
        assert!(show(1e300).contains("beyond any calendar"));
        assert_eq!(number("Infinity"), Some(f64::INFINITY));
        assert_eq!(number(""), None);
    }
}
