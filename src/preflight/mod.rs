//! One pass over the database's catalog before anything runs: storage formats, foreign keys,
//! child tables, clock and indexes. `doctor` prints it all; `plan` and `run` stop on its errors.

pub mod access;
pub mod children;
pub mod clock;
pub mod fkgraph;
pub mod index_checks;
pub mod introspect;
pub mod liveness;
pub mod plausible;
pub mod reads;
pub mod recognise;

use std::collections::BTreeMap;

use crate::config::settings::{Guard, Link};
use children::{Child, Finding, Level, Source};
use clock::ClockReport;

use crate::config::settings::Settings;
use crate::error::usage;
use crate::sql::conn::Conn;
use crate::sql::dialect::{Backend, Formats, Stmt};

/// Everything the checks found about one database.
pub struct Inspected {
    /// How each compared column is stored; `None` when the schema check failed.
    pub formats: Option<Formats>,
    /// The schema check's notes (or its error, as a finding).
    pub schema: Vec<Finding>,
    /// Why the schema check failed (`plan` and `run` stop with it as it is).
    pub schema_error: Option<anyhow::Error>,
    /// The tables deleted before users, in delete order.
    pub children: Vec<Child>,
    /// The users table's columns and types.
    pub users_columns: Vec<(String, String)>,
    /// The reads of the application's data the checks made (`plan` lists them).
    pub reads: Vec<Stmt>,
    /// `[[keep_if]]` guards: their tables and columns exist.
    pub guards: Vec<Finding>,
    /// Whether the sessions table can show who is active.
    pub activity: Vec<Finding>,
    pub foreign_keys: Vec<Finding>,
    /// Why the foreign keys could not be read (`plan` and `run` stop with it).
    pub foreign_keys_error: Option<anyhow::Error>,
    pub clock: Option<ClockReport>,
    pub indexes: Vec<Finding>,
    /// How the counts read the users table, when the pre-flight pass chose it (`plan` prints it
    /// as a note).
    pub access: Option<String>,
    /// The sections whose check could not run (`foreign_keys`, `indexes`, …), with why: an
    /// empty section there means "not checked", not "ok".
    pub not_checked: BTreeMap<&'static str, String>,
}

/// The column labels in the order `Formats::all` lists them (created_at, each sessions activity
/// column, each users activity column).
pub fn time_columns(s: &Settings) -> Vec<String> {
    let sc = &s.schema;
    std::iter::once(format!("{}.{}", sc.users, sc.users_created_at))
        .chain(
            sc.sessions_activity
                .iter()
                .map(|c| format!("{}.{c}", sc.sessions)),
        )
        .chain(
            sc.users_activity
                .iter()
                .map(|c| format!("{}.{c}", sc.users)),
        )
        .collect()
}

/// Runs every check once; a failing check is a finding, so `doctor` reports all of them.
pub fn inspect(conn: &mut Conn, s: &Settings) -> anyhow::Result<Inspected> {
    let mut out = Inspected {
        formats: None,
        schema: Vec::new(),
        schema_error: None,
        children: Vec::new(),
        users_columns: Vec::new(),
        reads: Vec::new(),
        guards: Vec::new(),
        activity: Vec::new(),
        foreign_keys: Vec::new(),
        foreign_keys_error: None,
        clock: None,
        indexes: Vec::new(),
        access: None,
        not_checked: BTreeMap::new(),
    };
    let formats = match introspect::inspect(conn, s) {
        Ok((formats, notes, reads)) => {
            out.schema.extend(notes.into_iter().map(Finding::note));
            out.reads = reads
                .into_iter()
                .map(|sql| Stmt {
                    sql,
                    params: Vec::new(),
                })
                .collect();
            formats
        }
        Err(e) => {
            out.schema
                .push(Finding::error(crate::error::one_line(&e), None));
            out.schema_error = Some(e);
            let mut later = vec![
                "activity",
                "delete_order",
                "foreign_keys",
                "clock",
                "indexes",
            ];
            if !s.schema.keep_if.is_empty() {
                later.push("guards");
            }
            for k in later {
                out.not_checked
                    .insert(k, "the schema check failed (see schema)".into());
            }
            return Ok(out);
        }
    };
    match children::resolve(conn, &s.schema) {
        Ok(r) => {
            out.children = r.children;
            out.users_columns = r.users_columns;
            out.foreign_keys = r.findings;
        }
        Err(e) => {
            out.foreign_keys
                .push(Finding::error(crate::error::one_line(&e), None));
            out.foreign_keys_error = Some(e);
            out.not_checked.insert(
                "delete_order",
                "the foreign keys could not be read (see foreign keys)".into(),
            );
        }
    }
    for g in &s.schema.keep_if {
        if let Err(e) = guard_columns(conn, g) {
            out.guards
                .push(Finding::error(crate::error::one_line(&e), None));
        }
    }
    let (activity, ran) = liveness::check(conn, &s.schema, &formats, s.cutoff)?;
    out.activity = activity;
    out.reads.extend(ran);
    out.clock = Some(clock::clock_checks(conn, &formats, &time_columns(s))?);
    for n in index_checks::index_notes(conn, s, &formats, &out.children)? {
        out.indexes.push(Finding::warning(n));
    }
    let mut formats = formats;
    let chosen = access::choose(conn, s, &formats, s.cutoff)?;
    formats.users_access = chosen.access;
    if conn.backend() == Backend::Sqlite {
        formats.triggers = crate::sql::catalog::sqlite_has_triggers(conn)?;
    }
    out.access = chosen.note;
    out.reads.extend(chosen.reads);
    out.formats = Some(formats);
    Ok(out)
}

