//! What the user typed: clap definitions only. `settings` turns these into one checked `Settings`.

use std::path::PathBuf;

use crate::config::defs;
use clap::{Args, Parser, Subcommand};

/// Removes abandoned anonymous accounts from an application's SQL database, safely and in batches.
/// `anonsweep --version`: the package version and the commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ANONSWEEP_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(name = "anonsweep", version = VERSION, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Render the SQL that `run` executes, without connecting to a database.
    Sql(SqlArgs),
    /// Dry run: connect, change nothing, show counts, a sample and the SQL.
    Plan(PlanArgs),
    /// Delete eligible anonymous users in short batch transactions.
    Run(RunArgs),
    /// Create a demo database with a synthetic population, plan and run the cleanup on it.
    Demo(DemoArgs),
    /// Put archived users and their rows back (from `run --archive-dir` or `--archive-to-table`).
    Restore(RestoreArgs),
    /// Print a ready-to-install cron line or systemd service and timer for a daily run.
    Schedule(ScheduleArgs),
    /// Check the schema, foreign keys, clock and indexes; print every problem with its fix.
    Doctor(DoctorArgs),
    /// Index migrations for the eligibility scan: run, revert, status, sql.
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub action: MigrateAction,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Create the missing indexes (PostgreSQL: CREATE INDEX CONCURRENTLY) and record them.
    Run(MigrateCommon),
    /// Drop anonsweep's indexes and unrecord them (the application's own migrations are untouched).
    Revert(MigrateCommon),
    /// List each index: applied, present, valid, and any equivalent index the table already has.
    Status(MigrateCommon),
    /// Print (or write with --out) exactly what `migrate run` would execute, for a DBA.
    Sql(MigrateSqlArgs),
}

#[derive(Debug, Args)]
pub struct MigrateCommon {
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub db: DbArgs,
    #[arg(
        long,
        env = defs::LOCK_TIMEOUT_MS.env,
        help = defs::LOCK_TIMEOUT_MS.help,
        value_name = "MS",
        allow_hyphen_values = true
    )]
    pub lock_timeout_ms: Option<String>,
}

#[derive(Debug, Args)]
pub struct MigrateSqlArgs {
    #[command(flatten)]
    pub common: MigrateCommon,
    /// Dialect to render when no database is given: sqlite, postgres or mysql.
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<String>,
    /// Write the SQL to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Options every command shares: where the schema and rule come from.
#[derive(Debug, Args)]
pub struct RuleArgs {
    #[arg(long, env = "ANONSWEEP_PRESET", value_name = "NAME", help = preset_help())]
    pub preset: Option<String>,
    /// Config file (default: ./anonsweep.toml when it exists).
    #[arg(long, env = "ANONSWEEP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(
        long,
        env = defs::RETENTION_DAYS.env,
        help = defs::RETENTION_DAYS.help,
        value_name = "DAYS",
        allow_hyphen_values = true
    )]
    pub retention_days: Option<String>,
    /// Fix the clock: the cutoff is AS_OF minus the retention (RFC 3339 or YYYY-MM-DD, UTC; default now).
    #[arg(long, env = "ANONSWEEP_AS_OF", value_name = "TIME")]
    pub as_of: Option<String>,
    /// Timestamp storage: auto, timestamptz, timestamp, iso-text, epoch-ms, epoch-s.
    #[arg(long, env = "ANONSWEEP_TIMESTAMP_FORMAT", value_name = "FORMAT")]
    pub timestamp_format: Option<String>,
    /// Output format of the summary: text or json.
    #[arg(long, default_value = "text", value_name = "FORMAT")]
    pub format: String,
}

