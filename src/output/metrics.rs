//! Prometheus metrics of one `run`, so unattended cleanups can be monitored and alerted on: written for node_exporter's textfile collector or pushed to a Pushgateway.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::error::redact;

/// Name of the last-success gauge; [`write_file`] reads its old value back from the previous file.
pub const LAST_SUCCESS_METRIC: &str = "anonsweep_last_success_timestamp_seconds";

/// The Pushgateway job name (grouping key `job`).
pub const PUSH_JOB: &str = "anonsweep";

/// Timeout of the whole Pushgateway request.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// What one run did, as exported.
#[derive(Clone, Debug, PartialEq)]
pub struct RunMetrics {
    pub run_id: String,
    pub backend: String,
    pub preset: String,
    pub eligible: u64,
    pub deleted_users: u64,
    /// (table label, rows deleted), users table last.
    pub deleted_rows: Vec<(String, u64)>,
    pub failed_users: u64,
    pub kept_changed: u64,
    pub batches: u64,
    /// Connections that took batches (`--workers`).
    pub workers: u64,
    /// Batches rolled back by a deadlock or lock wait and run again as they were.
    pub deadlock_retries: u64,
    pub duration_seconds: f64,
    pub max_batch_seconds: f64,
    /// The run finished without error and without failed users.
    pub success: bool,
    pub exit_code: i32,
    pub finished_at: DateTime<Utc>,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type IntGauge = Gauge<i64, AtomicI64>;

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn float_gauge(registry: &mut Registry, name: &str, help: &str, value: f64) {
    let g = FloatGauge::default();
    g.set(value);
    registry.register(name, help, g);
}

fn int_gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g = IntGauge::default();
    g.set(value);
    registry.register(name, help, g);
}

/// `anonsweep_deleted_rows{table="..."}`, one series per table in the given order.
#[derive(Debug)]
struct DeletedRows(Vec<(String, i64)>);

impl Collector for DeletedRows {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "anonsweep_deleted_rows",
            "Rows deleted by the last run, per table (the users table included).",
            None,
            MetricType::Gauge,
        )?;
        for (table, n) in &self.0 {
            let labels = [("table", table.as_str())];
            ConstGauge::new(*n).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Prometheus text exposition format (0.0.4, also valid OpenMetrics without the `# EOF`
/// trailer), rendered with the prometheus-client crate. `last_success` is the time of the
/// last successful run, if known; without it the gauge is left out.
pub fn render(m: &RunMetrics, last_success: Option<DateTime<Utc>>) -> String {
    let mut registry = Registry::default();
    float_gauge(
        &mut registry,
        "anonsweep_last_run_timestamp_seconds",
        "Unix time at which the last anonsweep run finished",
        seconds(m.finished_at),
    );
    if let Some(t) = last_success {
        float_gauge(
            &mut registry,
            LAST_SUCCESS_METRIC,
            "Unix time at which the last successful anonsweep run finished",
            seconds(t),
        );
    }
    int_gauge(
        &mut registry,
        "anonsweep_run_success",
        "1 if the last run finished without error and without failed users, else 0",
        i64::from(m.success),
    );
    int_gauge(
        &mut registry,
        "anonsweep_run_exit_code",
        "Exit code of the last run",
        i64::from(m.exit_code),
    );
    float_gauge(
        &mut registry,
        "anonsweep_run_duration_seconds",
        "Wall-clock duration of the last run in seconds",
        m.duration_seconds,
    );
    int_gauge(
        &mut registry,
        "anonsweep_eligible_users",
        "Anonymous users eligible for deletion in the last run",
        int(m.eligible),
    );
    int_gauge(
        &mut registry,
        "anonsweep_deleted_users",
        "Anonymous users deleted by the last run",
        int(m.deleted_users),
    );
    int_gauge(
        &mut registry,
        "anonsweep_failed_users",
        "Users the last run could not delete",
        int(m.failed_users),
    );
    int_gauge(
        &mut registry,
        "anonsweep_kept_changed_users",
        "Users kept by the last run because they changed since they were selected",
        int(m.kept_changed),
    );
    int_gauge(
        &mut registry,
        "anonsweep_batches",
        "Batch transactions committed by the last run",
        int(m.batches),
    );
    int_gauge(
        &mut registry,
        "anonsweep_workers",
        "Connections that took batches in the last run (--workers)",
        int(m.workers),
    );
    int_gauge(
        &mut registry,
        "anonsweep_deadlock_retries",
        "Batches of the last run rolled back by a deadlock or lock wait and run again as they were",
        int(m.deadlock_retries),
    );
    float_gauge(
        &mut registry,
        "anonsweep_max_batch_seconds",
        "Duration of the slowest batch of the last run in seconds",
        m.max_batch_seconds,
    );

    // Deleted rows come from a collector, which keeps the tables in the run's order (users
    // table last) where a Family would use hash order; collectors are encoded last.
    let mut rows: Vec<(String, i64)> = Vec::new();
    for (table, n) in &m.deleted_rows {
        // A table listed twice is summed rather than repeated.
        match rows.iter_mut().find(|(t, _)| t == table) {
            Some((_, total)) => *total = total.saturating_add(int(*n)),
            None => rows.push((table.clone(), int(*n))),
        }
    }
    if !rows.is_empty() {
        registry.register_collector(Box::new(DeletedRows(rows)));
    }

    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    // The OpenMetrics trailer is not part of the classic text format that the textfile
    // collector and the Pushgateway parse.
    if let Some(stripped) = out.strip_suffix("# EOF\n") {
        out.truncate(stripped.len());
    }
    out
}

/// The value of `anonsweep_last_success_timestamp_seconds` in an exposition text, if present.
pub fn parse_last_success(text: &str) -> Option<DateTime<Utc>> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let mut parts = line.split_whitespace();
            if parts.next()? != LAST_SUCCESS_METRIC {
                return None;
            }
            let v: f64 = parts.next()?.parse().ok()?;
            if !v.is_finite() || v <= 0.0 {
                return None;
            }
            DateTime::from_timestamp_millis((v * 1000.0).round() as i64)
        })
}

