//! The dry run: counts, a sample and the server clock (and `plan --list`), read in one
//! read-only snapshot.

use std::sync::Arc;

use serde::Serialize;

use crate::exec::idlist::IdList;
use crate::plan::Plan;
use crate::sql::conn::{Conn, Values};
use crate::sql::dialect::Backend;

/// What `plan` found.
#[derive(Clone, Debug, Serialize)]
pub struct PlanStats {
    pub server_clock: Option<String>,
    /// `None` when not counted: a run counts them only for its `max_fraction` cap.
    pub total_anonymous: Option<u64>,
    pub eligible: u64,
    /// Rows that would go from each table, in delete order (users last).
    pub rows: Vec<(String, u64)>,
    /// Users each `[[keep_if]]` guard keeps (the dry run counts them).
    pub guarded: Vec<(String, u64)>,
    pub sample: Vec<String>,
    /// A run's count that listed the eligible users ([`Counts::Listed`]): the users its
    /// batches take.
    #[serde(skip)]
    pub listed: Option<Listing>,
}

/// Where a run's count listed the eligible users.
#[derive(Clone, Debug)]
pub enum Listing {
    /// Their ids, on the client: PostgreSQL at most [`LISTED_MAX`](crate::plan::LISTED_MAX), in
    /// memory; MySQL every one, in a temporary file past [`LISTED_IN_MEMORY`](crate::plan::LISTED_IN_MEMORY).
    Ids(Arc<IdList>),
    /// In the plan's list table on the run's connection (SQLite, every eligible user): how many,
    /// and the database's change counter in the count's snapshot.
    Table { listed: u64, version: u64 },
}

impl Listing {
    /// How many users were listed.
    pub fn count(&self) -> u64 {
        match self {
            Listing::Ids(ids) => ids.len() as u64,
            Listing::Table { listed, .. } => *listed,
        }
    }

    /// The ids, when the client holds them.
    pub fn ids(&self) -> Option<&Arc<IdList>> {
        match self {
            Listing::Ids(ids) => Some(ids),
            Listing::Table { .. } => None,
        }
    }
}

/// How the eligible users are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counts {
    /// `plan`: with the rows each table would lose, in one pass.
    PerTable,
    /// A run with one worker: their ids, when few enough (else the count); on MySQL every
    /// eligible user's id, into the run's list; on SQLite every one, into the plan's list table.
    Listed,
    /// The count alone.
    Total,
}

/// Reads the plan's counts (the anonymous users too when `anonymous`), then runs `then` in the
/// same read-only snapshot (`plan --list`).
/// On SQLite a run's count writes its list table, and only that: the snapshot is not read-only
/// then, and commits (the list table is the connection's own temporary storage; the database's
/// write lock is never taken).
pub fn collect_then<T>(
    conn: &mut Conn,
    plan: &Plan,
    values: Values,
    sample: usize,
    counts: Counts,
    anonymous: bool,
    then: impl FnOnce(&mut Conn, &PlanStats) -> anyhow::Result<T>,
) -> anyhow::Result<(PlanStats, T)> {
    let fills_table = counts == Counts::Listed && plan.listed_table.is_some();
    let begin: &[&str] = match conn.backend() {
        Backend::Postgres => &["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"],
        Backend::Sqlite if fills_table => &["BEGIN"],
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
    let result = read(conn, plan, values, sample, counts, anonymous)
        .and_then(|stats| then(conn, &stats).map(|t| (stats, t)));
    if fills_table && result.is_ok() {
        // Keeps the list table (nothing else was written).
        conn.batch_execute("COMMIT")?;
    } else {
        let _ = conn.batch_execute("ROLLBACK");
    }
    if conn.backend() == Backend::Sqlite && !fills_table {
        let _ = conn.batch_execute("PRAGMA query_only = OFF");
    }
    result
}

/// `Counts::PerTable`: also count the rows each table would lose (the dry run shows them; `run`
/// counts what it deletes instead, and skips these scans).
fn read(
    conn: &mut Conn,
    plan: &Plan,
    values: Values,
    sample: usize,
    counts: Counts,
    anonymous: bool,
) -> anyhow::Result<PlanStats> {
    let per_table = counts == Counts::PerTable;
    let mut listed = None;
    let server_clock = conn.server_clock()?;
    let total_anonymous = if anonymous {
        Some(conn.count(&plan.count_anonymous, values)?)
    } else {
        None
    };
    let mut rows = Vec::new();
    let eligible = if per_table {
        // One pass: the eligible users, then each table's rows.
        let t = conn.text_of(&plan.count_plan, values)?.unwrap_or_default();
        let mut fields = t.split('|').map(|f| f.trim().parse::<u64>().unwrap_or(0));
        let eligible = fields.next().unwrap_or(0);
        for (table, n) in plan.count_tables.iter().zip(fields) {
            rows.push((table.clone(), n));
        }
        eligible
    } else if let (Counts::Listed, Some(table)) = (counts, &plan.listed_table) {
        for s in &table.setup {
            conn.execute(s, values)?;
        }
        let n = conn.execute(&table.fill, values)? as u64;
        let version = conn.count(&table.version, values)?;
        listed = Some(Listing::Table { listed: n, version });
        n
    } else if let (Counts::Listed, Some(stmts)) = (counts, &plan.listed) {
        let max = crate::plan::LISTED_MAX;
        let limit = Values {
            limit: (max + 1) as i64,
            ..values
        };
        let mut ids = if stmts.all {
            IdList::default()
        } else {
            IdList::with_memory(usize::MAX)
        };
        conn.for_each_id(&stmts.candidates, limit, |id| ids.push(id))?;
        ids.finish()?;
        if stmts.all || ids.len() as u64 <= max {
            let n = ids.len() as u64;
            listed = Some(Listing::Ids(Arc::new(ids)));
            n
        } else {
            conn.count(&plan.count_eligible, values)?
        }
    } else {
        conn.count(&plan.count_eligible, values)?
    };
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
        listed,
    })
}

