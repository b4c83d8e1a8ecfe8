//! Throwaway PostgreSQL clusters for tests that need a server of their own (its statement log, a
//! streaming standby): `initdb` + `pg_ctl` as the `postgres` OS user (when the tests run as
//! root) in a temp dir, on a free port with its own socket directory; a standby is a
//! `pg_basebackup -R` of a running cluster. Also a MariaDB primary and replica (`mariadbd` as the
//! `mysql` OS user). Stopped and removed on drop, so the shared servers are never touched.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether the tests run as root (then servers start as their own OS users).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The directory holding `initdb` and `pg_ctl`: `ANONSWEEP_TEST_PG_BIN`, the newest
/// `/usr/lib/postgresql/*/bin`, or the PATH.
pub fn pg_bindir() -> PathBuf {
    if let Ok(dir) = std::env::var("ANONSWEEP_TEST_PG_BIN") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("initdb").is_file() && dir.join("pg_ctl").is_file(),
            "ANONSWEEP_TEST_PG_BIN={}: no initdb and pg_ctl there",
            dir.display()
        );
        return dir;
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(dir) = std::env::split_paths(&path).find(|d| d.join("initdb").is_file()) {
        return dir;
    }
    panic!(
        "initdb not found: this test starts its own PostgreSQL cluster. Install the PostgreSQL \
         server binaries (Debian and Ubuntu put them in /usr/lib/postgresql/<version>/bin) or \
         point ANONSWEEP_TEST_PG_BIN at the directory holding initdb and pg_ctl"
    );
}

fn output(what: &str, out: std::io::Result<std::process::Output>) {
    let out = out.unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway PostgreSQL cluster, stopped and removed on drop.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_root: bool,
    port: u16,
}

impl PgCluster {
    /// An empty temp dir the postgres OS user owns.
    fn new(prefix: &str) -> PgCluster {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("tempdir");
        let as_root = is_root();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        if as_root {
            // initdb refuses to run as root: the cluster belongs to the postgres OS user.
            output(
                &format!("chown postgres {}", dir.path().display()),
                Command::new("chown")
                    .arg("postgres:")
                    .arg(dir.path())
                    .output(),
            );
        }
        PgCluster {
            dir,
            bin: pg_bindir(),
            as_root,
            port: 0,
        }
    }

    /// A new cluster (trust authentication, user `postgres`) with `conf` appended to its
    /// postgresql.conf, started.
    pub fn start(prefix: &str, conf: &str) -> PgCluster {
        let mut cluster = PgCluster::new(prefix);
        let data = cluster.data();
        output(
            "initdb",
            cluster
                .tool("initdb")
                .arg("-D")
                .arg(&data)
                .args([
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ])
                .output(),
        );
        let base = "\n# anonsweep test cluster\n\
             listen_addresses = '127.0.0.1'\n\
             fsync = off\n\
             max_connections = 20\n\
             shared_buffers = 16MB\n";
        cluster.append_conf(&format!("{base}{conf}"));
        cluster.launch();
        cluster
    }

    /// A streaming standby of `primary` (`pg_basebackup -R`, which writes `primary_conninfo`
    /// and `standby.signal`), with `conf` appended, started. The primary needs `wal_level`
    /// replica or higher, `max_wal_senders` and a `replication` line in its pg_hba.conf.
    pub fn standby_of(primary: &PgCluster, prefix: &str, conf: &str) -> PgCluster {
        let mut cluster = PgCluster::new(prefix);
        let data = cluster.data();
        output(
            "pg_basebackup",
            cluster
                .tool("pg_basebackup")
                .arg("-D")
                .arg(&data)
                .args(["-h", "127.0.0.1", "-p", &primary.port.to_string()])
                .args([
                    "-U",
                    "postgres",
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "--no-sync",
                ])
                .output(),
        );
        cluster.append_conf(conf);
        cluster.launch();
        cluster
    }

