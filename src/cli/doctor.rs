//! `anonsweep doctor`: every pre-flight check, with the fix for each problem; changes nothing.
//! `plan` and `run` run the same checks and stop on an error.

use std::fmt::Write as _;

use clap::ArgMatches;
use serde_json::json;

use crate::preflight::children::{self, Finding, Level};
use crate::cli::args::DoctorArgs;
use crate::sql::conn::Conn;
use crate::preflight::clock;
use crate::error::exit;
use crate::preflight::introspect;
use crate::config::settings::{OutputFormat, Settings};

pub fn run_doctor_command(args: &DoctorArgs, m: &ArgMatches) -> anyhow::Result<i32> {
    let mut inputs = super::rule_inputs(&args.rule, Some(&args.db), m);
    inputs.needs_database = true;
    super::run_settings_from_env(&mut inputs);
    let settings = super::resolve(&inputs)?;
    let db = settings
        .database
        .clone()
        .expect("doctor requires a database");
    let mut conn = Conn::connect(&db)?;
    let report = examine(&mut conn, &settings)?;
    let errors = report.count(Level::Error);
    match settings.format {
        OutputFormat::Text => print!("{}", report.text(&settings)),
        OutputFormat::Json => println!("{}", report.json(&settings)),
    }
    Ok(if errors > 0 { exit::USAGE } else { exit::OK })
}

/// Everything doctor found, by section.
pub(crate) struct Report {
    schema: Vec<Finding>,
    formats: Vec<String>,
    deletes: Vec<String>,
    foreign_keys: Vec<Finding>,
    clock: Option<clock::ClockReport>,
    indexes: Vec<Finding>,
}

impl Report {
    fn all(&self) -> impl Iterator<Item = &Finding> {
        self.schema
            .iter()
            .chain(&self.foreign_keys)
            .chain(self.clock.iter().flat_map(|c| &c.findings))
            .chain(&self.indexes)
    }

    fn count(&self, level: Level) -> usize {
        self.all().filter(|f| f.level == level).count()
    }

    fn text(&self, s: &Settings) -> String {
        let mut out = String::new();
        let db = s.database_shown();
        let _ = writeln!(
            out,
            "anonsweep doctor: {db} ({}), preset {}",
            s.backend.name(),
            s.preset
        );
        let _ = writeln!(out, "configuration (value, and where it came from):");
        for e in &s.effective {
            let _ = writeln!(out, "  {:<20} {:<40} {}", e.name, e.value, e.origin);
        }
        let section = |out: &mut String, title: &str, items: &[Finding]| {
            let _ = writeln!(out, "{title}:");
            if items.is_empty() {
                let _ = writeln!(out, "  ok");
            }
            for f in items {
                let tag = match f.level {
                    Level::Error => "ERROR",
                    Level::Warning => "warning",
                    Level::Note => "note",
                };
                let _ = writeln!(out, "  {tag}: {}", f.message);
                if let Some(fix) = &f.fix {
                    for l in fix.lines() {
                        let _ = writeln!(out, "      {l}");
                    }
                }
            }
        };
        section(&mut out, "schema", &self.schema);
        for f in &self.formats {
            let _ = writeln!(out, "  storage: {f}");
        }
        let _ = writeln!(out, "delete order (each batch, one transaction):");
        for (i, d) in self.deletes.iter().enumerate() {
            let _ = writeln!(out, "  {}. {d}", i + 1);
        }
        section(&mut out, "foreign keys", &self.foreign_keys);
        if let Some(c) = &self.clock {
            let _ = writeln!(
                out,
                "clock:\n  database {} / this machine {} (skew {}), database time zone {}",
                c.database_clock.as_deref().unwrap_or("unknown"),
                c.local_clock,
                c.skew_secs
                    .map(|s| format!("{s} s"))
                    .unwrap_or_else(|| "unknown".into()),
                c.time_zone.as_deref().unwrap_or("none (SQLite)")
            );
            for f in &c.findings {
                let _ = writeln!(out, "  warning: {}", f.message);
            }
        }
        section(&mut out, "indexes", &self.indexes);
        let _ = writeln!(
            out,
            "result: {} error(s), {} warning(s){}",
            self.count(Level::Error),
            self.count(Level::Warning),
            if self.count(Level::Error) > 0 {
                ": `plan` and `run` refuse to start until the errors are fixed"
            } else {
                ""
            }
        );
        out
    }

    fn json(&self, s: &Settings) -> serde_json::Value {
        json!({
            "command": "doctor",
            "backend": s.backend.name(),
            "preset": s.preset,
            "configuration": s.effective,
            "schema": self.schema,
            "storage": self.formats,
            "delete_order": self.deletes,
            "foreign_keys": self.foreign_keys,
            "clock": self.clock.as_ref().map(|c| json!({
                "database": c.database_clock,
                "local": c.local_clock,
                "skew_secs": c.skew_secs,
                "time_zone": c.time_zone,
                "findings": c.findings,
            })),
            "indexes": self.indexes,
            "errors": self.count(Level::Error),
            "warnings": self.count(Level::Warning),
        })
    }
}

/// The column labels in the order `Formats` lists them (created_at, then each activity column).
pub(crate) fn time_columns(s: &Settings) -> Vec<String> {
    let sc = &s.schema;
    std::iter::once(format!("{}.{}", sc.users, sc.users_created_at))
        .chain(
            sc.sessions_activity
                .iter()
                .map(|c| format!("{}.{c}", sc.sessions)),
        )
        .collect()
}

/// Runs every check; a failing check is a finding, not an error, so all of them are reported.
pub(crate) fn examine(conn: &mut Conn, s: &Settings) -> anyhow::Result<Report> {
    let mut report = Report {
        schema: Vec::new(),
        formats: Vec::new(),
        deletes: Vec::new(),
        foreign_keys: Vec::new(),
        clock: None,
        indexes: Vec::new(),
    };
    let formats = match introspect::inspect(conn, s) {
        Ok((formats, notes)) => {
            report.schema.extend(notes.into_iter().map(Finding::note));
            formats
        }
        Err(e) => {
            report
                .schema
                .push(Finding::error(crate::error::one_line(&e), None));
            return Ok(report);
        }
    };
    for (col, k) in time_columns(s)
        .iter()
        .zip(std::iter::once(&formats.created_at).chain(&formats.activity))
    {
        report.formats.push(format!("{col}: {}", k.name()));
    }
    let mut kids = Vec::new();
    match children::resolve(conn, &s.schema) {
        Ok(r) => {
            kids = r.children.clone();
            for c in &r.children {
                report.deletes.push(format!(
                    "{} ({}, {})",
                    c.table,
                    match &c.link {
                        crate::config::settings::Link::User(col) => format!("{col} = user id"),
                        crate::config::settings::Link::Parent {
                            column,
                            parent,
                            key,
                        } => format!("{column} -> {parent}.{key}"),
                    },
                    match c.source {
                        children::Source::Sessions => "sessions",
                        children::Source::Accounts => "accounts",
                        children::Source::Config => "configured",
                        children::Source::Cascade => "ON DELETE CASCADE, deleted explicitly",
                    }
                ));
            }
            report
                .deletes
                .push(format!("{} (the users)", s.schema.users));
            report.foreign_keys = r.findings;
        }
        Err(e) => report
            .foreign_keys
            .push(Finding::error(crate::error::one_line(&e), None)),
    }
    report.clock = Some(clock::clock_checks(conn, &formats, &time_columns(s))?);
    for n in super::migrate::index_notes(conn, s, &formats, &kids)? {
        report.indexes.push(Finding::warning(n));
    }
    Ok(report)
}
