//! Notifications (email, webhook) about runs that need a human's attention; they never fail or roll back the cleanup: every delivery error becomes a message.

use std::fmt;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls as SmtpTls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::error::{redact, usage};

/// Timeout of each delivery (SMTP connect and every SMTP read/write; the whole webhook request).
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a notification is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Deletions reached `--notify-threshold`.
    Threshold,
    /// A safety cap stopped the run.
    Capped,
    /// The run failed.
    Failed,
}

impl EventKind {
    /// The `event` field of the webhook JSON: `threshold`, `capped` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Threshold => "threshold",
            EventKind::Capped => "capped",
            EventKind::Failed => "failed",
        }
    }
}

/// One notification.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: EventKind,
    pub run_id: String,
    /// The database, already redacted.
    pub database: String,
    pub deleted_users: u64,
    /// Multi-line text summary (the email body).
    pub summary: String,
}

impl Event {
    /// The one-line email subject (and the first line of the webhook text), secrets removed.
    pub fn subject(&self) -> String {
        let db = one_line(&self.database);
        let n = self.deleted_users;
        let users = if n == 1 { "user" } else { "users" };
        let s = match self.kind {
            EventKind::Threshold => format!("anonsweep: {n} anonymous {users} deleted on {db}"),
            EventKind::Capped => format!("anonsweep: run stopped by a safety cap on {db}"),
            EventKind::Failed if n > 0 => {
                format!("anonsweep: run failed on {db} after deleting {n} anonymous {users}")
            }
            EventKind::Failed => format!("anonsweep: run failed on {db}"),
        };
        redact(&s)
    }

    /// The webhook JSON body: a Slack-compatible `text` plus `event`, `run_id`, `database`,
    /// `deleted_users`.
    pub fn webhook_json(&self) -> serde_json::Value {
        serde_json::json!({
            "text": redact(&format!("{}\n{}", self.subject(), self.summary.trim_end())),
            "event": self.kind.as_str(),
            "run_id": redact(&self.run_id),
            "database": redact(&self.database),
            "deleted_users": self.deleted_users,
        })
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    /// Plain text (port 25 by default).
    None,
    /// STARTTLS, required (port 587 by default).
    StartTls,
    /// TLS from the first byte, "SMTPS" (port 465 by default).
    Tls,
}

impl Tls {
    /// The default port for this mode: 25, 587 or 465.
    pub fn default_port(self) -> u16 {
        match self {
            Tls::None => 25,
            Tls::StartTls => 587,
            Tls::Tls => 465,
        }
    }
}

/// Where and how to send email notifications.
#[derive(Clone)]
pub struct EmailConfig {
    pub to: Vec<String>,
    pub from: String,
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("to", &self.to)
            .field("from", &self.from)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

/// An environment variable, `None` when unset or blank.
fn env_var(name: &str) -> anyhow::Result<Option<String>> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(usage(format!(
            "{name} is not valid UTF-8; set it to plain text or unset it"
        ))),
    }
}

impl EmailConfig {
    /// From the environment: `ANONSWEEP_SMTP_HOST` (default `localhost`), `ANONSWEEP_SMTP_PORT`
    /// (default 25 for none, 587 for starttls, 465 for tls), `ANONSWEEP_SMTP_TLS` =
    /// none|starttls|tls (default starttls), `ANONSWEEP_SMTP_USER`, `ANONSWEEP_SMTP_PASSWORD`,
    /// `ANONSWEEP_SMTP_FROM` (default `anonsweep@<hostname>`). Bad values, or a bad recipient,
    /// give a one-line usage error (exit code 2) naming the variable and the fix. The password
    /// is registered as a secret.
    pub fn from_env(to: Vec<String>) -> anyhow::Result<EmailConfig> {
        // Register first, so that no later message can show it.
        let password = env_var("ANONSWEEP_SMTP_PASSWORD")?;
        if let Some(p) = &password {
            crate::error::register_secret(p);
        }
        if to.is_empty() {
            return Err(usage(
                "email notifications need at least one recipient address",
            ));
        }
        let mut recipients = Vec::with_capacity(to.len());
        for addr in to {
            let addr = addr.trim().to_string();
            if let Err(e) = addr.parse::<Mailbox>() {
                return Err(usage(redact(&format!(
                    "the notification recipient {addr:?} is not an email address ({e}); write it as user@example.com or \"Name <user@example.com>\""
                ))));
            }
            recipients.push(addr);
        }

        let tls = match env_var("ANONSWEEP_SMTP_TLS")? {
            None => Tls::StartTls,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "none" => Tls::None,
                "starttls" => Tls::StartTls,
                "tls" => Tls::Tls,
                _ => {
                    return Err(usage(redact(&format!(
                        "ANONSWEEP_SMTP_TLS={v:?} is not a TLS mode; set it to none, starttls (the default) or tls"
                    ))))
                }
            },
        };
        let port = match env_var("ANONSWEEP_SMTP_PORT")? {
            None => tls.default_port(),
            Some(v) => match v.trim().parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => {
                    return Err(usage(redact(&format!(
                        "ANONSWEEP_SMTP_PORT={v:?} is not a port number; set it to 1-65535 or unset it (default {} with ANONSWEEP_SMTP_TLS={})",
                        tls.default_port(),
                        match tls {
                            Tls::None => "none",
                            Tls::StartTls => "starttls",
                            Tls::Tls => "tls",
                        }
                    ))))
                }
            },
        };
        let host = env_var("ANONSWEEP_SMTP_HOST")?
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|| "localhost".to_string());
        if host.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(usage(redact(&format!(
                "ANONSWEEP_SMTP_HOST={host:?} is not a host name; set it to the SMTP server's name or IP address, without a scheme or port"
            ))));
        }
        let user = env_var("ANONSWEEP_SMTP_USER")?;
        match (&user, &password) {
            (Some(_), None) => {
                return Err(usage(
                    "ANONSWEEP_SMTP_USER is set but ANONSWEEP_SMTP_PASSWORD is not; set both or neither",
                ))
            }
            (None, Some(_)) => {
                return Err(usage(
                    "ANONSWEEP_SMTP_PASSWORD is set but ANONSWEEP_SMTP_USER is not; set both or neither",
                ))
            }
            _ => {}
        }
        let from = match env_var("ANONSWEEP_SMTP_FROM")? {
            Some(f) => {
                let f = f.trim().to_string();
                if let Err(e) = f.parse::<Mailbox>() {
                    return Err(usage(redact(&format!(
                        "ANONSWEEP_SMTP_FROM={f:?} is not an email address ({e}); write it as user@example.com or \"Name <user@example.com>\""
                    ))));
                }
                f
            }
            None => {
                let host = gethostname::gethostname()
                    .to_string_lossy()
                    .trim()
                    .to_string();
                let f = format!("anonsweep@{host}");
                if f.parse::<Mailbox>().is_err() {
                    return Err(usage(format!(
                        "the default sender {f:?} (from this machine's host name) is not an email address; set ANONSWEEP_SMTP_FROM, for example anonsweep@example.com"
                    )));
                }
                f
            }
        };
        Ok(EmailConfig {
            to: recipients,
            from,
            host,
            port,
            tls,
            user,
            password,
        })
    }
}

