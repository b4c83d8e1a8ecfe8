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

/// The examples under `anonsweep --help`.
const EXAMPLES: &str = "\
Examples:
  anonsweep demo                                   a whole cleanup on a demo database
  anonsweep init --database-url app.db             write an anonsweep.toml for this database
  anonsweep doctor --database-url app.db           check the schema, keys, clock and indexes
  anonsweep plan --database-url app.db             dry run: counts, a sample and every statement
  anonsweep run --database-url app.db --lock database
  anonsweep completions bash > ~/.local/share/bash-completion/completions/anonsweep

The database URL can come from DATABASE_URL (or a .env file) instead of --database-url.
Reference: docs/commands.md and docs/configuration.md.";

#[derive(Debug, Parser)]
#[command(
    name = "anonsweep",
    version = VERSION,
    about,
    long_about = None,
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Render the SQL that `run` executes, without connecting to a database.
    #[command(
        after_help = "Examples:\n  anonsweep sql --backend postgres --preset better-auth\n  anonsweep sql --database-url app.db --retention-days 60 --out cleanup.sql"
    )]
    Sql(SqlArgs),
    /// Dry run: connect, change nothing, show counts, a sample and the SQL.
    #[command(
        after_help = "Examples:\n  anonsweep plan --database-url app.db\n  anonsweep plan --preset better-auth --sql-out cleanup.sql   (a script for a DBA)\n  anonsweep plan --list eligible.csv --format json"
    )]
    Plan(PlanArgs),
    /// Delete eligible anonymous users in short batch transactions.
    #[command(
        after_help = "Examples:\n  anonsweep run --database-url app.db\n  anonsweep run --lock database --max-fraction 0.5 --archive-dir /var/lib/anonsweep\n  anonsweep run --dry-run                                     (the same as `plan`)"
    )]
    Run(RunArgs),
    /// Create a demo database with a synthetic population, plan and run the cleanup on it.
    #[command(
        after_help = "Examples:\n  anonsweep demo\n  anonsweep demo --users 1000000 --fill-only\n  anonsweep demo --database-url postgres://postgres@127.0.0.1/demo"
    )]
    Demo(DemoArgs),
    /// Put archived users and their rows back (from `run --archive-dir` or `--archive-to-table`).
    #[command(
        after_help = "Examples:\n  anonsweep restore --archive /var/lib/anonsweep/anonsweep-archive-20261201T020000Z-26ff3a67.jsonl.gz\n  anonsweep restore --from-table --run 26ff3a67 --user 4c1f0d7e-9a51-4b7e-8d2f-0b6a3e5c9d10"
    )]
    Restore(RestoreArgs),
    /// Print ready-to-install files for a daily run: cron, systemd, Kubernetes or GitHub Actions.
    #[command(
        after_help = "Examples:\n  anonsweep schedule cron --time 03:30\n  anonsweep schedule systemd --out-dir /etc/systemd/system -- --archive-dir /var/lib/anonsweep\n  anonsweep schedule kubernetes --image registry.example.com/anonsweep:0.1.0 --secret anonsweep\n  anonsweep schedule github-actions --out-dir .github/workflows"
    )]
    Schedule(ScheduleArgs),
    /// Check the schema, foreign keys, clock and indexes; print every problem with its fix.
    #[command(
        after_help = "Examples:\n  anonsweep doctor --database-url app.db\n  anonsweep doctor --preset supabase --format json"
    )]
    Doctor(DoctorArgs),
    /// Index migrations for the eligibility scan: run, revert, status, sql.
    #[command(
        after_help = "Examples:\n  anonsweep migrate status\n  anonsweep migrate sql --backend postgres --out indexes.sql\n  anonsweep migrate run"
    )]
    Migrate(MigrateArgs),
    /// Recognise the connected schema and write a commented anonsweep.toml that doctor passes.
    #[command(
        after_help = "Examples:\n  anonsweep init --database-url app.db\n  anonsweep init --database-url \"$DATABASE_URL\" --out - | less\n  anonsweep init --force          (replace an existing anonsweep.toml)"
    )]
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    #[command(
        after_help = "Examples:\n  anonsweep completions bash > ~/.local/share/bash-completion/completions/anonsweep\n  anonsweep completions zsh > ~/.zfunc/_anonsweep\n  anonsweep completions fish > ~/.config/fish/completions/anonsweep.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the man page (roff) to stdout, or write one page per command into a directory.
    #[command(
        after_help = "Examples:\n  anonsweep man | man -l -\n  anonsweep man --out-dir /usr/local/share/man/man1"
    )]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write anonsweep.1 and one anonsweep-COMMAND.1 per command into DIR instead of printing
    /// the main page.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Where to write the file (`-`: stdout).
    #[arg(
        long,
        default_value = "anonsweep.toml",
        value_name = "FILE",
        help_heading = "Output"
    )]
    pub out: PathBuf,
    /// Overwrite FILE if it exists.
    #[arg(long, help_heading = "Output")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub action: MigrateAction,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Create the missing indexes (PostgreSQL: CREATE INDEX CONCURRENTLY) and record them.
    Run(MigrateChange),
    /// Drop anonsweep's indexes and unrecord them (the application's own migrations are untouched).
    Revert(MigrateChange),
    /// List each index: applied, present, valid, and any equivalent index the table already has.
    Status(MigrateStatusArgs),
    /// Print (or write with --out) exactly what `migrate run` would execute, for a DBA.
    Sql(MigrateSqlArgs),
}

