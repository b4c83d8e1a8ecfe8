//! The pre-flight checks' reads of the application's data (not the catalog): run, and recorded
//! so that `plan` lists each one with the statements of the run.

use crate::sql::conn::Conn;

/// Runs a read of the application's data (not the catalog) and records its text: `plan` lists
/// these reads with the statements of the run.
pub fn data_read(
    conn: &mut Conn,
    reads: &mut Vec<String>,
    sql: String,
) -> anyhow::Result<Vec<String>> {
    let rows = conn.texts(&sql, &[])?.into_iter().flatten().collect();
    if !reads.contains(&sql) {
        reads.push(sql);
    }
    Ok(rows)
}
