//! Database URLs: which backend, where, and a form safe to print (no password).

use std::path::PathBuf;

use crate::error::{register_secret, usage};
use crate::sql::dialect::Backend;

/// A parsed database location. The raw URL is kept private; `Display` never shows a password.
#[derive(Clone)]
pub enum DbUrl {
    Sqlite { path: PathBuf },
    Postgres { url: String, shown: String },
    Mysql { url: String, shown: String },
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
                DbUrl::Mysql { url, shown }
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

    /// The URL to hand to the driver (contains the password: never print it).
    pub fn connect_string(&self) -> String {
        match self {
            DbUrl::Sqlite { path } => path.to_string_lossy().into_owned(),
            DbUrl::Postgres { url, .. } | DbUrl::Mysql { url, .. } => url.clone(),
        }
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
}
