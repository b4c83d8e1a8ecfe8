//! What happens around a run without ever changing its outcome: the metrics file, the
//! Pushgateway, and email/webhook notifications.

use std::path::PathBuf;

use crate::config::settings::Settings;
use crate::error::LockHeld;
use crate::output::metrics::{self, RunMetrics};
use crate::output::notify::{EmailConfig, Event, EventKind, Notifier};
use crate::output::result::{exit_code, Report};

/// What the user asked the hooks to do.
#[derive(Clone, Debug, Default)]
pub struct HookOptions {
    pub metrics_file: Option<PathBuf>,
    pub pushgateway: Option<String>,
    pub notify_email: Vec<String>,
    pub notify_webhook: Option<String>,
    pub notify_threshold: u64,
}

/// The configured hooks, checked before the run (a bad address is a usage error up front).
pub(crate) struct Hooks {
    metrics_file: Option<std::path::PathBuf>,
    pushgateway: Option<String>,
    notifier: Option<Notifier>,
    threshold: u64,
}

impl Hooks {
    pub fn new(args: &HookOptions) -> anyhow::Result<Hooks> {
        let email = if args.notify_email.is_empty() {
            None
        } else {
            Some(EmailConfig::from_env(args.notify_email.clone())?)
        };
        let webhook = args.notify_webhook.clone();
        if let Some(w) = &webhook {
            if !(w.starts_with("http://") || w.starts_with("https://")) {
                return Err(crate::error::usage(format!(
                    "--notify-webhook {w:?} is not an http(s) URL: pass e.g. https://hooks.slack.com/services/…"
                )));
            }
        }
        for url in webhook.iter().chain(&args.pushgateway) {
            // Credentials in a webhook or Pushgateway URL are never printed.
            if let Ok(u) = url::Url::parse(url) {
                if let Some(p) = u.password() {
                    crate::error::register_secret(p);
                }
            }
        }
        let notifier =
            (email.is_some() || webhook.is_some()).then_some(Notifier { email, webhook });
        Ok(Hooks {
            metrics_file: args.metrics_file.clone(),
            pushgateway: args.pushgateway.clone(),
            notifier,
            threshold: args.notify_threshold,
        })
    }

    /// After the run (or its failure): metrics, then notifications. Failures are logged only.
    pub fn after(&self, s: &Settings, result: &anyhow::Result<Report>, elapsed: f64) {
        if let Err(e) = result {
            if e.downcast_ref::<LockHeld>().is_some() {
                // Another instance is running: its own hooks report, this one did nothing.
                return;
            }
        }
        let m = self.metrics(s, result, elapsed);
        if let Some(path) = &self.metrics_file {
            if let Err(e) = metrics::write_file(path, &m) {
                crate::warn!("{}", crate::error::one_line(&e));
            }
        }
        if let Some(url) = &self.pushgateway {
            if let Err(e) = metrics::push(url, &m) {
                crate::warn!(
                    "cannot push metrics to {}: {e:#}",
                    crate::error::redact(url)
                );
            }
        }
        if let Some(n) = &self.notifier {
            if let Some(event) = self.event(s, result) {
                // `send` logs each failure itself; a failure never changes the run's outcome.
                let _ = n.send(&event);
            }
        }
    }

    fn metrics(&self, s: &Settings, result: &anyhow::Result<Report>, elapsed: f64) -> RunMetrics {
        let mut m = RunMetrics {
            run_id: String::new(),
            backend: s.backend.name().into(),
            preset: s.preset.clone(),
            eligible: 0,
            deleted_users: 0,
            deleted_rows: Vec::new(),
            failed_users: 0,
            kept_changed: 0,
            batches: 0,
            workers: s.workers.max(1),
            deadlock_retries: 0,
            duration_seconds: elapsed,
            max_batch_seconds: 0.0,
            success: false,
            exit_code: 0,
            finished_at: chrono::Utc::now(),
        };
        match result {
            Ok(r) => {
                m.run_id = r.run_id.clone();
                m.eligible = r.before.eligible;
                if let Some(o) = &r.outcome {
                    m.deleted_users = o.deleted_users;
                    m.deleted_rows = o.deleted_rows.clone();
                    m.failed_users = o.failed.len() as u64;
                    m.kept_changed = o.kept_changed;
                    m.batches = o.batches;
                    m.workers = o.workers.max(1);
                    m.deadlock_retries = o.deadlock_retries;
                    m.max_batch_seconds = o.max_batch_ms / 1000.0;
                }
            }
            Err(e) => {
                if let Some(c) = e.downcast_ref::<crate::error::CapError>() {
                    m.eligible = c.eligible.unwrap_or(0);
                }
            }
        }
        m.exit_code = exit_code(result);
        m.success = m.exit_code == 0;
        m
    }

    fn event(&self, s: &Settings, result: &anyhow::Result<Report>) -> Option<Event> {
        let database = s.database_shown();
        match result {
            Ok(r) => {
                let o = r.outcome.as_ref()?;
                let summary = crate::output::report::run_text(s, &r.before, o, &r.run_id, 0.0);
                let kind = if o.aborted {
                    EventKind::Failed
                } else if o.deleted_users >= self.threshold && o.deleted_users > 0 {
                    EventKind::Threshold
                } else {
                    return None;
                };
                Some(Event {
                    kind,
                    run_id: r.run_id.clone(),
                    database,
                    deleted_users: o.deleted_users,
                    summary,
                })
            }
            Err(e) => {
                let kind = if e.downcast_ref::<crate::error::CapError>().is_some() {
                    EventKind::Capped
                } else {
                    EventKind::Failed
                };
                Some(Event {
                    kind,
                    run_id: String::new(),
                    database,
                    deleted_users: 0,
                    summary: format!("anonsweep run: {}\n", crate::error::one_line(e)),
                })
            }
        }
    }
}
