//! What a person or a monitoring system sees: the printed report, progress, metrics and
//! notifications.

pub mod doctor;
pub mod hooks;
pub mod metrics;
pub mod notify;
pub mod progress;
pub mod report;
pub mod result;
