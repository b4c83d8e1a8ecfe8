//! Archive before delete: every deleted user with all of its rows, written (file: flushed and
//! fsync'd; table: inserted in the same transaction) before its batch commits, so a deleted
//! user is never missing from the archive. `restore` reads it back.

pub mod restore;

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::sql::conn::Conn;
use crate::sql::dialect::Backend;
use crate::sql::ident::quote;
use crate::sql::templates::{self, render};

/// The format tag of the first line of an archive file.
pub const FORMAT: &str = "anonsweep-archive/1";

/// The archive table `--archive-to-table` writes to.
pub const TABLE: &str = "anonsweep_archive";

/// The archive table, quoted for `backend`.
fn table(backend: Backend) -> String {
    quote(backend, TABLE)
}

/// First line of an archive file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    pub kind: String,
    pub format: String,
    pub run_id: String,
    pub backend: String,
    pub database: String,
    pub started_at: String,
    pub users_table: String,
    pub users_id: String,
    /// Tables in delete order, users last.
    pub delete_order: Vec<String>,
}

/// One table's rows of one user, each exactly as the database rendered it as JSON (kept as raw
/// text, so numbers keep every digit and objects their key order).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableRows {
    pub table: String,
    pub rows: Vec<Box<RawValue>>,
}

/// One deleted user and all of its rows, tables in delete order (users last).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserRecord {
    pub kind: String,
    pub run_id: String,
    /// The batch transaction (attempt number): a batch whose commit line is missing did not
    /// commit, and its users were not deleted.
    pub batch: u64,
    pub user_id: String,
    pub archived_at: String,
    pub users_table: String,
    pub users_id: String,
    pub tables: Vec<TableRows>,
}

/// Written after a batch commits.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Commit {
    pub kind: String,
    pub run_id: String,
    pub batch: u64,
    pub users: u64,
    pub at: String,
}

/// The archive file's writer, plain or gzip.
pub enum Out {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
}

impl Out {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Out::Plain(w) => w,
            Out::Gzip(w) => w,
        }
    }

    /// Everything written so far reaches the disk.
    fn sync(&mut self) -> std::io::Result<()> {
        match self {
            Out::Plain(w) => {
                w.flush()?;
                w.get_ref().sync_data()
            }
            Out::Gzip(w) => {
                // A sync flush ends the deflate block, so what is on disk decompresses.
                w.flush()?;
                w.get_mut().flush()?;
                w.get_ref().get_ref().sync_data()
            }
        }
    }
}

/// Where archived users go.
pub enum Archive {
    File { path: PathBuf, out: Out },
    Table,
}

