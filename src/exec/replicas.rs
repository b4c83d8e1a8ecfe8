//! `run --max-replica-lag`: how far behind the replicas are, and the wait between batches while
//! one of them lags more than the limit (the run stops cleanly after `--max-lag-wait`).
//!
//! How the lag is measured (docs/production.md, "Replicas"):
//!
//! - PostgreSQL without `--replica`: every physical standby connected to the primary
//!   (`pg_stat_replication`; logical consumers and base backups are not watched). At each check
//!   the watch samples the primary's WAL position (`pg_current_wal_lsn()`) with the time it read
//!   it. A standby lags by the age, at its last status report (`reply_time`), of the oldest
//!   sample it had not replayed yet (`replay_lsn`). `replay_lag` alone is not used: it is NULL on
//!   an idle primary, and after a paused replay resumes it keeps the old, large value until the
//!   standby's next report; the samples show a paused replay as lagging from the first batch it
//!   does not replay, and as caught up at the first report that says so. For WAL older than the
//!   first sample (a standby already behind when the run starts) the primary's `replay_lag` is
//!   taken. A standby that has not reported a replay position yet, whose row this user may not
//!   read, or that was connected earlier in the run and is gone, lags by an unknown amount.
//! - PostgreSQL `--replica URL`: on the standby, 0 when it has replayed everything it received
//!   (`pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()`) while streaming, else
//!   `now() - pg_last_xact_replay_timestamp()`; a standby that is not streaming is unknown.
//! - MySQL/MariaDB `--replica URL`: `SHOW REPLICA STATUS` (or `SHOW SLAVE STATUS`),
//!   `Seconds_Behind_Source` (`Seconds_Behind_Master`); NULL means not replicating: unknown.
//!
//! An unknown lag counts as more than the limit.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::QueryableByName;
use serde::Serialize;

use crate::error::usage;
use crate::plan::{Plan, ReplicaQueries, Stmt};
use crate::sql::conn::Conn;
use crate::sql::dburl::DbUrl;
use crate::sql::dialect::Backend;

/// What `--max-replica-lag`, `--max-lag-wait` and `--replica` asked for.
#[derive(Clone, Debug)]
pub struct LagOptions {
    /// Wait between batches while a replica lags more than this.
    pub max_lag: Duration,
    /// Stop the run when one wait lasts longer than this.
    pub max_wait: Duration,
    /// The replicas to ask; empty: (PostgreSQL) the standbys connected to the primary.
    pub replicas: Vec<DbUrl>,
}

/// One replica's lag at one check.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicaLag {
    pub replica: String,
    /// `None` when it cannot be known (not replicating, gone, unreadable): counts as lagging.
    pub lag_seconds: Option<f64>,
    /// More than the limit, or unknown.
    pub lagging: bool,
    /// How it was measured, or why it is unknown.
    pub detail: String,
}

/// What the dry run reports: the replicas the run would watch and their lag now.
#[derive(Clone, Debug, Serialize)]
pub struct Watched {
    /// Where the replicas come from.
    pub source: String,
    pub max_lag_seconds: f64,
    pub max_wait_seconds: f64,
    pub replicas: Vec<ReplicaLag>,
}

/// How a wait between batches ended.
#[derive(Debug)]
pub struct Waited {
    /// Time spent waiting (zero when no replica lagged).
    pub waited: Duration,
    /// Set when the replicas still lagged after `--max-lag-wait`: why the run stops.
    pub timed_out: Option<String>,
}

#[derive(QueryableByName)]
struct PrimaryRow {
    #[diesel(sql_type = Nullable<Text>)]
    primary_lsn: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pid: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    replica: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    state: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    replay_lsn: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    replay_lag: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    report_age: Option<String>,
}

#[derive(QueryableByName)]
struct StandbyRow {
    #[diesel(sql_type = Nullable<Text>)]
    in_recovery: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    caught_up: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    replay_age: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    paused: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    streaming: Option<String>,
}

