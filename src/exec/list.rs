//! `plan --list FILE`: every eligible user, one line each (CSV or JSON lines), read page by page
//! inside the dry run's read-only snapshot and written as it comes (memory does not grow with
//! the number of users), to `FILE.tmp` (mode 0600) that is renamed to FILE once complete.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::error::usage;
use crate::plan::Plan;
use crate::sql::conn::{Conn, ListRow, Values};

/// How the list is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListFormat {
    /// A header line, then one record per user.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl ListFormat {
    pub fn name(self) -> &'static str {
        match self {
            ListFormat::Csv => "csv",
            ListFormat::Jsonl => "jsonl",
        }
    }
}

/// Where the list goes, in which format.
#[derive(Clone, Debug)]
pub struct ListTarget {
    pub path: PathBuf,
    pub format: ListFormat,
}

impl ListTarget {
    /// `--list FILE` in `--list-format` (csv or jsonl), else in the format FILE's extension
    /// names (`.csv`; `.jsonl`, `.ndjson`); any other extension is a usage error.
    pub fn new(path: PathBuf, format: Option<&str>) -> anyhow::Result<ListTarget> {
        let format = match format {
            Some("csv") => ListFormat::Csv,
            Some("jsonl") => ListFormat::Jsonl,
            Some(other) => {
                return Err(usage(format!(
                    "unknown --list-format {other:?}: use csv or jsonl"
                )))
            }
            None => {
                let ext = path
                    .extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase());
                match ext.as_deref() {
                    Some("csv") => ListFormat::Csv,
                    Some("jsonl" | "ndjson") => ListFormat::Jsonl,
                    _ => {
                        return Err(usage(format!(
                            "cannot tell the format of --list {} from its extension: name it .csv, .jsonl or .ndjson, or pass --list-format csv|jsonl",
                            path.display()
                        )))
                    }
                }
            }
        };
        Ok(ListTarget { path, format })
    }
}

/// What `plan --list` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ListWritten {
    pub path: String,
    pub format: ListFormat,
    pub users: u64,
}

/// The temporary file, removed unless it was renamed into place.
struct Partial {
    path: PathBuf,
    kept: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// One line's writer.
enum Lines {
    Csv(Box<csv::Writer<BufWriter<File>>>),
    Jsonl(BufWriter<File>),
}

/// A row's counts as a JSON object in delete order.
struct Rows<'a>(&'a [String], &'a [u64]);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (t, n) in self.0.iter().zip(self.1) {
            m.serialize_entry(t, n)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Activity<'a> {
    column: &'a str,
    at: &'a str,
}

#[derive(Serialize)]
struct Line<'a> {
    user_id: &'a str,
    created_at: Option<&'a str>,
    latest_activity: Option<Activity<'a>>,
    rows: Rows<'a>,
}

impl Lines {
    fn header(&mut self, tables: &[String]) -> anyhow::Result<()> {
        if let Lines::Csv(w) = self {
            let mut h = vec![
                "user_id",
                "created_at",
                "latest_activity_at",
                "latest_activity_column",
            ];
            h.extend(tables.iter().map(String::as_str));
            w.write_record(&h)?;
        }
        Ok(())
    }

    fn user(&mut self, tables: &[String], r: &ListRow, rows: &[u64]) -> anyhow::Result<()> {
        match self {
            Lines::Csv(w) => {
                let counts: Vec<String> = rows.iter().map(u64::to_string).collect();
                let mut rec = vec![
                    r.id.as_str(),
                    r.created_at.as_deref().unwrap_or(""),
                    r.latest_at.as_deref().unwrap_or(""),
                    r.latest_column.as_deref().unwrap_or(""),
                ];
                rec.extend(counts.iter().map(String::as_str));
                w.write_record(&rec)?;
            }
            Lines::Jsonl(w) => {
                let line = Line {
                    user_id: &r.id,
                    created_at: r.created_at.as_deref(),
                    latest_activity: match (&r.latest_column, &r.latest_at) {
                        (Some(column), Some(at)) => Some(Activity { column, at }),
                        _ => None,
                    },
                    rows: Rows(tables, rows),
                };
                serde_json::to_writer(&mut *w, &line)?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<File> {
        let buffered = match self {
            Lines::Csv(w) => (*w).into_inner().map_err(|e| e.into_error())?,
            Lines::Jsonl(w) => w,
        };
        Ok(buffered.into_inner().map_err(|e| e.into_error())?)
    }
}

/// `FILE.tmp`, beside FILE.
fn partial_path(path: &Path) -> PathBuf {
    let mut p = OsString::from(path.as_os_str());
    p.push(".tmp");
    PathBuf::from(p)
}

/// Writes every eligible user to the target, page by page (pages of `values.limit` users, ids
/// ascending); must run inside the dry run's read-only snapshot.
pub fn write(
    conn: &mut Conn,
    plan: &Plan,
    values: Values,
    target: &ListTarget,
) -> anyhow::Result<ListWritten> {
    let path = &target.path;
    let mut partial = Partial {
        path: partial_path(path),
        kept: false,
    };
    let tmp = &partial.path;
    // A leftover FILE.tmp would keep its own mode: start afresh.
    match std::fs::remove_file(tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot replace {}", tmp.display()))
        }
        _ => {}
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .with_context(|| format!("cannot create the list file {}", tmp.display()))?;
    let buffered = BufWriter::new(file);
    let mut lines = match target.format {
        ListFormat::Csv => Lines::Csv(Box::new(csv::Writer::from_writer(buffered))),
        ListFormat::Jsonl => Lines::Jsonl(buffered),
    };
    let tables = &plan.list.tables;
    let written = |e: anyhow::Error| e.context(format!("cannot write the list {}", tmp.display()));
    lines.header(tables).map_err(written)?;
    let counted = tables.len() - 1;
    let mut users = 0u64;
    let mut after: Option<String> = None;
    loop {
        let stmt = match after {
            None => &plan.list.first,
            Some(_) => &plan.list.next,
        };
        let page = conn
            .list_page(stmt, values, after.as_deref())
            .with_context(|| "cannot read the eligible users for --list")?;
        for r in &page {
            anyhow::ensure!(
                r.rows.len() == counted,
                "the list query returned {} counts for user {}, expected {counted}",
                r.rows.len(),
                r.id
            );
            let mut rows = r.rows.clone();
            // The users table: the user's own row.
            rows.push(1);
            lines.user(tables, r, &rows).map_err(written)?;
            users += 1;
        }
        match page.last() {
            Some(last) if page.len() as i64 >= values.limit => after = Some(last.id.clone()),
            _ => break,
        }
    }
    let file = lines.finish().map_err(written)?;
    file.sync_all()
        .with_context(|| format!("cannot write the list {}", tmp.display()))?;
    drop(file);
    std::fs::rename(tmp, path).with_context(|| {
        format!(
            "cannot move the list {} to {}",
            tmp.display(),
            path.display()
        )
    })?;
    partial.kept = true;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself on disk (best effort: a directory may not open for sync).
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    info!(
        "wrote the list of {users} eligible users to {} ({})",
        path.display(),
        target.format.name()
    );
    Ok(ListWritten {
        path: path.display().to_string(),
        format: target.format,
        users,
    })
}
