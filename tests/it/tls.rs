//! TLS on the server backends, against servers this test starts itself on their own ports, with
//! certificates from a CA it makes (`openssl`; the server's names `localhost` and `127.0.0.1`):
//!
//! - MariaDB: one with TLS, whose application user `REQUIRE SSL`s (so a connection that works
//!   is encrypted), and one with `--skip-ssl`;
//! - PostgreSQL: a cluster with `ssl = on` and only `hostssl` lines in `pg_hba.conf`, and one with
//!   `ssl = off`; the application role has a password (SCRAM).
//!
//! Both servers of a backend listen on 127.0.0.1 and 127.0.0.2, so the same server can be reached
//! under a name its certificate does not give. For each backend: `plan` and `run` verified
//! (`VERIFY_IDENTITY` / `verify-full`) delete exactly the eligible users; a wrong CA, a host the
//! certificate does not name, and TLS required of the server without it are refused with one line
//! naming the URL's setting (exit 1), and nothing is deleted; verifying the CA only accepts the
//! other name; the non-verifying modes work where they should. No run prints the password.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cluster::{is_root, pg_bindir};
use support::{Backend, Conn, DbUrl, Run};

const AS_OF: &str = "2026-11-26T00:00:00Z";
/// The application user's password on every test server: never printed.
const PASSWORD: &str = "Tls-pw_5839-sekrit";
const USER: &str = "sweeper";
const DB: &str = "app";

/// Every user (the default preset's tables), and the ones the rule deletes.
const ALL_USERS: &[&str] = &["e1", "e2", "e3", "k1", "n1", "r1"];
const KEPT: &[&str] = &["k1", "n1", "r1"];

// ------------------------------------------------------------------------------ certificates

fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA made for this test, and a server certificate it signed for `localhost` and 127.0.0.1;
/// another CA that signed nothing here (the wrong CA).
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn make() -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("anonsweep-tls-certs-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        for (name, cn) in [
            ("ca", "anonsweep test CA"),
            ("other-ca", "anonsweep other CA"),
        ] {
            std::fs::write(
                d.join(format!("{name}.cnf")),
                format!(
                    "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = {cn}\n\
                     [v3_ca]\nbasicConstraints = critical, CA:TRUE\n\
                     keyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n"
                ),
            )
            .unwrap();
            run_ok(
                Command::new("openssl")
                    .current_dir(d)
                    .args(["req", "-x509", "-new", "-newkey", "ec", "-pkeyopt"])
                    .arg("ec_paramgen_curve:prime256v1")
                    .args(["-nodes", "-days", "3", "-extensions", "v3_ca"])
                    .args(["-config", &format!("{name}.cnf")])
                    .args(["-keyout", &format!("{name}.key")])
                    .args(["-out", &format!("{name}.pem")]),
                &format!("openssl req ({name})"),
            );
        }
        std::fs::write(
            d.join("server.ext"),
            "basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1\n\
             subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
        )
        .unwrap();
        run_ok(
            Command::new("openssl")
                .current_dir(d)
                .args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
                .arg("ec_paramgen_curve:prime256v1")
                .args(["-nodes", "-subj", "/CN=localhost"])
                .args(["-keyout", "server.key", "-out", "server.csr"]),
            "openssl req (server)",
        );
        run_ok(
            Command::new("openssl")
                .current_dir(d)
                .args(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem"])
                .args(["-CAkey", "ca.key", "-CAcreateserial", "-days", "3"])
                .args(["-extfile", "server.ext", "-out", "server.pem"]),
            "openssl x509 (server)",
        );
        Certs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca(&self) -> String {
        self.path("ca.pem").display().to_string()
    }

    fn wrong_ca(&self) -> String {
        self.path("other-ca.pem").display().to_string()
    }
}

// ------------------------------------------------------------------------- shared helpers

/// A directory the server's OS user (`mysql`, `postgres`) owns, readable by all.
fn server_dir(prefix: &str, owner: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    chown(dir.path(), owner);
    dir
}

