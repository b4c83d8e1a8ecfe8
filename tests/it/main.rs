//! The integration tests, as one test binary (one link of the crate and its dependencies, one
//! process that runs every suite in parallel): one module per suite, shared code in `support`.

mod support;

mod access_path;
mod activity;
mod app_tables;
mod archive;
mod bad_input;
mod caps;
mod cli;
mod concurrency;
mod demo;
mod doctor;
mod drain;
mod dry_run;
mod eligibility;
mod failsafe;
mod foreign_keys;
mod golden_sql;
mod init;
mod layers;
mod lock;
mod metrics;
mod migrations;
mod notify;
mod npm;
mod plan_list;
mod plausibility;
mod pooler;
mod replica;
mod run_hooks;
mod schedule;
mod script_equivalence;
mod settings;
mod statement_log;
mod stop;
mod supabase;
mod tls;
mod workers;