/// What every migrate action reads: the tables (from the preset or config) and the database.
#[derive(Debug, Args)]
pub struct MigrateCommon {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub schema: SchemaArgs,
}

/// `migrate run` and `migrate revert`: they take locks while creating or dropping an index.
#[derive(Debug, Args)]
pub struct MigrateChange {
    #[command(flatten)]
    pub common: MigrateCommon,
    #[arg(
        long,
        env = defs::LOCK_TIMEOUT_MS.env,
        help = defs::LOCK_TIMEOUT_MS.help,
        value_name = "MS",
        allow_hyphen_values = true,
        help_heading = "Batches"
    )]
    pub lock_timeout_ms: Option<String>,
}

#[derive(Debug, Args)]
pub struct MigrateStatusArgs {
    #[command(flatten)]
    pub common: MigrateCommon,
    #[command(flatten)]
    pub output: FormatArgs,
}

#[derive(Debug, Args)]
pub struct MigrateSqlArgs {
    #[command(flatten)]
    pub common: MigrateCommon,
    /// Dialect to render when no database is given: sqlite, postgres or mysql.
    #[arg(long, value_name = "BACKEND", help_heading = "Connection")]
    pub backend: Option<String>,
    /// Write the SQL to FILE instead of stdout.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub out: Option<PathBuf>,
}

/// Where the schema comes from: every command that reads the application's tables.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    #[arg(long, env = "ANONSWEEP_PRESET", value_name = "NAME", help = preset_help(), help_heading = "Rule")]
    pub preset: Option<String>,
    /// Config file (default: ./anonsweep.toml when it exists).
    #[arg(
        long,
        env = "ANONSWEEP_CONFIG",
        value_name = "FILE",
        help_heading = "Rule"
    )]
    pub config: Option<PathBuf>,
    /// Timestamp storage: auto, timestamptz, timestamp, iso-text, epoch-ms, epoch-s.
    #[arg(
        long,
        env = "ANONSWEEP_TIMESTAMP_FORMAT",
        value_name = "FORMAT",
        help_heading = "Rule"
    )]
    pub timestamp_format: Option<String>,
}

/// The schema plus the eligibility rule's clock: the commands that decide who is eligible.
#[derive(Debug, Args)]
pub struct RuleArgs {
    #[command(flatten)]
    pub schema: SchemaArgs,
    #[arg(
        long,
        env = defs::RETENTION_DAYS.env,
        help = defs::RETENTION_DAYS.help,
        value_name = "DAYS",
        allow_hyphen_values = true,
        help_heading = "Rule"
    )]
    pub retention_days: Option<String>,
    /// Fix the clock: the cutoff is AS_OF minus the retention (RFC 3339 or YYYY-MM-DD, UTC; default now).
    #[arg(
        long,
        env = "ANONSWEEP_AS_OF",
        value_name = "TIME",
        help_heading = "Rule"
    )]
    pub as_of: Option<String>,
}

/// The summary's format, for the commands that print one.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Output format of the summary: text or json.
    #[arg(
        long,
        default_value = "text",
        value_name = "FORMAT",
        help_heading = "Output"
    )]
    pub format: String,
}

