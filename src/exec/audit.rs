//! `--audit-log FILE`: one JSON line per deleted user, appended after its batch commits.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

/// One deleted user.
#[derive(Serialize)]
pub struct Entry<'a> {
    pub run_id: &'a str,
    pub user_id: &'a str,
    pub created_at: Option<&'a str>,
    pub rows: std::collections::BTreeMap<&'a str, u64>,
    pub deleted_at: &'a str,
}

/// An append-only JSON-lines file.
pub struct AuditLog {
    out: BufWriter<File>,
}

impl AuditLog {
    /// Opens (creating) `path` for appending. Checked before anything is deleted.
    pub fn open(path: &Path) -> anyhow::Result<AuditLog> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| {
                format!(
                    "cannot open audit log {}: check the --audit-log path",
                    path.display()
                )
            })?;
        Ok(AuditLog {
            out: BufWriter::new(f),
        })
    }

    pub fn write(&mut self, e: &Entry) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, e)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    /// Flushes to the OS and disk after each batch.
    pub fn sync(&mut self) -> anyhow::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        Ok(())
    }
}
