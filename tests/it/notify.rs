//! Notifications against real local peers: an SMTP sink and an HTTP listener, both written
//! here on top of std::net, plus dead and misbehaving peers that must only produce messages.

use crate::support;

use std::time::{Duration, Instant};

use support::peers::{dead_port, http_listener, silent_peer, smtp_sink};
use support::{EmailConfig, Event, EventKind, Notifier, Tls};

const SECRET: &str = "n0tify-s3cret-pw";

fn event(kind: EventKind, deleted: u64) -> Event {
    support::register_secret(SECRET);
    Event {
        kind,
        run_id: "run-42".into(),
        database: "postgres://app@db.example/app".into(),
        deleted_users: deleted,
        summary: format!(
            "run run-42 on postgres://app@db.example/app\ndeleted users: {deleted}\nrows: public.sessions 99, public.users {deleted}\nleaked: {SECRET}\n"
        ),
    }
}

fn email_config(port: u16) -> EmailConfig {
    EmailConfig {
        to: vec![
            "ops@example.com".into(),
            "Data Team <data@example.org>".into(),
        ],
        from: "anonsweep@host.example".into(),
        host: "127.0.0.1".into(),
        port,
        tls: Tls::None,
        user: None,
        password: None,
    }
}

/// Unfolds header lines (RFC 5322) so a long subject can be searched for.
fn unfold(data: &str) -> String {
    data.replace("\r\n ", " ").replace("\r\n\t", " ")
}

#[test]
fn email_reaches_the_smtp_sink() {
    let (port, sink) = smtp_sink();
    let notifier = Notifier {
        email: Some(email_config(port)),
        webhook: None,
    };
    let errors = notifier.send(&event(EventKind::Threshold, 1234));
    assert!(errors.is_empty(), "{errors:?}");

    let mail = sink.join().unwrap();
    let cmds = mail.commands.join("\n");
    assert!(
        cmds.contains("MAIL FROM:<anonsweep@host.example>"),
        "{cmds}"
    );
    assert!(cmds.contains("RCPT TO:<ops@example.com>"), "{cmds}");
    assert!(cmds.contains("RCPT TO:<data@example.org>"), "{cmds}");
    assert!(cmds.ends_with("QUIT"), "{cmds}");

    let data = unfold(&mail.data);
    assert!(
        data.contains(
            "Subject: anonsweep: 1234 anonymous users deleted on postgres://app@db.example/app\r\n"
        ),
        "{data}"
    );
    assert!(data.contains("ops@example.com"), "{data}");
    assert!(data.contains("data@example.org"), "{data}");
    assert!(data.contains("From: anonsweep@host.example"), "{data}");
    assert!(data.contains("Message-ID: <"), "{data}");
    for line in [
        "run run-42 on postgres://app@db.example/app",
        "deleted users: 1234",
        "rows: public.sessions 99, public.users 1234",
        "leaked: ***",
    ] {
        assert!(data.contains(&format!("{line}\r\n")), "{line:?} in {data}");
    }
    assert!(!data.contains(SECRET), "password redacted: {data}");
}

#[test]
fn webhook_receives_slack_compatible_json() {
    let (port, listener) = http_listener("200 OK");
    let notifier = Notifier {
        email: None,
        webhook: Some(format!("http://127.0.0.1:{port}/hooks/T000/B000/XXXX")),
    };
    let errors = notifier.send(&event(EventKind::Failed, 7));
    assert!(errors.is_empty(), "{errors:?}");

    let req = listener.join().unwrap();
    assert!(
        req.head
            .starts_with("POST /hooks/T000/B000/XXXX HTTP/1.1\r\n"),
        "{}",
        req.head
    );
    assert!(
        req.head
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        req.head
    );
    let json: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    let text = json["text"].as_str().expect("text field");
    assert!(
        text.starts_with(
            "anonsweep: run failed on postgres://app@db.example/app after deleting 7 anonymous users\n"
        ),
        "{text}"
    );
    assert!(text.contains("deleted users: 7\n"), "{text}");
    assert!(text.contains("leaked: ***"), "{text}");
    assert!(!req.body.contains(SECRET), "{}", req.body);
    assert_eq!(json["event"], "failed");
    assert_eq!(json["run_id"], "run-42");
    assert_eq!(json["database"], "postgres://app@db.example/app");
    assert_eq!(json["deleted_users"], 7);
}