/// A row of `SHOW REPLICA STATUS` / `SHOW SLAVE STATUS`: the columns are named after the
/// source in newer MySQL, after the master in MariaDB and older MySQL.
struct StatusRow {
    behind: Option<i64>,
    /// `Seconds_Behind_Source` or `Seconds_Behind_Master`.
    behind_column: &'static str,
    io_running: Option<String>,
    sql_running: Option<String>,
    last_error: Option<String>,
}

impl<DB> QueryableByName<DB> for StatusRow
where
    DB: diesel::backend::Backend,
    String: diesel::deserialize::FromSql<Text, DB>,
    i64: diesel::deserialize::FromSql<BigInt, DB>,
{
    fn build<'a>(row: &impl diesel::row::NamedRow<'a, DB>) -> diesel::deserialize::Result<Self> {
        use diesel::row::NamedRow;
        let text = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| NamedRow::get::<Nullable<Text>, Option<String>>(row, n).ok())
                .flatten()
        };
        let (behind_column, behind) = ["Seconds_Behind_Source", "Seconds_Behind_Master"]
            .into_iter()
            .find_map(|n| {
                NamedRow::get::<Nullable<BigInt>, Option<i64>>(row, n)
                    .ok()
                    .map(|v| (n, v))
            })
            .ok_or("no Seconds_Behind_Source or Seconds_Behind_Master column")?;
        let errors: Vec<String> = [text(&["Last_IO_Error"]), text(&["Last_SQL_Error"])]
            .into_iter()
            .flatten()
            .filter(|e| !e.trim().is_empty())
            .collect();
        Ok(StatusRow {
            behind,
            behind_column,
            io_running: text(&["Replica_IO_Running", "Slave_IO_Running"]),
            sql_running: text(&["Replica_SQL_Running", "Slave_SQL_Running"]),
            last_error: (!errors.is_empty()).then(|| errors.join("; ")),
        })
    }
}

/// A connection that is opened again at the next check when a query on it failed.
struct Link {
    url: DbUrl,
    conn: Option<Conn>,
}

impl Link {
    fn rows<T>(&mut self, stmt: &Stmt) -> anyhow::Result<Vec<T>>
    where
        T: QueryableByName<diesel::pg::Pg>
            + QueryableByName<diesel::sqlite::Sqlite>
            + QueryableByName<diesel::mysql::Mysql>
            + 'static,
    {
        let conn = match &mut self.conn {
            Some(c) => c,
            None => self.conn.insert(Conn::connect(&self.url)?),
        };
        match conn.rows::<T>(&stmt.sql, &[]) {
            Ok(rows) => Ok(rows),
            Err(e) => {
                self.conn = None;
                Err(anyhow::anyhow!(
                    "{}",
                    crate::error::redact(e.to_string().trim())
                ))
            }
        }
    }
}

/// The standbys as the primary sees them, with the samples of its WAL position.
struct Primary {
    link: Link,
    stmt: Stmt,
    /// (when it was read, the primary's WAL position then), positions increasing.
    samples: VecDeque<(Instant, u64)>,
    /// The position at the first check: older WAL is timed by the primary's `replay_lag`.
    first_lsn: Option<u64>,
    /// Every standby seen so far, with how many of that name were connected at once.
    known: BTreeMap<String, usize>,
    /// Standbys at the last check whose row this database user may not read.
    hidden: usize,
}

/// A replica given with `--replica`.
struct Replica {
    link: Link,
    /// The statements to try in turn (MySQL: REPLICA, then SLAVE); the first that works stays.
    stmts: Vec<Stmt>,
    backend: Backend,
}

enum Source {
    Primary(Box<Primary>),
    Replicas(Vec<Replica>),
}

/// Watches the replicas of one run.
pub struct Watch {
    opts: LagOptions,
    source: Source,
    /// The pause between two checks (and between the polls of a wait).
    every: Duration,
    checked: Option<Instant>,
}

/// Samples kept at most (one per check: hours of checks).
const MAX_SAMPLES: usize = 100_000;

