//! One resolved, checked `Settings` value: flag > environment > config file > preset defaults,
//! remembering where each value came from.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};
use serde::Serialize;

use crate::config::defs::{self, Def, Fallback};
use crate::config::file::{ConfigFile, KeepIfEntry, Loaded, TableEntry};
use crate::config::preset::{self, SchemaNames};
use crate::error::usage;
use crate::sql::dburl::DbUrl;
use crate::sql::dialect::{Backend, TimeKind};
use crate::sql::ident::{self, TableName};

pub use crate::config::origin::Origin;

/// A value typed on the command line or found in the environment, with its origin.
pub type Given = Option<(String, Origin)>;

/// The raw inputs `settings` resolves (filled by the command layer).
#[derive(Debug, Default)]
pub struct Inputs {
    pub database_url: Given,
    pub preset: Given,
    pub config: Option<PathBuf>,
    pub as_of: Given,
    pub timestamp_format: Given,
    /// The numeric settings given by flag or environment, by their definition's key.
    pub numbers: std::collections::BTreeMap<&'static str, (String, Origin)>,
    pub backend: Given,
    pub format: Option<String>,
    /// Whether this command needs a database URL.
    pub needs_database: bool,
}

/// How timestamps are stored: detected per column, or fixed for all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampFormat {
    Auto,
    Fixed(TimeKind),
}

impl TimestampFormat {
    /// The configured storage kind, if one is fixed.
    pub fn fixed(self) -> Option<TimeKind> {
        match self {
            TimestampFormat::Auto => None,
            TimestampFormat::Fixed(k) => Some(k),
        }
    }
}

/// Output format of summaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

/// The tables and columns the rule works on, validated.
#[derive(Clone, Debug)]
pub struct Schema {
    pub users: TableName,
    pub users_id: String,
    pub users_is_anonymous: String,
    pub users_created_at: String,
    pub sessions: TableName,
    pub sessions_user_id: String,
    pub sessions_activity: Vec<String>,
    /// Users columns that count as activity (any value at or after the cutoff keeps the user).
    pub users_activity: Vec<String>,
    /// False when the sessions live elsewhere (`sessions.source = "none"`): the rule does not
    /// read the sessions table.
    pub sessions_show_activity: bool,
    /// Rule with no activity signal at all, acknowledged with `age_only = true`.
    pub age_only: bool,
    /// `[[keep_if]]` guards: a user with matching rows is kept.
    pub keep_if: Vec<Guard>,
    pub accounts: Option<(TableName, String)>,
    /// Application tables whose rows belong to a user (`[[tables]]` and the preset's).
    pub tables: Vec<AppTable>,
}

/// A `[[keep_if]]` guard.
#[derive(Clone, Debug, PartialEq)]
pub struct Guard {
    pub table: TableName,
    pub user_column: String,
    /// Only rows where the column compares to the value.
    pub condition: Option<GuardCondition>,
    /// Compare the user column with the user id as text.
    pub as_text: bool,
}

/// `column op value` of a guard; `value` is `None` for `is null` / `is not null`.
#[derive(Clone, Debug, PartialEq)]
pub struct GuardCondition {
    pub column: String,
    pub op: &'static str,
    pub value: Option<GuardValue>,
}

/// A guard's comparison value.
#[derive(Clone, Debug, PartialEq)]
pub enum GuardValue {
    Text(String),
    Number(String),
    Bool(bool),
}

impl std::fmt::Display for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{} = user id", self.table, self.user_column)?;
        if let Some(c) = &self.condition {
            write!(f, " and {} {}", c.column, c.op)?;
            match &c.value {
                Some(GuardValue::Text(s)) => write!(f, " {s:?}")?,
                Some(GuardValue::Number(n)) => write!(f, " {n}")?,
                Some(GuardValue::Bool(b)) => write!(f, " {b}")?,
                None => {}
            }
        }
        Ok(())
    }
}

