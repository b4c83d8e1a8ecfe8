//! `anonsweep init`: recognise the schema, follow its foreign keys all the way down, detect how
//! its timestamps are stored, and write an anonsweep.toml that passes `doctor`, each choice
//! explained in a comment. The file is checked with the same resolver and pre-flight checks
//! `doctor` runs before it is written.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use askama::Template;

use crate::config::file::{ConfigFile, Loaded, TableEntry};
use crate::config::preset::{self, SchemaNames};
use crate::config::settings::{Inputs, Settings, TimestampFormat};
use crate::error::{one_line, usage};
use crate::preflight::children::{self, Level, Source};
use crate::preflight::recognise::{self, Recognised, Recognition};
use crate::preflight::{self, Inspected};
use crate::sql::conn::Conn;
use crate::sql::dialect::TimeKind;

/// Where the file goes.
#[derive(Clone, Debug)]
pub enum InitOut {
    /// `--out -`: the text on stdout.
    Stdout,
    File(PathBuf),
}

/// What `init` was asked to do.
#[derive(Clone, Debug)]
pub struct InitOptions {
    pub out: InitOut,
    /// Overwrite an existing file.
    pub force: bool,
}

/// What `init` found and wrote.
pub struct InitReport {
    /// The file's text (already written when the target is a file).
    pub text: String,
    /// What was found and written, one line each (for stderr).
    pub lines: Vec<String>,
    /// What `doctor` will still report as errors with this file.
    pub problems: Vec<String>,
}

/// `key = value`, the value already a TOML literal.
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// A `[section]` with the comments above it.
pub struct Section {
    pub name: &'static str,
    pub comments: Vec<String>,
    pub keys: Vec<KeyValue>,
}

/// One `[[tables]]` entry with why it is there.
pub struct TableBlock {
    pub why: String,
    pub keys: Vec<KeyValue>,
}

/// The file (`templates/init/anonsweep.toml`).
#[derive(Template)]
#[template(path = "init/anonsweep.toml", escape = "none")]
pub struct InitFile<'a> {
    pub version: &'a str,
    pub source: &'a str,
    pub problems: &'a [String],
    pub found: &'a [String],
    pub preset: Option<String>,
    pub preset_why: String,
    pub timestamps: &'a [String],
    pub timestamp_format: Option<String>,
    pub sections: &'a [Section],
    pub tables: &'a [TableBlock],
    pub cascades: &'a [String],
    pub notes: &'a [String],
    pub maybe: &'a [TableBlock],
}

/// A TOML string literal.
fn lit(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(v: &[String]) -> String {
    toml::Value::Array(v.iter().cloned().map(toml::Value::String).collect()).to_string()
}

fn kv(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value,
    }
}

/// A comment stays on its line.
fn one(line: &str) -> String {
    line.replace(['\n', '\r'], " ")
}

fn entry_keys(e: &TableEntry) -> Vec<KeyValue> {
    let mut keys = vec![kv("table", lit(&e.table))];
    let text = [
        ("user_column", &e.user_column),
        ("column", &e.column),
        ("parent", &e.parent),
        ("parent_column", &e.parent_column),
    ];
    for (k, v) in text {
        if let Some(v) = v {
            keys.push(kv(k, lit(v)));
        }
    }
    if e.compare_as_text == Some(true) {
        keys.push(kv("compare_as_text", "true".into()));
    }
    keys
}

/// What goes into the file besides the names.
#[derive(Default)]
struct Extras {
    problems: Vec<String>,
    timestamps: Vec<String>,
    /// Each compared column with its storage.
    storage: Vec<String>,
    cascades: Vec<String>,
    notes: Vec<String>,
    maybe: Vec<TableEntry>,
}