    /// Appends to postgresql.conf (later lines win), with this cluster's socket directory.
    fn append_conf(&self, conf: &str) {
        use std::io::Write;
        let text = format!(
            "{conf}\nunix_socket_directories = '{}'\n",
            self.dir.path().display()
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(self.data().join("postgresql.conf"))
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .expect("append to postgresql.conf");
    }

    /// Starts the server on a free port: bind, release, start on it; another process may take
    /// it in between, so try a few.
    fn launch(&mut self) {
        let data = self.data();
        let mut last = String::new();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let out = self
                .tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(self.log_path())
                .args(["-w", "-t", "60", "-o"])
                .arg(format!("-p {port}"))
                .arg("start")
                .output()
                .expect("run pg_ctl start");
            if out.status.success() {
                self.port = port;
                return;
            }
            self.stop();
            last = format!(
                "{}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(self.log_path()).unwrap_or_default()
            );
        }
        panic!("pg_ctl start failed: {last}");
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's log (what it writes to stderr).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// `bin/NAME`, as the postgres OS user when we are root.
    pub fn tool(&self, name: &str) -> Command {
        let exe = self.bin.join(name);
        let mut c = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.current_dir(self.dir.path());
        c
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Stops the server if one runs on the data directory.
    pub fn stop(&self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = self
                .tool("pg_ctl")
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
        // The TempDir field then removes the directory.
    }
}

/// `name` in the PATH or in /usr/sbin (where Debian puts `mariadbd`).
fn find_tool(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .collect();
    names
        .iter()
        .find_map(|n| dirs.iter().map(|d| d.join(n)).find(|p| p.is_file()))
}

/// A throwaway MariaDB (or MySQL) server: a data directory from `mariadb-install-db`, `mariadbd`
/// as the `mysql` OS user (when the tests run as root) with `--skip-grant-tables` (root, no
/// password, from 127.0.0.1), on a free port with its own socket. Killed and removed on drop.
pub struct MariaServer {
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
    port: u16,
}

impl MariaServer {
    /// A primary with a binary log and a replica of it, replicating from the start of that log
    /// (both start from the same fresh data directory).
    pub fn primary_and_replica() -> (MariaServer, MariaServer) {
        let server = find_tool(&["mariadbd", "mysqld"]).expect(
            "mariadbd not found: this test starts its own MariaDB servers; install mariadb-server",
        );
        let install = find_tool(&["mariadb-install-db", "mysql_install_db"])
            .expect("mariadb-install-db not found: install mariadb-server");
        let as_root = is_root();
        let new_dir = |prefix: &str| {
            let dir = tempfile::Builder::new()
                .prefix(prefix)
                .tempdir()
                .expect("tempdir");
            if as_root {
                output(
                    "chown mysql",
                    Command::new("chown").arg("mysql:").arg(dir.path()).output(),
                );
            }
            dir
        };
        let pdir = new_dir("anonsweep-maria-primary-");
        let pdata = pdir.path().join("data");
        let mut cmd = Command::new(&install);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", pdata.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ]);
        if as_root {
            cmd.arg("--user=mysql");
        }
        output("mariadb-install-db", cmd.output());
        let rdir = new_dir("anonsweep-maria-replica-");
        let rdata = rdir.path().join("data");
        output(
            "copy the data directory",
            Command::new("cp")
                .arg("-a")
                .arg(&pdata)
                .arg(&rdata)
                .output(),
        );
        let primary = MariaServer::start(
            &server,
            pdir,
            as_root,
            &["--server-id=1", "--log-bin=binlog", "--binlog-format=ROW"],
        );
        let replica = MariaServer::start(&server, rdir, as_root, &["--server-id=2", "--read-only"]);
        let mut c = replica.admin();
        c.batch_execute(&format!(
            "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, MASTER_USER = 'root', \
             MASTER_LOG_FILE = 'binlog.000001', MASTER_LOG_POS = 4",
            primary.port
        ))
        .expect("CHANGE MASTER TO");
        c.batch_execute("START SLAVE").expect("START SLAVE");
        (primary, replica)
    }

    fn start(server: &Path, dir: tempfile::TempDir, as_root: bool, extra: &[&str]) -> MariaServer {
        let mut last = String::new();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let d = dir.path();
            let log = std::fs::File::create(d.join("server.log")).unwrap();
            let mut cmd = Command::new(server);
            cmd.arg("--no-defaults")
                .arg(format!("--datadir={}", d.join("data").display()))
                .arg(format!("--socket={}", d.join("server.sock").display()))
                .arg(format!("--pid-file={}", d.join("server.pid").display()))
                .arg(format!("--port={port}"))
                .args([
                    "--bind-address=127.0.0.1",
                    "--skip-grant-tables",
                    "--innodb-buffer-pool-size=16M",
                    "--innodb-flush-log-at-trx-commit=0",
                ])
                .args(extra)
                .stdin(std::process::Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            if as_root {
                cmd.arg("--user=mysql");
            }
            let mut child = cmd.spawn().expect("start mariadbd");
            let url = format!("mysql://root@127.0.0.1:{port}/mysql");
            let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while std::time::Instant::now() < until && child.try_wait().unwrap().is_none() {
                if super::Conn::connect(&super::DbUrl::parse(&url).unwrap()).is_ok() {
                    return MariaServer {
                        dir,
                        child: Some(child),
                        port,
                    };
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            last = std::fs::read_to_string(d.join("server.log")).unwrap_or_default();
        }
        panic!("mariadbd did not start: {last}");
    }

    pub fn url(&self, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.port)
    }

    /// A connection to the `mysql` database.
    pub fn admin(&self) -> super::Conn {
        super::Conn::connect(&super::DbUrl::parse(&self.url("mysql")).unwrap())
            .expect("connect to the throwaway MariaDB server")
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for MariaServer {
    fn drop(&mut self) {
        self.kill();
    }
}