/// Options of commands that connect.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Database: postgres://user:pass@host/db, mysql://user:pass@host/db, sqlite://path or a plain SQLite file path.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "URL",
        hide_env_values = true,
        help_heading = "Connection"
    )]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub rule: RuleArgs,
    /// Dialect to render: sqlite, postgres or mysql (default: from --database-url, else sqlite).
    #[arg(long, value_name = "BACKEND", help_heading = "Connection")]
    pub backend: Option<String>,
    /// Write the SQL to FILE instead of stdout.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub schema: SchemaArgs,
    #[command(flatten)]
    pub output: FormatArgs,
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
    /// cron, systemd, kubernetes (a CronJob) or github-actions (a scheduled workflow).
    #[arg(
        value_name = "KIND",
        value_parser = ["cron", "systemd", "kubernetes", "github-actions"]
    )]
    pub kind: String,
    /// Time of day to run, HH:MM: the server's local time for cron and systemd, UTC for
    /// kubernetes and github-actions.
    #[arg(long, default_value = "02:00", value_name = "HH:MM")]
    pub time: String,
    /// systemd: spread the start over this window (RandomizedDelaySec), e.g. 30m [default: 30m].
    #[arg(long, value_name = "SPAN")]
    pub randomized_delay: Option<String>,
    /// cron, systemd: environment file holding DATABASE_URL (and ANONSWEEP_* settings), mode 0600
    /// [default: /etc/anonsweep/anonsweep.env].
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// The lock the scheduled run takes: `database`, a redis:// URL, or `env` (ANONSWEEP_LOCK_URL
    /// from the env file, Secret or repository secret: best when the URL holds a password).
    #[arg(long, default_value = "database", value_name = "LOCK")]
    pub lock: String,
    /// cron, systemd: the user the job runs as.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// The anonsweep executable the schedule runs [default: cron, systemd: this binary's real
    /// path; kubernetes: `anonsweep` on the image's PATH].
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// kubernetes: the container image with anonsweep (and /bin/sh) in it.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// kubernetes: the Secret whose key DATABASE_URL holds the database URL [default: anonsweep].
    #[arg(long, value_name = "NAME")]
    pub secret: Option<String>,
    /// Write the files into DIR (anonsweep.cron; anonsweep.service and anonsweep.timer;
    /// anonsweep-cronjob.yaml; anonsweep.yml) instead of printing them.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Further `run` options, after `--` (e.g. -- --archive-dir /var/lib/anonsweep/archive).
    #[arg(last = true, value_name = "RUN_ARGS")]
    pub run_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub output: FormatArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub output: FormatArgs,
    /// Also write a standalone SQL script (one transaction, literal cutoff) a DBA can run.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub sql_out: Option<PathBuf>,
    #[command(flatten)]
    pub limits: RunLimits,
    /// How many eligible ids to show.
    #[arg(long, default_value_t = 10, value_name = "N", help_heading = "Output")]
    pub sample: usize,
    /// Also print the database's own plan (EXPLAIN) for the eligibility query.
    #[arg(long, help_heading = "Output")]
    pub explain: bool,
    /// Write every eligible user to FILE (mode 0600), one per line: id, created_at, latest
    /// activity (value and column) and the rows each table would lose. CSV for .csv, JSON lines
    /// for .jsonl or .ndjson (else --list-format).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub list: Option<PathBuf>,
    /// The format of --list: csv or jsonl (default: from FILE's extension).
    #[arg(long, value_name = "FORMAT", value_parser = ["csv", "jsonl"], requires = "list", help_heading = "Output")]
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
        allow_hyphen_values = true,
        help_heading = "Batches"
    )]
    pub batch_size: Option<String>,
    #[arg(
        long,
        env = defs::LOCK_TIMEOUT_MS.env,
        help = defs::LOCK_TIMEOUT_MS.help,
        value_name = "MS",
        allow_hyphen_values = true,
        help_heading = "Batches"
    )]
    pub lock_timeout_ms: Option<String>,
    #[arg(
        long,
        env = defs::MAX_FAILURES.env,
        help = defs::MAX_FAILURES.help,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Safety"
    )]
    pub max_failures: Option<String>,
    #[arg(
        long,
        env = defs::MAX_DELETIONS.env,
        help = defs::MAX_DELETIONS.help,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Safety"
    )]
    pub max_deletions: Option<String>,
    #[arg(
        long,
        env = defs::MAX_FRACTION.env,
        help = defs::MAX_FRACTION.help,
        value_name = "F",
        allow_hyphen_values = true,
        help_heading = "Safety"
    )]
    pub max_fraction: Option<String>,
    /// Accept an --as-of later than this machine's clock (refused otherwise, exit 4).
    #[arg(long, help_heading = "Safety")]
    pub allow_future_as_of: bool,
    #[arg(
        long,
        env = defs::WORKERS.env,
        help = defs::WORKERS.help,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Batches"
    )]
    pub workers: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub output: FormatArgs,
    /// Do not delete: the same as `anonsweep plan`.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: write the standalone SQL script to FILE.
    #[arg(
        long,
        value_name = "FILE",
        requires = "dry_run",
        help_heading = "Output"
    )]
    pub sql_out: Option<PathBuf>,
    /// With --dry-run: write every eligible user to FILE (see `plan --list`).
    #[arg(
        long,
        value_name = "FILE",
        requires = "dry_run",
        help_heading = "Output"
    )]
    pub list: Option<PathBuf>,
    /// The format of --list: csv or jsonl (default: from FILE's extension).
    #[arg(long, value_name = "FORMAT", value_parser = ["csv", "jsonl"], requires = "list", help_heading = "Output")]
    pub list_format: Option<String>,
    /// With --dry-run: how many eligible ids to show.
    #[arg(
        long,
        default_value_t = 10,
        value_name = "N",
        requires = "dry_run",
        help_heading = "Output"
    )]
    pub sample: usize,
    /// With --dry-run: also print the database's own plan (EXPLAIN) for the eligibility query.
    #[arg(long, requires = "dry_run", help_heading = "Output")]
    pub explain: bool,
    #[command(flatten)]
    pub limits: RunLimits,
    /// Archive every deleted user and all its rows to a per-run JSON-lines file in DIR (mode
    /// 0600), written and fsync'd before each batch commits.
    #[arg(
        long,
        env = "ANONSWEEP_ARCHIVE_DIR",
        value_name = "DIR",
        help_heading = "Archive"
    )]
    pub archive_dir: Option<PathBuf>,
    /// With --archive-dir: gzip the archive file (.jsonl.gz).
    #[arg(long, requires = "archive_dir", help_heading = "Archive")]
    pub archive_compress: bool,
    /// Archive into the table anonsweep_archive in the same transaction as the deletes.
    #[arg(long, conflicts_with = "archive_dir", help_heading = "Archive")]
    pub archive_to_table: bool,
    /// Append one JSON line per deleted user to FILE.
    #[arg(
        long,
        env = "ANONSWEEP_AUDIT_LOG",
        value_name = "FILE",
        help_heading = "Archive"
    )]
    pub audit_log: Option<PathBuf>,
    /// Take a lock so two instances never run at once: `database` (PostgreSQL advisory lock,
    /// MySQL GET_LOCK, a lock file beside a SQLite database) or a redis:// URL. A second
    /// instance exits 75 and names the holder.
    #[arg(
        long,
        env = "ANONSWEEP_LOCK_URL",
        value_name = "LOCK",
        hide_env_values = true,
        help_heading = "Safety"
    )]
    pub lock: Option<String>,
    /// Redis lock: expiry, renewed every third of it while the run lasts (default 60000).
    #[arg(
        long,
        env = "ANONSWEEP_LOCK_TTL_MS",
        value_name = "MS",
        default_value_t = 60_000,
        help_heading = "Safety"
    )]
    pub lock_ttl_ms: u64,
    /// Wait between batches while a replica lags more than DURATION (e.g. 5s). PostgreSQL: the
    /// standbys connected to the primary, or each --replica; MySQL/MariaDB: each --replica.
    #[arg(
        long,
        env = "ANONSWEEP_MAX_REPLICA_LAG",
        value_name = "DURATION",
        allow_hyphen_values = true,
        help_heading = "Safety"
    )]
    pub max_replica_lag: Option<String>,
    /// With --max-replica-lag: a replica to watch instead of those the primary lists
    /// (repeatable; the environment variable takes several, separated by spaces).
    #[arg(
        long = "replica",
        env = "ANONSWEEP_REPLICA_URLS",
        value_name = "URL",
        value_delimiter = ' ',
        hide_env_values = true,
        requires = "max_replica_lag",
        help_heading = "Safety"
    )]
    pub replicas: Vec<String>,
    /// With --max-replica-lag: stop cleanly (exit 8) when one wait lasts longer than this
    /// (default 10m).
    #[arg(
        long,
        env = "ANONSWEEP_MAX_LAG_WAIT",
        value_name = "DURATION",
        allow_hyphen_values = true,
        requires = "max_replica_lag",
        help_heading = "Safety"
    )]
    pub max_lag_wait: Option<String>,
    /// Pause between batches, in milliseconds (throttling).
    #[arg(
        long,
        env = "ANONSWEEP_SLEEP_MS",
        value_name = "MS",
        default_value_t = 0,
        help_heading = "Batches"
    )]
    pub sleep_ms: u64,
    /// Also pause F times the last batch's duration after each batch (e.g. 1.0 keeps the
    /// database busy at most half the time).
    #[arg(
        long,
        env = "ANONSWEEP_SLEEP_COEF",
        value_name = "F",
        allow_hyphen_values = true,
        help_heading = "Batches"
    )]
    pub sleep_coef: Option<String>,
    /// Size each batch toward this duration in milliseconds, from the last batch's time per
    /// user, never above --batch-size (default 100 on PostgreSQL, off elsewhere; 0: off, fixed
    /// batches of --batch-size).
    #[arg(
        long,
        env = "ANONSWEEP_TARGET_BATCH_MS",
        value_name = "MS",
        allow_hyphen_values = true,
        help_heading = "Batches"
    )]
    pub target_batch_ms: Option<String>,
    /// Delete at most N users in this run, then stop cleanly (exit 0) and say how many remain
    /// eligible: a large backlog drains over several runs.
    #[arg(
        long,
        env = "ANONSWEEP_MAX_PER_RUN",
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Batches"
    )]
    pub max_per_run: Option<String>,
    /// Stop cleanly between batches (exit 6) once FILE exists, e.g. `touch /run/anonsweep.stop`.
    #[arg(
        long,
        env = "ANONSWEEP_STOP_FILE",
        value_name = "FILE",
        help_heading = "Batches"
    )]
    pub stop_file: Option<PathBuf>,
    /// Stop cleanly after the batch in flight once the run has lasted this long (e.g. 30m, 2h).
    #[arg(
        long,
        env = "ANONSWEEP_MAX_RUNTIME",
        value_name = "DURATION",
        allow_hyphen_values = true,
        help_heading = "Batches"
    )]
    pub max_runtime: Option<String>,
    /// No progress bar or progress lines.
    #[arg(long, short, help_heading = "Operations")]
    pub quiet: bool,
    /// Write the run's metrics (Prometheus text format) to FILE atomically, for node_exporter's
    /// textfile collector.
    #[arg(
        long,
        env = "ANONSWEEP_METRICS_FILE",
        value_name = "FILE",
        help_heading = "Operations"
    )]
    pub metrics_file: Option<PathBuf>,
    /// Push the run's metrics to a Prometheus Pushgateway (job "anonsweep").
    #[arg(
        long,
        env = "ANONSWEEP_PUSHGATEWAY",
        value_name = "URL",
        help_heading = "Operations"
    )]
    pub pushgateway: Option<String>,
    /// Email this address (repeatable) when deletions reach --notify-threshold, a safety cap
    /// stops the run, or the run fails. SMTP settings: ANONSWEEP_SMTP_* (see docs/production.md).
    #[arg(
        long = "notify-email",
        value_name = "ADDR",
        help_heading = "Operations"
    )]
    pub notify_email: Vec<String>,
    /// POST a JSON notification (Slack-compatible `text`) to URL on the same events.
    #[arg(
        long,
        env = "ANONSWEEP_NOTIFY_WEBHOOK",
        value_name = "URL",
        hide_env_values = true,
        help_heading = "Operations"
    )]
    pub notify_webhook: Option<String>,
    /// Notify when at least N users were deleted (default 1000).
    #[arg(
        long,
        env = "ANONSWEEP_NOTIFY_THRESHOLD",
        value_name = "N",
        default_value_t = 1000,
        help_heading = "Operations"
    )]
    pub notify_threshold: u64,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many users to generate.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub users: u64,
    /// Fill this empty database instead of a fresh SQLite file (./anonsweep-demo.db).
    #[arg(
        long,
        value_name = "URL",
        hide_env_values = true,
        help_heading = "Connection"
    )]
    pub database_url: Option<String>,
    /// Only create and fill the database; do not plan or run.
    #[arg(long)]
    pub fill_only: bool,
    /// Users per batch transaction for the demo run (default: the backend's, as for `run`).
    #[arg(long, value_name = "N", help_heading = "Batches")]
    pub batch_size: Option<u64>,
    /// The population's clock: data spreads over the 120 days before it (default now). With the
    /// same value, two fills are identical row for row (the benchmarks rely on it).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    #[command(flatten)]
    pub output: FormatArgs,
}

/// The `--preset` help, listing the presets from their one source.
fn preset_help() -> String {
    format!(
        "Schema preset: {}.",
        crate::config::preset::NAMES.join(", ")
    )
}
