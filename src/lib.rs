//! anonsweep: removes abandoned anonymous accounts from an application's SQL database.
//!
//! The library renders a [`plan::Plan`] from askama templates for the configured schema,
//! shows it (`plan`), writes it as a standalone script, and executes it in batches (`run`).

pub mod archive;
pub mod audit;
pub mod children;
pub mod cli;
pub mod commands;
pub mod config_file;
pub mod conn;
pub mod dburl;
pub mod demo;
pub mod dialect;
pub mod doctor;
pub mod error;
pub mod fkgraph;
pub mod ident;
pub mod index_state;
pub mod indexes;
pub mod introspect;
pub mod lock;
#[macro_use]
pub mod logger;
pub mod metrics;
pub mod notify;
pub mod plan;
pub mod preset;
pub mod progress;
pub mod render;
pub mod report;
pub mod restore;
pub mod runner;
pub mod schedule;
pub mod settings;
pub mod stats;
