//! Executes plan statements: the keyset batches, the read-only counts, the run's list of its
//! eligible users, the list of eligible users (`plan --list`), the audit log, the run lock and
//! the replicas' lag.

pub mod audit;
pub mod batches;
pub mod idlist;
pub mod list;
pub mod lock;
pub mod replicas;
pub mod stats;
pub mod stop;
pub mod workers;
