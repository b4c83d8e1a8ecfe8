//! Pre-flight checks beyond the schema: the database's clock and time zone against ours, since
//! a wrong zone makes the cutoff wrong ("dry run shows unexpected deletions").

use chrono::{DateTime, Utc};

use crate::preflight::children::Finding;
use crate::sql::conn::Conn;
use crate::sql::dialect::Formats;
use crate::sql::dialect::{Backend, TimeKind};

/// Largest clock difference accepted without a warning.
pub const MAX_SKEW_SECS: i64 = 60;

/// The database's clock and default time zone, and what they mean for the rule.
pub struct ClockReport {
    pub database_clock: Option<String>,
    pub local_clock: String,
    pub skew_secs: Option<i64>,
    pub time_zone: Option<String>,
    pub findings: Vec<Finding>,
}

fn is_utc(zone: &str) -> bool {
    matches!(
        zone.trim().to_ascii_uppercase().as_str(),
        "UTC" | "ETC/UTC" | "GMT" | "ETC/GMT" | "Z" | "+00:00" | "UCT" | "ZULU" | "UNIVERSAL"
    )
}

/// The zone sessions start in (before anonsweep sets its own to UTC).
fn default_zone(conn: &mut Conn) -> anyhow::Result<Option<String>> {
    Ok(match conn.backend() {
        Backend::Postgres => {
            conn.text("SELECT reset_val AS t FROM pg_settings WHERE name = 'TimeZone'")?
        }
        Backend::Mysql => {
            let global = conn.text("SELECT CAST(@@global.time_zone AS CHAR) AS t")?;
            match global.as_deref() {
                Some("SYSTEM") => conn
                    .text("SELECT CAST(@@system_time_zone AS CHAR) AS t")?
                    .map(|z| format!("SYSTEM ({z})")),
                _ => global,
            }
        }
        // SQLite has no zone: 'now' is UTC, and the application writes whatever it writes.
        Backend::Sqlite => None,
    })
}

/// Compares the clocks and checks the zone that columns without a time zone depend on.
pub fn clock_checks(
    conn: &mut Conn,
    formats: &Formats,
    columns: &[String],
) -> anyhow::Result<ClockReport> {
    let now = Utc::now();
    let database_clock = conn.server_clock()?;
    let skew_secs = database_clock
        .as_deref()
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map(|db| (db.with_timezone(&Utc) - now).num_seconds());
    let mut findings = Vec::new();
    if let Some(skew) = skew_secs {
        if skew.abs() > MAX_SKEW_SECS {
            findings.push(Finding::warning(format!(
                "the database clock is {skew} s {} this machine's: the cutoff comes from this machine (or --as-of), while the application stamps rows with the database's clock; fix NTP on one of them",
                if skew > 0 { "ahead of" } else { "behind" }
            )));
        }
    }
    let time_zone = default_zone(conn)?;
    let zoneless: Vec<&String> = formats
        .all()
        .zip(columns)
        .filter(|(k, _)| **k == TimeKind::Timestamp)
        .map(|(_, c)| c)
        .collect();
    if let Some(zone) = &time_zone {
        let plain = zone.trim_start_matches("SYSTEM (").trim_end_matches(')');
        if !is_utc(plain) && !zoneless.is_empty() {
            let cols: Vec<&str> = zoneless.iter().map(|c| c.as_str()).collect();
            findings.push(Finding::warning(format!(
                "the database's default time zone is {zone}, and {} {} no time zone: anonsweep reads them as UTC, so if the application writes local time (e.g. now() in its sessions) the cutoff is off by the zone's offset; store UTC or use timestamptz",
                cols.join(", "),
                if cols.len() == 1 { "has" } else { "have" }
            )));
        }
    }
    Ok(ClockReport {
        database_clock,
        local_clock: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        skew_secs,
        time_zone,
        findings,
    })
}
