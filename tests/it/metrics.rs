//! The metrics module against the real Prometheus tools: `promtool check metrics` judges the
//! textfile output, and a real `prometheus-pushgateway` receives the pushes.
//! Needs the Debian packages `prometheus` (promtool) and `prometheus-pushgateway`.

use crate::support;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use support::peers::{parse, promtool_check, value, Gateway, Sample};
use support::{metrics, RunMetrics};

const ALL_METRICS: &[&str] = &[
    "anonsweep_last_run_timestamp_seconds",
    "anonsweep_last_success_timestamp_seconds",
    "anonsweep_run_success",
    "anonsweep_run_exit_code",
    "anonsweep_run_duration_seconds",
    "anonsweep_eligible_users",
    "anonsweep_deleted_users",
    "anonsweep_deleted_rows",
    "anonsweep_failed_users",
    "anonsweep_kept_changed_users",
    "anonsweep_batches",
    "anonsweep_workers",
    "anonsweep_deadlock_retries",
    "anonsweep_max_batch_seconds",
];

fn at(secs: i64, millis: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, millis * 1_000_000).unwrap()
}

fn sample(success: bool, finished_at: DateTime<Utc>) -> RunMetrics {
    RunMetrics {
        run_id: "run-1".into(),
        backend: "postgres".into(),
        preset: "supabase".into(),
        eligible: 1500,
        deleted_users: if success { 1500 } else { 1200 },
        deleted_rows: vec![
            ("public.sessions".into(), 4321),
            ("odd \"name\\x\"".into(), 7),
            ("public.users".into(), if success { 1500 } else { 1200 }),
        ],
        failed_users: if success { 0 } else { 3 },
        kept_changed: 2,
        batches: 15,
        workers: 2,
        deadlock_retries: 1,
        duration_seconds: 12.5,
        max_batch_seconds: 1.25,
        success,
        exit_code: if success { 0 } else { 3 },
        finished_at,
    }
}