#[test]
fn both_channels_deliver_a_capped_event() {
    let (smtp_port, sink) = smtp_sink();
    let (http_port, listener) = http_listener("204 No Content");
    let notifier = Notifier {
        email: Some(email_config(smtp_port)),
        webhook: Some(format!("http://127.0.0.1:{http_port}/")),
    };
    let errors = notifier.send(&event(EventKind::Capped, 0));
    assert!(errors.is_empty(), "{errors:?}");
    let mail = sink.join().unwrap();
    assert!(
        unfold(&mail.data).contains(
            "Subject: anonsweep: run stopped by a safety cap on postgres://app@db.example/app\r\n"
        ),
        "{}",
        mail.data
    );
    let json: serde_json::Value = serde_json::from_str(&listener.join().unwrap().body).unwrap();
    assert_eq!(json["event"], "capped");
    assert_eq!(json["deleted_users"], 0);
}

#[test]
fn dead_smtp_and_failing_webhook_only_give_messages() {
    let (http_port, listener) = http_listener("500 Internal Server Error");
    let notifier = Notifier {
        email: Some(email_config(dead_port())),
        webhook: Some(format!("http://127.0.0.1:{http_port}/secret-token-path")),
    };
    let started = Instant::now();
    let errors = notifier.send(&event(EventKind::Threshold, 1));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    listener.join().unwrap();

    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("email notification to ops@example.com"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("127.0.0.1:"), "{}", errors[0]);
    assert!(
        errors[1].starts_with("webhook notification to http://127.0.0.1:"),
        "{}",
        errors[1]
    );
    assert!(errors[1].contains("HTTP 500"), "{}", errors[1]);
    assert!(
        !errors[1].contains("secret-token-path"),
        "webhook path hidden: {}",
        errors[1]
    );
    for e in &errors {
        assert!(!e.contains('\n'), "one line: {e:?}");
    }

    // Nothing listening for the webhook either.
    let notifier = Notifier {
        email: None,
        webhook: Some(format!("http://127.0.0.1:{}/x", dead_port())),
    };
    let errors = notifier.send(&event(EventKind::Failed, 0));
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn silent_smtp_server_times_out() {
    let (port, peer) = silent_peer();
    let notifier = Notifier {
        email: Some(email_config(port)),
        webhook: None,
    };
    let started = Instant::now();
    let errors = notifier.send(&event(EventKind::Threshold, 1));
    let took = started.elapsed();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("no answer within 10 s"), "{errors:?}");
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "{took:?}"
    );
    drop(notifier);
    peer.join().unwrap();
}

#[test]
fn silent_webhook_times_out() {
    let (port, peer) = silent_peer();
    let notifier = Notifier {
        email: None,
        webhook: Some(format!("http://127.0.0.1:{port}/")),
    };
    let started = Instant::now();
    let errors = notifier.send(&event(EventKind::Threshold, 1));
    let took = started.elapsed();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("no answer within 10 s"), "{errors:?}");
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "{took:?}"
    );
    peer.join().unwrap();
}

#[test]
fn subjects() {
    assert_eq!(
        event(EventKind::Threshold, 1).subject(),
        "anonsweep: 1 anonymous user deleted on postgres://app@db.example/app"
    );
    assert_eq!(
        event(EventKind::Failed, 0).subject(),
        "anonsweep: run failed on postgres://app@db.example/app"
    );
    let mut e = event(EventKind::Capped, 0);
    e.database = format!("postgres://u:{SECRET}@h/db\nx");
    assert_eq!(
        e.subject(),
        "anonsweep: run stopped by a safety cap on postgres://u:***@h/db x"
    );
}

