//! The `anonsweep.toml` file: every key optional, unknown keys rejected.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::error::usage;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub preset: Option<String>,
    pub database_url: Option<String>,
    pub retention_days: Option<toml::Value>,
    pub batch_size: Option<toml::Value>,
    pub timestamp_format: Option<String>,
    pub lock_timeout_ms: Option<toml::Value>,
    pub max_failures: Option<toml::Value>,
    pub users: Option<UsersSection>,
    pub sessions: Option<SessionsSection>,
    pub accounts: Option<AccountsSection>,
    /// `[[tables]]`: application tables whose rows belong to a user.
    pub tables: Option<Vec<TableEntry>>,
    pub max_deletions: Option<toml::Value>,
    pub max_fraction: Option<toml::Value>,
    /// `[[keep_if]]`: a user with matching rows in a table is kept.
    pub keep_if: Option<Vec<KeepIfEntry>>,
    /// Acknowledges a rule with no activity signal at all (age only).
    pub age_only: Option<bool>,
    /// Connections taking disjoint batches at once (`--workers`).
    pub workers: Option<toml::Value>,
}

/// One `[[keep_if]]` entry: keep a user who has a row in `table` (whose `user_column` holds the
/// user's id), optionally only rows where `column` compares to `value` with `op`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepIfEntry {
    pub table: String,
    pub user_column: String,
    pub column: Option<String>,
    /// `=`, `<>`, `<`, `<=`, `>`, `>=` (default `=`), or `is null` / `is not null`.
    pub op: Option<String>,
    pub value: Option<toml::Value>,
    pub compare_as_text: Option<bool>,
}

/// One `[[tables]]` entry: either `user_column` (the table holds the user's id), or `column` +
/// `parent` (+ `parent_column`, default `id`): the table hangs off another configured table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    pub table: String,
    pub user_column: Option<String>,
    pub column: Option<String>,
    pub parent: Option<String>,
    pub parent_column: Option<String>,
    /// Compare the column with the user id as text (e.g. a varchar column holding uuids).
    pub compare_as_text: Option<bool>,
}

/// `[users]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersSection {
    pub table: Option<String>,
    pub id: Option<String>,
    pub is_anonymous: Option<String>,
    pub created_at: Option<String>,
    /// Columns of the users table that count as activity, like session activity.
    pub activity: Option<Vec<String>>,
}

/// `[sessions]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsSection {
    pub table: Option<String>,
    pub user_id: Option<String>,
    pub activity: Option<Vec<String>>,
    /// `database` (default): session rows show activity; `none`: the sessions live elsewhere
    /// (e.g. better-auth's secondary storage), so the rule does not read them.
    pub source: Option<String>,
}

/// `[accounts]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsSection {
    pub enabled: Option<bool>,
    pub table: Option<String>,
    pub user_id: Option<String>,
}

/// A loaded config file and where it came from.
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub file: ConfigFile,
}

/// Loads `path`, or `./anonsweep.toml` when no path is given and that file exists.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Option<Loaded>> {
    let path = match explicit {
        Some(p) => {
            if !p.exists() {
                return Err(usage(format!(
                    "config file {} does not exist: fix the --config / ANONSWEEP_CONFIG path",
                    p.display()
                )));
            }
            p.to_path_buf()
        }
        None => {
            let p = PathBuf::from("anonsweep.toml");
            if !p.exists() {
                return Ok(None);
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| {
        let msg = e.message().replace('\n', " ");
        usage(format!(
            "config file {}: {msg}: fix the file (see docs/configuration.md)",
            path.display()
        ))
    })?;
    Ok(Some(Loaded { path, file }))
}