/// The file being worked out.
struct Draft {
    r: Recognised,
    source: String,
    /// `[[tables]]` entries, in delete order, each with why.
    tables: Vec<(TableEntry, String)>,
    timestamp_format: Option<TimeKind>,
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

impl Draft {
    /// The `[users]`, `[sessions]` and `[accounts]` sections: with a preset, only what differs
    /// from it; else every name.
    fn sections(&self) -> Vec<Section> {
        let n = &self.r.names;
        let base: Option<SchemaNames> = self.r.preset.and_then(preset::lookup);
        let mut users = Section {
            name: "users",
            comments: Vec::new(),
            keys: Vec::new(),
        };
        let mut sessions = Section {
            name: "sessions",
            comments: Vec::new(),
            keys: Vec::new(),
        };
        let mut accounts = Section {
            name: "accounts",
            comments: Vec::new(),
            keys: Vec::new(),
        };
        let activity_differs = |b: &SchemaNames| !same_set(&b.users_activity, &n.users_activity);
        match &base {
            Some(b) => {
                if activity_differs(b) {
                    users.comments.extend(self.r.users_activity_why.clone());
                    users.keys.push(kv("activity", list(&n.users_activity)));
                }
                if !same_set(&b.sessions_activity, &n.sessions_activity) {
                    sessions.comments.push(format!(
                        "the preset's session activity is {}; this schema has {}",
                        b.sessions_activity.join(", "),
                        n.sessions_activity.join(", ")
                    ));
                    sessions
                        .keys
                        .push(kv("activity", list(&n.sessions_activity)));
                }
                if n.accounts_enabled != b.accounts_enabled
                    || (n.accounts_enabled
                        && (n.accounts_table != b.accounts_table
                            || n.accounts_user_id != b.accounts_user_id))
                {
                    accounts.comments.push(self.r.accounts_why.clone());
                    if n.accounts_enabled {
                        accounts.keys.push(kv("table", lit(&n.accounts_table)));
                        accounts.keys.push(kv("user_id", lit(&n.accounts_user_id)));
                    } else {
                        accounts.keys.push(kv("enabled", "false".into()));
                    }
                }
            }
            None => {
                users.comments.push(self.r.users_why.clone());
                users.comments.extend(self.r.users_activity_why.clone());
                users.keys = vec![
                    kv("table", lit(&n.users_table)),
                    kv("id", lit(&n.users_id)),
                    kv("is_anonymous", lit(&n.users_is_anonymous)),
                    kv("created_at", lit(&n.users_created_at)),
                ];
                if !n.users_activity.is_empty() {
                    users.keys.push(kv("activity", list(&n.users_activity)));
                }
                sessions.comments.push(self.r.sessions_why.clone());
                sessions.keys = vec![
                    kv("table", lit(&n.sessions_table)),
                    kv("user_id", lit(&n.sessions_user_id)),
                    kv("activity", list(&n.sessions_activity)),
                ];
                accounts.comments.push(self.r.accounts_why.clone());
                if n.accounts_enabled {
                    accounts.keys = vec![
                        kv("table", lit(&n.accounts_table)),
                        kv("user_id", lit(&n.accounts_user_id)),
                    ];
                } else {
                    accounts.keys = vec![kv("enabled", "false".into())];
                }
            }
        }
        [users, sessions, accounts]
            .into_iter()
            .filter(|s| !s.keys.is_empty())
            .collect()
    }