fn chown(path: &Path, owner: &str) {
    if is_root() {
        run_ok(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{owner}:"))
                .arg(path),
            &format!("chown {owner} {}", path.display()),
        );
    }
}

/// A TCP port nobody listens on right now (another process may take it before the server does;
/// the servers are started in a retry loop).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn connect(url: &str) -> Conn {
    Conn::connect(&DbUrl::parse(url).unwrap()).unwrap_or_else(|e| panic!("connect {url}: {e:#}"))
}

fn exec_all(c: &mut Conn, sql: &[String]) {
    for s in sql {
        c.batch_execute(s).unwrap_or_else(|e| panic!("{e}\n{s}"));
    }
}

/// The small population: e1–e3 abandoned anonymous users (old, old sessions), k1 anonymous with a
/// recent session, n1 anonymous and recent, r1 registered; a session and an account each.
fn population(backend: Backend) -> Vec<String> {
    let (ts, id) = match backend {
        Backend::Mysql => ("DATETIME(3)", "VARCHAR(64)"),
        _ => ("TIMESTAMPTZ", "TEXT"),
    };
    let t = |s: &str| match backend {
        Backend::Mysql => format!("'{s}'"),
        _ => format!("TIMESTAMPTZ '{s}+00'"),
    };
    let (old, old_session, recent) = (
        t("2026-01-01 00:00:00"),
        t("2026-01-02 00:00:00"),
        t("2026-11-20 00:00:00"),
    );
    let mut sql = vec![
        "DROP TABLE IF EXISTS sessions".to_string(),
        "DROP TABLE IF EXISTS accounts".to_string(),
        "DROP TABLE IF EXISTS users".to_string(),
        format!("CREATE TABLE users (id {id} PRIMARY KEY, is_anonymous BOOLEAN, created_at {ts})"),
        format!(
            "CREATE TABLE sessions (id {id} PRIMARY KEY, user_id {id} NOT NULL, created_at {ts}, \
             updated_at {ts}, FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE)"
        ),
        format!(
            "CREATE TABLE accounts (id {id} PRIMARY KEY, user_id {id} NOT NULL, provider TEXT, \
             FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE)"
        ),
    ];
    for (user, anon, created, session) in [
        ("e1", "TRUE", &old, &old_session),
        ("e2", "TRUE", &old, &old_session),
        ("e3", "TRUE", &old, &old_session),
        ("k1", "TRUE", &old, &recent),
        ("n1", "TRUE", &recent, &recent),
        ("r1", "FALSE", &old, &old_session),
    ] {
        sql.push(format!(
            "INSERT INTO users VALUES ('{user}', {anon}, {created})"
        ));
        sql.push(format!(
            "INSERT INTO sessions VALUES ('{user}-s', '{user}', {session}, {session})"
        ));
        sql.push(format!(
            "INSERT INTO accounts VALUES ('{user}-a', '{user}', 'x')"
        ));
    }
    sql
}

/// The ids in `table`'s first column, sorted.
fn ids(c: &mut Conn, table: &str, column: &str) -> Vec<String> {
    let mut v: Vec<String> = c
        .texts(
            &format!("SELECT {column} AS t FROM {table} ORDER BY {column}"),
            &[],
        )
        .unwrap_or_else(|e| panic!("read {table}: {e}"))
        .into_iter()
        .flatten()
        .collect();
    v.sort();
    v
}

fn users_left(c: &mut Conn) -> Vec<String> {
    ids(c, "users", "id")
}

fn assert_untouched(c: &mut Conn, label: &str) {
    assert_eq!(users_left(c), ALL_USERS, "{label}: nothing may be deleted");
    assert_eq!(
        ids(c, "sessions", "user_id"),
        ALL_USERS,
        "{label}: sessions"
    );
}

