//! `anonsweep run` with its hooks, end to end: the real binary against real databases, the
//! metrics file judged by promtool, a real Pushgateway, and a local SMTP sink and HTTP listener
//! for notifications. The hooks never change what is deleted or the exit code; a bad hook
//! setting is a usage error before anything is touched; no output carries the database password.

use crate::support;

use std::time::Duration;

use serde_json::Value;
use support::peers::{
    dead_port, http_listener, join_within, parse, promtool_check, smtp_sink, value, Gateway, Idle,
    Mail, Request, Sample,
};
use support::{backend_test, Run, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";
const TABLES: &[&str] = &["users", "sessions", "accounts"];
/// How long a peer may take to finish after the run that talked to it has exited.
const WAIT: Duration = Duration::from_secs(5);

type Env = Vec<(&'static str, String)>;

/// `n` eligible anonymous users `{prefix}00…` (old, with an old session and an account).
fn add_eligible(db: &TestDb, prefix: &str, n: usize) {
    let (t, old) = (db.bool(true), db.ts("2026-01-01 00:00:00"));
    let mut sql = String::new();
    for i in 0..n {
        let id = format!("{prefix}{i:02}");
        sql += &format!("INSERT INTO users VALUES ('{id}', {t}, {old});\n");
        sql += &format!("INSERT INTO sessions VALUES ('s-{id}', '{id}', {old}, {old});\n");
        sql += &format!("INSERT INTO accounts VALUES ('a-{id}', '{id}', 'anonymous');\n");
    }
    db.exec(&sql);
}

/// The seed schema with `n` eligible users e00…, plus k0 (anonymous, recent session) and r0
/// (registered), who must always stay.
fn setup(db: &TestDb, n: usize) {
    let ts_type = if db.is_pg() { "TIMESTAMPTZ" } else { "TEXT" };
    db.exec(&support::default_schema(db, ts_type, "TEXT", false));
    add_eligible(db, "e", n);
    let (t, f) = (db.bool(true), db.bool(false));
    let (old, recent) = (db.ts("2026-01-01 00:00:00"), db.ts("2026-11-20 00:00:00"));
    db.exec(&format!(
        "INSERT INTO users VALUES ('k0', {t}, {old});
         INSERT INTO sessions VALUES ('s-k0', 'k0', {old}, {recent});
         INSERT INTO users VALUES ('r0', {f}, {old});
         INSERT INTO sessions VALUES ('s-r0', 'r0', {old}, {old});"
    ));
}

/// `run --as-of AS_OF ARGS` against `db` (ARGS split at whitespace).
fn run(db: &TestDb, args: &str, env: &[(&str, String)]) -> Run {
    let mut all = vec!["run", "--as-of", AS_OF];
    all.extend(args.split_whitespace());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    db.run_env(&all, &env)
}

/// Plain-text SMTP to 127.0.0.1:`port`.
fn smtp_env(port: u16) -> Env {
    vec![
        ("ANONSWEEP_SMTP_HOST", "127.0.0.1".into()),
        ("ANONSWEEP_SMTP_PORT", port.to_string()),
        ("ANONSWEEP_SMTP_TLS", "none".into()),
        ("ANONSWEEP_SMTP_FROM", "anonsweep@test.example".into()),
    ]
}

/// Flags that notify a@example.com and the webhook on 127.0.0.1:`http_port`.
fn notify_flags(http_port: u16, path: &str) -> String {
    format!("--notify-email a@example.com --notify-webhook http://127.0.0.1:{http_port}{path}")
}

fn summary(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("JSON summary ({e}):\n{}", r.all()))
}

/// The message with headers unfolded (RFC 5322) and quoted-printable soft line breaks removed.
fn mail_text(m: &Mail) -> String {
    m.data
        .replace("\r\n ", " ")
        .replace("\r\n\t", " ")
        .replace("=\r\n", "")
        .replace("=3D", "=")
}

fn webhook_json(req: &Request) -> Value {
    serde_json::from_str(&req.body).unwrap_or_else(|e| panic!("{e}: {}", req.body))
}

/// The run's metrics equal its JSON summary, and say it succeeded (exit 0).
fn check_metrics(samples: &[Sample], json: &Value, labels: &[(&str, &str)]) {
    let v = |name: &str| value(samples, name, labels).unwrap_or_else(|| panic!("{name} missing"));
    let n = |key: &str| {
        json[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} in {json}"))
    };
    assert_eq!(v("anonsweep_deleted_users"), n("deleted_users"));
    assert_eq!(v("anonsweep_eligible_users"), n("eligible"));
    assert_eq!(v("anonsweep_batches"), n("batches"));
    assert_eq!(v("anonsweep_kept_changed_users"), n("kept_changed"));
    assert_eq!(v("anonsweep_workers"), n("workers"));
    assert_eq!(v("anonsweep_deadlock_retries"), n("deadlock_retries"));
    let failed = json["failed"].as_array().unwrap().len() as f64;
    assert_eq!(v("anonsweep_failed_users"), failed);
    assert_eq!(v("anonsweep_run_success"), 1.0);
    assert_eq!(v("anonsweep_run_exit_code"), 0.0);
    assert!(v("anonsweep_last_success_timestamp_seconds") > 1.7e9);
    let rows = json["deleted_rows"].as_array().unwrap();
    for row in rows {
        let mut l = labels.to_vec();
        l.push(("table", row["table"].as_str().unwrap()));
        let got = value(samples, "anonsweep_deleted_rows", &l);
        assert_eq!(got, row["rows"].as_f64(), "rows of {row}");
    }
    let series = samples
        .iter()
        .filter(|(n, _, _)| n == "anonsweep_deleted_rows")
        .count();
    assert_eq!(series, rows.len(), "one series per table in the summary");
}

fn remaining(db: &TestDb) -> Vec<String> {
    db.ids("users", "id")
}

backend_test!(
    metrics_file_matches_the_summary_and_keeps_last_success_after_a_cap,
    [sqlite],
    |db: TestDb| {
        setup(&db, 3);
        let dir = support::scratch();
        let file = dir.path().join("anonsweep.prom");
        let f = file.to_str().unwrap();

        let r = run(&db, &format!("--format json --metrics-file {f}"), &[]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(remaining(&db), ["k0", "r0"]);
        assert_eq!(db.ids("sessions", "id"), ["s-k0", "s-r0"]);
        assert_eq!(db.count("accounts"), 0);
        let json = summary(&r);
        assert_eq!(
            (json["deleted_users"].as_u64(), json["eligible"].as_u64()),
            (Some(3), Some(3))
        );
        let first = std::fs::read_to_string(&file).unwrap();
        promtool_check(&first);
        let samples = parse(&first);
        check_metrics(&samples, &json, &[]);
        let last_run = value(&samples, "anonsweep_last_run_timestamp_seconds", &[]).unwrap();
        let success = value(&samples, "anonsweep_last_success_timestamp_seconds", &[]).unwrap();
        assert_eq!(success, last_run, "a successful run is the last success");

        // More eligible users, and a cap they exceed: exit 4, nothing deleted, file rewritten.
        add_eligible(&db, "f", 2);
        let before = db.fingerprint(TABLES);
        let r = run(&db, &format!("--max-deletions 0 --metrics-file {f}"), &[]);
        assert_eq!(r.code, 4, "{}", r.all());
        assert_eq!(db.fingerprint(TABLES), before, "nothing deleted");
        let second = std::fs::read_to_string(&file).unwrap();
        promtool_check(&second);
        let samples = parse(&second);
        let v = |name: &str| value(&samples, name, &[]);
        assert_eq!(v("anonsweep_run_success"), Some(0.0), "{second}");
        assert_eq!(v("anonsweep_run_exit_code"), Some(4.0), "{second}");
        assert_eq!(v("anonsweep_deleted_users"), Some(0.0), "{second}");
        assert_eq!(
            v("anonsweep_eligible_users"),
            Some(2.0),
            "the plan's count: {second}"
        );
        let kept = v("anonsweep_last_success_timestamp_seconds");
        assert_eq!(kept, Some(success), "last success carried over:\n{second}");
        assert!(v("anonsweep_last_run_timestamp_seconds").unwrap() >= last_run);

        // An instance that finds the lock held does nothing and writes no metrics.
        let TestDb::Sqlite { path, .. } = &db else {
            unreachable!()
        };
        let lock = std::fs::File::create(format!("{}.anonsweep-lock", path.display())).unwrap();
        lock.lock().unwrap();
        let r = run(&db, &format!("--lock database --metrics-file {f}"), &[]);
        assert_eq!(r.code, 75, "{}", r.all());
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            second,
            "file untouched"
        );
        assert_eq!(db.fingerprint(TABLES), before);
    }
);

backend_test!(pushgateway_shows_the_runs_values, [sqlite], |db: TestDb| {
    let gw = Gateway::start();
    setup(&db, 4);
    let r = run(
        &db,
        &format!("--format json --pushgateway {}", gw.base),
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(remaining(&db), ["k0", "r0"]);
    let samples = gw.scrape();
    assert!(!samples.is_empty(), "nothing pushed:\n{}", r.all());
    let jobs = samples.iter().all(|(_, l, _)| l["job"] == "anonsweep");
    assert!(jobs, "{samples:?}");
    let json = summary(&r);
    assert_eq!(json["deleted_users"], 4);
    check_metrics(&samples, &json, &[("job", "anonsweep")]);
});

backend_test!(
    email_and_webhook_announce_deletions_at_the_threshold,
    [sqlite],
    |db: TestDb| {
        setup(&db, 3);
        let (smtp_port, sink) = smtp_sink();
        let (http_port, listener) = http_listener("200 OK");
        let flags = notify_flags(http_port, "/hook");
        let r = run(
            &db,
            &format!("--format json {flags} --notify-threshold 1"),
            &smtp_env(smtp_port),
        );
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(remaining(&db), ["k0", "r0"]);
        assert_eq!(db.ids("sessions", "id"), ["s-k0", "s-r0"]);
        let run_id = summary(&r)["run_id"].as_str().unwrap().to_string();

        let mail = join_within(sink, WAIT, "email");
        let rcpt = mail.commands.iter().any(|c| c == "RCPT TO:<a@example.com>");
        assert!(rcpt, "{mail:?}");
        let text = mail_text(&mail);
        assert!(
            text.contains("Subject: anonsweep: 3 anonymous users deleted on "),
            "{text}"
        );
        assert!(text.contains("deleted users        3"), "{text}");
        assert!(text.contains(&run_id), "{text}");

        let req = join_within(listener, WAIT, "webhook");
        assert!(
            req.head.starts_with("POST /hook HTTP/1.1\r\n"),
            "{}",
            req.head
        );
        let json = webhook_json(&req);
        assert_eq!(json["event"], "threshold");
        assert_eq!(json["deleted_users"], 3);
        assert_eq!(json["run_id"], run_id.as_str());
        let t = json["text"].as_str().unwrap();
        assert!(
            t.starts_with("anonsweep: 3 anonymous users deleted on "),
            "{t}"
        );
    }
);

backend_test!(
    below_the_threshold_nothing_is_sent,
    [sqlite],
    |db: TestDb| {
        setup(&db, 3);
        let (smtp, http) = (Idle::bind(), Idle::bind());
        let flags = notify_flags(http.port, "/hook");
        let r = run(
            &db,
            &format!("{flags} --notify-threshold 4"),
            &smtp_env(smtp.port),
        );
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(remaining(&db), ["k0", "r0"]);
        // Threshold 0 with nothing left to delete: still no message.
        let r = run(
            &db,
            &format!("{flags} --notify-threshold 0"),
            &smtp_env(smtp.port),
        );
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(!smtp.contacted(Duration::from_millis(300)), "email sent");
        assert!(!http.contacted(Duration::ZERO), "webhook called");
        assert!(!r.stderr.contains("WARN"), "{}", r.stderr);
    }
);

backend_test!(failed_deliveries_only_warn, [sqlite], |db: TestDb| {
    setup(&db, 5);
    let copy = db.copy();
    let plain = run(&copy, "", &[]);
    assert_eq!(plain.code, 0, "{}", plain.all());

    let (http_port, listener) = http_listener("500 Internal Server Error");
    let flags = notify_flags(http_port, "/hook/secret-token");
    let env = smtp_env(dead_port());
    let r = run(&db, &format!("{flags} --notify-threshold 1"), &env);
    assert_eq!(r.code, 0, "{}", r.all());
    join_within(listener, WAIT, "webhook");
    assert_eq!(db.fingerprint(TABLES), copy.fingerprint(TABLES));
    assert_eq!(remaining(&db), ["k0", "r0"]);
    let warns: Vec<&str> = r.stderr.lines().filter(|l| l.contains(" WARN ")).collect();
    let email = warns
        .iter()
        .any(|l| l.contains("email notification to a@example.com"));
    assert!(email, "{}", r.stderr);
    let hook = warns
        .iter()
        .any(|l| l.contains("webhook notification") && l.contains("HTTP 500"));
    assert!(hook, "{}", r.stderr);
    assert!(!r.all().contains("secret-token"), "{}", r.all());
});

backend_test!(a_cap_and_a_failure_are_announced, [sqlite], |db: TestDb| {
    setup(&db, 3);
    let notify = |args: &str| {
        let (smtp_port, sink) = smtp_sink();
        let (http_port, listener) = http_listener("204 No Content");
        let r = run(
            &db,
            &format!("{} {args}", notify_flags(http_port, "/")),
            &smtp_env(smtp_port),
        );
        let mail = join_within(sink, WAIT, "email");
        let json = webhook_json(&join_within(listener, WAIT, "webhook"));
        (r, mail_text(&mail), json)
    };

    let before = db.fingerprint(TABLES);
    let (r, mail, json) = notify("--max-deletions 2");
    assert_eq!(r.code, 4, "{}", r.all());
    assert_eq!(db.fingerprint(TABLES), before, "nothing deleted");
    assert!(
        mail.contains("Subject: anonsweep: run stopped by a safety cap on "),
        "{mail}"
    );
    assert!(mail.contains("more than max_deletions 2"), "{mail}");
    assert_eq!(
        (json["event"].as_str(), json["deleted_users"].as_u64()),
        (Some("capped"), Some(0))
    );
    assert!(
        json["text"].as_str().unwrap().contains("safety cap"),
        "{json}"
    );

    // A referencing table the configuration does not know: the pre-flight check fails (exit 2).
    db.exec(
        "CREATE TABLE favorites (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id));
         INSERT INTO favorites VALUES ('f1', 'e01');",
    );
    let all = ["users", "sessions", "accounts", "favorites"];
    let before = db.fingerprint(&all);
    let dir = support::scratch();
    let file = dir.path().join("m.prom");
    let (r, mail, json) = notify(&format!("--metrics-file {}", file.display()));
    assert_eq!(r.code, 2, "{}", r.all());
    assert_eq!(db.fingerprint(&all), before, "nothing deleted");
    assert!(
        mail.contains("Subject: anonsweep: run failed on "),
        "{mail}"
    );
    assert!(
        mail.contains("favorites.user_id references users.id"),
        "{mail}"
    );
    assert_eq!(json["event"], "failed");
    let t = json["text"].as_str().unwrap();
    assert!(t.starts_with("anonsweep: run failed on "), "{json}");
    let text = std::fs::read_to_string(&file).expect("metrics written for a failed run");
    promtool_check(&text);
    let samples = parse(&text);
    assert_eq!(value(&samples, "anonsweep_run_success", &[]), Some(0.0));
    assert_eq!(value(&samples, "anonsweep_run_exit_code", &[]), Some(2.0));
});

backend_test!(
    the_database_password_appears_nowhere,
    [postgres],
    |db: TestDb| {
        const PW: &str = "secretpw";
        setup(&db, 3);
        let mut url = url::Url::parse(&db.url()).unwrap();
        url.set_password(Some(PW)).unwrap();
        let mut dead = url.clone();
        dead.set_port(Some(dead_port())).unwrap();
        let dir = support::scratch();
        let file = dir.path().join("anonsweep.prom");

        // A run that deletes (threshold event), and one that cannot reach its database (failed).
        for (database_url, code, event) in [(&url, 0, "threshold"), (&dead, 1, "failed")] {
            let (smtp_port, sink) = smtp_sink();
            let (http_port, listener) = http_listener("200 OK");
            let flags = notify_flags(http_port, "/hook");
            let args = format!(
                "run --as-of {AS_OF} {flags} --notify-threshold 1 --metrics-file {}",
                file.display()
            );
            let args: Vec<&str> = args.split_whitespace().collect();
            let env = smtp_env(smtp_port);
            let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let database_url = database_url.to_string();
            env.push(("DATABASE_URL", &database_url));
            let r = support::anonsweep_in(&db.dir(), &args, &env);
            assert_eq!(r.code, code, "{}", r.all());
            let mail = join_within(sink, WAIT, "email");
            let req = join_within(listener, WAIT, "webhook");
            assert_eq!(webhook_json(&req)["event"], event);
            let metrics = std::fs::read_to_string(&file).unwrap();
            for (what, text) in [
                (
                    "email",
                    format!("{}\n{}", mail.commands.join("\n"), mail.data),
                ),
                ("webhook", format!("{}{}", req.head, req.body)),
                ("metrics", metrics),
                ("stdout", r.stdout.clone()),
                ("stderr", r.stderr.clone()),
            ] {
                assert!(
                    !text.contains(PW),
                    "{event}: {what} shows the password:\n{text}"
                );
            }
            assert!(
                mail_text(&mail).contains("127.0.0.1"),
                "the database is named"
            );
        }
        assert_eq!(remaining(&db), ["k0", "r0"]);
    }
);

backend_test!(
    bad_hook_settings_are_usage_errors,
    [sqlite],
    |db: TestDb| {
        setup(&db, 3);
        let before = db.fingerprint(TABLES);
        let smtp = Idle::bind();
        let cases = [
            ("--notify-email not-an-address", "none", "not-an-address"),
            ("--notify-webhook ftp://x", "none", "ftp://x"),
            (
                "--notify-email a@example.com",
                "bogus",
                "ANONSWEEP_SMTP_TLS",
            ),
        ];
        for (args, tls, needle) in cases {
            let mut env = smtp_env(smtp.port);
            env[2].1 = tls.to_string();
            let r = run(&db, &format!("{args} --notify-threshold 1"), &env);
            assert_eq!(r.code, 2, "{args}: {}", r.all());
            let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(lines.len(), 1, "{args}: one line: {}", r.stderr);
            assert!(lines[0].contains(needle), "{args}: {}", lines[0]);
            assert!(r.stdout.is_empty(), "{}", r.stdout);
            assert_eq!(db.fingerprint(TABLES), before, "{args}: nothing deleted");
        }
        assert!(!smtp.contacted(Duration::ZERO), "no email sent");
    }
);

backend_test!(
    credentials_in_hook_urls_are_never_printed,
    [sqlite],
    |db: TestDb| {
        setup(&db, 2);
        let port = support::peers::dead_port();
        let r = run(
        &db,
        &format!(
            "--pushgateway http://u:pushpw@127.0.0.1:{port}/ --notify-webhook http://w:hookpw@127.0.0.1:{port}/h --notify-threshold 1"
        ),
        &[],
    );
        assert_eq!(
            r.code,
            0,
            "unreachable hooks never fail the run: {}",
            r.all()
        );
        assert_eq!(remaining(&db), vec!["k0", "r0"]);
        assert!(
            r.stderr.contains("WARN"),
            "the failed push is reported: {}",
            r.stderr
        );
        for secret in ["pushpw", "hookpw"] {
            assert!(!r.all().contains(secret), "{secret} printed:\n{}", r.all());
        }
    }
);