fn check_values(samples: &[Sample], m: &RunMetrics, labels: &[(&str, &str)]) {
    let v = |name: &str| value(samples, name, labels).unwrap_or_else(|| panic!("{name} missing"));
    assert_eq!(
        v("anonsweep_last_run_timestamp_seconds"),
        m.finished_at.timestamp_millis() as f64 / 1000.0
    );
    assert_eq!(
        v("anonsweep_run_success"),
        if m.success { 1.0 } else { 0.0 }
    );
    assert_eq!(v("anonsweep_run_exit_code"), f64::from(m.exit_code));
    assert_eq!(v("anonsweep_run_duration_seconds"), m.duration_seconds);
    assert_eq!(v("anonsweep_eligible_users"), m.eligible as f64);
    assert_eq!(v("anonsweep_deleted_users"), m.deleted_users as f64);
    assert_eq!(v("anonsweep_failed_users"), m.failed_users as f64);
    assert_eq!(v("anonsweep_kept_changed_users"), m.kept_changed as f64);
    assert_eq!(v("anonsweep_batches"), m.batches as f64);
    assert_eq!(v("anonsweep_workers"), m.workers as f64);
    assert_eq!(v("anonsweep_deadlock_retries"), m.deadlock_retries as f64);
    assert_eq!(v("anonsweep_max_batch_seconds"), m.max_batch_seconds);
    for (table, n) in &m.deleted_rows {
        let mut l = labels.to_vec();
        l.push(("table", table));
        assert_eq!(
            value(samples, "anonsweep_deleted_rows", &l),
            Some(*n as f64),
            "rows of {table}"
        );
    }
    let row_series = samples
        .iter()
        .filter(|(n, l, _)| {
            n == "anonsweep_deleted_rows"
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .count();
    assert_eq!(row_series, m.deleted_rows.len());
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn textfile_passes_promtool_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anonsweep.prom");
    let m = sample(true, at(1_764_000_000, 250));
    metrics::write_file(&path, &m).unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    promtool_check(&text);
    assert!(
        !text.contains("# EOF"),
        "classic text format, no OpenMetrics trailer"
    );
    for name in ALL_METRICS {
        assert!(text.contains(&format!("# HELP {name} ")), "HELP for {name}");
        assert!(
            text.contains(&format!("# TYPE {name} gauge\n")),
            "gauge {name}"
        );
    }

    let samples = parse(&text);
    check_values(&samples, &m, &[]);
    assert_eq!(
        value(&samples, "anonsweep_last_success_timestamp_seconds", &[]),
        Some(1_764_000_000.25)
    );
    // No label but `table`, on any series.
    for (name, labels, _) in &samples {
        let allowed: &[&str] = if name == "anonsweep_deleted_rows" {
            &["table"]
        } else {
            &[]
        };
        assert!(
            labels.keys().all(|k| allowed.contains(&k.as_str())),
            "{name} has labels {labels:?}"
        );
    }
    // The tables keep the run's order, users table last.
    let tables: Vec<&str> = samples
        .iter()
        .filter(|(n, _, _)| n == "anonsweep_deleted_rows")
        .map(|(_, l, _)| l["table"].as_str())
        .collect();
    assert_eq!(
        tables,
        ["public.sessions", "odd \"name\\x\"", "public.users"]
    );
    // Atomic write: only the final file is left behind.
    assert_eq!(dir_entries(dir.path()), vec!["anonsweep.prom".to_string()]);
}

#[test]
fn a_run_that_failed_before_deleting_renders_valid_metrics() {
    let mut m = sample(false, at(1_700_000_000, 0));
    m.deleted_rows.clear();
    m.deleted_users = 0;
    m.exit_code = 1;
    let text = metrics::render(&m, None);
    promtool_check(&text);
    let samples = parse(&text);
    check_values(&samples, &m, &[]);
    assert!(!text.contains("anonsweep_deleted_rows"), "{text}");
    assert!(!text.contains("anonsweep_last_success"), "{text}");
}

#[test]
fn last_success_is_carried_over_after_a_failure_and_replaced_after_a_success() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anonsweep.prom");
    let last_success = |path: &Path| {
        let text = std::fs::read_to_string(path).unwrap();
        promtool_check(&text);
        value(
            &parse(&text),
            "anonsweep_last_success_timestamp_seconds",
            &[],
        )
    };

    // A failed first run: no success known yet, so no series.
    metrics::write_file(&path, &sample(false, at(1_700_000_000, 0))).unwrap();
    assert_eq!(last_success(&path), None);

    let t1 = at(1_700_000_100, 500);
    metrics::write_file(&path, &sample(true, t1)).unwrap();
    assert_eq!(last_success(&path), Some(1_700_000_100.5));

    let t2 = at(1_700_000_200, 0);
    let failed = sample(false, t2);
    metrics::write_file(&path, &failed).unwrap();
    assert_eq!(last_success(&path), Some(1_700_000_100.5), "carried over");
    let samples = parse(&std::fs::read_to_string(&path).unwrap());
    check_values(&samples, &failed, &[]);
    assert_eq!(
        metrics::parse_last_success(&std::fs::read_to_string(&path).unwrap()),
        Some(t1)
    );

    // Another failure still keeps it; then a success replaces it.
    metrics::write_file(&path, &sample(false, at(1_700_000_300, 0))).unwrap();
    assert_eq!(last_success(&path), Some(1_700_000_100.5));
    metrics::write_file(&path, &sample(true, at(1_700_000_400, 0))).unwrap();
    assert_eq!(last_success(&path), Some(1_700_000_400.0));

    assert_eq!(dir_entries(dir.path()), vec!["anonsweep.prom".to_string()]);
}

#[test]
fn write_file_into_a_missing_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("anonsweep.prom");
    let err = metrics::write_file(&path, &sample(true, Utc::now())).unwrap_err();
    assert!(
        format!("{err:#}").contains("no-such-dir"),
        "message names the path: {err:#}"
    );
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn pushgateway_receives_and_keeps_last_success() {
    let gw = Gateway::start();
    let instance = metrics::instance_name();
    let labels = [("job", "anonsweep"), ("instance", instance.as_str())];

    let ok = sample(true, at(1_750_000_000, 750));
    metrics::push(&gw.base, &ok).unwrap();
    let samples = gw.scrape();
    check_values(&samples, &ok, &labels);
    assert_eq!(
        value(
            &samples,
            "anonsweep_last_success_timestamp_seconds",
            &labels
        ),
        Some(1_750_000_000.75)
    );
    for (name, l, _) in &samples {
        let mut keys: Vec<&str> = l.keys().map(String::as_str).collect();
        keys.retain(|k| *k != "table");
        assert_eq!(keys, vec!["instance", "job"], "labels of {name}");
    }

    // A failed run: POST replaces only what it sends, so last-success keeps its value.
    let failed = sample(false, at(1_750_000_500, 0));
    metrics::push(&format!("{}/", gw.base), &failed).unwrap();
    let samples = gw.scrape();
    check_values(&samples, &failed, &labels);
    assert_eq!(
        value(
            &samples,
            "anonsweep_last_success_timestamp_seconds",
            &labels
        ),
        Some(1_750_000_000.75),
        "last success kept after a failed run"
    );

    // The next success replaces it.
    let ok2 = sample(true, at(1_750_001_000, 0));
    metrics::push(&gw.base, &ok2).unwrap();
    let samples = gw.scrape();
    check_values(&samples, &ok2, &labels);
    assert_eq!(
        value(
            &samples,
            "anonsweep_last_success_timestamp_seconds",
            &labels
        ),
        Some(1_750_001_000.0)
    );

    // A non-2xx answer is an error that gives the status.
    let err = metrics::push(&format!("{}/no/such/prefix", gw.base), &ok2).unwrap_err();
    assert!(format!("{err:#}").contains("HTTP 404"), "{err:#}");
}

#[test]
fn push_to_nothing_fails_quickly() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let err = metrics::push(
        &format!("http://127.0.0.1:{port}"),
        &sample(true, Utc::now()),
    )
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(11));
    assert!(format!("{err:#}").contains("127.0.0.1"), "{err:#}");

    let err = metrics::push("pushgateway:9091", &sample(true, Utc::now())).unwrap_err();
    assert!(format!("{err:#}").contains("http://"), "{err:#}");
}
