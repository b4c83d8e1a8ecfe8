//! Database URLs: which backend, where, and a form safe to print (no password); the TLS settings
//! they carry, and what to say when the server refuses them.

use std::path::{Path, PathBuf};

use crate::error::{register_secret, usage};
use crate::sql::dialect::Backend;

/// A parsed database location. The raw URL is kept private; `Display` never shows a password.
#[derive(Clone)]
pub enum DbUrl {
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        url: String,
        shown: String,
    },
    /// `url` is the URL for mysql_async, without the TLS parameters, which are in `tls`.
    Mysql {
        url: String,
        shown: String,
        tls: MysqlTls,
    },
}

/// How a MySQL/MariaDB connection uses TLS: the URL's `ssl-mode`, with the `mysql` client's names
/// and meanings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disabled,
    /// TLS when the server offers it, without verifying its certificate; otherwise plain.
    Preferred,
    /// TLS or no connection, without verifying the certificate.
    Required,
    /// TLS, the certificate chain verified against `ssl-ca` (or the built-in roots).
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host connected to.
    VerifyIdentity,
}

impl SslMode {
    const ALL: [SslMode; 5] = [
        SslMode::Disabled,
        SslMode::Preferred,
        SslMode::Required,
        SslMode::VerifyCa,
        SslMode::VerifyIdentity,
    ];

    /// The name as the `mysql` client spells it.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disabled => "DISABLED",
            SslMode::Preferred => "PREFERRED",
            SslMode::Required => "REQUIRED",
            SslMode::VerifyCa => "VERIFY_CA",
            SslMode::VerifyIdentity => "VERIFY_IDENTITY",
        }
    }

    /// Whether the server's certificate is verified.
    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyIdentity)
    }
}

/// The TLS settings of a MySQL/MariaDB URL: `ssl-mode` and `ssl-ca`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MysqlTls {
    pub mode: SslMode,
    /// Whether the URL said `ssl-mode` (else the default: PREFERRED, or VERIFY_CA with an `ssl-ca`).
    pub mode_given: bool,
    /// The CA certificate(s) the server's certificate must chain to; without it, VERIFY_CA and
    /// VERIFY_IDENTITY use the built-in (Mozilla) roots.
    pub ca: Option<PathBuf>,
}

impl MysqlTls {
    /// The mode as the URL set it, for messages: `ssl-mode=VERIFY_CA`, or
    /// `ssl-mode=PREFERRED (the default)`.
    pub fn setting(&self) -> String {
        let default = match (self.mode_given, &self.ca) {
            (true, _) => "",
            (false, None) => " (the default)",
            (false, Some(_)) => " (the default with ssl-ca)",
        };
        format!("ssl-mode={}{default}", self.mode.name())
    }

    /// Where the trusted CAs come from, for messages.
    pub fn trusted(&self) -> String {
        match &self.ca {
            Some(p) => format!("the CA in ssl-ca={}", p.display()),
            None => "the built-in (Mozilla) root CAs".into(),
        }
    }

    /// Why the server's certificate was refused (`cause` is the TLS library's reason), and the
    /// fix, as the tail of a `cannot connect to …` line.
    pub fn refused_certificate(&self, cause: &str) -> String {
        let fix = match &self.ca {
            Some(_) => {
                "give in ssl-ca the CA certificate (PEM) that signed the server's certificate"
            }
            None => {
                "give the CA certificate (PEM) that signed the server's certificate as ssl-ca=PATH"
            }
        };
        format!(
            "{}: the server's certificate does not verify against {} ({cause}): {fix}, or use ssl-mode=REQUIRED to encrypt without verifying",
            self.setting(),
            self.trusted()
        )
    }

    /// The certificate verified but does not name `host` (VERIFY_IDENTITY; `names` are the ones
    /// it gives), or names no host at all (VERIFY_CA).
    pub fn wrong_host(&self, host: &str, names: &[String]) -> String {
        if self.mode == SslMode::VerifyCa {
            // Verifying the chain only still needs a name of the certificate's own to verify for.
            return format!(
                "{}: the server's certificate names no host (no DNS name or IP address in its subjectAltName), which the TLS library needs even to verify the CA only: reissue the server's certificate with a subjectAltName, or use ssl-mode=REQUIRED to encrypt without verifying",
                self.setting()
            );
        }
        let named = if names.is_empty() {
            "it names no host in its subjectAltName".to_string()
        } else {
            format!("it names {}", names.join(", "))
        };
        format!(
            "{}: the server's certificate is not valid for host {host} ({named}): connect with a host name the certificate names, or use ssl-mode=VERIFY_CA to verify the CA only",
            self.setting()
        )
    }

