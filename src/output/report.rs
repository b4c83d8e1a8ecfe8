//! The summaries the seed asks for, as text for people or JSON for machines.

use std::fmt::Write;

use serde_json::json;

use crate::config::settings::fmt_time;
use crate::config::settings::{OutputFormat, Settings};
use crate::exec::batches::RunOutcome;
use crate::exec::replicas::fmt_duration;
use crate::exec::stats::PlanStats;
use crate::output::result::Report;

fn header(s: &Settings, command: &str, out: &mut String) {
    let db = s.database_shown();
    let _ = writeln!(
        out,
        "anonsweep {command}: {} ({}), preset {}",
        db,
        s.backend.name(),
        s.preset
    );
    let _ = writeln!(out, "  as-of                {}", fmt_time(s.as_of));
    let _ = writeln!(
        out,
        "  cutoff               {} (retention {} days)",
        fmt_time(s.cutoff),
        s.retention_days
    );
}

/// What shows activity, when it is not the sessions alone.
fn rule_line(s: &Settings, out: &mut String) {
    let sc = &s.schema;
    let mut signals = Vec::new();
    if sc.sessions_show_activity {
        signals.push(format!("{} rows", sc.sessions));
    }
    signals.extend(
        sc.users_activity
            .iter()
            .map(|c| format!("{}.{c}", sc.users)),
    );
    if signals.is_empty() {
        let _ = writeln!(
            out,
            "  rule                 age only (age_only = true): no activity signal is read"
        );
    } else if sc.age_only {
        let _ = writeln!(
            out,
            "  rule                 age_only = true: an empty or stale {} is accepted, guests may go by age alone",
            sc.sessions
        );
    } else if !sc.users_activity.is_empty() || !sc.sessions_show_activity {
        let _ = writeln!(out, "  activity from        {}", signals.join(", "));
    }
}

/// The anonymous users as the text summaries show them (a run counts them only for its
/// `max_fraction` cap).
fn anonymous(stats: &PlanStats) -> String {
    stats.total_anonymous.map_or_else(
        || "not counted (only max_fraction needs them; `anonsweep plan` shows them)".into(),
        |n| n.to_string(),
    )
}