fn now_text() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl Archive {
    /// Creates `DIR/anonsweep-archive-<time>-<run>.jsonl[.gz]` (mode 0600) and writes its header.
    pub fn to_dir(dir: &Path, compress: bool, header: &Header) -> anyhow::Result<Archive> {
        std::fs::create_dir_all(dir).with_context(|| dir_error(dir))?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let name = format!(
            "anonsweep-archive-{stamp}-{}.jsonl{}",
            &header.run_id[..8.min(header.run_id.len())],
            if compress { ".gz" } else { "" }
        );
        let path = dir.join(name);
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let f = opts.open(&path).with_context(|| {
            format!(
                "cannot create archive file {}: check --archive-dir",
                path.display()
            )
        })?;
        let w = BufWriter::new(f);
        let out = if compress {
            Out::Gzip(GzEncoder::new(w, flate2::Compression::default()))
        } else {
            Out::Plain(w)
        };
        let mut a = Archive::File { path, out };
        a.line(header)?;
        a.sync()?;
        Ok(a)
    }

    /// For a dry run: whether `to_dir` could create `dir`, without creating it (the same error
    /// when it could not: the first existing ancestor, or `dir` itself, is not a directory).
    pub fn can_create_dir(dir: &Path) -> anyhow::Result<()> {
        let mut at = Some(dir);
        while let Some(p) = at {
            match std::fs::metadata(p) {
                Ok(m) if m.is_dir() => return Ok(()),
                Ok(_) => {
                    // create_dir_all: the path itself is a file (EEXIST), or an ancestor is.
                    let errno = if p == dir { 17 } else { 20 };
                    return Err(std::io::Error::from_raw_os_error(errno))
                        .with_context(|| dir_error(dir));
                }
                Err(_) => at = p.parent().filter(|q| !q.as_os_str().is_empty()),
            }
        }
        Ok(())
    }

    /// Creates the archive table if needed (before any batch: DDL commits on MySQL).
    pub fn to_table(conn: &mut Conn) -> anyhow::Result<Archive> {
        let backend = conn.backend();
        conn.batch_execute(&render(&templates::CreateArchiveTable {
            backend: backend.name(),
            table: &table(backend),
        }))
        .with_context(|| format!("cannot create the archive table {TABLE}"))?;
        Ok(Archive::Table)
    }

    pub fn describe(&self) -> String {
        match self {
            Archive::File { path, .. } => path.display().to_string(),
            Archive::Table => format!("table {TABLE}"),
        }
    }

    fn line<T: Serialize>(&mut self, v: &T) -> anyhow::Result<()> {
        if let Archive::File { out, .. } = self {
            let w = out.writer();
            serde_json::to_writer(&mut *w, v)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    }

    fn sync(&mut self) -> anyhow::Result<()> {
        if let Archive::File { out, path } = self {
            out.sync()
                .with_context(|| format!("cannot write archive file {}", path.display()))?;
        }
        Ok(())
    }

    /// Inside the batch transaction, before it commits: the file is on disk, or the rows are in
    /// the archive table, before the deletes can become visible.
    pub fn write_batch(&mut self, conn: &mut Conn, records: &[UserRecord]) -> anyhow::Result<()> {
        match self {
            Archive::File { .. } => {
                for r in records {
                    self.line(r)?;
                }
                self.sync()
            }
            Archive::Table => {
                let backend = conn.backend();
                let ph = |i: usize| backend.placeholder(i);
                for chunk in records.chunks(100) {
                    let mut placeholders = Vec::new();
                    let mut binds: Vec<String> = Vec::new();
                    for r in chunk {
                        let n = binds.len();
                        placeholders.push(templates::ArchivedUser {
                            run_id: ph(n + 1),
                            batch: ph(n + 2),
                            user_id: ph(n + 3),
                            archived_at: ph(n + 4),
                            record: ph(n + 5),
                        });
                        binds.extend([
                            r.run_id.clone(),
                            r.batch.to_string(),
                            r.user_id.clone(),
                            r.archived_at.clone(),
                            serde_json::to_string(r)?,
                        ]);
                    }
                    let sql = render(&templates::InsertArchived {
                        backend: backend.name(),
                        table: &table(backend),
                        records: &placeholders,
                    });
                    let refs: Vec<&str> = binds.iter().map(String::as_str).collect();
                    conn.execute_texts(&sql, &refs)
                        .with_context(|| format!("cannot insert into the archive table {TABLE}"))?;
                }
                Ok(())
            }
        }
    }

    /// After the batch committed.
    pub fn committed(&mut self, run_id: &str, batch: u64, users: u64) -> anyhow::Result<()> {
        self.line(&Commit {
            kind: "commit".into(),
            run_id: run_id.into(),
            batch,
            users,
            at: now_text(),
        })?;
        if let Archive::File { out, .. } = self {
            out.writer().flush()?;
        }
        Ok(())
    }

    /// Ends the file (the gzip trailer) and syncs it.
    pub fn finish(self) -> anyhow::Result<()> {
        if let Archive::File { out, path } = self {
            let ctx = || format!("cannot finish archive file {}", path.display());
            match out {
                Out::Plain(mut w) => {
                    w.flush().with_context(ctx)?;
                    w.get_ref().sync_all().with_context(ctx)?;
                }
                Out::Gzip(w) => {
                    let mut inner = w.finish().with_context(ctx)?;
                    inner.flush().with_context(ctx)?;
                    inner.get_ref().sync_all().with_context(ctx)?;
                }
            }
        }
        Ok(())
    }
}

/// Builds one record per user from the rows the batch read: (table, user id, row JSON) in delete
/// order, users last.
pub fn records(
    run_id: &str,
    batch: u64,
    users_table: &str,
    users_id: &str,
    order: &[String],
    rows: Vec<(usize, String, String)>,
) -> anyhow::Result<Vec<UserRecord>> {
    let now = now_text();
    let mut by_user: BTreeMap<String, HashMap<usize, Vec<Box<RawValue>>>> = BTreeMap::new();
    for (table, user, json) in rows {
        let v = RawValue::from_string(json).with_context(|| {
            format!(
                "the database returned a row of {} that is not JSON",
                order[table]
            )
        })?;
        by_user
            .entry(user)
            .or_default()
            .entry(table)
            .or_default()
            .push(v);
    }
    Ok(by_user
        .into_iter()
        .map(|(user_id, mut tables)| UserRecord {
            kind: "user".into(),
            run_id: run_id.into(),
            batch,
            user_id,
            archived_at: now.clone(),
            users_table: users_table.into(),
            users_id: users_id.into(),
            tables: order
                .iter()
                .enumerate()
                .filter_map(|(i, t)| {
                    tables.remove(&i).map(|rows| TableRows {
                        table: t.clone(),
                        rows,
                    })
                })
                .collect(),
        })
        .collect())
}

/// What an archive file (or table) holds.
#[derive(Debug, Default)]
pub struct Contents {
    pub header: Option<Header>,
    pub users: Vec<UserRecord>,
    pub committed: std::collections::HashSet<(String, u64)>,
    /// The file ended mid-line or mid-stream (a crash while writing).
    pub truncated: bool,
}

/// Reads an archive file, plain or gzip (detected), tolerating a torn end.
pub fn read_file(path: &Path) -> anyhow::Result<Contents> {
    let mut f = File::open(path)
        .with_context(|| format!("cannot open archive {}: check --archive", path.display()))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic)?;
    drop(f);
    let f = File::open(path)?;
    let reader: Box<dyn Read> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let mut c = Contents::default();
    let mut lines = BufReader::new(reader);
    let mut buf = String::new();
    loop {
        buf.clear();
        match lines.read_line(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => {
                c.truncated = true;
                break;
            }
        }
        if !buf.ends_with('\n') {
            c.truncated = true;
            break;
        }
        add_line(&mut c, buf.trim_end(), path)?;
    }
    if c.header.is_none() {
        anyhow::bail!(
            "{} is not an anonsweep archive (no {FORMAT} header line): pass a file written by `run --archive-dir`",
            path.display()
        );
    }
    Ok(c)
}

