//! Timestamped log lines on stderr, filtered by `ANONSWEEP_LOG` (error, warn, info, debug,
//! trace: also every SQL statement with its duration).

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(2);

/// Log severity, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
    /// Every SQL statement sent, with its duration.
    Trace = 4,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }
}

/// Reads `ANONSWEEP_LOG`; an unknown value keeps `info` and says so.
pub fn init_from_env() {
    let Ok(value) = std::env::var("ANONSWEEP_LOG") else {
        return;
    };
    let level = match value.trim().to_ascii_lowercase().as_str() {
        "error" => Level::Error,
        "warn" | "warning" => Level::Warn,
        "info" | "" => Level::Info,
        "debug" => Level::Debug,
        "trace" => Level::Trace,
        "off" | "quiet" => {
            LEVEL.store(0, Ordering::Relaxed);
            return;
        }
        other => {
            log(
                Level::Warn,
                &format!(
                    "ANONSWEEP_LOG={other:?} is not a level (error, warn, info, debug, trace); using info"
                ),
            );
            Level::Info
        }
    };
    set_level(level);
}

/// Sets the most verbose level that is printed.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether a message at `level` would be printed.
pub fn enabled(level: Level) -> bool {
    (level as u8) <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one log line to stderr, with secrets redacted.
pub fn log(level: Level, msg: &str) {
    if !enabled(level) {
        return;
    }
    let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let line = crate::error::redact(msg);
    let _ = writeln!(std::io::stderr().lock(), "{ts} {:<5} {line}", level.label());
}

/// Logs at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::logger::log($crate::logger::Level::Info, &format!($($arg)*)) };
}
/// Logs at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::logger::log($crate::logger::Level::Warn, &format!($($arg)*)) };
}
/// Logs at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::logger::log($crate::logger::Level::Debug, &format!($($arg)*)) };
}