    /// The server offered no TLS, which the mode requires.
    pub fn no_tls_offered(&self) -> String {
        format!(
            "{}: the server does not offer TLS: enable TLS on the server (ssl_cert and ssl_key), or, on a trusted network only, connect with ssl-mode=PREFERRED or DISABLED",
            self.setting()
        )
    }

    /// TLS with the server failed for another reason (`cause`).
    pub fn failed(&self, cause: &str) -> String {
        format!(
            "{}: TLS with the server failed ({cause}): check the server's TLS setup, or, on a trusted network only, connect with ssl-mode=DISABLED",
            self.setting()
        )
    }
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbUrl({self})")
    }
}

impl std::fmt::Display for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbUrl::Sqlite { path } => write!(f, "sqlite://{}", path.display()),
            DbUrl::Postgres { shown, .. } | DbUrl::Mysql { shown, .. } => f.write_str(shown),
        }
    }
}

const FIX: &str = "expected postgres://user:password@host:5432/dbname, mysql://user:password@host:3306/dbname, sqlite://path/to/file.db or a plain file path";

impl DbUrl {
    /// Parses a URL or a plain SQLite file path. Registers any password as a secret first.
    pub fn parse(raw: &str) -> anyhow::Result<DbUrl> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(usage(format!("the database URL is empty: {FIX}")));
        }
        let Some((scheme, rest)) = raw.split_once("://") else {
            if let Some(rest) = raw.strip_prefix("sqlite:") {
                return Self::sqlite(rest);
            }
            if raw.contains("://") || looks_like_scheme(raw) {
                return Err(usage(format!("malformed database URL: {FIX}")));
            }
            return Self::sqlite(raw);
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" | "sqlite3" | "file" => Self::sqlite(rest),
            "postgres" | "postgresql" => Self::server(raw, Backend::Postgres),
            "mysql" | "mariadb" => Self::server(raw, Backend::Mysql),
            other => Err(usage(format!(
                "unknown database URL scheme {:?}: {FIX}",
                redact_scheme(other)
            ))),
        }
    }

    fn sqlite(path: &str) -> anyhow::Result<DbUrl> {
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(usage(format!("the SQLite URL has no file path: {FIX}")));
        }
        if path == ":memory:" {
            return Err(usage(
                "an in-memory SQLite database holds nothing to clean up: give the path of the database file",
            ));
        }
        Ok(DbUrl::Sqlite {
            path: PathBuf::from(path),
        })
    }

    fn server(raw: &str, backend: Backend) -> anyhow::Result<DbUrl> {
        // Register the password before anything can fail and print.
        if let Some(pw) = raw_password(raw) {
            register_secret(&pw);
            if let Ok(decoded) = percent_decode(&pw) {
                register_secret(&decoded);
            }
        }
        let parsed = url::Url::parse(raw)
            .map_err(|e| usage(format!("malformed database URL ({e}): {FIX}")))?;
        if let Some(pw) = parsed.password() {
            register_secret(pw);
        }
        for (k, v) in parsed.query_pairs() {
            if k.eq_ignore_ascii_case("password") {
                register_secret(&v);
            }
        }
        let mut shown = parsed.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        if parsed
            .query_pairs()
            .any(|(k, _)| k.eq_ignore_ascii_case("password"))
        {
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("password") {
                        "***".into()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        let (url, shown) = (raw.to_string(), shown.to_string());
        Ok(match backend {
            Backend::Mysql => {
                if parsed.path().trim_matches('/').is_empty() {
                    return Err(usage(format!("the MySQL URL names no database: {FIX}")));
                }
                // The driver wants the `mysql` scheme.
                let url = match url.split_once("://") {
                    Some((_, rest)) => format!("mysql://{rest}"),
                    None => url,
                };
                let (url, tls) = mysql_tls(&url, &shown)?;
                DbUrl::Mysql { url, shown, tls }
            }
            _ => DbUrl::Postgres { url, shown },
        })
    }

    /// What identifies the database regardless of who connects: backend, host, port and
    /// database name (SQLite: the file's canonical path). No user, no password.
    pub fn identity(&self) -> String {
        match self {
            DbUrl::Sqlite { path } => {
                let p = path.canonicalize().unwrap_or_else(|_| path.clone());
                format!("sqlite:{}", p.display())
            }
            DbUrl::Postgres { url, .. } | DbUrl::Mysql { url, .. } => {
                let (backend, default_port) = match self.backend() {
                    Backend::Postgres => ("postgres", 5432),
                    _ => ("mysql", 3306),
                };
                match url::Url::parse(url) {
                    Ok(u) => format!(
                        "{backend}://{}:{}{}",
                        u.host_str().unwrap_or("localhost").to_ascii_lowercase(),
                        u.port().unwrap_or(default_port),
                        u.path()
                    ),
                    Err(_) => format!("{backend}:{}", self),
                }
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            DbUrl::Sqlite { .. } => Backend::Sqlite,
            DbUrl::Postgres { .. } => Backend::Postgres,
            DbUrl::Mysql { .. } => Backend::Mysql,
        }
    }

    /// What to add to a PostgreSQL connection error that libpq's TLS caused (`said` is libpq's
    /// message): the URL's setting (`sslmode=verify-full`, `sslrootcert=…`) and the fix. libpq
    /// reads `sslmode` and `sslrootcert` from the URL itself, or from PGSSLMODE/PGSSLROOTCERT.
    pub fn pg_tls_hint(&self, said: &str) -> Option<String> {
        let DbUrl::Postgres { url, .. } = self else {
            return None;
        };
        let param = |name: &str, env: &str| -> Option<String> {
            let from_url = url::Url::parse(url).ok().and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
            });
            match from_url {
                Some(v) => Some(format!("{name}={v}")),
                None => std::env::var(env).ok().map(|v| format!("{env}={v}")),
            }
        };
        let mode = param("sslmode", "PGSSLMODE")
            .unwrap_or_else(|| "sslmode=prefer (libpq's default)".into());
        let root = param("sslrootcert", "PGSSLROOTCERT")
            .unwrap_or_else(|| "sslrootcert (default ~/.postgresql/root.crt)".into());
        let said = said.to_ascii_lowercase();
        if said.contains("server does not support ssl") {
            Some(format!(
                "{mode}: the server does not offer TLS: enable ssl on the server, or, on a trusted network only, connect with sslmode=prefer or sslmode=disable"
            ))
        } else if said.contains("certificate verify failed") {
            Some(format!(
                "{mode}: the server's certificate does not verify against {root}: give in sslrootcert the CA certificate (PEM) that signed the server's certificate (sslrootcert=system for the system's CAs), or use sslmode=require to encrypt without verifying"
            ))
        } else if said.contains("does not match host name") {
            Some(format!(
                "{mode}: the server's certificate does not name the host connected to: connect with a host name the certificate names, or use sslmode=verify-ca to verify the CA only"
            ))
        } else if said.contains("root certificate file") {
            Some(format!(
                "{mode} verifies the server's certificate, which needs a CA: give the CA certificate's path in sslrootcert (sslrootcert=system for the system's CAs), or use sslmode=require to encrypt without verifying"
            ))
        } else {
            None
        }
    }

    /// The URL to hand to the driver (contains the password: never print it).
    pub fn connect_string(&self) -> String {
        match self {
            DbUrl::Sqlite { path } => path.to_string_lossy().into_owned(),
            DbUrl::Postgres { url, .. } | DbUrl::Mysql { url, .. } => url.clone(),
        }
    }
}

