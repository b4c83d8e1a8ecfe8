//! Executes plan statements: the keyset batches, the read-only counts, the audit log and the
//! run lock.

pub mod audit;
pub mod batches;
pub mod lock;
pub mod stats;
