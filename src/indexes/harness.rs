//! Diesel's migration harness for whichever backend is connected: applied versions, run and
//! revert one migration of a source.

use diesel::mysql::Mysql;
use diesel::pg::Pg;
use diesel::sqlite::Sqlite;

use super::Source;
use crate::sql::conn::Conn;

/// Versions recorded in `__diesel_schema_migrations` (creating the table if needed).
pub fn applied_versions(conn: &mut Conn) -> anyhow::Result<Vec<String>> {
    use diesel_migrations::MigrationHarness;
    let v = match conn {
        Conn::Pg(c) => c.applied_migrations(),
        Conn::Sqlite(c) => c.applied_migrations(),
        Conn::Mysql(c) => c.applied_migrations(),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(v.into_iter().map(|v| v.to_string()).collect())
}

/// Runs one migration of `source` (by version) through the harness, recording it.
pub fn run_migration(conn: &mut Conn, source: &Source, version: &str) -> anyhow::Result<()> {
    with_migration(conn, source, version, false)
}

/// Reverts one migration of `source` (by version) through the harness, unrecording it.
pub fn revert_migration(conn: &mut Conn, source: &Source, version: &str) -> anyhow::Result<()> {
    with_migration(conn, source, version, true)
}

fn with_migration(
    conn: &mut Conn,
    source: &Source,
    version: &str,
    revert: bool,
) -> anyhow::Result<()> {
    use diesel_migrations::MigrationHarness;
    macro_rules! go {
        ($c:expr, $db:ty) => {{
            let all = source
                .migrations::<$db>()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let m = all
                .iter()
                .find(|m| m.name().version().to_string() == version)
                .ok_or_else(|| anyhow::anyhow!("migration {version} is not known"))?;
            let r = if revert {
                $c.revert_migration(&**m)
            } else {
                $c.run_migration(&**m)
            };
            r.map(|_| ())
                .map_err(|e| anyhow::anyhow!("migration {}: {e}", m.name()))
        }};
    }
    match conn {
        Conn::Pg(c) => go!(c, Pg),
        Conn::Sqlite(c) => go!(c, Sqlite),
        Conn::Mysql(c) => go!(c, Mysql),
    }
}
