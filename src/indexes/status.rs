//! What the shipped index migrations look like for one database: the wanted indexes, their
//! state, what is recorded as applied, and the notes `doctor` and `plan` print about them.

use crate::config::settings::{Inputs, Schema, Settings};
use crate::indexes::state::{self, IndexState};
use crate::indexes::{self, IndexMigration, IndexSpec, Source};
use crate::sql::conn::Conn;
use crate::sql::dialect::{Backend, Formats};

/// The `default` preset's schema: the one the committed migrations are rendered for.
fn default_schema() -> Schema {
    let inputs = Inputs {
        format: Some("text".into()),
        ..Inputs::default()
    };
    Settings::resolve(&inputs, None)
        .expect("the default preset resolves")
        .schema
}

/// The migrations for the committed files: `default` preset, assumed storage formats.
pub fn committed(backend: Backend) -> Vec<IndexMigration> {
    let schema = default_schema();
    let formats = Formats::assumed(
        backend,
        None,
        schema.sessions_activity.len(),
        schema.users_activity.len(),
    );
    indexes::render_all(backend, &indexes::specs(backend, &schema, &formats))
}

/// Everything `migrate` needs to know about one database.
pub struct Migrations {
    pub backend: Backend,
    /// Every wanted index with its state.
    pub wanted: Vec<(IndexMigration, IndexState)>,
    /// The migrations to run (wanted minus those an equivalent index already covers).
    pub source: Source,
    pub applied: Vec<String>,
}

impl Migrations {
    pub fn skipped(&self, m: &IndexMigration, st: &IndexState) -> bool {
        m.spec.optional_if_equivalent
            && st.equivalent.is_some()
            && !st.exists
            && !self.applied.contains(&m.version)
    }
}

/// Recorded versions, without creating diesel's table (read-only).
fn applied_readonly(conn: &mut Conn) -> anyhow::Result<Vec<String>> {
    let exists = match conn.backend() {
        Backend::Postgres => conn
            .texts("SELECT CAST(to_regclass('__diesel_schema_migrations') AS TEXT) AS t", &[])?
            .into_iter()
            .flatten()
            .next()
            .is_some(),
        Backend::Sqlite => conn
            .texts("SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name = '__diesel_schema_migrations'", &[])?
            .into_iter()
            .flatten()
            .next()
            .is_some(),
        Backend::Mysql => conn
            .texts(
                "SELECT CAST(table_name AS CHAR) AS t FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = '__diesel_schema_migrations'",
                &[],
            )?
            .into_iter()
            .flatten()
            .next()
            .is_some(),
    };
    if !exists {
        return Ok(Vec::new());
    }
    Ok(conn
        .texts(
            &format!(
                "SELECT {} AS t FROM __diesel_schema_migrations",
                conn.backend().id_as_text("version")
            ),
            &[],
        )?
        .into_iter()
        .flatten()
        .collect())
}

/// Renders the migrations for this database's schema and reads their state, given the
/// storage formats.
pub fn inspect_with(
    conn: &mut Conn,
    settings: &Settings,
    formats: &Formats,
) -> anyhow::Result<Migrations> {
    let backend = conn.backend();
    let specs: Vec<IndexSpec> = indexes::specs(backend, &settings.schema, formats);
    let rendered = indexes::render_all(backend, &specs);
    let mut wanted = Vec::new();
    for m in rendered {
        let st = state::state(conn, &m.spec)?;
        wanted.push((m, st));
    }
    let applied = applied_readonly(conn)?;
    let mut out = Migrations {
        backend,
        wanted,
        source: Source::Embedded(backend),
        applied,
    };
    let to_run: Vec<IndexMigration> = out
        .wanted
        .iter()
        .filter(|(m, st)| !out.skipped(m, st))
        .map(|(m, _)| m.clone())
        .collect();
    out.source = if to_run == committed(backend) {
        Source::Embedded(backend)
    } else {
        Source::Rendered(indexes::RenderedSource(to_run))
    };
    Ok(out)
}