/// URL parameters of other clients, or of mysql_async itself, that would set TLS beside
/// `ssl-mode`/`ssl-ca` (the driver's own ones could only contradict them): refused with the
/// parameter to use instead.
const MYSQL_TLS_ELSEWHERE: &[(&str, &str)] = &[
    (
        "sslmode",
        "ssl-mode=REQUIRED (or DISABLED, PREFERRED, VERIFY_CA, VERIFY_IDENTITY)",
    ),
    (
        "ssl",
        "ssl-mode=REQUIRED (or DISABLED, PREFERRED, VERIFY_CA, VERIFY_IDENTITY)",
    ),
    (
        "tls",
        "ssl-mode=REQUIRED (or DISABLED, PREFERRED, VERIFY_CA, VERIFY_IDENTITY)",
    ),
    (
        "usessl",
        "ssl-mode=REQUIRED (or DISABLED, PREFERRED, VERIFY_CA, VERIFY_IDENTITY)",
    ),
    ("require_ssl", "ssl-mode=REQUIRED"),
    ("verify_ca", "ssl-mode=VERIFY_CA"),
    ("verify_identity", "ssl-mode=VERIFY_IDENTITY"),
    (
        "built_in_roots",
        "ssl-ca=PATH (which then is the only CA trusted)",
    ),
    ("sslrootcert", "ssl-ca=PATH"),
    ("sslca", "ssl-ca=PATH"),
    ("ssl-capath", "ssl-ca=PATH (one file of PEM certificates)"),
    ("ssl_capath", "ssl-ca=PATH (one file of PEM certificates)"),
];

