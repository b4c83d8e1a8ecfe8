//! `ANONSWEEP_LOG=trace`: every statement a connection sends, on one log line with its
//! duration, to see where a run spends its time.

use std::time::Instant;

use diesel::connection::{Instrumentation, InstrumentationEvent};

use crate::logger::{self, Level};

/// Times each query between its start and finish events.
#[derive(Default)]
pub struct Trace {
    started: Option<Instant>,
}

/// The instrumentation to install on a new connection, when tracing is on.
pub fn enabled() -> Option<Trace> {
    logger::enabled(Level::Trace).then(Trace::default)
}

impl Instrumentation for Trace {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => self.started = Some(Instant::now()),
            InstrumentationEvent::FinishQuery { query, error, .. } => {
                let ms = self
                    .started
                    .take()
                    .map(|t| t.elapsed().as_secs_f64() * 1000.0)
                    .unwrap_or(0.0);
                let text = query.to_string();
                let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
                if line.len() > 300 {
                    let cut = (0..=300)
                        .rev()
                        .find(|&i| line.is_char_boundary(i))
                        .unwrap_or(0);
                    line.truncate(cut);
                    line.push('…');
                }
                let failed = if error.is_some() { " (failed)" } else { "" };
                logger::log(Level::Trace, &format!("sql {ms:.1} ms{failed}: {line}"));
            }
            _ => {}
        }
    }
}
