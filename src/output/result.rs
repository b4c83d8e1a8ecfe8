//! The one result of the pipeline that the printed report, the hooks and the exit code read.

use crate::config::settings::Settings;
use crate::error::{exit, exit_code_for};
use crate::exec::batches::{RunOutcome, StopKind};
use crate::exec::list::ListWritten;
use crate::exec::replicas::Watched;
use crate::exec::stats::PlanStats;
use crate::plan::Plan;

/// What a dry run found about the side effects it did not perform.
#[derive(Clone, Debug, Default)]
pub struct Intent {
    /// The lock the run would take, and whether it is free now.
    pub lock: Option<String>,
    /// Where the run would archive.
    pub archive: Option<String>,
    /// Where the run would append its audit lines.
    pub audit_log: Option<String>,
    /// The database's plan for the eligibility count (`--explain`).
    pub explain: Option<Vec<String>>,
    /// The list of eligible users the dry run wrote (`--list`).
    pub list: Option<ListWritten>,
    /// `--max-replica-lag`: the replicas the run would watch, and their lag now.
    pub replicas: Option<Watched>,
    /// How a transaction-mode connection pooler showed itself, if one did.
    pub pooler: Option<String>,
}

/// The one result the report, the hooks and the exit code read.
pub struct Report {
    pub settings: Settings,
    pub plan: Plan,
    pub notes: Vec<String>,
    /// The counts before the first batch (the dry run's answer).
    pub before: PlanStats,
    pub run_id: String,
    pub elapsed: f64,
    /// `Some` for a run that reached its batches.
    pub outcome: Option<RunOutcome>,
    /// A dry run's description of what it did not do.
    pub intent: Option<Intent>,
    /// A dry run: the first refusal the run would have made (same error, same exit code).
    pub refusal: Option<anyhow::Error>,
}

impl Report {
    /// The process exit code, computed here only.
    pub fn exit_code(&self) -> i32 {
        if let Some(e) = &self.refusal {
            return exit_code_for(e);
        }
        match &self.outcome {
            None => exit::OK,
            Some(o) => outcome_code(o),
        }
    }
}

/// The exit code of a run that got to its batches.
fn outcome_code(o: &RunOutcome) -> i32 {
    if o.aborted {
        return if o.deleted_users > 0 {
            exit::ABORTED
        } else {
            exit::ERROR
        };
    }
    match o.stop_kind {
        Some(StopKind::LockLost) => exit::LOCK_LOST,
        Some(StopKind::Signal | StopKind::MaxRuntime | StopKind::StopFile) => exit::STOPPED,
        Some(StopKind::MaxLagWait) => exit::REPLICA_LAG,
        _ if !o.failed.is_empty() => exit::PARTIAL,
        None | Some(StopKind::MaxPerRun) => exit::OK,
    }
}

/// The exit code of a pipeline result (a report, or the error that stopped it).
pub fn exit_code(result: &anyhow::Result<Report>) -> i32 {
    match result {
        Ok(r) => r.exit_code(),
        Err(e) => exit_code_for(e),
    }
}