/// Takes `ssl-mode` and `ssl-ca` (or `ssl_mode`, `ssl_ca`; names case-insensitive) out of a MySQL
/// URL: the URL without them, for the driver, which refuses parameters it does not know, and the
/// settings. Other parameters stay byte for byte.
fn mysql_tls(url: &str, shown: &str) -> anyhow::Result<(String, MysqlTls)> {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, q),
        None => (before_fragment, ""),
    };
    let names = SslMode::ALL.map(SslMode::name).join(", ");
    let (mut mode, mut ca): (Option<SslMode>, Option<PathBuf>) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(k).unwrap_or_else(|_| k.to_string());
        let value = percent_decode(&v.replace('+', " ")).unwrap_or_else(|_| v.to_string());
        let norm = key.to_ascii_lowercase().replace('_', "-");
        match norm.as_str() {
            "ssl-mode" => {
                if mode.is_some() {
                    return Err(usage(format!(
                        "the MySQL URL {shown} sets ssl-mode twice: keep one"
                    )));
                }
                let m = SslMode::ALL
                    .into_iter()
                    .find(|m| m.name().eq_ignore_ascii_case(value.trim()))
                    .ok_or_else(|| {
                        usage(format!(
                            "ssl-mode={value} in the MySQL URL {shown} is not a mode: use one of {names}"
                        ))
                    })?;
                mode = Some(m);
            }
            "ssl-ca" => {
                if ca.is_some() {
                    return Err(usage(format!(
                        "the MySQL URL {shown} sets ssl-ca twice: keep one"
                    )));
                }
                if value.is_empty() {
                    return Err(usage(format!(
                        "ssl-ca in the MySQL URL {shown} is empty: give the path of the CA certificate (PEM) that signed the server's certificate"
                    )));
                }
                ca = Some(PathBuf::from(value));
            }
            "ssl-cert" | "ssl-key" => {
                return Err(usage(format!(
                    "{key} in the MySQL URL {shown}: client certificates are not supported: drop {key} (ssl-mode and ssl-ca set TLS)"
                )));
            }
            _ => {
                let lower = key.to_ascii_lowercase();
                if let Some((_, instead)) =
                    MYSQL_TLS_ELSEWHERE.iter().find(|(name, _)| *name == lower)
                {
                    return Err(usage(format!(
                        "{key} in the MySQL URL {shown} is not how anonsweep sets MySQL TLS: use {instead} (see docs/backends.md, \"TLS\")"
                    )));
                }
                kept.push(pair);
            }
        }
    }
    let tls = match (mode, ca) {
        (Some(m), Some(ca)) if !m.verifies() => {
            return Err(usage(format!(
                "ssl-ca={} in the MySQL URL {shown} is used only to verify the server, which ssl-mode={} does not: set ssl-mode=VERIFY_IDENTITY (or VERIFY_CA), or drop ssl-ca",
                ca.display(),
                m.name()
            )));
        }
        (mode, ca) => MysqlTls {
            mode: mode.unwrap_or(if ca.is_some() {
                SslMode::VerifyCa
            } else {
                SslMode::Preferred
            }),
            mode_given: mode.is_some(),
            ca,
        },
    };
    if let Some(ca) = &tls.ca {
        check_ca_file(ca)?;
    }
    let mut driver = base.to_string();
    if !kept.is_empty() {
        driver.push('?');
        driver.push_str(&kept.join("&"));
    }
    if let Some(f) = fragment {
        driver.push('#');
        driver.push_str(f);
    }
    Ok((driver, tls))
}