/// Options of commands that connect.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Database: postgres://user:pass@host/db, mysql://user:pass@host/db, sqlite://path or a plain SQLite file path.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub db: DbArgs,
    /// Dialect to render: sqlite, postgres or mysql (default: from --database-url, else sqlite).
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<String>,
    /// Write the SQL to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub db: DbArgs,
    /// The archive file a run wrote (.jsonl or .jsonl.gz).
    #[arg(long, value_name = "FILE", required_unless_present = "from_table")]
    pub archive: Option<PathBuf>,
    /// Read the archive table anonsweep_archive instead of a file.
    #[arg(long, conflicts_with = "archive")]
    pub from_table: bool,
    /// With --from-table: only this run's users (its id, or the id's first characters, e.g.
    /// the 8 in an archive file's name).
    #[arg(long, value_name = "RUN_ID", requires = "from_table")]
    pub run: Option<String>,
    /// Restore only this user (repeatable; default every user in the archive).
    #[arg(long = "user", value_name = "ID")]
    pub users: Vec<String>,
    /// Leave out (and report) archived users whose id exists in the database again, and
    /// restore the others (default: refuse, restoring nothing).
    #[arg(long)]
    pub skip_existing: bool,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// cron or systemd.
    #[arg(value_name = "KIND", value_parser = ["cron", "systemd"])]
    pub kind: String,
    /// Time of day to run, HH:MM (local time of the server).
    #[arg(long, default_value = "02:00", value_name = "HH:MM")]
    pub time: String,
    /// systemd: spread the start over this window (RandomizedDelaySec), e.g. 30m.
    #[arg(long, default_value = "30m", value_name = "SPAN")]
    pub randomized_delay: String,
    /// Environment file holding DATABASE_URL (and ANONSWEEP_* settings), mode 0600.
    #[arg(
        long,
        default_value = "/etc/anonsweep/anonsweep.env",
        value_name = "FILE"
    )]
    pub env_file: PathBuf,
    /// The lock the scheduled run takes: `database`, or a redis:// URL (better kept in the env
    /// file as ANONSWEEP_LOCK_URL when it holds a password).
    #[arg(long, default_value = "database", value_name = "LOCK")]
    pub lock: String,
    /// systemd: the user the service runs as.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Write the files into DIR (anonsweep.cron, or anonsweep.service and anonsweep.timer)
    /// instead of printing them.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Further `run` options, after `--` (e.g. -- --archive-dir /var/lib/anonsweep/archive).
    #[arg(last = true, value_name = "RUN_ARGS")]
    pub run_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub db: DbArgs,
    /// Also write a standalone SQL script (one transaction, literal cutoff) a DBA can run.
    #[arg(long, value_name = "FILE")]
    pub sql_out: Option<PathBuf>,
    #[command(flatten)]
    pub limits: RunLimits,
    /// How many eligible ids to show.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub sample: usize,
    /// Also print the database's own plan (EXPLAIN) for the eligibility query.
    #[arg(long)]
    pub explain: bool,
    /// Write every eligible user to FILE (mode 0600), one per line: id, created_at, latest
    /// activity (value and column) and the rows each table would lose. CSV for .csv, JSON lines
    /// for .jsonl or .ndjson (else --list-format).
    #[arg(long, value_name = "FILE")]
    pub list: Option<PathBuf>,
    /// The format of --list: csv or jsonl (default: from FILE's extension).
    #[arg(long, value_name = "FORMAT", value_parser = ["csv", "jsonl"], requires = "list")]
    pub list_format: Option<String>,
}

