//! The dry run: counts, a sample and the server clock (and `plan --list`), read in one
//! read-only snapshot.

use serde::Serialize;

use crate::plan::Plan;
use crate::sql::conn::{Conn, Values};
use crate::sql::dialect::Backend;

/// What `plan` found.
#[derive(Clone, Debug, Serialize)]
pub struct PlanStats {
    pub server_clock: Option<String>,
    pub total_anonymous: u64,
    pub eligible: u64,
    /// Rows that would go from each table, in delete order (users last).
    pub rows: Vec<(String, u64)>,
    /// Users each `[[keep_if]]` guard keeps (the dry run counts them).
    pub guarded: Vec<(String, u64)>,
    pub sample: Vec<String>,
}

/// Reads the plan's counts without changing anything.
pub fn collect(
    conn: &mut Conn,
    plan: &Plan,
    values: Values,
    sample: usize,
    per_table: bool,
) -> anyhow::Result<PlanStats> {
    collect_then(conn, plan, values, sample, per_table, |_, _| Ok(())).map(|(stats, ())| stats)
}

/// Reads the plan's counts, then runs `then` in the same read-only snapshot (`plan --list`).
pub fn collect_then<T>(
    conn: &mut Conn,
    plan: &Plan,
    values: Values,
    sample: usize,
    per_table: bool,
    then: impl FnOnce(&mut Conn, &PlanStats) -> anyhow::Result<T>,
) -> anyhow::Result<(PlanStats, T)> {
    let begin: &[&str] = match conn.backend() {
        Backend::Postgres => &["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"],
        Backend::Sqlite => &["PRAGMA query_only = ON", "BEGIN"],
        // One consistent snapshot for every count (the session default is READ COMMITTED).
        Backend::Mysql => &[
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
        ],
    };
    for b in begin {
        conn.batch_execute(b)?;
    }
    let result = read(conn, plan, values, sample, per_table)
        .and_then(|stats| then(conn, &stats).map(|t| (stats, t)));
    let _ = conn.batch_execute("ROLLBACK");
    if conn.backend() == Backend::Sqlite {
        let _ = conn.batch_execute("PRAGMA query_only = OFF");
    }
    result
}

/// `per_table`: also count the rows each table would lose (the dry run shows them; `run` counts
/// what it deletes instead, and skips these scans).
fn read(
    conn: &mut Conn,
    plan: &Plan,
    values: Values,
    sample: usize,
    per_table: bool,
) -> anyhow::Result<PlanStats> {
    let server_clock = conn.server_clock()?;
    let total_anonymous = conn.count(&plan.count_anonymous, values)?;
    let eligible = conn.count(&plan.count_eligible, values)?;
    let mut rows = Vec::new();
    for c in plan.count_rows.iter().filter(|_| per_table) {
        rows.push((c.table.clone(), conn.count(&c.stmt, values)?));
    }
    let mut guarded = Vec::new();
    for g in plan.count_guarded.iter().filter(|_| per_table) {
        guarded.push((g.table.clone(), conn.count(&g.stmt, values)?));
    }
    if let Some(users) = plan.deletes.last() {
        rows.push((users.table.clone(), eligible));
    }
    let sample = if sample > 0 {
        conn.ids(
            &plan.sample,
            Values {
                limit: sample as i64,
                ..values
            },
        )?
    } else {
        Vec::new()
    };
    Ok(PlanStats {
        server_clock,
        total_anonymous,
        eligible,
        rows,
        guarded,
        sample,
    })
}
