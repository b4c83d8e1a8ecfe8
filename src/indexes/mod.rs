//! The index migrations anonsweep ships: one source of truth (askama templates) rendered for the
//! configured schema, served to diesel's migration harness either from the files embedded with
//! `embed_migrations!` (the `default` preset) or from a runtime `MigrationSource` (any other schema).

pub mod harness;
pub mod state;
pub mod status;

use std::fmt::{self, Display};

use askama::Template;
use diesel::backend::Backend as DieselBackend;
use diesel::connection::BoxableConnection;
use diesel::migration::{
    Migration, MigrationMetadata, MigrationName, MigrationSource, MigrationVersion,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};

use crate::config::settings::Schema;
use crate::sql::dialect::Backend;
use crate::sql::dialect::Formats;
use crate::sql::ident::{quote, TableName};
use crate::sql::templates::render;

/// Our versions start with this, so they sort after diesel's initial setup (`00000000000000`)
/// and before every dated application migration, and are easy to tell apart.
pub const VERSION_PREFIX: &str = "00000000000000anonsweep";

/// The migrations for the `default` preset, as committed under `migrations/`.
pub const EMBEDDED_POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const EMBEDDED_SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const EMBEDDED_MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");

/// Longest identifier PostgreSQL keeps (MySQL allows 64 characters).
const MAX_NAME: usize = 63;

/// One index anonsweep wants.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexSpec {
    pub seq: u32,
    pub slug: String,
    pub name: String,
    pub table: TableName,
    /// The key, rendered (quoted columns or expressions).
    pub columns: String,
    /// The first key column (unquoted), for finding an equivalent existing index.
    pub first_column: String,
    /// Partial-index predicate, or empty.
    pub predicate: String,
    pub purpose: String,
    /// Skip it when the table already has an index led by `first_column`.
    pub optional_if_equivalent: bool,
}

/// One rendered migration.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexMigration {
    pub spec: IndexSpec,
    /// Directory name under `migrations/<backend>/`.
    pub dir_name: String,
    pub version: String,
    pub up: String,
    pub down: String,
    pub metadata: String,
    pub in_transaction: bool,
}

#[derive(Template)]
#[template(path = "migrations/up.sql", escape = "none")]
struct Up<'a> {
    purpose: &'a str,
    concurrently: bool,
    online: bool,
    name: &'a str,
    table: &'a str,
    columns: &'a str,
    predicate: &'a str,
}

#[derive(Template)]
#[template(path = "migrations/down.sql", escape = "none")]
struct Down<'a> {
    concurrently: bool,
    online: bool,
    name: &'a str,
    table: &'a str,
    qualified_name: &'a str,
}

#[derive(Template)]
#[template(path = "migrations/metadata.toml", escape = "none")]
struct Metadata {
    concurrently: bool,
    online: bool,
    in_transaction: bool,
}

#[derive(Template)]
#[template(path = "migrations/script.sql", escape = "none")]
pub struct Script<'a> {
    pub version: &'a str,
    pub preset: &'a str,
    pub backend: &'a str,
    pub meta: Vec<String>,
    pub statements: Vec<String>,
}

