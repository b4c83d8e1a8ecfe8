//! Why a run stopped early on purpose: shared by the batch loop and its workers.

use serde::Serialize;

/// Why a run stopped early on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopKind {
    /// SIGINT or SIGTERM.
    Signal,
    /// `--max-runtime` reached.
    MaxRuntime,
    /// The lock was lost.
    LockLost,
    /// The `--stop-file` appeared.
    StopFile,
    /// `--max-per-run` users were deleted (the rest wait for the next run; not a failure).
    MaxPerRun,
    /// A replica lagged more than `--max-replica-lag` for longer than `--max-lag-wait`.
    MaxLagWait,
}
