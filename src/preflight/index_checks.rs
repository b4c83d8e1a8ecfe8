//! The index checks of the pre-flight pass: shipped indexes that are missing or INVALID, and
//! tables found through their cascades that have no index on the column each batch deletes by.

use crate::config::settings::Settings;
use crate::indexes::state;
use crate::indexes::status::inspect_with;
use crate::preflight::children::{Child, Source as ChildSource};
use crate::sql::conn::Conn;
use crate::sql::dialect::Formats;

/// One line per shipped index that is missing or INVALID (for `plan` and `doctor`).
pub fn index_notes(
    conn: &mut Conn,
    settings: &Settings,
    formats: &Formats,
    children: &[Child],
) -> anyhow::Result<Vec<String>> {
    let idx = inspect_with(conn, settings, formats)?;
    let mut notes = Vec::new();
    // The tables found through their cascades (the configured ones have migrations above):
    // without an index led by the link column, every batch scans the whole table.
    for c in children.iter().filter(|c| c.source == ChildSource::Cascade) {
        let col = c.link.column().to_string();
        if !state::led_by(conn, &c.table, &col)? {
            let b = conn.backend();
            notes.push(format!(
                "{}.{col} has no index led by it: every batch scans {} to delete its rows; create one, e.g. CREATE INDEX {} ON {} ({})",
                c.label(),
                c.label(),
                crate::sql::ident::quote(b, &format!("{}_{col}_idx", c.table.name)),
                c.table.quoted(b),
                crate::sql::ident::quote(b, &col)
            ));
        }
    }
    for (w, st) in &idx.wanted {
        if idx.skipped(w, st) {
            continue;
        }
        if st.exists && !st.valid {
            notes.push(format!(
                "index {} on {} is INVALID: rebuild it with `anonsweep migrate run`",
                w.spec.name, w.spec.table
            ));
        } else if !st.exists {
            notes.push(format!(
                "index {} is missing ({}): create it with `anonsweep migrate run`",
                w.spec.name, w.spec.purpose
            ));
        }
    }
    Ok(notes)
}