/// FNV-1a, for short stable suffixes of long names.
fn fnv(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// `anonsweep_<table>_<cols>`, at most 63 bytes; long names keep a hash of the full name,
/// so two different long names never collide by truncation.
pub fn index_name(table: &TableName, parts: &[&str]) -> String {
    let full = format!("anonsweep_{}_{}", table.name, parts.join("_"));
    if full.len() <= MAX_NAME {
        return full;
    }
    let mut cut = MAX_NAME - 9;
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{:08x}", &full[..cut], fnv(&full))
}

/// The users index of the eligibility scan. None on SQLite: there a scan in rowid order beats
/// the index's random lookups at every share of old anonymous users measured (BENCHMARKS.md,
/// "Indexes"), and the batches walk the primary key in id order either way.
pub fn users_spec(backend: Backend, s: &Schema, f: &Formats) -> Option<IndexSpec> {
    if backend == Backend::Sqlite {
        return None;
    }
    let q = |c: &str| quote(backend, c);
    let anon = q(&s.users_is_anonymous);
    let predicate = match backend {
        // No partial indexes: a composite key puts the anonymous users together instead.
        Backend::Mysql => String::new(),
        _ => crate::sql::templates::render(&crate::sql::templates::Anonymous {
            backend: backend.name(),
            column: &anon,
            is_int: f.anonymous_is_int,
        }),
    };
    let created = match backend {
        Backend::Mysql => format!("{anon}, {}", q(&s.users_created_at)),
        _ => q(&s.users_created_at),
    };
    let first_user_column = match backend {
        Backend::Mysql => s.users_is_anonymous.clone(),
        _ => s.users_created_at.clone(),
    };
    Some(IndexSpec {
        seq: 1,
        slug: "users_created_at".into(),
        name: index_name(&s.users, &[&s.users_created_at, "anon"]),
        table: s.users.clone(),
        columns: created,
        first_column: first_user_column,
        predicate,
        purpose: match backend {
            Backend::Mysql => format!(
                "the eligibility scan: {} by ({}, {}), anonymous users together (no partial indexes here)",
                s.users, s.users_is_anonymous, s.users_created_at
            ),
            _ => format!(
                "the eligibility scan: anonymous users of {} by {} (only anonymous users are indexed)",
                s.users, s.users_created_at
            ),
        },
        optional_if_equivalent: false,
    })
}

/// The indexes for a schema.
pub fn specs(backend: Backend, s: &Schema, f: &Formats) -> Vec<IndexSpec> {
    let q = |c: &str| quote(backend, c);
    let mut out: Vec<IndexSpec> = users_spec(backend, s, f).into_iter().collect();
    let mut session_cols: Vec<&str> = vec![&s.sessions_user_id];
    session_cols.extend(s.sessions_activity.iter().map(String::as_str));
    out.push(IndexSpec {
        seq: 2,
        slug: "sessions_user_activity".into(),
        name: index_name(&s.sessions, &session_cols),
        table: s.sessions.clone(),
        columns: session_cols
            .iter()
            .map(|c| q(c))
            .collect::<Vec<_>>()
            .join(", "),
        first_column: s.sessions_user_id.clone(),
        predicate: String::new(),
        purpose: format!(
            "the \"no recent session\" probe: {} by {} with its activity columns",
            s.sessions, s.sessions_user_id
        ),
        optional_if_equivalent: false,
    });
    if let Some((t, c)) = &s.accounts {
        out.push(IndexSpec {
            seq: 3,
            slug: "accounts_user".into(),
            name: index_name(t, &[c]),
            table: t.clone(),
            columns: q(c),
            first_column: c.clone(),
            predicate: String::new(),
            purpose: format!("deleting {t} rows by {c}"),
            optional_if_equivalent: true,
        });
    }
    // `[[tables]]`: each batch deletes their rows by the link column. The number comes from the
    // table and column, not the entry's position, so reordering the config renumbers nothing.
    for t in &s.tables {
        let c = t.link.column();
        let mut seq = 100 + fnv(&format!("{}.{c}", t.table)) % 9900;
        while out.iter().any(|o| o.seq == seq) {
            seq = if seq == 9999 { 100 } else { seq + 1 };
        }
        out.push(IndexSpec {
            seq,
            slug: format!("table_{}_{c}", t.table.name).to_ascii_lowercase(),
            name: index_name(&t.table, &[c]),
            table: t.table.clone(),
            columns: q(c),
            first_column: c.to_string(),
            predicate: String::new(),
            purpose: format!("deleting {} rows by {c}", t.table),
            optional_if_equivalent: true,
        });
    }
    out
}

/// The index name, schema-qualified like its table (indexes live in their table's schema).
pub fn qualified_index(backend: Backend, spec: &IndexSpec) -> String {
    match &spec.table.schema {
        Some(schema) => format!("{}.{}", quote(backend, schema), quote(backend, &spec.name)),
        None => quote(backend, &spec.name),
    }
}

/// Renders the migrations for `specs`.
pub fn render_all(backend: Backend, specs: &[IndexSpec]) -> Vec<IndexMigration> {
    let concurrently = backend == Backend::Postgres;
    let online = backend == Backend::Mysql;
    specs
        .iter()
        .map(|spec| {
            let up = render(&Up {
                purpose: &spec.purpose,
                concurrently,
                online,
                name: &quote(backend, &spec.name),
                table: &spec.table.quoted(backend),
                columns: &spec.columns,
                predicate: &spec.predicate,
            });
            let down = render(&Down {
                concurrently,
                online,
                name: &quote(backend, &spec.name),
                table: &spec.table.quoted(backend),
                qualified_name: &qualified_index(backend, spec),
            });
            let in_transaction = !(concurrently || online);
            let metadata = render(&Metadata {
                concurrently,
                online,
                in_transaction,
            });
            IndexMigration {
                dir_name: format!("00000000000000-anonsweep-{:04}_{}", spec.seq, spec.slug),
                version: format!("{VERSION_PREFIX}{:04}", spec.seq),
                up: format!("{up}\n"),
                down: format!("{down}\n"),
                metadata: format!("{metadata}\n"),
                in_transaction,
                spec: spec.clone(),
            }
        })
        .collect()
}

/// A rendered migration as diesel sees it.
#[derive(Clone)]
pub struct Runtime {
    m: IndexMigration,
    name: RuntimeName,
}

#[derive(Clone)]
struct RuntimeName {
    dir: String,
    version: String,
}

impl Display for RuntimeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dir)
    }
}