/// `ssl-ca` must name a readable file.
fn check_ca_file(ca: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(ca) {
        Ok(m) if m.is_file() => match std::fs::File::open(ca) {
            Ok(_) => Ok(()),
            Err(e) => Err(usage(format!(
                "ssl-ca={} in the MySQL URL cannot be read ({e}): make the CA certificate readable for the user running anonsweep",
                ca.display()
            ))),
        },
        Ok(_) => Err(usage(format!(
            "ssl-ca={} in the MySQL URL is not a file: give the path of the CA certificate (PEM) that signed the server's certificate",
            ca.display()
        ))),
        Err(e) => Err(usage(format!(
            "ssl-ca={} in the MySQL URL cannot be opened ({e}): give the path of the CA certificate (PEM) that signed the server's certificate",
            ca.display()
        ))),
    }
}

fn looks_like_scheme(raw: &str) -> bool {
    // `postgres:foo` or `http:x`: a scheme-like prefix without `//` is a typo, not a file name.
    match raw.split_once(':') {
        Some((s, _)) => {
            s.len() > 1
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '+')
                && !s.contains('/')
        }
        None => false,
    }
}

fn redact_scheme(s: &str) -> String {
    s.chars().take(20).collect()
}

/// The password part of `scheme://user:password@host`, found without a full parse.
fn raw_password(raw: &str) -> Option<String> {
    let rest = raw.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    let pw = userinfo.split_once(':')?.1;
    (!pw.is_empty()).then(|| pw.to_string())
}