fn add_line(c: &mut Contents, line: &str, path: &Path) -> anyhow::Result<()> {
    if line.is_empty() {
        return Ok(());
    }
    #[derive(Deserialize)]
    struct Kind {
        kind: String,
    }
    let bad = || format!("archive {} has a line that is not a record", path.display());
    // Each line is parsed once, into its own type: rows stay raw text, digit for digit.
    let k: Kind = serde_json::from_str(line).with_context(bad)?;
    match k.kind.as_str() {
        "header" => {
            let h: Header = serde_json::from_str(line).with_context(bad)?;
            if h.format != FORMAT {
                anyhow::bail!(
                    "archive {} has format {:?}; this anonsweep reads {FORMAT}",
                    path.display(),
                    h.format
                );
            }
            c.header = Some(h);
        }
        "user" => c.users.push(serde_json::from_str(line).with_context(bad)?),
        "commit" => {
            let k: Commit = serde_json::from_str(line).with_context(bad)?;
            c.committed.insert((k.run_id, k.batch));
        }
        _ => {}
    }
    Ok(())
}

/// One run in the archive table.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct RunInfo {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub run_id: String,
    /// When its last user was archived.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub last_at: Option<String>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub users: i64,
}

impl std::fmt::Display for RunInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {} users)",
            self.run_id,
            self.last_at.as_deref().unwrap_or("no time"),
            self.users
        )
    }
}

fn table_error() -> String {
    format!("cannot read the archive table {TABLE}: was the run made with --archive-to-table?")
}

/// The runs in the archive table, the most recent first.
pub fn runs(conn: &mut Conn) -> anyhow::Result<Vec<RunInfo>> {
    let sql = render(&templates::ArchivedRuns {
        table: &table(conn.backend()),
    });
    conn.rows(&sql, &[]).with_context(table_error)
}

/// The run `given` names among `runs`: its full id, or the first characters of exactly one
/// run's id (an archive file's name holds the first 8). Usage errors name `--run`, the value
/// and what the archive table holds.
pub fn pick_run(runs: &[RunInfo], given: &str) -> anyhow::Result<String> {
    const SHOWN: usize = 5;
    let want = given.trim().to_ascii_lowercase();
    let listed = |rs: &[&RunInfo]| {
        let mut s: Vec<String> = rs.iter().take(SHOWN).map(|r| r.to_string()).collect();
        if rs.len() > SHOWN {
            s.push(format!("{} more", rs.len() - SHOWN));
        }
        s.join(", ")
    };
    if want.is_empty() {
        return Err(crate::error::usage(
            "--run is empty: pass a run id (or its first characters, e.g. the 8 in an archive file's name)",
        ));
    }
    if let Some(r) = runs.iter().find(|r| r.run_id.to_ascii_lowercase() == want) {
        return Ok(r.run_id.clone());
    }
    let matching: Vec<&RunInfo> = runs
        .iter()
        .filter(|r| r.run_id.to_ascii_lowercase().starts_with(&want))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.run_id.clone()),
        [] if runs.is_empty() => Err(crate::error::usage(format!(
            "--run {given}: the archive table {TABLE} holds no runs: nothing to restore from it (was the run made with --archive-to-table, into this database?)"
        ))),
        [] => Err(crate::error::usage(format!(
            "--run {given}: no run in the archive table {TABLE} has this id or starts with it; the most recent: {}: pass one of them (the first 8 characters are enough)",
            listed(&runs.iter().collect::<Vec<_>>())
        ))),
        many => Err(crate::error::usage(format!(
            "--run {given} matches {} runs in the archive table {TABLE}: {}: give more characters of the id",
            many.len(),
            listed(many)
        ))),
    }
}

/// Reads the archive table (every run, or one): only committed batches are in it.
pub fn read_table(conn: &mut Conn, run: Option<&str>) -> anyhow::Result<Contents> {
    let backend = conn.backend();
    let placeholder = backend.placeholder(1);
    let sql = render(&templates::ArchivedRecords {
        table: &table(backend),
        run: if run.is_some() { &placeholder } else { "" },
    });
    let binds: Vec<&str> = run.into_iter().collect();
    let records = conn.texts(&sql, &binds).with_context(table_error)?;
    let mut c = Contents::default();
    for r in records.into_iter().flatten() {
        let u: UserRecord = serde_json::from_str(&r)?;
        c.committed.insert((u.run_id.clone(), u.batch));
        c.users.push(u);
    }
    Ok(c)
}

fn dir_error(dir: &Path) -> String {
    format!(
        "cannot create archive directory {}: check --archive-dir",
        dir.display()
    )
}