/// How an application table's rows find their user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// The table holds the user's id in this column.
    User(String),
    /// `column` holds `parent.key` of another configured table.
    Parent {
        column: String,
        parent: TableName,
        key: String,
    },
}

impl Link {
    /// The column of this table that holds the link.
    pub fn column(&self) -> &str {
        match self {
            Link::User(c) => c,
            Link::Parent { column, .. } => column,
        }
    }
}

/// A configured application table whose rows are deleted with their user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppTable {
    pub table: TableName,
    pub link: Link,
    /// Compare with the user id as text (the column is text, the id is not).
    pub as_text: bool,
}

impl std::fmt::Display for AppTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.link {
            Link::User(c) => write!(f, "{}.{c} -> user id", self.table),
            Link::Parent {
                column,
                parent,
                key,
            } => write!(f, "{}.{column} -> {parent}.{key}", self.table),
        }
    }
}

/// One effective setting, for display.
#[derive(Clone, Debug, Serialize)]
pub struct Effective {
    pub name: &'static str,
    pub value: String,
    pub origin: String,
}

/// Everything a command needs, checked once.
#[derive(Clone, Debug)]
pub struct Settings {
    pub backend: Backend,
    pub database: Option<DbUrl>,
    pub preset: String,
    pub schema: Schema,
    pub retention_days: u32,
    pub as_of: DateTime<Utc>,
    pub cutoff: DateTime<Utc>,
    pub timestamp_format: TimestampFormat,
    pub batch_size: u64,
    pub lock_timeout_ms: u64,
    pub max_failures: u64,
    /// Safety caps: `run` deletes nothing when the plan exceeds them.
    pub max_deletions: Option<u64>,
    pub max_fraction: Option<f64>,
    /// `--workers`: connections taking disjoint batches at once (1: the one run connection).
    pub workers: u64,
    pub format: OutputFormat,
    pub effective: Vec<Effective>,
}

impl Settings {
    /// The database URL as it may be shown (password replaced), or empty.
    pub fn database_shown(&self) -> String {
        self.database
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default()
    }
}

struct Resolver<'a> {
    file: Option<&'a Loaded>,
    effective: Vec<Effective>,
}

impl Resolver<'_> {
    fn file(&self) -> Option<&ConfigFile> {
        self.file.map(|l| &l.file)
    }

    /// For a value read from the config file (so there is one: an origin names its file).
    fn file_origin(&self) -> Origin {
        debug_assert!(self.file.is_some(), "a file origin without a config file");
        Origin::File(self.file.map(|l| l.path.clone()).unwrap_or_default())
    }

    /// flag/env > file > fallback.
    fn pick(
        &mut self,
        name: &'static str,
        given: &Given,
        from_file: Option<String>,
        fallback: (String, Origin),
    ) -> (String, Origin) {
        let (v, o) = if let Some((v, o)) = given {
            (v.clone(), o.clone())
        } else if let Some(v) = from_file {
            (v, self.file_origin())
        } else {
            fallback
        };
        self.note(name, &v, &o);
        (v, o)
    }

    /// A setting's value and origin: flag/env > file > its fallback (`None` when it is off).
    fn value(&mut self, inputs: &Inputs, d: &Def, backend: Backend) -> Option<(String, Origin)> {
        let fallback = match d.fallback {
            Fallback::Value(v) => (v.to_string(), Origin::Default),
            Fallback::BackendBatchSize => {
                (backend.default_batch_size().to_string(), Origin::Default)
            }
            Fallback::Off => ("none".to_string(), Origin::Default),
        };
        let off = matches!(d.fallback, Fallback::Off);
        let from_file = self.file().and_then(|f| toml_scalar((d.file)(f)));
        let (v, o) = self.pick(
            d.key,
            &inputs.numbers.get(d.key).cloned(),
            from_file,
            fallback,
        );
        (!(off && o == Origin::Default)).then_some((v, o))
    }

    /// A whole-number setting, checked against its range.
    fn number(
        &mut self,
        inputs: &Inputs,
        d: &Def,
        backend: Backend,
    ) -> anyhow::Result<Option<u64>> {
        self.value(inputs, d, backend)
            .map(|(v, o)| d.whole(&v, &o))
            .transpose()
    }

    /// A share setting (0..=1).
    fn share(&mut self, inputs: &Inputs, d: &Def) -> anyhow::Result<Option<f64>> {
        self.value(inputs, d, Backend::Sqlite)
            .map(|(v, o)| d.share(&v, &o))
            .transpose()
    }

    fn note(&mut self, name: &'static str, value: &str, origin: &Origin) {
        self.effective.push(Effective {
            name,
            value: value.to_string(),
            origin: origin.to_string(),
        });
    }
}