/// A guard's table, user column and condition column exist.
fn guard_columns(conn: &mut Conn, g: &Guard) -> anyhow::Result<()> {
    let cols = introspect::columns(conn, &g.table, "keep_if.table")?;
    cols.ty(&g.user_column, "keep_if.user_column")?;
    if let Some(c) = &g.condition {
        cols.ty(&c.column, "keep_if.column")?;
    }
    Ok(())
}

impl Inspected {
    /// Every finding, section by section.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.schema
            .iter()
            .chain(&self.guards)
            .chain(&self.activity)
            .chain(&self.foreign_keys)
            .chain(self.clock.iter().flat_map(|c| &c.findings))
            .chain(&self.indexes)
    }

    pub fn count(&self, level: Level) -> usize {
        self.findings().filter(|f| f.level == level).count()
    }

    /// The delete order as `doctor` shows it: each child with its link and where it came from.
    pub fn delete_order(&self, s: &Settings) -> Vec<String> {
        let mut out: Vec<String> = self
            .children
            .iter()
            .map(|c| {
                format!(
                    "{} ({}, {})",
                    c.table,
                    match &c.link {
                        Link::User(col) => format!("{col} = user id"),
                        Link::Parent {
                            column,
                            parent,
                            key,
                        } => format!("{column} -> {parent}.{key}"),
                    },
                    match c.source {
                        Source::Sessions => "sessions",
                        Source::Accounts => "accounts",
                        Source::Config => "configured",
                        Source::Cascade => "ON DELETE CASCADE, deleted explicitly",
                    }
                )
            })
            .collect();
        if self.formats.is_some() && self.foreign_keys_error.is_none() {
            out.push(format!("{} (the users)", s.schema.users));
        }
        out
    }

    /// What `plan` and `run` need to go on: the formats, or the first error that stops them
    /// (each failed check is printed first, with its fix). Warnings and notes become plan notes.
    pub fn ready(&mut self) -> anyhow::Result<(Formats, Vec<String>)> {
        if let Some(e) = self.schema_error.take() {
            return Err(e);
        }
        if let Some(e) = self.foreign_keys_error.take() {
            return Err(e);
        }
        let errors: Vec<&Finding> = self
            .findings()
            .filter(|f| f.level == Level::Error)
            .collect();
        for f in &errors {
            eprintln!("anonsweep: check failed: {}", f.message);
            if let Some(fix) = &f.fix {
                for l in fix.lines() {
                    eprintln!("    {l}");
                }
            }
        }
        if let Some(first) = errors.first() {
            return Err(usage(format!(
                "{} check(s) failed, nothing was changed (first: {}): fix the configuration; `anonsweep doctor` lists every check",
                errors.len(),
                first.message
            )));
        }
        let mut notes: Vec<String> = self
            .schema
            .iter()
            .filter(|f| f.level == Level::Note)
            .map(|f| f.message.clone())
            .collect();
        for f in self
            .foreign_keys
            .iter()
            .chain(self.clock.iter().flat_map(|c| &c.findings))
        {
            if f.level == Level::Warning {
                notes.push(format!("warning: {}", f.message));
            }
        }
        notes.extend(self.indexes.iter().map(|f| f.message.clone()));
        notes.extend(self.access.clone());
        let formats = self
            .formats
            .clone()
            .expect("formats are known once the schema check passed");
        Ok((formats, notes))
    }
}
