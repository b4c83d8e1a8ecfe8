//! `migrate run | revert | status | sql`: the shipped index migrations, applied through diesel's
//! harness, reverted, listed, or written as a script.

use std::fmt::Write as _;

use serde_json::json;

use crate::config::settings::{OutputFormat, Settings};
use crate::error::{exit, usage};
use crate::indexes::status::{inspect_with, Migrations};
use crate::indexes::{self, IndexMigration, Source};
use crate::preflight::introspect;
use crate::sql::conn::Conn;
use crate::sql::dialect::Backend;
use crate::sql::dialect::Formats;

/// Renders the migrations for this database's schema and reads their state.
fn inspect(conn: &mut Conn, settings: &Settings) -> anyhow::Result<Migrations> {
    let (formats, _, _) = introspect::inspect(conn, settings)?;
    inspect_with(conn, settings, &formats)
}

fn connect(settings: &Settings) -> anyhow::Result<Conn> {
    let db = settings
        .database
        .as_ref()
        .expect("migrate run/revert/status require a database");
    let mut conn = Conn::connect(db)?;
    if conn.backend() == Backend::Postgres {
        // Through a transaction-mode pooler a session setting would not reach the build (the
        // next statement may run in another server session) and would stay behind for the
        // pooler's other clients; `CREATE INDEX CONCURRENTLY` cannot run in a transaction, where
        // `SET LOCAL` would hold. So the builds go without it there.
        let probe = crate::plan::pooler_probe(Backend::Postgres);
        match crate::exec::lock::detect_pooler(db, &probe)? {
            Some(evidence) => crate::warn!(
                "PostgreSQL is reached through a transaction-mode connection pooler ({evidence}): the index builds run without --lock-timeout-ms (CREATE INDEX CONCURRENTLY cannot run inside a transaction, and a session setting would not hold there); to bound their lock waits, run `anonsweep migrate` connected to PostgreSQL directly"
            ),
            // Never queue behind a long transaction forever; an interrupted build is rebuilt
            // next time.
            None => conn.batch_execute(&format!(
                "SET lock_timeout = '{}ms'",
                settings.lock_timeout_ms
            ))?,
        }
    }
    if conn.backend() == Backend::Mysql {
        // Online DDL still takes a brief metadata lock: do not wait for it forever.
        conn.batch_execute(&format!(
            "SET SESSION lock_wait_timeout = {}",
            settings.lock_timeout_ms.div_ceil(1000)
        ))?;
    }
    Ok(conn)
}

fn header(settings: &Settings, what: &str, m: &Migrations) -> String {
    let db = settings
        .database
        .as_ref()
        .map(|d| d.to_string())
        .unwrap_or_default();
    format!(
        "anonsweep migrate {what}: {db} ({}), preset {}, migrations {}\n",
        m.backend.name(),
        settings.preset,
        m.source.describe()
    )
}