/// Where every user eligible at the start of a run went, so the summary adds up:
/// `eligible_at_start + became_eligible = deleted + kept_changed + failed + gone_before_batch +
/// not_reached`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Accounting {
    pub eligible_at_start: u64,
    pub deleted: u64,
    /// Picked, but active or registered again when their batch re-checked them (kept).
    pub kept_changed: u64,
    /// Could not be deleted (each is reported); still in the database.
    pub failed: u64,
    /// Eligible at the start, gone before their batch reached them: deleted by someone else
    /// meanwhile (another cleanup, the application).
    pub gone_before_batch: u64,
    /// Still eligible when the run ended (it stopped early, or a cap or `--max-per-run` held
    /// it back): the next run takes them.
    pub not_reached: u64,
    /// Not eligible at the start but eligible by the end (e.g. their sessions were removed).
    pub became_eligible: u64,
}

impl Accounting {
    /// The balance, from the count at the start, what the batches did, and the count of users
    /// still eligible at the end (failed users are among them: they were kept).
    pub fn balance(
        eligible_at_start: u64,
        deleted: u64,
        kept_changed: u64,
        failed: u64,
        eligible_at_end: u64,
    ) -> Accounting {
        let not_reached = eligible_at_end.saturating_sub(failed);
        let rest = eligible_at_start as i128
            - deleted as i128
            - kept_changed as i128
            - failed as i128
            - not_reached as i128;
        Accounting {
            eligible_at_start,
            deleted,
            kept_changed,
            failed,
            gone_before_batch: rest.max(0) as u64,
            not_reached,
            became_eligible: (-rest).max(0) as u64,
        }
    }
}

impl Accounting {
    /// The balance of a run whose batches took only the users its count listed, from what
    /// became of those users: `existing` of them are still there, `eligible_at_end` of those
    /// still eligible. Exact: the listed users gone that the run did not delete were deleted by
    /// someone else; those still there and no longer eligible were kept because they changed
    /// (before their batch, or when it re-checked them); nobody became eligible for this run.
    pub fn listed(
        eligible_at_start: u64,
        deleted: u64,
        kept_changed: u64,
        failed: u64,
        existing: u64,
        eligible_at_end: u64,
    ) -> Accounting {
        let eligible_at_end = eligible_at_end.min(existing);
        Accounting {
            eligible_at_start,
            deleted,
            kept_changed: kept_changed.max(existing - eligible_at_end),
            failed,
            gone_before_batch: eligible_at_start.saturating_sub(deleted + existing),
            not_reached: eligible_at_end.saturating_sub(failed),
            became_eligible: 0,
        }
    }
}