fn assert_swept(c: &mut Conn, label: &str) {
    assert_eq!(users_left(c), KEPT, "{label}: exactly e1..e3 go");
    assert_eq!(
        ids(c, "sessions", "user_id"),
        KEPT,
        "{label}: their sessions"
    );
    assert_eq!(
        ids(c, "accounts", "user_id"),
        KEPT,
        "{label}: their accounts"
    );
}

/// `anonsweep ARGS --database-url URL --as-of AS_OF --format json` in `dir` (no config file
/// there); the password must not appear in anything it prints.
fn anonsweep(dir: &Path, command: &str, url: &str, label: &str) -> Run {
    let r = support::anonsweep_in(
        dir,
        &[
            command,
            "--database-url",
            url,
            "--as-of",
            AS_OF,
            "--format",
            "json",
        ],
        &[],
    );
    assert!(
        !r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD),
        "{label}: the password was printed:\n{}",
        r.all()
    );
    assert!(!r.stderr.contains("panicked"), "{label}: {}", r.all());
    r
}

fn json(r: &Run, label: &str) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{label}: stdout is not JSON ({e}):\n{}", r.all()))
}

/// `plan` works and counts the three eligible users; nothing is deleted.
fn plan_works(dir: &Path, c: &mut Conn, url: &str, label: &str) {
    let r = anonsweep(dir, "plan", url, label);
    assert_eq!(r.code, 0, "{label}: plan:\n{}", r.all());
    assert_eq!(
        json(&r, label)["eligible"],
        3,
        "{label}: plan:\n{}",
        r.all()
    );
    assert_untouched(c, label);
}

/// `run` works and deletes exactly e1..e3 (the population is put back afterwards).
fn run_works(dir: &Path, c: &mut Conn, backend: Backend, url: &str, label: &str) {
    let r = anonsweep(dir, "run", url, label);
    assert_eq!(r.code, 0, "{label}: run:\n{}", r.all());
    assert_eq!(
        json(&r, label)["accounting"]["deleted"],
        3,
        "{label}: run:\n{}",
        r.all()
    );
    assert_swept(c, label);
    exec_all(c, &population(backend));
}

/// `command` is refused at connect: exit 1, one line on stderr holding every needle, no output
/// on stdout, nothing deleted.
fn refused(dir: &Path, c: &mut Conn, command: &str, url: &str, needles: &[&str], label: &str) {
    let r = anonsweep(dir, command, url, label);
    assert_eq!(
        r.code,
        1,
        "{label}: {command} must be refused:\n{}",
        r.all()
    );
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{label}: one line:\n{}", r.stderr);
    assert!(
        lines[0].starts_with("anonsweep: error: cannot connect to "),
        "{label}: {}",
        lines[0]
    );
    for n in needles {
        assert!(lines[0].contains(n), "{label}: {n:?} not in:\n{}", lines[0]);
    }
    assert!(r.stdout.trim().is_empty(), "{label}: stdout:\n{}", r.stdout);
    assert_untouched(c, label);
}

// ------------------------------------------------------------------------------ MariaDB