/// A position `pg_wal_lsn_diff` printed (a whole number of bytes).
fn lsn(text: &Option<String>) -> Option<u64> {
    text.as_deref()?.trim().split('.').next()?.parse().ok()
}

fn secs(text: &Option<String>) -> Option<f64> {
    text.as_deref()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite())
}

fn is_true(text: &Option<String>) -> bool {
    text.as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("true") || t == "1")
}

/// A duration as the flags take it (`1s`, `10m`, `1m 30s`).
pub fn fmt_duration(d: Duration) -> String {
    let ms = Duration::from_millis(d.as_millis() as u64);
    humantime::format_duration(ms).to_string()
}

impl Primary {
    fn check(&mut self) -> anyhow::Result<Vec<ReplicaLag>> {
        let rows: Vec<PrimaryRow> = self.link.rows(&self.stmt)?;
        let now = Instant::now();
        let current = rows
            .first()
            .and_then(|r| lsn(&r.primary_lsn))
            .ok_or_else(|| anyhow::anyhow!("the primary reported no WAL position"))?;
        if self.samples.back().is_none_or(|&(_, l)| current > l) {
            self.samples.push_back((now, current));
            if self.samples.len() > MAX_SAMPLES {
                self.samples.pop_front();
            }
        }
        let first = *self.first_lsn.get_or_insert(current);
        let mut out = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut least_replayed: Option<u64> = None;
        self.hidden = 0;
        for r in rows.iter().filter(|r| r.pid.is_some()) {
            let name = r.replica.clone().unwrap_or_else(|| "standby".into());
            *seen.entry(name.clone()).or_default() += 1;
            let (lag, detail) = match (&r.state, lsn(&r.replay_lsn)) {
                (None, _) => {
                    self.hidden += 1;
                    (
                        None,
                        "its replay position is hidden from this database user (grant it pg_monitor)"
                            .to_string(),
                    )
                }
                (Some(state), None) => (
                    None,
                    format!("has not reported a replay position yet (state {state})"),
                ),
                (Some(_), Some(replay)) if replay >= current => (
                    Some(0.0),
                    "has replayed all the WAL the primary wrote".to_string(),
                ),
                (Some(state), Some(replay)) => {
                    least_replayed = Some(least_replayed.map_or(replay, |l| l.min(replay)));
                    let age = secs(&r.report_age).unwrap_or(0.0).max(0.0);
                    let reported = Duration::try_from_secs_f64(age)
                        .ok()
                        .and_then(|a| now.checked_sub(a))
                        .unwrap_or(now);
                    let own = self
                        .samples
                        .iter()
                        .find(|(_, l)| *l > replay)
                        .map_or(0.0, |(t, _)| {
                            reported.saturating_duration_since(*t).as_secs_f64()
                        });
                    let older = if replay < first {
                        secs(&r.replay_lag).unwrap_or(0.0)
                    } else {
                        0.0
                    };
                    (
                        Some(own.max(older)),
                        format!(
                            "{} bytes of WAL behind the primary at its last report {age:.1}s ago{}",
                            current - replay,
                            if state == "streaming" {
                                String::new()
                            } else {
                                format!(", state {state}")
                            }
                        ),
                    )
                }
            };
            out.push(self.lag(name, lag, detail));
        }
        for (name, n) in &self.known {
            let now_n = seen.get(name).copied().unwrap_or(0);
            for _ in now_n..*n {
                out.push(self.lag(
                    name.clone(),
                    None,
                    "was connected to the primary earlier in the run and is gone".into(),
                ));
            }
        }
        for (name, n) in seen {
            let k = self.known.entry(name).or_default();
            *k = (*k).max(n);
        }
        // Samples every standby has replayed time nothing any more (keep the newest).
        let floor = least_replayed.unwrap_or(current);
        while self.samples.len() > 1 && self.samples[1].1 <= floor {
            self.samples.pop_front();
        }
        Ok(out)
    }