impl MigrationName for RuntimeName {
    fn version(&self) -> MigrationVersion<'_> {
        MigrationVersion::from(&self.version)
    }
}

struct Meta(bool);

impl MigrationMetadata for Meta {
    fn run_in_transaction(&self) -> bool {
        self.0
    }
}

impl<DB: DieselBackend> Migration<DB> for Runtime {
    fn run(&self, conn: &mut dyn BoxableConnection<DB>) -> diesel::migration::Result<()> {
        Ok(conn.batch_execute(&self.m.up)?)
    }

    fn revert(&self, conn: &mut dyn BoxableConnection<DB>) -> diesel::migration::Result<()> {
        Ok(conn.batch_execute(&self.m.down)?)
    }

    fn metadata(&self) -> &dyn MigrationMetadata {
        if self.m.in_transaction {
            &Meta(true)
        } else {
            &Meta(false)
        }
    }

    fn name(&self) -> &dyn MigrationName {
        &self.name
    }
}

/// The runtime `MigrationSource` for any schema.
#[derive(Clone)]
pub struct RenderedSource(pub Vec<IndexMigration>);

impl<DB: DieselBackend> MigrationSource<DB> for RenderedSource {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<DB>>>> {
        Ok(self
            .0
            .iter()
            .map(|m| {
                Box::new(Runtime {
                    m: m.clone(),
                    name: RuntimeName {
                        dir: m.dir_name.clone(),
                        version: m.version.clone(),
                    },
                }) as Box<dyn Migration<DB>>
            })
            .collect())
    }
}

/// Where the migrations diesel runs come from.
pub enum Source {
    /// The committed files for the `default` preset, embedded in the binary.
    Embedded(Backend),
    /// Rendered at runtime for this schema.
    Rendered(RenderedSource),
}

impl Source {
    pub fn describe(&self) -> &'static str {
        match self {
            Source::Embedded(_) => "embedded (default preset)",
            Source::Rendered(_) => "rendered for this schema",
        }
    }

    /// Every migration of the source, for backend `DB`.
    pub fn migrations<DB: DieselBackend>(
        &self,
    ) -> diesel::migration::Result<Vec<Box<dyn Migration<DB>>>> {
        let mut all = match self {
            Source::Embedded(Backend::Postgres) => {
                MigrationSource::<DB>::migrations(&EMBEDDED_POSTGRES)?
            }
            Source::Embedded(Backend::Sqlite) => {
                MigrationSource::<DB>::migrations(&EMBEDDED_SQLITE)?
            }
            Source::Embedded(Backend::Mysql) => MigrationSource::<DB>::migrations(&EMBEDDED_MYSQL)?,
            Source::Rendered(r) => r.migrations()?,
        };
        all.sort_by(|a, b| a.name().version().cmp(&b.name().version()));
        Ok(all)
    }
}

/// Whether a version is one of ours.
pub fn is_ours(version: &str) -> bool {
    version.starts_with(VERSION_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str) -> TableName {
        TableName {
            schema: None,
            name: name.into(),
        }
    }

    #[test]
    fn short_names_are_readable() {
        assert_eq!(
            index_name(&t("users"), &["created_at", "anon"]),
            "anonsweep_users_created_at_anon"
        );
    }

    #[test]
    fn long_names_fit_and_do_not_collide() {
        let long = "a_very_long_application_table_name_for_guest_sessions";
        let a = index_name(&t(long), &["user_identifier", "last_seen_at_utc"]);
        let b = index_name(&t(long), &["user_identifier", "last_seen_at_utc2"]);
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert!(a.starts_with("anonsweep_a_very_long"));
        // Stable across runs: the same inputs give the same name.
        assert_eq!(
            a,
            index_name(&t(long), &["user_identifier", "last_seen_at_utc"])
        );
    }
}