/// Where notifications go; either may be absent.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    pub email: Option<EmailConfig>,
    pub webhook: Option<String>,
}

/// The text of an error and its sources, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    one_line(&text)
}

/// A webhook URL fit for messages: its path and query often hold a secret token (Slack), so
/// only the scheme, host and port are shown.
pub fn display_webhook(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let mut s = format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
            if let Some(p) = u.port() {
                s.push_str(&format!(":{p}"));
            }
            if u.path() != "/" || u.query().is_some() {
                s.push_str("/…");
            }
            s
        }
        Err(_) => "<invalid URL>".to_string(),
    }
}

impl Notifier {
    /// Whether any channel is configured.
    pub fn is_enabled(&self) -> bool {
        self.email.is_some() || self.webhook.is_some()
    }

    /// Sends the event by email and by webhook. Returns the error messages, secrets removed
    /// (empty = all delivered); each is also logged as a warning. Never panics.
    pub fn send(&self, e: &Event) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(cfg) = &self.email {
            let where_ = format!("{}:{}", cfg.host, cfg.port);
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| send_email(cfg, e)))
                    .unwrap_or_else(|_| Err("unexpected internal error (panic)".to_string()));
            match result {
                Ok(()) => crate::info!(
                    "notification sent by email to {} via {where_}",
                    cfg.to.join(", ")
                ),
                Err(msg) => errors.push(redact(&format!(
                    "email notification to {} via {where_} failed: {msg}",
                    cfg.to.join(", ")
                ))),
            }
        }
        if let Some(url) = &self.webhook {
            let shown = display_webhook(url);
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| send_webhook(url, e)))
                    .unwrap_or_else(|_| Err("unexpected internal error (panic)".to_string()));
            match result {
                Ok(()) => crate::info!("notification sent to the webhook {shown}"),
                Err(msg) => errors.push(redact(&format!(
                    "webhook notification to {shown} failed: {}",
                    msg.replace(url.as_str(), &shown)
                ))),
            }
        }
        for msg in &errors {
            crate::warn!("{msg}");
        }
        errors
    }
}

fn send_email(cfg: &EmailConfig, e: &Event) -> Result<(), String> {
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|err| format!("bad sender {:?}: {err}", cfg.from))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(e.subject())
        .message_id(None)
        .header(ContentType::TEXT_PLAIN);
    for to in &cfg.to {
        let mb: Mailbox = to
            .parse()
            .map_err(|err| format!("bad recipient {to:?}: {err}"))?;
        builder = builder.to(mb);
    }
    let mut body = redact(&e.summary);
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let message = builder
        .body(body)
        .map_err(|err| format!("cannot build the message: {}", chain(&err)))?;

    let tls = match cfg.tls {
        Tls::None => SmtpTls::None,
        Tls::StartTls | Tls::Tls => {
            let params = TlsParameters::new(cfg.host.clone())
                .map_err(|err| format!("TLS setup: {}", chain(&err)))?;
            if cfg.tls == Tls::StartTls {
                SmtpTls::Required(params)
            } else {
                SmtpTls::Wrapper(params)
            }
        }
    };
    let mut transport = SmtpTransport::builder_dangerous(cfg.host.as_str())
        .port(cfg.port)
        .tls(tls)
        .timeout(Some(TIMEOUT));
    if let (Some(user), Some(password)) = (&cfg.user, &cfg.password) {
        transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
    }
    transport.build().send(&message).map(|_| ()).map_err(|err| {
        if is_io_timeout(&err) {
            format!("no answer within {} s ({})", TIMEOUT.as_secs(), chain(&err))
        } else {
            chain(&err)
        }
    })
}

/// Whether an I/O timeout caused the error (a socket read timeout is `WouldBlock` on Unix).
fn is_io_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                return true;
            }
        }
        source = e.source();
    }
    false
}

fn send_webhook(url: &str, e: &Event) -> Result<(), String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("the URL must start with http:// or https://".to_string());
    }
    let body = e.webhook_json().to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.as_str())
        .map_err(|err| match err {
            ureq::Error::Timeout(_) => format!("no answer within {} s", TIMEOUT.as_secs()),
            other => chain(&other),
        })?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_string())
    }
}