/// A MariaDB server of this test's own (`mariadbd` as the `mysql` OS user), with TLS or
/// `--skip-ssl`, listening on 127.0.0.1 and 127.0.0.2; killed and removed on drop.
struct Mariadb {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

/// `mariadb-install-db` once, into a directory the servers copy their data directory from.
fn mariadb_install() -> tempfile::TempDir {
    let dir = server_dir("anonsweep-tls-mariadb-base-", "mysql");
    run_ok(
        Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .args([
                "--user=mysql",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                "--innodb-log-file-size=4M",
                "--innodb-buffer-pool-size=16M",
            ]),
        "mariadb-install-db (install the MariaDB server package)",
    );
    dir
}

impl Mariadb {
    fn start(base: &Path, certs: Option<&Certs>) -> Mariadb {
        let dir = server_dir("anonsweep-tls-mariadb-", "mysql");
        run_ok(
            Command::new("cp")
                .arg("-a")
                .arg(base.join("data"))
                .arg(dir.path().join("data")),
            "copy the MariaDB data directory",
        );
        if let Some(certs) = certs {
            for f in ["server.pem", "server.key", "ca.pem"] {
                std::fs::copy(certs.path(f), dir.path().join(f)).unwrap();
            }
        }
        chown(dir.path(), "mysql");
        let d = dir.path();
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new("mariadbd");
            cmd.arg("--no-defaults")
                .arg(format!("--datadir={}", d.join("data").display()))
                .arg(format!("--socket={}", d.join("mysql.sock").display()))
                .arg(format!("--pid-file={}", d.join("mysqld.pid").display()))
                .arg(format!("--log-error={}", d.join("error.log").display()))
                .arg(format!("--port={port}"))
                .args([
                    "--bind-address=127.0.0.1,127.0.0.2",
                    "--user=mysql",
                    "--skip-name-resolve",
                    "--skip-log-bin",
                    "--innodb-log-file-size=4M",
                    "--innodb-buffer-pool-size=16M",
                    "--max-connections=30",
                ]);
            match certs {
                Some(_) => {
                    cmd.arg(format!("--ssl-cert={}", d.join("server.pem").display()))
                        .arg(format!("--ssl-key={}", d.join("server.key").display()))
                        .arg(format!("--ssl-ca={}", d.join("ca.pem").display()));
                }
                None => {
                    cmd.arg("--skip-ssl");
                }
            }
            let mut child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start mariadbd (install the MariaDB server package)");
            match mariadb_ready(&mut child, d) {
                Ok(()) => return Mariadb { dir, child, port },
                Err(e) => {
                    last = e;
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        panic!("mariadbd did not start: {last}");
    }

    /// root over the local socket (no password, no TLS).
    fn root_url(&self) -> String {
        root_url(self.dir.path(), "mysql")
    }

    /// The application user's URL to `host`, with `query` (`ssl-mode=…&ssl-ca=…`).
    fn url(&self, host: &str, query: &str) -> String {
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("mysql://{USER}:{PASSWORD}@{host}:{}/{DB}{q}", self.port)
    }

    /// The database and the application user (`REQUIRE SSL` on the TLS server); the population,
    /// and an admin connection to the database over the socket.
    fn setup(&self, require_ssl: bool) -> Conn {
        let mut root = connect(&self.root_url());
        let require = if require_ssl { " REQUIRE SSL" } else { "" };
        exec_all(
            &mut root,
            &[
                format!("CREATE DATABASE {DB}"),
                format!("CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'{require}"),
                format!("GRANT ALL ON {DB}.* TO '{USER}'@'%'"),
            ],
        );
        let mut c = connect(&root_url(self.dir.path(), DB));
        exec_all(&mut c, &population(Backend::Mysql));
        c
    }
}

/// root to `db` over the socket of the server in `dir` (no password, no TLS).
fn root_url(dir: &Path, db: &str) -> String {
    format!(
        "mysql://root@localhost/{db}?socket={}",
        dir.join("mysql.sock").display()
    )
}

/// Waits until the server in `dir` answers on its socket (its log says why it did not).
fn mariadb_ready(child: &mut Child, dir: &Path) -> Result<(), String> {
    let log = || std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(90) {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("mariadbd exited ({status}):\n{}", log()));
        }
        if Conn::connect(&DbUrl::parse(&root_url(dir, "mysql")).unwrap()).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("mariadbd not ready after 90 s:\n{}", log()))
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The TempDir field then removes the directory.
    }
}

