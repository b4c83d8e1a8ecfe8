//! What `doctor` prints: every pre-flight check, by section, with the fix for each problem.

use std::fmt::Write as _;

use serde_json::json;

use crate::config::settings::Settings;
use crate::preflight::children::{Finding, Level};
use crate::preflight::{time_columns, Inspected};

/// Each compared column with its storage, as `doctor` lists it.
fn storage(i: &Inspected, s: &Settings) -> Vec<String> {
    match &i.formats {
        None => Vec::new(),
        Some(f) => time_columns(s)
            .iter()
            .zip(f.all())
            .map(|(col, k)| format!("{col}: {}", k.name()))
            .collect(),
    }
}

pub fn text(i: &Inspected, s: &Settings) -> String {
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
    let section = |out: &mut String, key: &str, title: &str, items: &[Finding]| {
        let _ = writeln!(out, "{title}:");
        if let Some(why) = i.not_checked.get(key) {
            let _ = writeln!(out, "  not checked: {why}");
        } else if items.is_empty() {
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
    section(&mut out, "schema", "schema", &i.schema);
    for f in &storage(i, s) {
        let _ = writeln!(out, "  storage: {f}");
    }
    let _ = writeln!(out, "delete order (each batch, one transaction):");
    for (n, d) in i.delete_order(s).iter().enumerate() {
        let _ = writeln!(out, "  {}. {d}", n + 1);
    }
    if let Some(why) = i.not_checked.get("delete_order") {
        let _ = writeln!(out, "  not checked: {why}");
    }
    if !s.schema.keep_if.is_empty() {
        section(&mut out, "guards", "keep-if guards", &i.guards);
    }
    section(
        &mut out,
        "activity",
        "activity (can the sessions show who is active?)",
        &i.activity,
    );
    section(&mut out, "foreign_keys", "foreign keys", &i.foreign_keys);
    if let Some(why) = i.not_checked.get("clock") {
        let _ = writeln!(out, "clock:\n  not checked: {why}");
    }
    if let Some(c) = &i.clock {
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
    section(&mut out, "indexes", "indexes", &i.indexes);
    let _ = writeln!(
        out,
        "result: {} error(s), {} warning(s){}",
        i.count(Level::Error),
        i.count(Level::Warning),
        if i.count(Level::Error) > 0 {
            ": `plan` and `run` refuse to start until the errors are fixed"
        } else {
            ""
        }
    );
    out
}

/// A section as JSON: its findings, or `{"not_checked": why}` when its check could not run
/// (never `[]`, which means "ok").
fn checked<T: serde::Serialize>(i: &Inspected, key: &str, value: T) -> serde_json::Value {
    match i.not_checked.get(key) {
        Some(why) => json!({ "not_checked": why }),
        None => json!(value),
    }
}

pub fn json(i: &Inspected, s: &Settings) -> serde_json::Value {
    json!({
        "command": "doctor",
        "backend": s.backend.name(),
        "preset": s.preset,
        "configuration": s.effective,
        "schema": i.schema,
        "guards": checked(i, "guards", &i.guards),
        "activity": checked(i, "activity", &i.activity),
        "storage": storage(i, s),
        "delete_order": checked(i, "delete_order", i.delete_order(s)),
        "foreign_keys": checked(i, "foreign_keys", &i.foreign_keys),
        "clock": checked(i, "clock", i.clock.as_ref().map(|c| json!({
            "database": c.database_clock,
            "local": c.local_clock,
            "skew_secs": c.skew_secs,
            "time_zone": c.time_zone,
            "findings": c.findings,
        }))),
        "indexes": checked(i, "indexes", &i.indexes),
        "not_checked": i.not_checked,
        "errors": i.count(Level::Error),
        "warnings": i.count(Level::Warning),
    })
}