fn percent_decode(s: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_password_is_hidden() {
        let u = DbUrl::parse("postgres://bob:s3cr%40t@localhost:5432/app").unwrap();
        let shown = u.to_string();
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(shown.contains("***"));
        assert_eq!(crate::error::redact("x s3cr@t y"), "x *** y");
    }

    #[test]
    fn sqlite_forms() {
        assert_eq!(
            DbUrl::parse("sqlite://a/b.db").unwrap().connect_string(),
            "a/b.db"
        );
        assert_eq!(
            DbUrl::parse("sqlite:///tmp/b.db").unwrap().connect_string(),
            "/tmp/b.db"
        );
        assert_eq!(DbUrl::parse("./x.db").unwrap().connect_string(), "./x.db");
        assert_eq!(
            DbUrl::parse("mariadb://root@localhost/x")
                .unwrap()
                .backend(),
            Backend::Mysql
        );
        assert!(DbUrl::parse("mysql://root@localhost/").is_err());
        assert!(DbUrl::parse("foo://x").is_err());
        assert!(DbUrl::parse("postgres://[::1").is_err());
    }

    fn mysql(raw: &str) -> (String, MysqlTls) {
        match DbUrl::parse(raw).unwrap() {
            DbUrl::Mysql { url, tls, .. } => (url, tls),
            other => panic!("not MySQL: {other}"),
        }
    }

    fn refusal(raw: &str) -> String {
        let e = DbUrl::parse(raw).unwrap_err();
        assert!(
            e.downcast_ref::<crate::error::UsageError>().is_some(),
            "{raw}: a usage error (exit 2), got {e:#}"
        );
        e.to_string()
    }

    #[test]
    fn mysql_tls_settings_leave_the_driver_url() {
        let (url, tls) = mysql("mariadb://u:p%40ss@db.example:3307/app");
        assert_eq!(url, "mysql://u:p%40ss@db.example:3307/app");
        assert_eq!(tls.mode, SslMode::Preferred);
        assert!(!tls.mode_given && tls.ca.is_none());
        assert_eq!(tls.setting(), "ssl-mode=PREFERRED (the default)");

        let (url, tls) = mysql(
            "mysql://u:p@h/app?prefer_socket=false&SSL-MODE=verify_identity&ssl_ca=%2Fetc%2Fhosts&tcp_nodelay=true",
        );
        // Other parameters stay as written, for the driver to take or refuse as before.
        assert_eq!(
            url,
            "mysql://u:p@h/app?prefer_socket=false&tcp_nodelay=true"
        );
        assert_eq!(tls.mode, SslMode::VerifyIdentity);
        assert_eq!(tls.ca.as_deref(), Some(Path::new("/etc/hosts")));
        assert_eq!(tls.setting(), "ssl-mode=VERIFY_IDENTITY");

        for (v, mode) in [
            ("DISABLED", SslMode::Disabled),
            ("preferred", SslMode::Preferred),
            ("Required", SslMode::Required),
            ("verify_ca", SslMode::VerifyCa),
        ] {
            let (url, tls) = mysql(&format!("mysql://u@h/app?ssl-mode={v}"));
            assert_eq!((url.as_str(), tls.mode), ("mysql://u@h/app", mode));
        }
        // An ssl-ca alone verifies against it (VERIFY_CA), as the mysql client does.
        let (_, tls) = mysql("mysql://u@h/app?ssl-ca=/etc/hosts");
        assert_eq!(tls.mode, SslMode::VerifyCa);
        assert_eq!(
            tls.setting(),
            "ssl-mode=VERIFY_CA (the default with ssl-ca)"
        );
        // Unknown parameters are left for the driver, which refuses them at connect, as before.
        let (url, _) = mysql("mysql://u@h/app?foo=bar");
        assert_eq!(url, "mysql://u@h/app?foo=bar");
    }

    #[test]
    fn mysql_tls_mistakes_are_refused_by_name() {
        let m = refusal("mysql://u:hunter2@h/app?ssl-mode=VERIFY");
        assert!(
            m.contains("ssl-mode=VERIFY ") && m.contains("VERIFY_IDENTITY"),
            "{m}"
        );
        assert!(!m.contains("hunter2"), "{m}");
        let m = refusal("mysql://u@h/app?ssl-mode=REQUIRED&ssl-ca=/etc/hosts");
        assert!(
            m.contains("ssl-mode=REQUIRED") && m.contains("VERIFY_IDENTITY"),
            "{m}"
        );
        let m = refusal("mysql://u@h/app?ssl-mode=REQUIRED&ssl-mode=DISABLED");
        assert!(m.contains("twice"), "{m}");
        let m = refusal("mysql://u@h/app?ssl-ca=/no/such/ca.pem");
        assert!(m.contains("ssl-ca=/no/such/ca.pem"), "{m}");
        let m = refusal("mysql://u@h/app?ssl-ca=");
        assert!(m.contains("ssl-ca") && m.contains("empty"), "{m}");
        for (param, instead) in [
            ("sslmode=require", "ssl-mode=REQUIRED"),
            ("require_ssl=true", "ssl-mode=REQUIRED"),
            ("verify_ca=false", "ssl-mode=VERIFY_CA"),
            ("sslrootcert=/x", "ssl-ca=PATH"),
        ] {
            let m = refusal(&format!("mysql://u@h/app?{param}"));
            assert!(m.contains(instead), "{param}: {m}");
        }
        let m = refusal("mysql://u@h/app?ssl-cert=/c.pem");
        assert!(m.contains("client certificates"), "{m}");
    }

    #[test]
    fn postgres_tls_settings_reach_libpq_untouched() {
        let raw = "postgres://u:pw@db:5432/app?sslmode=verify-full&sslrootcert=/etc/ssl/ca%20x.pem";
        assert_eq!(DbUrl::parse(raw).unwrap().connect_string(), raw);
        let u = DbUrl::parse(raw).unwrap();
        let hint = u
            .pg_tls_hint("SSL error: certificate verify failed")
            .unwrap();
        assert!(
            hint.starts_with("sslmode=verify-full:")
                && hint.contains("sslrootcert=/etc/ssl/ca x.pem"),
            "{hint}"
        );
        let hint = u
            .pg_tls_hint("server does not support SSL, but SSL was required")
            .unwrap();
        assert!(hint.contains("does not offer TLS"), "{hint}");
        assert_eq!(u.pg_tls_hint("password authentication failed"), None);
    }
}