/// The only test that touches the process environment.
#[test]
fn email_config_from_env() {
    const VARS: &[&str] = &[
        "ANONSWEEP_SMTP_HOST",
        "ANONSWEEP_SMTP_PORT",
        "ANONSWEEP_SMTP_TLS",
        "ANONSWEEP_SMTP_USER",
        "ANONSWEEP_SMTP_PASSWORD",
        "ANONSWEEP_SMTP_FROM",
    ];
    let clear = || VARS.iter().for_each(|v| std::env::remove_var(v));
    let to = || vec!["ops@example.com".to_string()];
    let err = |to: Vec<String>| {
        let e = EmailConfig::from_env(to).unwrap_err();
        assert_eq!(support::exit_code_for(&e), 2, "usage error: {e}");
        let msg = support::one_line(&e);
        assert!(!msg.contains('\n'));
        msg
    };

    clear();
    let c = EmailConfig::from_env(to()).unwrap();
    assert_eq!(c.host, "localhost");
    assert_eq!(c.tls, Tls::StartTls);
    assert_eq!(c.port, 587);
    assert_eq!((c.user.clone(), c.password.clone()), (None, None));
    assert!(c.from.starts_with("anonsweep@"), "{}", c.from);
    assert_eq!(c.to, to());

    std::env::set_var("ANONSWEEP_SMTP_TLS", "none");
    assert_eq!(EmailConfig::from_env(to()).unwrap().port, 25);
    std::env::set_var("ANONSWEEP_SMTP_TLS", "TLS");
    assert_eq!(EmailConfig::from_env(to()).unwrap().port, 465);
    std::env::set_var("ANONSWEEP_SMTP_PORT", "2525");
    std::env::set_var("ANONSWEEP_SMTP_HOST", "mail.example.com");
    std::env::set_var("ANONSWEEP_SMTP_FROM", "Sweeper <sweeper@example.com>");
    std::env::set_var("ANONSWEEP_SMTP_USER", "sweeper");
    std::env::set_var("ANONSWEEP_SMTP_PASSWORD", "env-smtp-pa55");
    let c = EmailConfig::from_env(to()).unwrap();
    assert_eq!(
        (c.host.as_str(), c.port, c.tls, c.from.as_str()),
        (
            "mail.example.com",
            2525,
            Tls::Tls,
            "Sweeper <sweeper@example.com>"
        )
    );
    assert_eq!(c.user.as_deref(), Some("sweeper"));
    assert_eq!(c.password.as_deref(), Some("env-smtp-pa55"));
    assert_eq!(support::redact("pw env-smtp-pa55"), "pw ***");
    assert!(!format!("{c:?}").contains("env-smtp-pa55"));

    // Bad values name the variable and the fix.
    std::env::set_var("ANONSWEEP_SMTP_TLS", "ssl");
    let m = err(to());
    assert!(
        m.contains("ANONSWEEP_SMTP_TLS") && m.contains("starttls"),
        "{m}"
    );
    std::env::set_var("ANONSWEEP_SMTP_TLS", "starttls");
    for bad in ["smtp", "0", "70000"] {
        std::env::set_var("ANONSWEEP_SMTP_PORT", bad);
        let m = err(to());
        assert!(
            m.contains("ANONSWEEP_SMTP_PORT") && m.contains("1-65535"),
            "{m}"
        );
    }
    std::env::remove_var("ANONSWEEP_SMTP_PORT");
    std::env::set_var("ANONSWEEP_SMTP_FROM", "not an address");
    assert!(err(to()).contains("ANONSWEEP_SMTP_FROM"));
    std::env::remove_var("ANONSWEEP_SMTP_FROM");
    std::env::remove_var("ANONSWEEP_SMTP_USER");
    let m = err(to());
    assert!(
        m.contains("ANONSWEEP_SMTP_USER") && !m.contains("env-smtp-pa55"),
        "{m}"
    );
    std::env::set_var("ANONSWEEP_SMTP_USER", "sweeper");

    // Recipients are checked too.
    let m = err(vec!["ops@example.com".into(), "ops at example".into()]);
    assert!(
        m.contains("\"ops at example\"") && m.contains("user@example.com"),
        "{m}"
    );
    assert!(err(vec![]).contains("recipient"));

    clear();
}