    fn lag(&self, replica: String, lag: Option<f64>, detail: String) -> ReplicaLag {
        ReplicaLag {
            replica,
            lag_seconds: lag,
            lagging: false,
            detail,
        }
    }
}

impl Replica {
    /// The replica's lag, or why it cannot be read.
    fn check(&mut self) -> Result<ReplicaLag, String> {
        let name = self.link.url.to_string();
        let lag = |lag: Option<f64>, detail: String| ReplicaLag {
            replica: name.clone(),
            lag_seconds: lag,
            lagging: false,
            detail,
        };
        match self.backend {
            Backend::Postgres => {
                let rows: Vec<StandbyRow> =
                    self.link.rows(&self.stmts[0]).map_err(|e| e.to_string())?;
                let r = rows.first().ok_or("the standby query returned no row")?;
                if !is_true(&r.in_recovery) {
                    return Err(
                        "it is not a standby (pg_is_in_recovery() is false): give the URL of a replica, not of a primary".into(),
                    );
                }
                let paused = if is_true(&r.paused) {
                    ", replay is paused"
                } else {
                    ""
                };
                Ok(match (r.caught_up.as_deref(), is_true(&r.streaming)) {
                    (Some("true"), true) => lag(
                        Some(0.0),
                        format!("has replayed all the WAL it received{paused}"),
                    ),
                    (Some("true"), false) => lag(
                        None,
                        "has replayed all the WAL it received, but receives none (no WAL receiver: not streaming from its primary)".into(),
                    ),
                    (Some(_), _) => match secs(&r.replay_age) {
                        Some(age) => lag(
                            Some(age.max(0.0)),
                            format!("behind the WAL it received; its last replayed transaction committed {age:.1}s ago{paused}"),
                        ),
                        None => lag(
                            None,
                            format!("behind the WAL it received and has replayed no transaction yet{paused}"),
                        ),
                    },
                    (None, _) => lag(
                        None,
                        "has received no WAL by streaming (pg_last_wal_receive_lsn() is NULL)"
                            .into(),
                    ),
                })
            }
            Backend::Mysql | Backend::Sqlite => {
                let mut last = String::new();
                let mut found = None;
                for (i, stmt) in self.stmts.iter().enumerate() {
                    match self.link.rows::<StatusRow>(stmt) {
                        Ok(rows) => {
                            found = Some((i, rows));
                            break;
                        }
                        Err(e) => last = e.to_string(),
                    }
                }
                let Some((i, rows)) = found else {
                    return Err(format!(
                        "cannot read its replication status: {last} (the user needs the REPLICATION CLIENT privilege; MariaDB 10.5 and later: REPLICA MONITOR)"
                    ));
                };
                // The statement that worked is the one to send from now on.
                self.stmts.drain(..i);
                if rows.is_empty() {
                    return Err(format!(
                        "it is not a replica ({} returns no row): give the URL of a replica",
                        self.stmts[0].sql
                    ));
                }
                let mut worst: Option<ReplicaLag> = None;
                for r in rows {
                    let this = match r.behind {
                        Some(s) => lag(Some(s.max(0) as f64), format!("{} {s}", r.behind_column)),
                        None => lag(
                            None,
                            format!(
                                "not replicating: {} is NULL (IO thread {}, SQL thread {}){}",
                                r.behind_column,
                                r.io_running.as_deref().unwrap_or("?"),
                                r.sql_running.as_deref().unwrap_or("?"),
                                r.last_error
                                    .map(|e| format!(", last error: {e}"))
                                    .unwrap_or_default()
                            ),
                        ),
                    };
                    let worse = match (&worst, this.lag_seconds) {
                        (None, _) => true,
                        (Some(w), Some(s)) => w.lag_seconds.is_some_and(|ws| s > ws),
                        (Some(w), None) => w.lag_seconds.is_some(),
                    };
                    if worse {
                        worst = Some(this);
                    }
                }
                worst.ok_or_else(|| "no replication status row".into())
            }
        }
    }
}