fn temp_path(path: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // A hidden name that does not end in .prom: the textfile collector ignores it.
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tmp_name.push(format!(".{}-{seq}.tmp", std::process::id()));
    Ok((dir.join(tmp_name), dir))
}

fn write_and_sync(tmp: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Writes `path` atomically for node_exporter's textfile collector: a temp file in the same
/// directory, fsync, rename (then fsync of the directory).
///
/// The last-success timestamp is this run's `finished_at` when `m.success`, else carried over
/// from the existing file at `path`, else absent.
pub fn write_file(path: &Path, m: &RunMetrics) -> anyhow::Result<()> {
    let last_success = if m.success {
        Some(m.finished_at)
    } else {
        match std::fs::read_to_string(path) {
            Ok(old) => parse_last_success(&old),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                crate::warn!(
                    "cannot read the previous metrics file {} ({e}); the last-success timestamp is left out",
                    path.display()
                );
                None
            }
        }
    };
    let text = render(m, last_success);
    let (tmp, dir) = temp_path(path)?;
    if let Err(e) = write_and_sync(&tmp, &text) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| {
            format!(
                "cannot write the metrics file {} (does the directory exist and is it writable?)",
                tmp.display()
            )
        });
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()));
    }
    // Make the rename itself durable; not every platform or filesystem allows it.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// This machine's host name, used as the Pushgateway `instance` label.
pub fn instance_name() -> String {
    let h = gethostname::gethostname()
        .to_string_lossy()
        .trim()
        .to_string();
    if h.is_empty() {
        "unknown".to_string()
    } else {
        h
    }
}

fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        for _ in chunk.len()..3 {
            out.push('=');
        }
    }
    out
}

/// The Pushgateway URL of this job's group: `{base}/metrics/job/anonsweep/instance/<instance>`
/// (the instance is base64-encoded, as the Pushgateway allows, when it is not URL-safe).
pub fn push_url(base_url: &str, instance: &str) -> String {
    let safe = !instance.is_empty()
        && instance != "."
        && instance != ".."
        && instance
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    let tail = if safe {
        format!("/metrics/job/{PUSH_JOB}/instance/{instance}")
    } else {
        format!(
            "/metrics/job/{PUSH_JOB}/instance@base64/{}",
            base64url(instance.as_bytes())
        )
    };
    // Appended to the path, so a query string (e.g. a token) stays a query string.
    match url::Url::parse(base_url) {
        Ok(mut u) => {
            let path = format!("{}{tail}", u.path().trim_end_matches('/'));
            u.set_path(&path);
            u.to_string()
        }
        Err(_) => format!("{}{tail}", base_url.trim_end_matches('/')),
    }
}

/// A URL fit for messages: any user name and password removed.
fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            redact(u.as_str())
        }
        Err(_) => redact(url),
    }
}

/// Pushes to a Prometheus Pushgateway with HTTP POST to
/// `{base}/metrics/job/anonsweep/instance/<hostname>`, so metrics not in this push (the
/// last-success timestamp after a failed run) keep their previous value. Timeout 10 s; an
/// answer other than 2xx is an error.
pub fn push(base_url: &str, m: &RunMetrics) -> anyhow::Result<()> {
    let base = base_url.trim();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        bail!(
            "the Pushgateway URL {:?} must start with http:// or https:// (for example http://pushgateway:9091)",
            display_url(base)
        );
    }
    let url = push_url(base, &instance_name());
    let shown = display_url(&url);
    let body = render(m, m.success.then_some(m.finished_at));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(PUSH_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .post(&url)
        .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        .send(body.as_str())
        .map_err(|e| {
            let why = match e {
                ureq::Error::Timeout(_) => {
                    format!("no answer within {} s", PUSH_TIMEOUT.as_secs())
                }
                other => other.to_string().replace(&url, &shown),
            };
            anyhow::anyhow!("cannot push metrics to {shown}: {}", redact(&why))
        })?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let mut reason: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if reason.chars().count() > 300 {
            reason = reason.chars().take(300).collect::<String>() + "…";
        }
        bail!(
            "the Pushgateway at {shown} answered HTTP {}{}",
            status.as_u16(),
            if reason.is_empty() {
                String::new()
            } else {
                format!(": {}", redact(&reason))
            }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc4648() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg==");
        assert_eq!(base64url(b"fo"), "Zm8=");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg==");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8=");
    }

    #[test]
    fn push_url_encodes_unsafe_instances() {
        assert_eq!(
            push_url("http://gw:9091/", "db-1.example"),
            "http://gw:9091/metrics/job/anonsweep/instance/db-1.example"
        );
        assert_eq!(
            push_url("http://gw:9091", "a/b"),
            "http://gw:9091/metrics/job/anonsweep/instance@base64/YS9i"
        );
        assert_eq!(
            push_url("https://gw.example/prefix/?token=abc", "h"),
            "https://gw.example/prefix/metrics/job/anonsweep/instance/h?token=abc"
        );
    }
}
