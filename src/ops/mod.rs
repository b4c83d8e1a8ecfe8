//! The operations the commands call: one pipeline for `run`, `run --dry-run`, `plan` and
//! `demo`, and the other commands' operations.

pub mod init;
pub mod migrate;
pub mod population;
pub mod run;
pub mod schedule;