#[test]
fn mysql() {
    let certs = Certs::make();
    let base = mariadb_install();
    let tls = Mariadb::start(base.path(), Some(&certs));
    let plain = Mariadb::start(base.path(), None);
    drop(base);
    let work = support::scratch();
    let dir = work.path();
    let (ca, wrong) = (certs.ca(), certs.wrong_ca());

    // --- the TLS server
    let mut c = tls.setup(true);
    let verified = tls.url(
        "127.0.0.1",
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
    );
    plan_works(dir, &mut c, &verified, "VERIFY_IDENTITY, right CA");
    run_works(
        dir,
        &mut c,
        Backend::Mysql,
        &verified,
        "VERIFY_IDENTITY, right CA",
    );
    // The mode's name is case-insensitive; `localhost` is named by the certificate too.
    let lower = tls.url(
        "localhost",
        &format!("ssl-mode=verify_identity&ssl-ca={ca}"),
    );
    plan_works(dir, &mut c, &lower, "verify_identity at localhost");
    for (mode, label) in [
        ("VERIFY_IDENTITY", "VERIFY_IDENTITY, wrong CA"),
        ("VERIFY_CA", "VERIFY_CA, wrong CA"),
    ] {
        let url = tls.url("127.0.0.1", &format!("ssl-mode={mode}&ssl-ca={wrong}"));
        for command in ["plan", "run"] {
            refused(
                dir,
                &mut c,
                command,
                &url,
                &[
                    &format!("ssl-mode={mode}:"),
                    &format!("ssl-ca={wrong}"),
                    "UnknownIssuer",
                ],
                label,
            );
        }
    }
    // An ssl-ca alone verifies the CA (VERIFY_CA, the mysql client's rule).
    let url = tls.url("127.0.0.1", &format!("ssl-ca={wrong}"));
    refused(
        dir,
        &mut c,
        "run",
        &url,
        &["ssl-mode=VERIFY_CA (the default with ssl-ca)"],
        "ssl-ca alone, wrong CA",
    );
    // 127.0.0.2 is the same server under a name the certificate does not give.
    let url = tls.url(
        "127.0.0.2",
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
    );
    refused(
        dir,
        &mut c,
        "run",
        &url,
        &[
            "ssl-mode=VERIFY_IDENTITY:",
            "not valid for host 127.0.0.2",
            "localhost, 127.0.0.1",
            "ssl-mode=VERIFY_CA",
        ],
        "VERIFY_IDENTITY at a host the certificate does not name",
    );
    let url = tls.url("127.0.0.2", &format!("ssl-mode=VERIFY_CA&ssl-ca={ca}"));
    plan_works(dir, &mut c, &url, "VERIFY_CA at 127.0.0.2");
    run_works(dir, &mut c, Backend::Mysql, &url, "VERIFY_CA at 127.0.0.2");
    // Encrypted without verifying: REQUIRED, and PREFERRED (the default) since the server offers
    // TLS: the user's REQUIRE SSL would refuse a plain connection.
    let url = tls.url("127.0.0.1", "ssl-mode=REQUIRED");
    plan_works(dir, &mut c, &url, "REQUIRED against the TLS server");
    let url = tls.url("127.0.0.1", "");
    run_works(
        dir,
        &mut c,
        Backend::Mysql,
        &url,
        "PREFERRED (default), TLS server",
    );
    // And the server does refuse a plain connection of that user: the runs above used TLS.
    let url = tls.url("127.0.0.1", "ssl-mode=DISABLED");
    refused(
        dir,
        &mut c,
        "plan",
        &url,
        &["Access denied"],
        "DISABLED, REQUIRE SSL user",
    );

    // --- the server without TLS
    let mut c = plain.setup(false);
    for query in [
        "ssl-mode=REQUIRED".to_string(),
        format!("ssl-mode=VERIFY_CA&ssl-ca={ca}"),
        format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
    ] {
        let mode = &query["ssl-mode=".len()..]
            .split('&')
            .next()
            .unwrap()
            .to_string();
        let url = plain.url("127.0.0.1", &query);
        refused(
            dir,
            &mut c,
            "run",
            &url,
            &[
                &format!("ssl-mode={mode}:"),
                "the server does not offer TLS",
            ],
            &format!("{mode} against the server without TLS"),
        );
    }
    let url = plain.url("127.0.0.1", "ssl-mode=DISABLED");
    plan_works(dir, &mut c, &url, "DISABLED, server without TLS");
    run_works(
        dir,
        &mut c,
        Backend::Mysql,
        &url,
        "DISABLED, server without TLS",
    );
    let url = plain.url("127.0.0.1", "");
    run_works(
        dir,
        &mut c,
        Backend::Mysql,
        &url,
        "PREFERRED (default), no TLS",
    );
}