pub fn migrate_run(settings: &Settings) -> anyhow::Result<i32> {
    let mut conn = connect(settings)?;
    let mut m = inspect(&mut conn, settings)?;
    // Creates diesel's bookkeeping table when it is missing.
    m.applied = crate::indexes::harness::applied_versions(&mut conn)?;
    let mut out = header(settings, "run", &m);
    let wanted = m.wanted.clone();
    for (mig, st) in &wanted {
        let name = &mig.spec.name;
        let table = &mig.spec.table;
        if m.skipped(mig, st) {
            let _ = writeln!(
                out,
                "  skipped   {name}: {table} already has {}",
                st.equivalent.as_deref().unwrap_or("?")
            );
            continue;
        }
        let mut exists = st.exists;
        if st.exists && !st.valid {
            crate::warn!("index {name} is INVALID (an interrupted concurrent build): dropping and rebuilding it");
            let drop = format!(
                "DROP INDEX CONCURRENTLY IF EXISTS {}",
                indexes::qualified_index(m.backend, &mig.spec)
            );
            conn.batch_execute(&drop)
                .map_err(|e| build_error(name, e))?;
            exists = false;
        }
        let applied = m.applied.contains(&mig.version);
        let started = std::time::Instant::now();
        if applied && exists {
            let _ = writeln!(out, "  present   {name} on {table}");
        } else if applied {
            conn.batch_execute(&mig.up)
                .map_err(|e| build_error(name, e))?;
            let _ = writeln!(
                out,
                "  rebuilt   {name} on {table} ({:.2}s)",
                started.elapsed().as_secs_f64()
            );
        } else if exists {
            // An index of that name is already there: record it, do not build it twice.
            conn.batch_execute(&record_sql(m.backend, &mig.version))?;
            let _ = writeln!(out, "  recorded  {name} on {table} (already present)");
        } else {
            crate::indexes::harness::run_migration(&mut conn, &m.source, &mig.version)
                .map_err(|e| build_error(name, e))?;
            let verb = "created  ";
            let _ = writeln!(
                out,
                "  {verb} {name} on {table} ({:.2}s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    print!("{out}");
    Ok(exit::OK)
}

/// Records one of our versions in diesel's table (idempotent).
fn record_sql(backend: Backend, version: &str) -> String {
    match backend {
        Backend::Postgres => format!(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('{version}') ON CONFLICT DO NOTHING"
        ),
        Backend::Sqlite => {
            format!("INSERT OR IGNORE INTO __diesel_schema_migrations (version) VALUES ('{version}')")
        }
        Backend::Mysql => {
            format!("INSERT IGNORE INTO __diesel_schema_migrations (version) VALUES ('{version}')")
        }
    }
}

fn build_error(name: &str, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!(
        "building index {name} failed: {}; rerun `anonsweep migrate run` later (an INVALID leftover is rebuilt), or raise --lock-timeout-ms",
        e.to_string().trim()
    )
}

pub fn migrate_revert(settings: &Settings) -> anyhow::Result<i32> {
    let mut conn = connect(settings)?;
    let m = inspect(&mut conn, settings)?;
    // Revert through every migration we know for this schema, so nothing recorded is unknown.
    let all = Source::Rendered(indexes::RenderedSource(
        m.wanted.iter().map(|(w, _)| w.clone()).collect(),
    ));
    let mut out = header(settings, "revert", &m);
    let mut ours: Vec<String> = m
        .applied
        .iter()
        .filter(|v| indexes::is_ours(v))
        .cloned()
        .collect();
    ours.sort();
    ours.reverse();
    if ours.is_empty() {
        out.push_str("  nothing to revert: no anonsweep index migration is recorded\n");
    }
    for version in ours {
        match m.wanted.iter().find(|(w, _)| w.version == version) {
            Some((w, _)) => {
                crate::indexes::harness::revert_migration(&mut conn, &all, &version)?;
                let _ = writeln!(out, "  dropped   {} on {}", w.spec.name, w.spec.table);
            }
            None => {
                let _ = writeln!(
                    out,
                    "  unknown   {version}: not an index of this schema; left recorded"
                );
            }
        }
    }
    print!("{out}");
    Ok(exit::OK)
}

pub fn migrate_status(settings: &Settings) -> anyhow::Result<i32> {
    let db = settings
        .database
        .as_ref()
        .expect("status requires a database");
    let mut conn = Conn::connect(db)?;
    let m = inspect(&mut conn, settings)?;
    let rows: Vec<serde_json::Value> = m
        .wanted
        .iter()
        .map(|(w, st)| {
            json!({
                "version": w.version,
                "index": w.spec.name,
                "table": w.spec.table.to_string(),
                "applied": m.applied.contains(&w.version),
                "exists": st.exists,
                "valid": st.valid,
                "equivalent": st.equivalent,
                "skipped": m.skipped(w, st),
            })
        })
        .collect();
    match settings.format {
        OutputFormat::Json => println!(
            "{}",
            json!({"backend": m.backend.name(), "source": m.source.describe(), "indexes": rows})
        ),
        OutputFormat::Text => {
            let mut out = header(settings, "status", &m);
            let _ = writeln!(
                out,
                "  {:<28} {:<48} {:<8} {:<7} {:<6} EQUIVALENT",
                "VERSION", "INDEX", "APPLIED", "EXISTS", "VALID"
            );
            for (w, st) in &m.wanted {
                let yn = |b: bool| if b { "yes" } else { "no" };
                let _ = writeln!(
                    out,
                    "  {:<28} {:<48} {:<8} {:<7} {:<6} {}",
                    w.version,
                    w.spec.name,
                    yn(m.applied.contains(&w.version)),
                    yn(st.exists),
                    if st.exists { yn(st.valid) } else { "-" },
                    match (&st.equivalent, m.skipped(w, st)) {
                        (Some(e), true) => format!("{e} (covers it: not created)"),
                        (Some(e), false) => e.clone(),
                        (None, _) => "-".into(),
                    }
                );
            }
            print!("{out}");
        }
    }
    Ok(exit::OK)
}

pub fn migrate_sql(settings: &Settings, out: Option<&std::path::Path>) -> anyhow::Result<i32> {
    let backend = settings.backend;
    // (migration, whether its index is already present and valid)
    type Todo = Vec<(IndexMigration, bool)>;
    let (todo, invalid): (Todo, Vec<IndexMigration>) = match &settings.database {
        Some(db) => {
            let mut conn = Conn::connect(db)?;
            let m = inspect(&mut conn, settings)?;
            let todo = m
                .wanted
                .iter()
                .filter(|(w, st)| {
                    !m.skipped(w, st)
                        && (!m.applied.contains(&w.version) || !st.exists || !st.valid)
                })
                .map(|(w, st)| (w.clone(), st.exists && st.valid))
                .collect();
            let invalid = m
                .wanted
                .iter()
                .filter(|(_, st)| st.exists && !st.valid)
                .map(|(w, _)| w.clone())
                .collect();
            (todo, invalid)
        }
        None => {
            let formats = Formats::assumed(
                backend,
                settings.timestamp_format.fixed(),
                settings.schema.sessions_activity.len(),
                settings.schema.users_activity.len(),
            );
            let all = indexes::render_all(
                backend,
                &indexes::specs(backend, &settings.schema, &formats),
            );
            (all.into_iter().map(|w| (w, false)).collect(), Vec::new())
        }
    };
    let mut meta = Vec::new();
    if backend == Backend::Mysql {
        meta.push(format!(
            "SET SESSION lock_wait_timeout = {};",
            settings.lock_timeout_ms.div_ceil(1000)
        ));
    }
    if backend == Backend::Postgres {
        meta.push("\\set ON_ERROR_STOP on".to_string());
        meta.push(format!(
            "SET lock_timeout = '{}ms';",
            settings.lock_timeout_ms
        ));
    }
    meta.push(
        diesel::migration::CREATE_MIGRATIONS_TABLE
            .trim()
            .trim_end_matches(';')
            .to_string()
            + ";",
    );
    let mut statements = Vec::new();
    for w in &invalid {
        statements.push(format!(
            "-- {} is INVALID (an interrupted concurrent build): rebuild it\nDROP INDEX CONCURRENTLY IF EXISTS {};",
            w.spec.name,
            indexes::qualified_index(backend, &w.spec)
        ));
    }
    for (w, exists) in &todo {
        if !exists {
            statements.push(w.up.trim_end().to_string());
        }
        statements.push(record_sql(backend, &w.version) + ";");
    }
    let text = crate::sql::templates::render(&indexes::Script {
        version: env!("CARGO_PKG_VERSION"),
        preset: &settings.preset,
        backend: backend.name(),
        meta,
        statements,
    }) + "\n";
    match out {
        Some(p) => std::fs::write(p, &text)
            .map_err(|e| usage(format!("cannot write {}: {e}", p.display())))?,
        None => print!("{text}"),
    }
    Ok(exit::OK)
}