/// The run's limits and safety settings: `run` applies them, `plan` (the dry run) checks them
/// the same way and reports what `run` would refuse.
#[derive(Debug, Args)]
pub struct RunLimits {
    #[arg(
        long,
        env = defs::BATCH_SIZE.env,
        help = defs::BATCH_SIZE.help,
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub batch_size: Option<String>,
    #[arg(
        long,
        env = defs::LOCK_TIMEOUT_MS.env,
        help = defs::LOCK_TIMEOUT_MS.help,
        value_name = "MS",
        allow_hyphen_values = true
    )]
    pub lock_timeout_ms: Option<String>,
    #[arg(
        long,
        env = defs::MAX_FAILURES.env,
        help = defs::MAX_FAILURES.help,
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub max_failures: Option<String>,
    #[arg(
        long,
        env = defs::MAX_DELETIONS.env,
        help = defs::MAX_DELETIONS.help,
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub max_deletions: Option<String>,
    #[arg(
        long,
        env = defs::MAX_FRACTION.env,
        help = defs::MAX_FRACTION.help,
        value_name = "F",
        allow_hyphen_values = true
    )]
    pub max_fraction: Option<String>,
    /// Accept an --as-of later than this machine's clock (refused otherwise, exit 4).
    #[arg(long)]
    pub allow_future_as_of: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub db: DbArgs,
    /// Do not delete: the same as `anonsweep plan`.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: write the standalone SQL script to FILE.
    #[arg(long, value_name = "FILE", requires = "dry_run")]
    pub sql_out: Option<PathBuf>,
    /// With --dry-run: write every eligible user to FILE (see `plan --list`).
    #[arg(long, value_name = "FILE", requires = "dry_run")]
    pub list: Option<PathBuf>,
    /// The format of --list: csv or jsonl (default: from FILE's extension).
    #[arg(long, value_name = "FORMAT", value_parser = ["csv", "jsonl"], requires = "list")]
    pub list_format: Option<String>,
    #[command(flatten)]
    pub limits: RunLimits,
    /// Archive every deleted user and all its rows to a per-run JSON-lines file in DIR (mode
    /// 0600), written and fsync'd before each batch commits.
    #[arg(long, env = "ANONSWEEP_ARCHIVE_DIR", value_name = "DIR")]
    pub archive_dir: Option<PathBuf>,
    /// With --archive-dir: gzip the archive file (.jsonl.gz).
    #[arg(long, requires = "archive_dir")]
    pub archive_compress: bool,
    /// Archive into the table anonsweep_archive in the same transaction as the deletes.
    #[arg(long, conflicts_with = "archive_dir")]
    pub archive_to_table: bool,
    /// Take a lock so two instances never run at once: `database` (PostgreSQL advisory lock,
    /// MySQL GET_LOCK, a lock file beside a SQLite database) or a redis:// URL. A second
    /// instance exits 75 and names the holder.
    #[arg(
        long,
        env = "ANONSWEEP_LOCK_URL",
        value_name = "LOCK",
        hide_env_values = true
    )]
    pub lock: Option<String>,
    /// Redis lock: expiry, renewed every third of it while the run lasts (default 60000).
    #[arg(
        long,
        env = "ANONSWEEP_LOCK_TTL_MS",
        value_name = "MS",
        default_value_t = 60_000
    )]
    pub lock_ttl_ms: u64,
    /// Pause between batches, in milliseconds (throttling).
    #[arg(
        long,
        env = "ANONSWEEP_SLEEP_MS",
        value_name = "MS",
        default_value_t = 0
    )]
    pub sleep_ms: u64,
    /// Stop cleanly after the batch in flight once the run has lasted this long (e.g. 30m, 2h).
    #[arg(
        long,
        env = "ANONSWEEP_MAX_RUNTIME",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub max_runtime: Option<String>,
    /// No progress bar or progress lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Write the run's metrics (Prometheus text format) to FILE atomically, for node_exporter's
    /// textfile collector.
    #[arg(long, env = "ANONSWEEP_METRICS_FILE", value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// Push the run's metrics to a Prometheus Pushgateway (job "anonsweep").
    #[arg(long, env = "ANONSWEEP_PUSHGATEWAY", value_name = "URL")]
    pub pushgateway: Option<String>,
    /// Email this address (repeatable) when deletions reach --notify-threshold, a safety cap
    /// stops the run, or the run fails. SMTP settings: ANONSWEEP_SMTP_* (see README).
    #[arg(long = "notify-email", value_name = "ADDR")]
    pub notify_email: Vec<String>,
    /// POST a JSON notification (Slack-compatible `text`) to URL on the same events.
    #[arg(
        long,
        env = "ANONSWEEP_NOTIFY_WEBHOOK",
        value_name = "URL",
        hide_env_values = true
    )]
    pub notify_webhook: Option<String>,
    /// Notify when at least N users were deleted (default 1000).
    #[arg(
        long,
        env = "ANONSWEEP_NOTIFY_THRESHOLD",
        value_name = "N",
        default_value_t = 1000
    )]
    pub notify_threshold: u64,
    /// Append one JSON line per deleted user to FILE.
    #[arg(long, env = "ANONSWEEP_AUDIT_LOG", value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many users to generate.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub users: u64,
    /// Fill this empty database instead of a fresh SQLite file (./anonsweep-demo.db).
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Only create and fill the database; do not plan or run.
    #[arg(long)]
    pub fill_only: bool,
    /// Users per batch transaction for the demo run (default: the backend's, as for `run`).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<u64>,
    /// The population's clock: data spreads over the 120 days before it (default now). With the
    /// same value, two fills are identical row for row (the benchmarks rely on it).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Output format of the summary: text or json.
    #[arg(long, default_value = "text", value_name = "FORMAT")]
    pub format: String,
}

/// The `--preset` help, listing the presets from their one source.
fn preset_help() -> String {
    format!(
        "Schema preset: {}.",
        crate::config::preset::NAMES.join(", ")
    )
}