// ------------------------------------------------------------------------------ PostgreSQL

/// `bin/NAME` in `dir`, as the postgres OS user when we are root.
fn pg_tool(name: &str, dir: &Path) -> Command {
    let exe = pg_bindir().join(name);
    let mut c = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(exe);
        c
    } else {
        Command::new(exe)
    };
    c.current_dir(dir);
    c
}

/// `initdb` once, into a directory the clusters copy their data directory from.
fn pg_initdb() -> tempfile::TempDir {
    let dir = server_dir("anonsweep-tls-pg-base-", "postgres");
    run_ok(
        pg_tool("initdb", dir.path())
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8"])
            .args(["--locale=C", "--no-sync"]),
        "initdb",
    );
    dir
}

/// A throwaway PostgreSQL cluster with `ssl = on` (only `hostssl` lines) or `ssl = off`,
/// listening on 127.0.0.1 and 127.0.0.2; stopped and removed on drop.
struct PgCluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl PgCluster {
    fn start(base: &Path, certs: Option<&Certs>) -> PgCluster {
        let dir = server_dir("anonsweep-tls-pg-", "postgres");
        let d = dir.path();
        run_ok(
            Command::new("cp")
                .arg("-a")
                .arg(base.join("data"))
                .arg(d.join("data")),
            "copy the PostgreSQL data directory",
        );
        let (ssl, host) = match certs {
            Some(certs) => {
                std::fs::copy(certs.path("server.pem"), d.join("server.pem")).unwrap();
                std::fs::copy(certs.path("server.key"), d.join("server.key")).unwrap();
                std::fs::set_permissions(
                    d.join("server.key"),
                    std::fs::Permissions::from_mode(0o600),
                )
                .unwrap();
                (
                    format!(
                        "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                        d.join("server.pem").display(),
                        d.join("server.key").display()
                    ),
                    "hostssl",
                )
            }
            None => ("ssl = off\n".to_string(), "host"),
        };
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1,127.0.0.2'\nunix_socket_directories = '{}'\n\
             logging_collector = off\nfsync = off\nmax_connections = 20\n\
             shared_buffers = 16MB\npassword_encryption = 'scram-sha-256'\n{ssl}",
            d.display()
        );
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(d.join("data/postgresql.conf"))
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .unwrap();
        // postgres itself without a password for the set-up; the application user with one.
        std::fs::write(
            d.join("data/pg_hba.conf"),
            format!(
                "local all all trust\n\
                 {host} all postgres 127.0.0.1/32 trust\n\
                 {host} all all 127.0.0.1/32 scram-sha-256\n\
                 {host} all all 127.0.0.2/32 scram-sha-256\n"
            ),
        )
        .unwrap();
        chown(d, "postgres");
        let mut cluster = PgCluster { dir, port: 0 };
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let out = pg_tool("pg_ctl", cluster.dir.path())
                .arg("-D")
                .arg(cluster.data())
                .arg("-l")
                .arg(cluster.dir.path().join("server.log"))
                .args(["-w", "-t", "60", "-o"])
                .arg(format!("-p {port}"))
                .arg("start")
                .output()
                .expect("run pg_ctl start");
            if out.status.success() {
                cluster.port = port;
                return cluster;
            }
            cluster.stop();
            last = format!(
                "{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(cluster.dir.path().join("server.log")).unwrap_or_default()
            );
        }
        panic!("pg_ctl start failed: {last}");
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The application user's URL to `host`, with `query` (`sslmode=…&sslrootcert=…`).
    fn url(&self, host: &str, query: &str) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@{host}:{}/{DB}?{query}",
            self.port
        )
    }

    /// The application role (with its password) and database, and the population; an admin
    /// connection to the database.
    fn setup(&self, tls: bool) -> Conn {
        let mode = if tls { "require" } else { "disable" };
        let mut admin = connect(&format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode={mode}",
            self.port
        ));
        exec_all(
            &mut admin,
            &[
                format!("CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'"),
                format!("CREATE DATABASE {DB} OWNER {USER}"),
            ],
        );
        let mut c = connect(&self.url("127.0.0.1", &format!("sslmode={mode}")));
        exec_all(&mut c, &population(Backend::Postgres));
        c
    }

    fn stop(&self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = pg_tool("pg_ctl", self.dir.path())
                .arg("-D")
                .arg(self.data())
                .args(["-w", "-t", "60", "stop", "-m", "immediate"])
                .output();
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn postgres() {
    let certs = Certs::make();
    let base = pg_initdb();
    let tls = PgCluster::start(base.path(), Some(&certs));
    let plain = PgCluster::start(base.path(), None);
    drop(base);
    let work = support::scratch();
    let dir = work.path();
    let (ca, wrong) = (certs.ca(), certs.wrong_ca());

    // --- the TLS cluster (hostssl only: whatever connects is encrypted)
    let mut c = tls.setup(true);
    let verified = tls.url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    plan_works(dir, &mut c, &verified, "verify-full, right CA");
    run_works(
        dir,
        &mut c,
        Backend::Postgres,
        &verified,
        "verify-full, right CA",
    );
    for mode in ["verify-full", "verify-ca"] {
        let url = tls.url("127.0.0.1", &format!("sslmode={mode}&sslrootcert={wrong}"));
        for command in ["plan", "run"] {
            refused(
                dir,
                &mut c,
                command,
                &url,
                &[
                    "certificate verify failed",
                    &format!("sslmode={mode}:"),
                    &format!("sslrootcert={wrong}"),
                ],
                &format!("{mode}, wrong CA"),
            );
        }
    }
    let url = tls.url(
        "127.0.0.2",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    refused(
        dir,
        &mut c,
        "run",
        &url,
        &[
            "sslmode=verify-full:",
            "127.0.0.2",
            "does not name the host",
            "sslmode=verify-ca",
        ],
        "verify-full at a host the certificate does not name",
    );
    let url = tls.url("127.0.0.2", &format!("sslmode=verify-ca&sslrootcert={ca}"));
    plan_works(dir, &mut c, &url, "verify-ca at 127.0.0.2");
    run_works(
        dir,
        &mut c,
        Backend::Postgres,
        &url,
        "verify-ca at 127.0.0.2",
    );
    let url = tls.url("127.0.0.1", "sslmode=require");
    run_works(dir, &mut c, Backend::Postgres, &url, "require, TLS cluster");
    // The cluster does refuse a plain connection: the runs above used TLS.
    let url = tls.url("127.0.0.1", "sslmode=disable");
    refused(
        dir,
        &mut c,
        "plan",
        &url,
        &["no encryption"],
        "disable, hostssl only",
    );

    // --- the cluster without TLS
    let mut c = plain.setup(false);
    for mode in ["require", "verify-ca", "verify-full"] {
        let url = plain.url("127.0.0.1", &format!("sslmode={mode}&sslrootcert={ca}"));
        refused(
            dir,
            &mut c,
            "run",
            &url,
            &[
                "server does not support SSL",
                &format!("sslmode={mode}:"),
                "the server does not offer TLS",
            ],
            &format!("{mode} against the cluster without TLS"),
        );
    }
    let url = plain.url("127.0.0.1", "sslmode=disable");
    plan_works(dir, &mut c, &url, "disable, cluster without TLS");
    run_works(
        dir,
        &mut c,
        Backend::Postgres,
        &url,
        "disable, cluster without TLS",
    );
    let url = plain.url("127.0.0.1", "sslmode=prefer");
    run_works(
        dir,
        &mut c,
        Backend::Postgres,
        &url,
        "prefer, cluster without TLS",
    );
}
