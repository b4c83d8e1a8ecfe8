//! Error kinds that map to the documented exit codes, and secret redaction for every message.

use std::sync::{Mutex, OnceLock};

/// Exit codes, documented in docs/exit-codes.md.
pub mod exit {
    /// Everything eligible was deleted (or the command finished).
    pub const OK: i32 = 0;
    /// An error stopped the command before anything was deleted.
    pub const ERROR: i32 = 1;
    /// Bad usage or configuration: nothing was touched.
    pub const USAGE: i32 = 2;
    /// The run finished, but some users could not be deleted (each is reported).
    pub const PARTIAL: i32 = 3;
    /// A safety cap (or a future --as-of) stopped `run` before it deleted anything.
    pub const CAPPED: i32 = 4;
    /// An error stopped the run after some batches had already committed.
    pub const ABORTED: i32 = 5;
    /// SIGINT/SIGTERM, `--max-runtime` or the `--stop-file` stopped the run after a batch (the
    /// rest are kept). `--max-per-run` is not a stop: it exits 0.
    pub const STOPPED: i32 = 6;
    /// The lock was lost during the run: it stopped after the batch in flight.
    pub const LOCK_LOST: i32 = 7;
    /// A replica lagged more than `--max-replica-lag` for longer than `--max-lag-wait`: the run
    /// stopped between batches (the rest are kept).
    pub const REPLICA_LAG: i32 = 8;
    /// Another instance holds the lock: nothing was done (EX_TEMPFAIL).
    pub const LOCKED: i32 = 75;
}

/// A usage or configuration mistake (exit code 2). The message names the problem and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Builds a usage error as an `anyhow::Error`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

/// A safety cap refused the run (exit code 4). The message gives the numbers; `eligible` is the
/// plan's count when it was known.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CapError {
    pub message: String,
    pub eligible: Option<u64>,
}

/// Another instance holds the run lock (exit code 75).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LockHeld(pub String);

/// Builds a cap error as an `anyhow::Error`.
pub fn capped(msg: impl Into<String>, eligible: Option<u64>) -> anyhow::Error {
    anyhow::Error::new(CapError {
        message: msg.into(),
        eligible,
    })
}

/// The exit code an error maps to.
pub fn exit_code_for(err: &anyhow::Error) -> i32 {
    if err.downcast_ref::<UsageError>().is_some() {
        exit::USAGE
    } else if err.downcast_ref::<CapError>().is_some() {
        exit::CAPPED
    } else if err.downcast_ref::<LockHeld>().is_some() {
        exit::LOCKED
    } else {
        exit::ERROR
    }
}

fn secrets() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Registers a secret (a password) that must never appear in any output.
pub fn register_secret(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let mut all = secrets().lock().unwrap_or_else(|e| e.into_inner());
    if !all.iter().any(|s| s == secret) {
        all.push(secret.to_string());
        // Longest first, so a secret that contains another is replaced whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Replaces every registered secret in `text` with `***`.
pub fn redact(text: &str) -> String {
    let all = secrets().lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for s in all.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// One line for an error chain: `outer: inner: root`, secrets removed, newlines folded.
pub fn one_line(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    let folded: Vec<&str> = text
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    redact(&folded.join(" "))
}