/// A JSON array of ids as text: how statements over listed users bind them.
pub fn ids_json(ids: &[String]) -> String {
    serde_json::to_string(ids).expect("a list of strings is JSON")
}

/// Counts the users still eligible after the batches (the plan's own eligibility count, or,
/// when the run listed its users, how many of those are still eligible; nothing when its
/// batches deleted every listed user) and balances the run's numbers against the count at the
/// start.
#[allow(clippy::too_many_arguments)]
pub fn account(
    conn: &mut Conn,
    plan: &Plan,
    values: Values,
    eligible_at_start: u64,
    deleted: u64,
    kept_changed: u64,
    failed: u64,
    listed: Option<&Listing>,
) -> anyhow::Result<Accounting> {
    if let Some(listing) = listed {
        // The batches take listed users only: when they deleted every one, none is left to
        // count, and the count would only confirm (0, 0).
        if deleted == listing.count() {
            return Ok(Accounting::listed(
                eligible_at_start,
                deleted,
                kept_changed,
                failed,
                0,
                0,
            ));
        }
        let parse = |t: Option<String>| -> anyhow::Result<(u64, u64)> {
            let t = t.unwrap_or_default();
            let mut f = t.split('|').map(|n| n.trim().parse::<u64>());
            match (f.next(), f.next()) {
                (Some(Ok(existing)), Some(Ok(at_end))) => Ok((existing, at_end)),
                _ => anyhow::bail!("the count of the listed users came back as {t:?}"),
            }
        };
        let (existing, at_end) = match (listing, &plan.listed_table, &plan.listed) {
            (Listing::Table { .. }, Some(table), _) => parse(conn.text_of(&table.count, values)?)?,
            (Listing::Ids(ids), _, Some(stmts)) => {
                let (mut existing, mut at_end) = (0, 0);
                let mut start = 0;
                while start < ids.len() {
                    let chunk = ids.slice(start, start + crate::plan::LISTED_COUNT_CHUNK)?;
                    let (e, a) = parse(conn.text_in(&stmts.count, values, &ids_json(&chunk))?)?;
                    existing += e;
                    at_end += a;
                    start += crate::plan::LISTED_COUNT_CHUNK;
                }
                (existing, at_end)
            }
            _ => anyhow::bail!("the plan has no statements for the run's list of users"),
        };
        return Ok(Accounting::listed(
            eligible_at_start,
            deleted,
            kept_changed,
            failed,
            existing,
            at_end,
        ));
    }
    let at_end = conn.count(&plan.count_eligible, values)?;
    Ok(Accounting::balance(
        eligible_at_start,
        deleted,
        kept_changed,
        failed,
        at_end,
    ))
}

#[cfg(test)]
mod tests {
    use super::Accounting;

    #[test]
    fn the_balance_adds_up() {
        // Another process deleted 1914 of 3914 while this run deleted 2000.
        let a = Accounting::balance(3914, 2000, 0, 0, 0);
        assert_eq!(
            (a.gone_before_batch, a.not_reached, a.became_eligible),
            (1914, 0, 0)
        );
        // Stopped early: 500 still eligible, 2 of them failed.
        let a = Accounting::balance(1000, 490, 8, 2, 502);
        assert_eq!(
            (a.gone_before_batch, a.not_reached, a.became_eligible),
            (0, 500, 0)
        );
        // More deleted than were eligible at the start.
        let a = Accounting::balance(100, 103, 0, 0, 0);
        assert_eq!((a.gone_before_batch, a.became_eligible), (0, 3));
    }

    #[test]
    fn the_listed_balance_is_exact() {
        // 200 listed: 140 deleted, 50 deleted by someone else, 6 became active (2 of them when
        // their batch re-checked them), 1 failed, 3 not reached.
        let a = Accounting::listed(200, 140, 2, 1, 10, 4);
        assert_eq!(
            (
                a.kept_changed,
                a.gone_before_batch,
                a.not_reached,
                a.became_eligible
            ),
            (6, 50, 3, 0)
        );
        let total = a.deleted + a.kept_changed + a.failed + a.gone_before_batch + a.not_reached;
        assert_eq!(total, a.eligible_at_start);
    }
}
