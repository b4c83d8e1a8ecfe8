//! Each numeric setting defined once: its file key (also its flag's clap id and its name in
//! `doctor`), flag, environment variable, help, range, fallback and example. The clap flags,
//! the environment lookups, the config file lookup and the resolver all read these.

use crate::config::file::ConfigFile;
use crate::config::origin::Origin;
use crate::error::usage;

/// What values a setting takes.
pub enum Range {
    /// A whole number in `min..=max`.
    Whole { min: u64, max: u64 },
    /// A share, from 0 to 1.
    Share,
}

/// The value when nothing sets it.
pub enum Fallback {
    Value(&'static str),
    /// The backend's default batch size.
    BackendBatchSize,
    /// Off (a cap that is not set).
    Off,
}

/// One setting.
pub struct Def {
    /// The config file key, the flag's clap id and the name `doctor` shows.
    pub key: &'static str,
    pub flag: &'static str,
    pub env: &'static str,
    /// What it is, in error messages.
    pub what: &'static str,
    pub help: &'static str,
    pub range: Range,
    pub fallback: Fallback,
    /// How an error message suggests setting it.
    pub example: &'static str,
    /// Its value in the config file.
    pub file: fn(&ConfigFile) -> Option<&toml::Value>,
}

pub const RETENTION_DAYS: Def = Def {
    key: "retention_days",
    flag: "--retention-days",
    env: "ANONSWEEP_RETENTION_DAYS",
    what: "retention days",
    help: "Days without activity after which an anonymous user is abandoned (whole number, 1..=36500; default 30).",
    range: Range::Whole { min: 1, max: 36_500 },
    fallback: Fallback::Value("30"),
    example: "--retention-days 30",
    file: |f| f.retention_days.as_ref(),
};

pub const BATCH_SIZE: Def = Def {
    key: "batch_size",
    flag: "--batch-size",
    env: "ANONSWEEP_BATCH_SIZE",
    what: "batch size",
    help: "Users per batch transaction (1..=100000; default 5000 on PostgreSQL, 2000 on MySQL/MariaDB, 1000 on SQLite).",
    range: Range::Whole { min: 1, max: 100_000 },
    fallback: Fallback::BackendBatchSize,
    example: "--batch-size 1000",
    file: |f| f.batch_size.as_ref(),
};

pub const LOCK_TIMEOUT_MS: Def = Def {
    key: "lock_timeout_ms",
    flag: "--lock-timeout-ms",
    env: "ANONSWEEP_LOCK_TIMEOUT_MS",
    what: "lock timeout (ms)",
    help: "Give up waiting for a row lock after this many milliseconds (PostgreSQL lock_timeout, SQLite busy timeout; default 5000).",
    range: Range::Whole { min: 1, max: 3_600_000 },
    fallback: Fallback::Value("5000"),
    example: "--lock-timeout-ms 5000",
    file: |f| f.lock_timeout_ms.as_ref(),
};

pub const MAX_FAILURES: Def = Def {
    key: "max_failures",
    flag: "--max-failures",
    env: "ANONSWEEP_MAX_FAILURES",
    what: "max failures",
    help: "Stop after this many users failed to delete (default 100).",
    range: Range::Whole {
        min: 1,
        max: u32::MAX as u64,
    },
    fallback: Fallback::Value("100"),
    example: "--max-failures 100",
    file: |f| f.max_failures.as_ref(),
};

pub const MAX_DELETIONS: Def = Def {
    key: "max_deletions",
    flag: "--max-deletions",
    env: "ANONSWEEP_MAX_DELETIONS",
    what: "max deletions",
    help: "Safety cap: delete nothing (exit 4) when more than N users are eligible.",
    range: Range::Whole {
        min: 0,
        max: u64::MAX >> 1,
    },
    fallback: Fallback::Off,
    example: "--max-deletions 50000",
    file: |f| f.max_deletions.as_ref(),
};

pub const MAX_FRACTION: Def = Def {
    key: "max_fraction",
    flag: "--max-fraction",
    env: "ANONSWEEP_MAX_FRACTION",
    what: "max fraction",
    help: "Safety cap: delete nothing (exit 4) when more than this share (0..1) of the anonymous users is eligible.",
    range: Range::Share,
    fallback: Fallback::Off,
    example: "--max-fraction 0.5",
    file: |f| f.max_fraction.as_ref(),
};

pub const WORKERS: Def = Def {
    key: "workers",
    flag: "--workers",
    env: "ANONSWEEP_WORKERS",
    what: "workers",
    help: "Connections taking disjoint batches at once (PostgreSQL, MySQL/MariaDB; 1..=64; default 1). SQLite takes one writer: 1 only.",
    range: Range::Whole { min: 1, max: 64 },
    fallback: Fallback::Value("1"),
    example: "--workers 2",
    file: |f| f.workers.as_ref(),
};

/// The run's limits: `run` applies them; `plan` and `doctor` show (and check) them too.
pub const RUN_LIMITS: [&Def; 6] = [
    &BATCH_SIZE,
    &LOCK_TIMEOUT_MS,
    &MAX_FAILURES,
    &MAX_DELETIONS,
    &MAX_FRACTION,
    &WORKERS,
];

impl Def {
    /// Parses a whole-number setting, or says what is wrong, where the value came from, and how
    /// to set it.
    pub fn whole(&self, value: &str, origin: &Origin) -> anyhow::Result<u64> {
        let Range::Whole { min, max } = self.range else {
            unreachable!("{} is not a whole number", self.key)
        };
        match value.trim().parse::<i128>() {
            Ok(n) if n >= min as i128 && n <= max as i128 => Ok(n as u64),
            _ => Err(usage(format!(
                "{} must be a whole number from {min} to {max}, got {value:?} (from {origin}): set e.g. {}",
                self.what, self.example
            ))),
        }
    }

    /// Parses a share (0..=1).
    pub fn share(&self, value: &str, origin: &Origin) -> anyhow::Result<f64> {
        match value.trim().parse::<f64>() {
            Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
            _ => Err(usage(format!(
                "{} must be a number from 0 to 1 (a share of the anonymous users), got {value:?} (from {origin}): set e.g. {}",
                self.what, self.example
            ))),
        }
    }
}