/// Text summary of a dry run.
pub fn plan_text(s: &Settings, stats: &PlanStats, notes: &[String], elapsed: f64) -> String {
    let mut out = String::new();
    header(s, "plan (dry run, nothing changed)", &mut out);
    let _ = writeln!(
        out,
        "  database clock       {}",
        stats.server_clock.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(out, "  anonymous users      {}", anonymous(stats));
    let _ = writeln!(out, "  eligible             {}", stats.eligible);
    let _ = writeln!(out, "  would delete rows:");
    for (t, n) in &stats.rows {
        let _ = writeln!(out, "    {t:<18} {n}");
    }
    for (t, n) in &stats.guarded {
        let _ = writeln!(out, "  kept by guard `{t}`: {n}");
    }
    rule_line(s, &mut out);
    if !stats.sample.is_empty() {
        let _ = writeln!(out, "  sample of eligible ids: {}", stats.sample.join(", "));
    }
    for n in notes {
        let _ = writeln!(out, "  note: {n}");
    }
    let _ = writeln!(out, "  duration             {elapsed:.2}s");
    out
}

/// JSON summary of a dry run.
pub fn plan_json(
    s: &Settings,
    stats: &PlanStats,
    notes: &[String],
    sql: &str,
    elapsed: f64,
) -> serde_json::Value {
    json!({
        "command": "plan",
        "backend": s.backend.name(),
        "preset": s.preset,
        "as_of": fmt_time(s.as_of),
        "cutoff": fmt_time(s.cutoff),
        "retention_days": s.retention_days,
        "database_clock": stats.server_clock,
        "total_anonymous": stats.total_anonymous,
        "eligible": stats.eligible,
        "rows": stats.rows.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>(),
        "kept_by_guard": stats.guarded.iter().map(|(t, n)| json!({"table": t, "users": n})).collect::<Vec<_>>(),
        "sample": stats.sample,
        "notes": notes,
        "sql": sql,
        "duration_seconds": elapsed,
        "settings": s.effective,
    })
}

/// Text summary of a run.
pub fn run_text(
    s: &Settings,
    before: &PlanStats,
    o: &RunOutcome,
    run_id: &str,
    elapsed: f64,
) -> String {
    let mut out = String::new();
    header(s, "run", &mut out);
    let _ = writeln!(out, "  run id               {run_id}");
    let _ = writeln!(out, "  anonymous users      {}", anonymous(before));
    let _ = writeln!(out, "  eligible             {}", before.eligible);
    let _ = writeln!(out, "  deleted users        {}", o.deleted_users);
    let _ = writeln!(out, "  deleted rows:");
    for (t, n) in &o.deleted_rows {
        let _ = writeln!(out, "    {t:<18} {n}");
    }
    rule_line(s, &mut out);
    let _ = writeln!(out, "  kept (changed)       {}", o.kept_changed);
    let _ = writeln!(out, "  failed               {}", o.failed.len());
    for f in &o.failed {
        let _ = writeln!(out, "    user {}: {}", f.user_id, f.error);
    }
    match &o.accounting {
        Some(a) => {
            let _ = writeln!(
                out,
                "  gone before batch    {} (eligible at the start, deleted by someone else meanwhile)",
                a.gone_before_batch
            );
            let _ = writeln!(
                out,
                "  not reached          {} (still eligible: the next run takes them)",
                a.not_reached
            );
            if a.became_eligible > 0 {
                let _ = writeln!(
                    out,
                    "  became eligible      {} (during the run)",
                    a.became_eligible
                );
            }
        }
        None => {
            let _ = writeln!(
                out,
                "  not reached          not counted (the count after the run failed)"
            );
        }
    }
    let sizes = match (o.batches, o.batch_size_min == o.batch_size_max) {
        (0, _) => String::new(),
        (_, true) => format!(" of {} users", o.batch_size_max),
        (_, false) => format!(" of {} to {} users", o.batch_size_min, o.batch_size_max),
    };
    let _ = writeln!(
        out,
        "  batches              {}{sizes} (longest {:.1} ms, p99 {:.1} ms)",
        o.batches, o.max_batch_ms, o.p99_batch_ms
    );
    if o.workers > 1 {
        let _ = writeln!(out, "  workers              {}", o.workers);
    }
    if o.deadlock_retries > 0 {
        let _ = writeln!(
            out,
            "  deadlock retries     {} (batches rolled back by a deadlock or lock wait, then run again)",
            o.deadlock_retries
        );
    }
    if o.paused_seconds > 0.0 {
        let _ = writeln!(
            out,
            "  paused               {:.2}s between batches",
            o.paused_seconds
        );
    }
    if let Some(w) = o.lag_waited_seconds {
        let _ = writeln!(
            out,
            "  waited for replicas  {w:.2}s ({} {} for a replica lagging more than --max-replica-lag)",
            o.lag_waits,
            if o.lag_waits == 1 { "wait" } else { "waits" }
        );
    }
    if let Some(a) = &o.archive {
        let _ = writeln!(out, "  archive              {a}");
    }
    if let Some(p) = &o.pooler {
        let _ = writeln!(out, "  pooler               transaction-mode ({p})");
    }
    if let Some(stop) = &o.stopped {
        let _ = writeln!(out, "  stopped early        {stop}");
    }
    let _ = writeln!(out, "  duration             {elapsed:.2}s");
    out
}

/// JSON summary of a run.
pub fn run_json(
    s: &Settings,
    before: &PlanStats,
    o: &RunOutcome,
    run_id: &str,
    elapsed: f64,
) -> serde_json::Value {
    json!({
        "command": "run",
        "run_id": run_id,
        "backend": s.backend.name(),
        "preset": s.preset,
        "as_of": fmt_time(s.as_of),
        "cutoff": fmt_time(s.cutoff),
        "retention_days": s.retention_days,
        "total_anonymous": before.total_anonymous,
        "eligible": before.eligible,
        "deleted_users": o.deleted_users,
        "deleted_rows": o.deleted_rows.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>(),
        "kept_changed": o.kept_changed,
        "failed": o.failed,
        "accounting": o.accounting,
        "batches": o.batches,
        "batch_size_min": o.batch_size_min,
        "batch_size_max": o.batch_size_max,
        "paused_seconds": o.paused_seconds,
        "replica_lag_waited_seconds": o.lag_waited_seconds,
        "replica_lag_waits": o.lag_waits,
        "stop_kind": o.stop_kind,
        "retries": o.retries,
        "deadlock_retries": o.deadlock_retries,
        "workers": o.workers,
        "users_listed": o.users_listed,
        "max_batch_ms": o.max_batch_ms,
        "p99_batch_ms": o.p99_batch_ms,
        "stopped": o.stopped,
        "archive": o.archive,
        "pooler": o.pooler,
        "duration_seconds": elapsed,
    })
}

/// Prints a pipeline report: the dry run's plan (counts, what it would do, the SQL) or the
/// run's summary, as text or JSON on stdout; a dry run's refusal goes to stderr, worded as
/// `run` words it.
pub fn print(r: &Report) {
    let s = &r.settings;
    match (&r.outcome, &r.intent) {
        (Some(o), _) => match s.format {
            OutputFormat::Text => print!("{}", run_text(s, &r.before, o, &r.run_id, r.elapsed)),
            OutputFormat::Json => {
                println!("{}", run_json(s, &r.before, o, &r.run_id, r.elapsed))
            }
        },
        (None, intent) => {
            let intent = intent.clone().unwrap_or_default();
            let sql = r.plan.overview(s);
            match s.format {
                OutputFormat::Text => {
                    print!("{}", plan_text(s, &r.before, &r.notes, r.elapsed));
                    for (what, v) in [
                        ("lock", &intent.lock),
                        ("archive", &intent.archive),
                        ("audit log", &intent.audit_log),
                    ] {
                        if let Some(v) = v {
                            println!("  would use {what:<10} {v}");
                        }
                    }
                    if let Some(w) = &intent.replicas {
                        let d = |s: f64| fmt_duration(std::time::Duration::from_secs_f64(s));
                        println!(
                            "  would watch replicas {} (wait while one lags more than {}, at most {} per wait)",
                            w.source,
                            d(w.max_lag_seconds),
                            d(w.max_wait_seconds)
                        );
                        if w.replicas.is_empty() {
                            println!("    none connected now");
                        }
                        for l in &w.replicas {
                            let lag = match l.lag_seconds {
                                Some(s) => format!("lag {s:.1}s"),
                                None => "lag unknown".into(),
                            };
                            let verdict = if l.lagging { "LAGGING" } else { "ok" };
                            println!("    {}: {lag}, {verdict} ({})", l.replica, l.detail);
                        }
                    }
                    if let Some(l) = &intent.list {
                        println!(
                            "  list                 {} users written to {} ({})",
                            l.users,
                            l.path,
                            l.format.name()
                        );
                    }
                    if let Some(p) = &intent.pooler {
                        println!("  pooler               transaction-mode ({p})");
                    }
                    if let Some(e) = &r.refusal {
                        println!("  run would refuse     {}", crate::error::one_line(e));
                    }
                    if let Some(lines) = &intent.explain {
                        println!("\n-- The database's plan for the eligibility query:");
                        for l in lines {
                            println!("-- {l}");
                        }
                    }
                    println!("\n{sql}");
                }
                OutputFormat::Json => {
                    let mut j = plan_json(s, &r.before, &r.notes, &sql, r.elapsed);
                    j["lock"] = json!(intent.lock);
                    j["archive"] = json!(intent.archive);
                    j["audit_log"] = json!(intent.audit_log);
                    j["list"] = json!(intent.list);
                    j["replicas"] = json!(intent.replicas);
                    j["pooler"] = json!(intent.pooler);
                    j["refusal"] = json!(r.refusal.as_ref().map(crate::error::one_line));
                    j["exit_code"] = json!(r.exit_code());
                    if let Some(lines) = &intent.explain {
                        j["explain"] = json!(lines);
                    }
                    println!("{j}");
                }
            }
            if let Some(e) = &r.refusal {
                eprintln!("anonsweep: error: {}", crate::error::one_line(e));
            }
        }
    }
}
