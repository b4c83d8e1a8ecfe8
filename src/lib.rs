//! anonsweep: removes abandoned anonymous accounts from an application's SQL database.
//!
//! The layers, each depending only on those listed after it:
//! `cli` (what was typed) → `ops` (the one pipeline `run`, `plan` and `demo` share) →
//! `output` (report, hooks, progress) → `exec` (batches, counts, audit, lock) and `archive` →
//! `plan` (pure: settings + inspected schema → every statement, rendered) → `preflight` (one
//! pass over the catalog) → `indexes` (the shipped index migrations) → `config` (flags,
//! environment, file, preset → `Settings`) → `sql` (the only place that quotes, escapes,
//! writes placeholders and knows dialects) → `error`, `logger`.

#[macro_use]
pub mod logger;
pub mod archive;
pub mod cli;
pub mod config;
pub mod error;
pub mod exec;
pub mod indexes;
pub mod ops;
pub mod output;
pub mod plan;
pub mod preflight;
pub mod sql;