/// SQLite has no replicas: `--max-replica-lag` is refused (exit 2) before anything is read.
pub fn refuse_sqlite(backend: Backend) -> anyhow::Result<()> {
    if backend == Backend::Sqlite {
        return Err(usage(
            "--max-replica-lag: a SQLite database has no replicas to watch; drop --max-replica-lag (and --replica, --max-lag-wait) for it",
        ));
    }
    Ok(())
}

impl Watch {
    /// Connects to what the run watches and reads each replica once; refuses (usage errors,
    /// exit 2) what cannot be watched: SQLite, MySQL without `--replica`, a `--replica` of
    /// another kind of database, one that cannot be reached or read, or that is no replica.
    pub fn open(primary: &DbUrl, plan: &Plan, opts: &LagOptions) -> anyhow::Result<Watch> {
        let q: &ReplicaQueries = &plan.replicas;
        let backend = plan.backend;
        refuse_sqlite(backend)?;
        let every = (opts.max_lag / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let source = if opts.replicas.is_empty() {
            let Some(stmt) = q.from_primary.clone() else {
                return Err(usage(
                    "--max-replica-lag on MySQL/MariaDB needs each replica given with --replica mysql://user:password@replica-host:3306/dbname: the primary does not know its replicas' lag",
                ));
            };
            let mut p = Primary {
                link: Link {
                    url: primary.clone(),
                    conn: Some(Conn::connect(primary)?),
                },
                stmt,
                samples: VecDeque::new(),
                first_lsn: None,
                known: BTreeMap::new(),
                hidden: 0,
            };
            let lags = p.check().map_err(|e| {
                anyhow::anyhow!(
                    "--max-replica-lag: cannot read the standbys in pg_stat_replication on the primary {primary}: {e:#}; the database user needs PostgreSQL 12 or later, or give each standby with --replica"
                )
            })?;
            if p.hidden > 0 {
                return Err(usage(format!(
                    "--max-replica-lag: the database user of {primary} cannot see the standbys' replay positions in pg_stat_replication: grant it pg_monitor (GRANT pg_monitor TO <user>), or give each standby with --replica"
                )));
            }
            if lags.is_empty() {
                warn!("--max-replica-lag: no physical standby is connected to the primary (pg_stat_replication is empty): nothing to watch until one connects; give --replica URLs to watch standbys that may be disconnected");
            }
            Source::Primary(Box::new(p))
        } else {
            let mut replicas = Vec::new();
            for url in &opts.replicas {
                let matches = matches!(
                    (url, backend),
                    (DbUrl::Postgres { .. }, Backend::Postgres)
                        | (DbUrl::Mysql { .. }, Backend::Mysql)
                );
                if !matches {
                    return Err(usage(format!(
                        "--replica {url} is not a {} database like --database-url: give the replicas of this primary",
                        backend.name()
                    )));
                }
                let conn = Conn::connect(url).map_err(|e| {
                    usage(format!(
                        "--replica: {}: check the URL and that the replica is up, or drop this --replica",
                        crate::error::one_line(&e)
                    ))
                })?;
                let stmts = match backend {
                    Backend::Postgres => q.standby.iter().cloned().collect(),
                    _ => q.status.clone(),
                };
                let mut r = Replica {
                    link: Link {
                        url: url.clone(),
                        conn: Some(conn),
                    },
                    stmts,
                    backend,
                };
                r.check()
                    .map_err(|why| usage(format!("--replica {url}: {why}")))?;
                replicas.push(r);
            }
            Source::Replicas(replicas)
        };
        Ok(Watch {
            opts: opts.clone(),
            source,
            every,
            checked: None,
        })
    }

    /// Where the replicas come from, for the logs and the dry run.
    pub fn source(&self) -> String {
        match &self.source {
            Source::Primary(_) => {
                "the physical standbys connected to the primary (pg_stat_replication)".into()
            }
            Source::Replicas(r) => format!("{} replica(s) given with --replica", r.len()),
        }
    }

    /// Reads every replica's lag now.
    pub fn check(&mut self) -> Vec<ReplicaLag> {
        self.checked = Some(Instant::now());
        let mut lags = match &mut self.source {
            Source::Primary(p) => p.check().unwrap_or_else(|e| {
                vec![ReplicaLag {
                    replica: "the primary".into(),
                    lag_seconds: None,
                    lagging: true,
                    detail: format!("cannot read pg_stat_replication: {e:#}"),
                }]
            }),
            Source::Replicas(rs) => rs
                .iter_mut()
                .map(|r| {
                    r.check().unwrap_or_else(|why| ReplicaLag {
                        replica: r.link.url.to_string(),
                        lag_seconds: None,
                        lagging: true,
                        detail: why,
                    })
                })
                .collect(),
        };
        let limit = self.opts.max_lag.as_secs_f64();
        for l in &mut lags {
            l.lagging = l.lag_seconds.is_none_or(|s| s > limit);
        }
        lags
    }

    /// The dry run's answer: the replicas the run would watch, and their lag now.
    pub fn watched(&mut self) -> Watched {
        Watched {
            source: self.source(),
            max_lag_seconds: self.opts.max_lag.as_secs_f64(),
            max_wait_seconds: self.opts.max_wait.as_secs_f64(),
            replicas: self.check(),
        }
    }

    /// Between batches: returns at once when no replica lags more than the limit (checked at most
    /// every tenth of the limit); else waits, polling, until they all catch up, `stop` says the
    /// run stops, or `--max-lag-wait` has passed (`timed_out`). `tick` gets the time waited so
    /// far after each poll.
    pub fn wait(&mut self, stop: &dyn Fn() -> bool, tick: &mut dyn FnMut(Duration)) -> Waited {
        let clear = Waited {
            waited: Duration::ZERO,
            timed_out: None,
        };
        if stop() || self.checked.is_some_and(|t| t.elapsed() < self.every) {
            return clear;
        }
        let lags = self.check();
        if !lags.iter().any(|l| l.lagging) {
            return clear;
        }
        let started = Instant::now();
        info!(
            "waiting for the replicas: {}; more than --max-replica-lag {} (waiting at most --max-lag-wait {})",
            describe(&lags),
            fmt_duration(self.opts.max_lag),
            fmt_duration(self.opts.max_wait)
        );
        let mut lags = lags;
        loop {
            let left = self.opts.max_wait.saturating_sub(started.elapsed());
            if left.is_zero() {
                let waited = started.elapsed();
                let why = format!(
                    "the replicas still lag after waiting {:.1}s (--max-lag-wait {}): {}",
                    waited.as_secs_f64(),
                    fmt_duration(self.opts.max_wait),
                    describe(&lags)
                );
                info!(
                    "stopped waiting for the replicas after {:.1}s",
                    waited.as_secs_f64()
                );
                return Waited {
                    waited,
                    timed_out: Some(why),
                };
            }
            let until = Instant::now() + self.every.min(left);
            while Instant::now() < until {
                if stop() {
                    let waited = started.elapsed();
                    info!(
                        "stopped waiting for the replicas after {:.1}s: the run is stopping",
                        waited.as_secs_f64()
                    );
                    return Waited {
                        waited,
                        timed_out: None,
                    };
                }
                std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
            }
            tick(started.elapsed());
            lags = self.check();
            if !lags.iter().any(|l| l.lagging) {
                let waited = started.elapsed();
                info!(
                    "the replicas caught up after waiting {:.1}s: resuming the batches",
                    waited.as_secs_f64()
                );
                return Waited {
                    waited,
                    timed_out: None,
                };
            }
        }
    }
}

/// The lagging replicas, for one log line.
fn describe(lags: &[ReplicaLag]) -> String {
    lags.iter()
        .filter(|l| l.lagging)
        .map(|l| match l.lag_seconds {
            Some(s) => format!("{} lags {s:.1}s ({})", l.replica, l.detail),
            None => format!("{}: lag unknown, {}", l.replica, l.detail),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
