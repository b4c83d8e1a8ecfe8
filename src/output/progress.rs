//! Progress of a run: a bar (indicatif) with deleted/eligible, rate and ETA on a terminal; a
//! plain line every few seconds otherwise (cron, journald); nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the plain line is written.
pub const LINE_EVERY: Duration = Duration::from_secs(5);

enum Mode {
    Bar(ProgressBar),
    Lines { last: Instant },
    Quiet,
}

pub struct Progress {
    mode: Mode,
    total: u64,
    started: Instant,
    /// `--max-replica-lag`: time waited for the replicas so far, in seconds.
    lag_waited: Option<f64>,
}

impl Progress {
    /// A bar when stderr is a terminal, else plain lines; nothing when `quiet`.
    pub fn new(total: u64, quiet: bool) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} users deleted  {msg}  ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Mode::Bar(bar)
        } else {
            Mode::Lines {
                last: Instant::now(),
            }
        };
        Progress {
            mode,
            total,
            started: Instant::now(),
            lag_waited: None,
        }
    }

    /// The time waited for lagging replicas so far, shown from the next update on.
    pub fn lag_waited(&mut self, seconds: Option<f64>) {
        self.lag_waited = seconds;
    }

    /// After each committed batch.
    pub fn update(&mut self, deleted: u64, batches: u64) {
        let total = self.total;
        let elapsed = self.started.elapsed().as_secs_f64();
        let waited = match self.lag_waited {
            Some(s) if s > 0.0 => format!(", waited {s:.0}s for replicas"),
            _ => String::new(),
        };
        match &mut self.mode {
            Mode::Bar(bar) => {
                bar.set_position(deleted.min(total));
                let rate = if elapsed > 0.0 {
                    deleted as f64 / elapsed
                } else {
                    0.0
                };
                bar.set_message(format!("{rate:.0} users/s, {batches} batches{waited}"));
            }
            Mode::Lines { last } => {
                if last.elapsed() < LINE_EVERY {
                    return;
                }
                *last = Instant::now();
                let rate = if elapsed > 0.0 {
                    deleted as f64 / elapsed
                } else {
                    0.0
                };
                let left = total.saturating_sub(deleted);
                let eta = if rate > 0.0 {
                    format!("{:.0}s", left as f64 / rate)
                } else {
                    "unknown".into()
                };
                let pct = if total > 0 {
                    deleted as f64 * 100.0 / total as f64
                } else {
                    100.0
                };
                crate::info!(
                    "progress: {deleted}/{total} users deleted ({pct:.1}%), {rate:.0} users/s, ETA {eta}, {batches} batches{waited}"
                );
            }
            Mode::Quiet => {}
        }
    }

    pub fn finish(&mut self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}