fn toml_scalar(v: Option<&toml::Value>) -> Option<String> {
    v.map(|v| match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Parses `--as-of`: RFC 3339, `YYYY-MM-DDTHH:MM:SS` (UTC) or `YYYY-MM-DD` (midnight UTC).
pub fn parse_as_of(value: &str) -> Option<DateTime<Utc>> {
    let v = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn parse_timestamp_format(value: &str, origin: &Origin) -> anyhow::Result<TimestampFormat> {
    Ok(match value.trim().to_ascii_lowercase().as_str() {
        "auto" => TimestampFormat::Auto,
        "timestamptz" => TimestampFormat::Fixed(TimeKind::Timestamptz),
        "timestamp" => TimestampFormat::Fixed(TimeKind::Timestamp),
        "iso-text" | "text" | "iso" => TimestampFormat::Fixed(TimeKind::IsoText),
        "epoch-ms" | "timestamp_ms" => TimestampFormat::Fixed(TimeKind::EpochMs),
        "epoch-s" | "epoch" => TimestampFormat::Fixed(TimeKind::EpochS),
        _ => {
            return Err(usage(format!(
                "unknown timestamp format {value:?} (from {origin}): use auto, timestamptz, timestamp, iso-text, epoch-ms or epoch-s"
            )))
        }
    })
}

fn schema_names(r: &mut Resolver, preset_name: &str, base: SchemaNames) -> anyhow::Result<Schema> {
    let p = Origin::Preset(preset_name.to_string());
    let file = r.file();
    let users = file.and_then(|f| f.users.as_ref());
    let sessions = file.and_then(|f| f.sessions.as_ref());
    let accounts = file.and_then(|f| f.accounts.as_ref());

    let users_table = users.and_then(|u| u.table.clone());
    let users_id = users.and_then(|u| u.id.clone());
    let users_anon = users.and_then(|u| u.is_anonymous.clone());
    let users_created = users.and_then(|u| u.created_at.clone());
    let s_table = sessions.and_then(|s| s.table.clone());
    let s_user = sessions.and_then(|s| s.user_id.clone());
    let s_activity = sessions.and_then(|s| s.activity.clone());
    let s_source = sessions.and_then(|s| s.source.clone());
    let u_activity = users.and_then(|u| u.activity.clone());
    let keep_if = file.and_then(|f| f.keep_if.clone()).unwrap_or_default();
    let age_only = file.and_then(|f| f.age_only).unwrap_or(false);
    let a_enabled = accounts.and_then(|a| a.enabled);
    let a_table = accounts.and_then(|a| a.table.clone());
    let a_user = accounts.and_then(|a| a.user_id.clone());
    let file_tables = file.and_then(|f| f.tables.clone()).unwrap_or_default();

    let (v, _) = r.pick(
        "users.table",
        &None,
        users_table,
        (base.users_table, p.clone()),
    );
    let users = ident::table(&v, "users.table")?;
    let (v, _) = r.pick("users.id", &None, users_id, (base.users_id, p.clone()));
    let users_id = ident::column(&v, "users.id")?;
    let (v, _) = r.pick(
        "users.is_anonymous",
        &None,
        users_anon,
        (base.users_is_anonymous, p.clone()),
    );
    let users_is_anonymous = ident::column(&v, "users.is_anonymous")?;
    let (v, _) = r.pick(
        "users.created_at",
        &None,
        users_created,
        (base.users_created_at, p.clone()),
    );
    let users_created_at = ident::column(&v, "users.created_at")?;
    let (v, _) = r.pick(
        "sessions.table",
        &None,
        s_table,
        (base.sessions_table, p.clone()),
    );
    let sessions = ident::table(&v, "sessions.table")?;
    let (v, _) = r.pick(
        "sessions.user_id",
        &None,
        s_user,
        (base.sessions_user_id, p.clone()),
    );
    let sessions_user_id = ident::column(&v, "sessions.user_id")?;
    let (activity, origin) = match s_activity {
        Some(a) => (a, r.file_origin()),
        None => (base.sessions_activity, p.clone()),
    };
    r.note("sessions.activity", &activity.join(", "), &origin);
    if activity.is_empty() {
        return Err(usage(
            "sessions.activity is empty: list at least one session timestamp column, e.g. activity = [\"created_at\", \"updated_at\"]",
        ));
    }
    let sessions_activity = activity
        .iter()
        .map(|c| ident::column(c, "sessions.activity"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (users_activity, origin) = match u_activity {
        Some(a) => (a, r.file_origin()),
        None => (base.users_activity, p.clone()),
    };
    if !users_activity.is_empty() {
        r.note("users.activity", &users_activity.join(", "), &origin);
    }
    let users_activity = users_activity
        .iter()
        .map(|c| ident::column(c, "users.activity"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sessions_show_activity = match s_source.as_deref() {
        None | Some("database") => true,
        Some("none") => false,
        Some(other) => {
            return Err(usage(format!(
                "sessions.source = {other:?} (from {}): use \"database\" (session rows show activity) or \"none\" (sessions live elsewhere, e.g. in Redis)",
                r.file_origin()
            )))
        }
    };
    if !sessions_show_activity {
        r.note("sessions.source", "none", &r.file_origin());
    }
    if !sessions_show_activity && users_activity.is_empty() && !age_only {
        return Err(usage(format!(
            "sessions.source = \"none\" (from {}) leaves the rule without any activity signal: set [users] activity = [\"last_seen_at\"] (a users column your app updates), or age_only = true to delete every old guest by age alone",
            r.file_origin()
        )));
    }
    if age_only {
        r.note("age_only", "true", &r.file_origin());
    }
    let keep_if = keep_if
        .iter()
        .map(|g| guard(g, &r.file_origin()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for g in &keep_if {
        r.note("keep_if", &g.to_string(), &r.file_origin());
    }
    let enabled = a_enabled.unwrap_or(base.accounts_enabled);
    let accounts = if enabled {
        let (v, _) = r.pick(
            "accounts.table",
            &None,
            a_table,
            (base.accounts_table, p.clone()),
        );
        let t = ident::table(&v, "accounts.table")?;
        let (v, _) = r.pick(
            "accounts.user_id",
            &None,
            a_user,
            (base.accounts_user_id, p.clone()),
        );
        Some((t, ident::column(&v, "accounts.user_id")?))
    } else {
        // Disabled by the file, or by the preset (the file may not say).
        let origin = match a_enabled {
            Some(_) => r.file_origin(),
            None => p.clone(),
        };
        r.note("accounts", "disabled", &origin);
        None
    };
    let mut entries: Vec<(TableEntry, Origin)> =
        base.tables.into_iter().map(|t| (t, p.clone())).collect();
    for t in file_tables {
        // A file entry for a table the preset lists replaces the preset's entry (a table
        // listed twice in the file is refused below).
        entries.retain(|(e, o)| !(e.table == t.table && matches!(o, Origin::Preset(_))));
        entries.push((t, r.file_origin()));
    }
    let mut tables = Vec::new();
    for (e, origin) in &entries {
        let mut t = app_table(e, origin)?;
        // `parent` = the users table is a direct link (by its id only).
        if let Link::Parent {
            column,
            parent,
            key,
        } = &t.link
        {
            if *parent == users {
                if *key != users_id {
                    return Err(usage(format!(
                        "[[tables]] entry {} links to {parent}.{key}: anonsweep deletes users by {parent}.{users_id}; use user_column = \"…\" for a column holding that id",
                        t.table
                    )));
                }
                t.link = Link::User(column.clone());
            }
        }
        r.note("tables", &t.to_string(), origin);
        tables.push(t);
    }
    let schema = Schema {
        users,
        users_id,
        users_is_anonymous,
        users_created_at,
        sessions,
        sessions_user_id,
        sessions_activity,
        users_activity,
        sessions_show_activity,
        age_only,
        keep_if,
        accounts,
        tables,
    };
    check_links(&schema)?;
    Ok(schema)
}

fn guard(e: &KeepIfEntry, origin: &Origin) -> anyhow::Result<Guard> {
    let table = ident::table(&e.table, "keep_if.table")?;
    let user_column = ident::column(&e.user_column, "keep_if.user_column")?;
    let bad = |why: &str| {
        usage(format!(
            "[[keep_if]] entry for {:?} (from {origin}): {why}",
            e.table
        ))
    };
    let condition = match (&e.column, e.op.as_deref(), &e.value) {
        (None, None, None) => None,
        (None, _, _) => {
            return Err(bad(
                "op and value need a column: add column = \"…\" (or drop op and value)",
            ))
        }
        (Some(c), op, value) => {
            let column = ident::column(c, "keep_if.column")?;
            let op = match op.map(|o| o.trim().to_ascii_lowercase()).as_deref() {
                None | Some("=") | Some("==") => "=",
                Some("<>") | Some("!=") => "<>",
                Some("<") => "<",
                Some("<=") => "<=",
                Some(">") => ">",
                Some(">=") => ">=",
                Some("is null") => "IS NULL",
                Some("is not null") => "IS NOT NULL",
                Some(other) => {
                    return Err(bad(&format!(
                        "op {other:?} is not one of =, <>, <, <=, >, >=, is null, is not null"
                    )))
                }
            };
            let value = match (op, value) {
                ("IS NULL" | "IS NOT NULL", None) => None,
                ("IS NULL" | "IS NOT NULL", Some(_)) => {
                    return Err(bad(&format!("op {op:?} takes no value: drop value")))
                }
                (_, None) => return Err(bad(&format!("op {op:?} needs a value = …"))),
                (_, Some(toml::Value::String(s))) => Some(GuardValue::Text(s.clone())),
                (_, Some(toml::Value::Integer(i))) => Some(GuardValue::Number(i.to_string())),
                (_, Some(toml::Value::Float(f))) if f.is_finite() => {
                    Some(GuardValue::Number(f.to_string()))
                }
                (_, Some(toml::Value::Boolean(b))) => Some(GuardValue::Bool(*b)),
                (_, Some(other)) => {
                    return Err(bad(&format!(
                        "value {other} is not a string, number or boolean"
                    )))
                }
            };
            Some(GuardCondition { column, op, value })
        }
    };
    Ok(Guard {
        table,
        user_column,
        condition,
        as_text: e.compare_as_text.unwrap_or(false),
    })
}

fn app_table(e: &TableEntry, origin: &Origin) -> anyhow::Result<AppTable> {
    let table = ident::table(&e.table, "tables.table")?;
    let link = match (&e.user_column, &e.column, &e.parent) {
        (Some(c), None, None) if e.parent_column.is_none() => {
            Link::User(ident::column(c, "tables.user_column")?)
        }
        (None, Some(c), Some(p)) => Link::Parent {
            column: ident::column(c, "tables.column")?,
            parent: ident::table(p, "tables.parent")?,
            key: ident::column(e.parent_column.as_deref().unwrap_or("id"), "tables.parent_column")?,
        },
        _ => {
            return Err(usage(format!(
                "[[tables]] entry for {:?} (from {origin}) needs either user_column = \"…\", or column = \"…\" with parent = \"table\" (and parent_column, default \"id\"): fix that entry",
                e.table
            )))
        }
    };
    Ok(AppTable {
        table,
        link,
        as_text: e.compare_as_text.unwrap_or(false),
    })
}

/// Every parent a `[[tables]]` entry names is itself deleted (users, sessions, accounts or
/// another entry), each table appears once, and the parent links have no cycle.
fn check_links(s: &Schema) -> anyhow::Result<()> {
    let mut fixed = vec![s.users.clone(), s.sessions.clone()];
    if let Some((a, _)) = &s.accounts {
        fixed.push(a.clone());
    }
    for (i, t) in s.tables.iter().enumerate() {
        if fixed.contains(&t.table) || s.tables[..i].iter().any(|o| o.table == t.table) {
            return Err(usage(format!(
                "table {} is listed twice (in [[tables]] and as users/sessions/accounts, or twice in [[tables]]): keep one entry",
                t.table
            )));
        }
    }
    for t in &s.tables {
        let mut seen = vec![t.table.clone()];
        let mut cur = t;
        while let Link::Parent { parent, .. } = &cur.link {
            if seen.contains(parent) {
                return Err(usage(format!(
                    "[[tables]] parent links form a cycle through {}: a table's parent must lead to the users table",
                    t.table
                )));
            }
            if fixed.contains(parent) {
                break;
            }
            match s.tables.iter().find(|o| &o.table == parent) {
                Some(next) => {
                    seen.push(parent.clone());
                    cur = next;
                }
                None => {
                    return Err(usage(format!(
                        "[[tables]] entry {} names parent {parent}, which is not configured: add a [[tables]] entry for {parent} (or fix parent)",
                        t.table
                    )))
                }
            }
        }
    }
    Ok(())
}

impl Settings {
    /// Resolves and checks every setting. All errors are usage errors (exit code 2).
    pub fn resolve(inputs: &Inputs, loaded: Option<&Loaded>) -> anyhow::Result<Settings> {
        let mut r = Resolver {
            file: loaded,
            effective: Vec::new(),
        };
        let file = loaded.map(|l| &l.file);

        // Database.
        let url_given = inputs.database_url.clone().or_else(|| {
            file.and_then(|f| f.database_url.clone())
                .map(|u| (u, r.file_origin()))
        });
        let database = match &url_given {
            Some((u, o)) => {
                let parsed = DbUrl::parse(u)?;
                r.note("database_url", &parsed.to_string(), o);
                Some(parsed)
            }
            None if inputs.needs_database => {
                return Err(usage(
                    "no database given: pass --database-url URL or set DATABASE_URL (postgres://… or a SQLite file path)",
                ))
            }
            None => None,
        };
        let backend = match (&inputs.backend, &database) {
            (Some((b, o)), db) => {
                let b2 = Backend::parse(b).ok_or_else(|| {
                    usage(format!(
                        "unknown backend {b:?} (from {o}): use sqlite, postgres or mysql"
                    ))
                })?;
                if let Some(db) = db {
                    if db.backend() != b2 {
                        return Err(usage(format!(
                            "--backend {} does not match the database URL ({}): drop one of them",
                            b2.name(),
                            db.backend().name()
                        )));
                    }
                }
                r.note("backend", b2.name(), o);
                b2
            }
            (None, Some(db)) => {
                let origin = url_given
                    .as_ref()
                    .map(|(_, o)| o.clone())
                    .unwrap_or(Origin::Default);
                r.note("backend", db.backend().name(), &origin);
                db.backend()
            }
            (None, None) => {
                r.note("backend", "sqlite", &Origin::Default);
                Backend::Sqlite
            }
        };

        // Preset and schema.
        let (preset_name, preset_origin) = r.pick(
            "preset",
            &inputs.preset,
            file.and_then(|f| f.preset.clone()),
            ("default".to_string(), Origin::Default),
        );
        let base = preset::lookup(&preset_name).ok_or_else(|| {
            usage(format!(
                "unknown preset {preset_name:?} (from {preset_origin}): use one of {}",
                preset::NAMES.join(", ")
            ))
        })?;
        let schema = schema_names(&mut r, &preset_name, base)?;
        // MySQL reads a backslash in a string literal as an escape unless the server's sql_mode
        // has NO_BACKSLASH_ESCAPES: the same guard would mean different values on different
        // servers. A guard that might not match would let its users be deleted: refuse it.
        if backend == Backend::Mysql {
            for g in &schema.keep_if {
                if let Some(GuardCondition {
                    value: Some(GuardValue::Text(t)),
                    column,
                    ..
                }) = &g.condition
                {
                    if t.contains('\\') {
                        return Err(usage(format!(
                            "[[keep_if]] on {}.{column} (from {}): the value {t:?} holds a backslash, which MySQL/MariaDB read differently depending on sql_mode: use a value without a backslash",
                            g.table,
                            r.file_origin()
                        )));
                    }
                }
            }
        }

        // The rule.
        let retention_days = r
            .number(inputs, &defs::RETENTION_DAYS, backend)?
            .unwrap_or(30) as u32;

        let (as_of, as_of_origin) = match &inputs.as_of {
            Some((v, o)) => {
                let t = parse_as_of(v).ok_or_else(|| {
                    usage(format!(
                        "cannot read as-of time {v:?} (from {o}): use RFC 3339 like 2026-11-01T00:00:00Z, or 2026-11-01"
                    ))
                })?;
                (t, o.clone())
            }
            None => (Utc::now(), Origin::Default),
        };
        // Whole seconds: every storage format then represents the cutoff exactly.
        let as_of = as_of.with_nanosecond(0).unwrap_or(as_of);
        r.note("as_of", &as_of.to_rfc3339(), &as_of_origin);
        let cutoff = as_of - TimeDelta::days(retention_days as i64);
        if cutoff.timestamp() < 0 {
            return Err(usage(format!(
                "the cutoff {} is before 1970: check --as-of and --retention-days",
                cutoff.format("%Y-%m-%d")
            )));
        }

        let (v, o) = r.pick(
            "timestamp_format",
            &inputs.timestamp_format,
            file.and_then(|f| f.timestamp_format.clone()),
            ("auto".into(), Origin::Default),
        );
        let timestamp_format = parse_timestamp_format(&v, &o)?;

        // Execution.
        let whole = |r: &mut Resolver, d: &Def| r.number(inputs, d, backend);
        let batch_size = whole(&mut r, &defs::BATCH_SIZE)?.unwrap_or(1);
        let lock_timeout_ms = whole(&mut r, &defs::LOCK_TIMEOUT_MS)?.unwrap_or(5000);
        let max_failures = whole(&mut r, &defs::MAX_FAILURES)?.unwrap_or(100);
        // The caps are off unless set somewhere.
        let max_deletions = whole(&mut r, &defs::MAX_DELETIONS)?;
        let max_fraction = r.share(inputs, &defs::MAX_FRACTION)?;
        let workers = whole(&mut r, &defs::WORKERS)?.unwrap_or(1);

        let format = match inputs.format.as_deref().unwrap_or("text") {
            "text" => OutputFormat::Text,
            "json" => OutputFormat::Json,
            other => {
                return Err(usage(format!(
                    "unknown output format {other:?}: use --format text or --format json"
                )))
            }
        };

        Ok(Settings {
            backend,
            database,
            preset: preset_name,
            schema,
            retention_days,
            as_of,
            cutoff,
            timestamp_format,
            batch_size,
            lock_timeout_ms,
            max_failures,
            max_deletions,
            max_fraction,
            workers,
            format,
            effective: r.effective,
        })
    }
}

/// `2026-10-27T13:00:00Z`
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