    fn render(&self, x: &Extras) -> String {
        let mut found = Vec::new();
        if self.r.preset.is_some() {
            found.push(self.r.users_why.clone());
            found.push(self.r.sessions_why.clone());
            found.push(self.r.accounts_why.clone());
            found.extend(self.r.users_activity_why.clone());
            let extra: Vec<String> = self
                .r
                .preset
                .and_then(preset::lookup)
                .map(|b| b.tables.iter().map(|t| t.table.clone()).collect())
                .unwrap_or_default();
            if !extra.is_empty() {
                found.push(format!(
                    "The preset also deletes the rows of {} (tables without a foreign key to the users).",
                    extra.join(", ")
                ));
            }
        }
        found.extend(
            self.r
                .passed_over
                .iter()
                .map(|p| format!("passed over: {p}")),
        );
        let preset_why = match self.r.preset {
            Some(p) => format!(
                "These are the names of the {p} preset: what follows only adds to it or sets what differs."
            ),
            None => String::new(),
        };
        let tables: Vec<TableBlock> = self
            .tables
            .iter()
            .map(|(e, why)| TableBlock {
                why: one(why),
                keys: entry_keys(e),
            })
            .collect();
        let maybe: Vec<TableBlock> = x
            .maybe
            .iter()
            .map(|e| TableBlock {
                why: String::new(),
                keys: entry_keys(e),
            })
            .collect();
        let clean = |v: &[String]| v.iter().map(|l| one(l)).collect::<Vec<_>>();
        let file = InitFile {
            version: env!("CARGO_PKG_VERSION"),
            source: &one(&self.source),
            problems: &clean(&x.problems),
            found: &clean(&found),
            preset: self.r.preset.map(lit),
            preset_why,
            timestamps: &clean(&x.timestamps),
            timestamp_format: self.timestamp_format.map(|k| lit(k.format_value())),
            sections: &self
                .sections()
                .into_iter()
                .map(|mut s| {
                    s.comments = clean(&s.comments);
                    s
                })
                .collect::<Vec<_>>(),
            tables: &tables,
            cascades: &clean(&x.cascades),
            notes: &clean(&x.notes),
            maybe: &maybe,
        };
        fold_blank_lines(&file.render().expect("the init template renders"))
    }
}

/// At most one blank line in a row, none at either end, one newline at the end.
fn fold_blank_lines(text: &str) -> String {
    let mut out = String::new();
    let mut blank = true;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            if !blank {
                out.push('\n');
            }
            blank = true;
        } else {
            out.push_str(line);
            out.push('\n');
            blank = false;
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Parses the text as `anonsweep.toml` and resolves the settings from it, as `doctor` would.
fn settings_for(inputs: &Inputs, path: &Path, text: &str) -> anyhow::Result<Settings> {
    let file: ConfigFile = toml::from_str(text).map_err(|e| {
        anyhow::anyhow!("init wrote a file it cannot read back ({e}); please report it")
    })?;
    let loaded = Loaded {
        path: path.to_path_buf(),
        file,
    };
    Settings::resolve(inputs, Some(&loaded))
}

/// The message when nothing anonymous-looking is found.
fn nothing_found(seen: &[String]) -> anyhow::Error {
    let mut msg = String::from(
        "found no table of anonymous users: looked for a table with a boolean-ish column named is_anonymous, isAnonymous, anonymous, is_guest or guest, a creation time column (created_at, createdAt, …) and a sessions table referencing it",
    );
    if !seen.is_empty() {
        msg += &format!(" (seen: {})", seen.join("; "));
    }
    msg += "; write anonsweep.toml by hand (docs/configuration.md: [users], [sessions], [accounts], [[tables]]) and check it with `anonsweep doctor`";
    usage(msg)
}

/// The refusal to overwrite.
fn exists(path: &Path) -> anyhow::Error {
    usage(format!(
        "{} already exists: pass --force to overwrite it (nothing was written)",
        path.display()
    ))
}

/// Recognises the schema and writes the file (or returns it for stdout).
pub fn init(inputs: &Inputs, opts: &InitOptions) -> anyhow::Result<InitReport> {
    let path = match &opts.out {
        InitOut::File(p) => {
            if p.is_dir() {
                return Err(usage(format!(
                    "--out {} is a directory: give a file name, e.g. --out {}",
                    p.display(),
                    p.join("anonsweep.toml").display()
                )));
            }
            if p.exists() && !opts.force {
                return Err(exists(p));
            }
            p.clone()
        }
        InitOut::Stdout => PathBuf::from("anonsweep.toml"),
    };
    let base = Settings::resolve(inputs, None)?;
    let db = base
        .database
        .clone()
        .expect("init requires a database (resolve refuses without one)");
    let mut conn = Conn::connect(&db)?;
    let r = match recognise::recognise(&mut conn)? {
        Recognition::Found(r) => *r,
        Recognition::NotFound { seen } => return Err(nothing_found(&seen)),
    };
    let mut draft = Draft {
        r,
        // No user, no password: what identifies the database.
        source: format!("the {} database {}", base.backend.name(), db.identity()),
        tables: Vec::new(),
        timestamp_format: None,
    };

    // The foreign keys: every table the walk says needs an entry, all levels in one pass; a
    // second pass confirms nothing is left (and would add what a first one could not see).
    let mut settings = settings_for(inputs, &path, &draft.render(&Extras::default()))?;
    let mut resolved = children::resolve(&mut conn, &settings.schema)?;
    for _ in 0..3 {
        if resolved.missing.is_empty() {
            break;
        }
        for m in &resolved.missing {
            let why = if m.required {
                format!("{}: deleting a user fails without this entry", m.via)
            } else {
                format!(
                    "{}: it cascades, but a table below it needs it as the parent of its entry",
                    m.via
                )
            };
            draft.tables.push((m.entry.clone(), why));
        }
        settings = settings_for(inputs, &path, &draft.render(&Extras::default()))?;
        resolved = children::resolve(&mut conn, &settings.schema)?;
    }

    // Every check doctor makes; when the storage cannot be detected, a fixed format that passes.
    let mut inspected = preflight::inspect(&mut conn, &settings)?;
    let mut auto_failed = None;
    if let Some(e) = &inspected.schema_error {
        let why = one_line(e);
        for k in [
            TimeKind::Timestamptz,
            TimeKind::Timestamp,
            TimeKind::IsoText,
            TimeKind::EpochMs,
            TimeKind::EpochS,
        ] {
            draft.timestamp_format = Some(k);
            let Ok(s) = settings_for(inputs, &path, &draft.render(&Extras::default())) else {
                continue;
            };
            let i = preflight::inspect(&mut conn, &s)?;
            if i.schema_error.is_none() {
                settings = s;
                inspected = i;
                auto_failed = Some(why.clone());
                break;
            }
        }
        if auto_failed.is_none() {
            draft.timestamp_format = None;
        }
    }

    let extras = extras(
        &settings,
        &inspected,
        &resolved.lookalikes,
        auto_failed.as_deref(),
    );
    let text = draft.render(&extras);
    // What is written is what was checked.
    settings_for(inputs, &path, &text)?;

    let mut lines = vec![
        draft.r.users_why.clone(),
        draft.r.sessions_why.clone(),
        draft.r.accounts_why.clone(),
    ];
    lines.extend(draft.r.users_activity_why.clone());
    if let Some(p) = draft.r.preset {
        lines.push(format!(
            "these are the {p} preset's names: writing preset = \"{p}\""
        ));
    }
    let entries: Vec<String> = draft.tables.iter().map(|(e, _)| e.table.clone()).collect();
    if !entries.is_empty() {
        lines.push(format!(
            "{} [[tables]] entr{} from the foreign keys: {}",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" },
            entries.join(", ")
        ));
    }
    if !extras.cascades.is_empty() {
        lines.push(format!(
            "{} table(s) go by ON DELETE CASCADE (no entry needed)",
            extras.cascades.len()
        ));
    }
    if !extras.maybe.is_empty() {
        let t: Vec<String> = extras
            .maybe
            .iter()
            .map(|e| format!("{}.{}", e.table, e.user_column.as_deref().unwrap_or("")))
            .collect();
        lines.push(format!(
            "left commented out (named like a user id, no foreign key): {}",
            t.join(", ")
        ));
    }
    if !extras.storage.is_empty() {
        lines.push(format!(
            "timestamps: {}{}",
            extras.storage.join(", "),
            match draft.timestamp_format {
                Some(k) => format!(
                    " (auto-detection fails: writing timestamp_format = \"{}\")",
                    k.format_value()
                ),
                None => " (auto-detected at every run)".into(),
            }
        ));
    }
    lines.extend(
        draft
            .r
            .passed_over
            .iter()
            .map(|p| format!("passed over {p}")),
    );

    if let InitOut::File(p) = &opts.out {
        write_file(p, &text, opts.force)?;
        lines.push(format!(
            "wrote {}; check it with `anonsweep doctor{}`",
            p.display(),
            if p == Path::new("anonsweep.toml") || p == Path::new("./anonsweep.toml") {
                String::new()
            } else {
                format!(" --config {}", p.display())
            }
        ));
    }
    Ok(InitReport {
        text,
        lines,
        problems: extras.problems,
    })
}

/// The comments the checks give: problems left, storage, cascades, other foreign-key findings
/// and the look-alike columns.
fn extras(
    s: &Settings,
    i: &Inspected,
    lookalikes: &[TableEntry],
    auto_failed: Option<&str>,
) -> Extras {
    let mut x = Extras::default();
    if let Some(e) = &i.schema_error {
        x.problems.push(one_line(e));
    }
    if let Some(e) = &i.foreign_keys_error {
        x.problems.push(one_line(e));
    }
    for f in i.findings().filter(|f| f.level == Level::Error) {
        if !x.problems.contains(&f.message) {
            x.problems.push(f.message.clone());
        }
    }
    if let Some(formats) = &i.formats {
        x.storage = preflight::time_columns(s)
            .iter()
            .zip(formats.all())
            .map(|(c, k)| format!("{c}: {}", k.name()))
            .collect();
        match (s.timestamp_format, auto_failed) {
            (TimestampFormat::Fixed(k), Some(why)) => {
                x.timestamps.push(format!(
                    "Timestamps: auto-detection fails here ({why}); read as {} every check passes; found:",
                    k.format_value()
                ));
            }
            _ => {
                x.timestamps.push(
                    "Timestamps: detected at every run (timestamp_format = \"auto\", the default); found:"
                        .into(),
                );
            }
        }
        x.timestamps
            .extend(x.storage.iter().map(|f| format!("  {f}")));
        if formats
            .all()
            .any(|k| matches!(k, TimeKind::EpochMs | TimeKind::EpochS))
        {
            x.timestamps.push(
                "  (an epoch's unit is read from the largest value: milliseconds from 10^11 up)"
                    .into(),
            );
        }
    }
    for c in i.children.iter().filter(|c| c.source == Source::Cascade) {
        x.cascades.push(format!(
            "{} ({})",
            c.label(),
            match &c.link {
                crate::config::settings::Link::User(col) => format!("{col} = user id"),
                crate::config::settings::Link::Parent {
                    column,
                    parent,
                    key,
                } => format!("{column} -> {parent}.{key}"),
            }
        ));
    }
    for f in &i.foreign_keys {
        if f.level != Level::Error && f.fix.is_none() {
            let tag = if f.level == Level::Warning {
                "warning"
            } else {
                "note"
            };
            x.notes.push(format!("{tag}: {}", f.message));
        }
    }
    x.maybe = lookalikes.to_vec();
    x
}

/// Writes the file: a new file only unless `force`, else through a temporary file renamed over
/// the old one, so a reader never sees half a file.
fn write_file(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    if !force {
        let mut f = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists(path)),
            Err(e) => return Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
        };
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        return Ok(());
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "anonsweep.toml".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, text)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::anyhow!("cannot write {}: {e}", path.display()));
    }
    Ok(())
}
