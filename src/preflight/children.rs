//! The tables a batch deletes from before the users rows (sessions, accounts, `[[tables]]` and
//! the tables that cascade from them), in an order that satisfies the foreign keys, and the
//! problems the foreign-key graph reveals before anything is deleted.

use serde::Serialize;

use crate::config::file::TableEntry;
use crate::config::settings::{Link, Schema};
use crate::preflight::fkgraph::{self, Fk, OnDelete, TableId};
use crate::preflight::introspect;
use crate::sql::conn::Conn;
use crate::sql::ident::TableName;

/// Why a table is deleted from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Sessions,
    Accounts,
    /// A `[[tables]]` entry (or the preset's).
    Config,
    /// Found in the database: its foreign key cascades from a deleted table. Deleted explicitly,
    /// so it is counted and archived like the others.
    Cascade,
}

/// One table a batch deletes from, before the users rows.
#[derive(Clone, Debug)]
pub struct Child {
    pub table: TableName,
    pub link: Link,
    /// Compare the link column with the user id as text.
    pub as_text: bool,
    pub source: Source,
    /// The table's columns with their declared types (read from the database; empty when
    /// rendering without one).
    pub columns: Vec<(String, String)>,
}

impl Child {
    pub fn label(&self) -> String {
        match (&self.table.schema, self.source) {
            // Found in the catalog, qualified for safety; shown as a user would write it.
            (Some(schema), Source::Cascade) if schema == "public" => self.table.name.clone(),
            _ => self.table.to_string(),
        }
    }

    /// How many links lead from this table to the users table.
    pub fn depth(&self, all: &[Child]) -> usize {
        let mut d = 1;
        let mut cur = self;
        while let Link::Parent { parent, .. } = &cur.link {
            match all.iter().find(|c| &c.table == parent) {
                Some(p) if d < all.len() => {
                    d += 1;
                    cur = p;
                }
                _ => break,
            }
        }
        d
    }
}

/// How serious a finding is: errors stop `plan` and `run` before anything is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    Note,
}

/// Something the checks found, with the fix where there is one.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub level: Level,
    pub message: String,
    /// Config lines that would fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn error(message: String, fix: Option<String>) -> Finding {
        Finding {
            level: Level::Error,
            message,
            fix,
        }
    }
    pub fn warning(message: String) -> Finding {
        Finding {
            level: Level::Warning,
            message,
            fix: None,
        }
    }
    pub fn note(message: String) -> Finding {
        Finding {
            level: Level::Note,
            message,
            fix: None,
        }
    }
}

/// The configured children, without a database: sessions, accounts, then `[[tables]]`, each
/// table before the table its link points to.
pub fn from_config(s: &Schema) -> Vec<Child> {
    let mut out = vec![Child {
        table: s.sessions.clone(),
        link: Link::User(s.sessions_user_id.clone()),
        as_text: false,
        source: Source::Sessions,
        columns: Vec::new(),
    }];
    if let Some((t, c)) = &s.accounts {
        out.push(Child {
            table: t.clone(),
            link: Link::User(c.clone()),
            as_text: false,
            source: Source::Accounts,
            columns: Vec::new(),
        });
    }
    for t in &s.tables {
        out.push(Child {
            table: t.table.clone(),
            link: t.link.clone(),
            as_text: t.as_text,
            source: Source::Config,
            columns: Vec::new(),
        });
    }
    order(out, &[]).unwrap_or_else(|(c, _)| c)
}

/// Orders `children` so that every table comes before the tables it must be deleted before
/// (`before`: pairs of table indexes, plus each link's parent). Stable otherwise. On a cycle,
/// returns the input order and the tables in the cycle.
fn order(
    children: Vec<Child>,
    before: &[(usize, usize)],
) -> Result<Vec<Child>, (Vec<Child>, Vec<String>)> {
    let n = children.len();
    let mut edges: Vec<(usize, usize)> = before.to_vec();
    for (i, c) in children.iter().enumerate() {
        if let Link::Parent { parent, .. } = &c.link {
            if let Some(j) = children.iter().position(|p| &p.table == parent) {
                edges.push((i, j));
            }
        }
    }
    edges.retain(|(a, b)| a != b);
    let mut indegree = vec![0usize; n];
    for (_, b) in &edges {
        indegree[*b] += 1;
    }
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let Some(next) = (0..n).find(|&i| !done[i] && indegree[i] == 0) else {
            let cycle = (0..n)
                .filter(|&i| !done[i])
                .map(|i| children[i].label())
                .collect();
            return Err((children, cycle));
        };
        done[next] = true;
        order.push(next);
        for (a, b) in &edges {
            if *a == next {
                indegree[*b] -= 1;
            }
        }
    }
    let mut slots: Vec<Option<Child>> = children.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

fn textual(ty: &str) -> bool {
    let t = ty.to_ascii_lowercase();
    ["text", "char", "clob", "varchar", "character"]
        .iter()
        .any(|k| t.contains(k))
}

/// What the database says about the tables a batch deletes from.
pub struct Resolved {
    pub children: Vec<Child>,
    pub users_columns: Vec<(String, String)>,
    pub findings: Vec<Finding>,
    /// The `[[tables]]` entries the foreign keys call for, every level below the deleted tables
    /// at once, in delete order (each is also a finding, with its lines as the fix).
    pub missing: Vec<Missing>,
    /// Columns that look like user ids but have no foreign key, as the entries that would delete
    /// their rows (each is also a warning): whether they hold user ids only the application knows.
    pub lookalikes: Vec<TableEntry>,
}

/// A `[[tables]]` entry the foreign keys call for.
#[derive(Clone, Debug)]
pub struct Missing {
    pub entry: TableEntry,
    /// The foreign key behind it, as doctor words it.
    pub via: String,
    /// True: the table references a deleted table (or one that needs an entry itself) without a
    /// cascade, so deleting fails without the entry. False: it cascades, but a table below it
    /// needs an entry naming it as its parent, and a parent must be configured.
    pub required: bool,
}

/// An entry as the lines of anonsweep.toml (doctor's fixes, `init`'s file).
pub fn entry_lines(e: &TableEntry) -> String {
    let mut out = format!("[[tables]]\ntable = \"{}\"", e.table);
    if let Some(c) = &e.user_column {
        out += &format!("\nuser_column = \"{c}\"");
    }
    if let Some(c) = &e.column {
        out += &format!("\ncolumn = \"{c}\"");
    }
    if let Some(p) = &e.parent {
        out += &format!("\nparent = \"{p}\"");
    }
    if let Some(k) = &e.parent_column {
        out += &format!("\nparent_column = \"{k}\"");
    }
    if e.compare_as_text == Some(true) {
        out += "\ncompare_as_text = true";
    }
    out
}

/// A table the walk reached that nothing deletes yet: it needs an entry, or it cascades from
/// one that does (and is deleted once that one is configured).
struct Pending {
    id: TableId,
    fk: Fk,
    /// Deleting fails without an entry (NO ACTION / RESTRICT).
    required: bool,
    /// Written as an entry: required, or the parent of one.
    listed: bool,
    /// The required table that made a cascading one the parent of an entry.
    needed_by: Option<String>,
}

/// Where the walk has a table.
enum Place {
    Users,
    Child(usize),
    Pending(usize),
    Elsewhere,
}

/// The walk over the foreign keys: the deleted tables (users, the configured children and those
/// that cascade from them) and the tables that still need an entry.
struct Walk<'a> {
    s: &'a Schema,
    users: TableId,
    children: Vec<Child>,
    ids: Vec<TableId>,
    /// For each cascading child, the foreign key it was found by.
    cascade_fk: Vec<Option<Fk>>,
    /// Cascading children another entry needs as its parent (index, the table needing it).
    promoted: Vec<(usize, String)>,
    pending: Vec<Pending>,
    /// (child, parent) between tables that need entries: their delete order.
    pending_edges: Vec<(TableId, TableId)>,
}

impl Walk<'_> {
    fn place(&self, t: &TableId) -> Place {
        if *t == self.users {
            Place::Users
        } else if let Some(i) = self.ids.iter().position(|i| i == t) {
            Place::Child(i)
        } else if let Some(i) = self.pending.iter().position(|p| p.id == *t) {
            Place::Pending(i)
        } else {
            Place::Elsewhere
        }
    }

    /// A table as an entry names it: as configured when it is, else as the catalog does.
    fn name_of(&self, t: &TableId) -> String {
        match self.place(t) {
            Place::Users => self.s.users.to_string(),
            Place::Child(i) if self.children[i].source != Source::Cascade => {
                self.children[i].table.to_string()
            }
            _ => t.to_string(),
        }
    }

    /// The entry that deletes `child`'s rows through `fk`.
    fn entry(&self, child: &TableId, fk: &Fk) -> TableEntry {
        if fk.parent == self.users && fk.parent_column.eq_ignore_ascii_case(&self.s.users_id) {
            TableEntry {
                table: child.to_string(),
                user_column: Some(fk.column.clone()),
                ..TableEntry::default()
            }
        } else {
            TableEntry {
                table: child.to_string(),
                column: Some(fk.column.clone()),
                parent: Some(self.name_of(&fk.parent)),
                parent_column: Some(fk.parent_column.clone()),
                ..TableEntry::default()
            }
        }
    }

    /// `parent` becomes the parent of `needed_by`'s entry: a cascading table on the way up to a
    /// configured one is listed too.
    fn promote(&mut self, parent: &TableId, needed_by: &str) {
        let mut cur = parent.clone();
        loop {
            match self.place(&cur) {
                Place::Child(i) if self.children[i].source == Source::Cascade => {
                    if self.promoted.iter().any(|(p, _)| *p == i) {
                        return;
                    }
                    self.promoted.push((i, needed_by.to_string()));
                    match &self.cascade_fk[i] {
                        Some(fk) => cur = fk.parent.clone(),
                        None => return,
                    }
                }
                Place::Pending(i) => {
                    if self.pending[i].listed {
                        return;
                    }
                    self.pending[i].listed = true;
                    self.pending[i].needed_by = Some(needed_by.to_string());
                    cur = self.pending[i].fk.parent.clone();
                }
                _ => return,
            }
        }
    }

    /// The entries the foreign keys call for, in delete order, with their findings.
    fn missing(&self) -> (Vec<Missing>, Vec<Finding>) {
        // (table, its foreign key, required, the table needing it as a parent)
        let mut items: Vec<(TableId, &Fk, bool, Option<&str>)> = self
            .pending
            .iter()
            .filter(|p| p.listed)
            .map(|p| (p.id.clone(), &p.fk, p.required, p.needed_by.as_deref()))
            .collect();
        for (i, by) in &self.promoted {
            if let Some(fk) = &self.cascade_fk[*i] {
                items.push((self.ids[*i].clone(), fk, false, Some(by.as_str())));
            }
        }
        let as_child = |(t, fk, _, _): &(TableId, &Fk, bool, Option<&str>)| Child {
            table: t.table_name(),
            link: Link::Parent {
                column: fk.column.clone(),
                parent: fk.parent.table_name(),
                key: fk.parent_column.clone(),
            },
            as_text: false,
            source: Source::Config,
            columns: Vec::new(),
        };
        let fake: Vec<Child> = items.iter().map(as_child).collect();
        let pairs: Vec<(usize, usize)> = self
            .pending_edges
            .iter()
            .filter_map(|(a, b)| {
                let i = items.iter().position(|t| t.0 == *a)?;
                let j = items.iter().position(|t| t.0 == *b)?;
                Some((i, j))
            })
            .collect();
        let ordered: Vec<usize> = match order(fake, &pairs) {
            Ok(children) => children
                .iter()
                .filter_map(|c| items.iter().position(|t| t.0.table_name() == c.table))
                .collect(),
            Err(_) => (0..items.len()).collect(),
        };
        let mut missing = Vec::new();
        let mut findings = Vec::new();
        for i in ordered {
            let (t, fk, required, needed_by) = &items[i];
            let via = via(fk);
            let entry = self.entry(t, fk);
            let lines = entry_lines(&entry);
            findings.push(if *required {
                Finding::error(
                    format!(
                        "{via} but is not configured: deleting would fail with a foreign-key error; add it to anonsweep.toml"
                    ),
                    Some(lines),
                )
            } else {
                Finding::note(format!(
                    "{via}: its rows go by cascade, but {} hangs off it and the parent of a [[tables]] entry must be configured: add it too",
                    needed_by.unwrap_or("another table")
                ))
                .with_fix(lines)
            });
            missing.push(Missing {
                entry,
                via,
                required: *required,
            });
        }
        (missing, findings)
    }
}

/// A foreign key as the findings name it.
fn via(f: &Fk) -> String {
    format!(
        "{}.{} references {}.{} ({}, constraint {})",
        f.child,
        f.column,
        f.parent,
        f.parent_column,
        f.on_delete.sql(),
        f.name
    )
}

/// Reads the foreign keys and columns, adds the cascading tables, checks every table that
/// references a deleted table (every level at once: a table that needs an entry is followed
/// too, so the tables below it are reported in the same pass), and orders the deletes.
pub fn resolve(conn: &mut Conn, s: &Schema) -> anyhow::Result<Resolved> {
    let mut findings = Vec::new();
    let mut children = from_config(s);
    let users_id_of = |conn: &mut Conn, t: &TableName| fkgraph::canonical(conn, t);
    let Some(users) = users_id_of(conn, &s.users)? else {
        anyhow::bail!("table {} not found in the database: set users.table in anonsweep.toml or choose the right --preset", s.users);
    };
    let users_cols = introspect::columns(conn, &s.users, "users.table")?;
    let users_id_ty = users_cols.ty(&s.users_id, "users.id")?;
    let mut ids: Vec<TableId> = Vec::new();
    for c in children.iter_mut() {
        let setting = match c.source {
            Source::Sessions => "sessions.table",
            Source::Accounts => "accounts.table",
            _ => "tables.table",
        };
        let Some(id) = fkgraph::canonical(conn, &c.table)? else {
            anyhow::bail!(
                "table {} not found in the database: fix {setting} in anonsweep.toml (or remove that [[tables]] entry)",
                c.table
            );
        };
        let cols = introspect::columns(conn, &c.table, setting)?;
        let ty = cols.ty(c.link.column(), "tables.user_column / tables.column")?;
        let key_ty = match &c.link {
            Link::User(_) => Some(users_id_ty.clone()),
            Link::Parent { parent, key, .. } => introspect::columns(conn, parent, "tables.parent")
                .and_then(|p| p.ty(key, "tables.parent_column"))
                .ok(),
        };
        if let Some(key_ty) = key_ty {
            if textual(&ty) && !textual(&key_ty) {
                c.as_text = true;
            }
        }
        c.columns = cols.typed();
        ids.push(id);
    }
    // The same table under two spellings (`try_on` and `public.try_on`) would be deleted from
    // twice and counted twice.
    for (i, id) in ids.iter().enumerate() {
        if let Some(j) = ids[..i].iter().position(|o| o == id) {
            findings.push(Finding::error(
                format!(
                    "{} and {} are the same table ({id}): keep one entry",
                    children[j].table, children[i].table
                ),
                None,
            ));
        }
        if *id == users {
            findings.push(Finding::error(
                format!(
                    "{} is the users table: remove it from the child tables",
                    children[i].table
                ),
                None,
            ));
        }
    }
    let fks = fkgraph::load(conn)?;
    let has_fks = !fks.is_empty();

    // The configured links against the foreign keys.
    for (c, id) in children.iter().zip(&ids) {
        let (col, want_table, want_col) = match &c.link {
            Link::User(col) => (col.as_str(), users.clone(), s.users_id.as_str()),
            Link::Parent {
                column,
                parent,
                key,
            } => match fkgraph::canonical(conn, parent)? {
                Some(p) => (column.as_str(), p, key.as_str()),
                None => continue,
            },
        };
        let on_col: Vec<&Fk> = fks
            .iter()
            .filter(|f| f.child == *id && f.column.eq_ignore_ascii_case(col))
            .collect();
        if on_col.is_empty() {
            if has_fks {
                findings.push(Finding::note(format!(
                    "{}.{col} has no foreign key to {want_table}.{want_col}: make sure it holds those values",
                    c.table
                )));
            }
        } else if !on_col
            .iter()
            .any(|f| f.parent == want_table && f.parent_column.eq_ignore_ascii_case(want_col))
        {
            let f = on_col[0];
            findings.push(Finding::error(
                format!(
                    "the configuration says {}.{col} holds {want_table}.{want_col}, but its foreign key {} references {}.{}: fix that [[tables]] entry",
                    c.table, f.name, f.parent, f.parent_column
                ),
                None,
            ));
        }
    }

    // Walk the tables that reference deleted tables, adding those that cascade, and on through
    // the tables that need an entry (and those cascading from them), so every level is reported
    // at once.
    let n = children.len();
    let mut w = Walk {
        s,
        users: users.clone(),
        children,
        ids,
        cascade_fk: vec![None; n],
        promoted: Vec::new(),
        pending: Vec::new(),
        pending_edges: Vec::new(),
    };
    let mut queue: Vec<TableId> = vec![users.clone()];
    queue.extend(w.ids.iter().cloned());
    let mut before: Vec<(TableId, TableId)> = Vec::new();
    while let Some(x) = queue.pop() {
        // The deleted tables (users and the children) or a table that still needs an entry.
        let x_pending = matches!(w.place(&x), Place::Pending(_));
        for f in fks.iter().filter(|f| f.parent == x) {
            let c = &f.child;
            let via = via(f);
            match w.place(c) {
                Place::Users => {
                    if f.on_delete == OnDelete::Cascade {
                        findings.push(Finding::error(
                            format!("{via}: deleting those rows would cascade to other users' rows; anonsweep refuses to run on this schema"),
                            None,
                        ));
                    } else if f.on_delete == OnDelete::SetNull {
                        findings.push(Finding::note(format!(
                            "{via}: other users keep their row, with that column set to NULL"
                        )));
                    } else {
                        findings.push(Finding::warning(format!(
                            "{via}: a user referenced that way cannot be deleted; such users fail, are kept and reported"
                        )));
                    }
                    continue;
                }
                Place::Child(pos) => {
                    // A configured (or already cascading) table: its own link deletes its rows.
                    before.push((c.clone(), x.clone()));
                    let link_col = w.children[pos].link.column();
                    if !link_col.eq_ignore_ascii_case(&f.column)
                        && !matches!(
                            f.on_delete,
                            OnDelete::Cascade | OnDelete::SetNull | OnDelete::SetDefault
                        )
                    {
                        findings.push(Finding::warning(format!(
                            "{via}: {} is deleted through {}.{}, so a row that references a deleted row through {} but belongs to someone else makes that user's batch fail (kept and reported)",
                            c, c, link_col, f.column
                        )));
                    }
                    continue;
                }
                Place::Pending(_) => {
                    w.pending_edges.push((c.clone(), x.clone()));
                    continue;
                }
                Place::Elsewhere => {}
            }
            if f.composite {
                if f.on_delete != OnDelete::Cascade {
                    findings.push(Finding::error(
                        format!("{via} is a composite foreign key: anonsweep cannot delete through it; make it ON DELETE CASCADE or remove the rows first"),
                        None,
                    ));
                }
                continue;
            }
            match f.on_delete {
                OnDelete::Cascade if x_pending => {
                    // Deleted by cascade once the table above it is configured; what hangs
                    // off it is checked now.
                    w.pending.push(Pending {
                        id: c.clone(),
                        fk: f.clone(),
                        required: false,
                        listed: false,
                        needed_by: None,
                    });
                    w.pending_edges.push((c.clone(), x.clone()));
                    queue.push(c.clone());
                }
                OnDelete::Cascade => {
                    // The parent as the plan names it: the users table, or a child already listed
                    // (matched by catalog identity, never by spelling).
                    let link = if f.parent == users {
                        if !f.parent_column.eq_ignore_ascii_case(&s.users_id) {
                            findings.push(Finding::warning(format!(
                                "{via}: its rows go by cascade when their user is deleted, but anonsweep deletes by {}.{} and cannot count or archive them",
                                s.users, s.users_id
                            )));
                            continue;
                        }
                        Link::User(f.column.clone())
                    } else {
                        let Some(pos) = w.ids.iter().position(|i| *i == f.parent) else {
                            continue;
                        };
                        Link::Parent {
                            column: f.column.clone(),
                            parent: w.children[pos].table.clone(),
                            key: f.parent_column.clone(),
                        }
                    };
                    let table = c.table_name();
                    let cols = introspect::columns(conn, &table, "a cascading table")?;
                    w.children.push(Child {
                        table,
                        link,
                        as_text: false,
                        source: Source::Cascade,
                        columns: cols.typed(),
                    });
                    w.ids.push(c.clone());
                    w.cascade_fk.push(Some(f.clone()));
                    queue.push(c.clone());
                    before.push((c.clone(), x.clone()));
                }
                OnDelete::SetNull | OnDelete::SetDefault => {
                    findings.push(Finding::warning(format!(
                        "{via}: its rows are kept, unlinked; add a [[tables]] entry if they belong to the user"
                    )));
                }
                OnDelete::Restrict | OnDelete::NoAction => {
                    let name = c.to_string();
                    w.pending.push(Pending {
                        id: c.clone(),
                        fk: f.clone(),
                        required: true,
                        listed: true,
                        needed_by: None,
                    });
                    w.pending_edges.push((c.clone(), x.clone()));
                    w.promote(&x, &name);
                    queue.push(c.clone());
                }
            }
        }
    }
    let (missing, missing_findings) = w.missing();
    findings.extend(missing_findings);
    let Walk {
        children,
        ids,
        pending,
        ..
    } = w;

    // Columns that look like user ids, in tables nothing deletes from and no foreign key covers
    // (a table's own primary key is its rows' id, not a user's).
    let mut names: Vec<String> = vec!["user_id".into(), "userid".into()];
    for c in &children {
        if let Link::User(col) = &c.link {
            names.push(col.to_ascii_lowercase());
        }
    }
    let mut lookalikes = Vec::new();
    for (t, cols) in fkgraph::all_columns(conn)? {
        if t == users
            || ids.contains(&t)
            || pending.iter().any(|p| p.id == t)
            || t.name.starts_with("anonsweep_")
        {
            continue;
        }
        for col in cols.iter().filter(|c| !c.primary_key) {
            let lc = col.name.to_ascii_lowercase();
            let has_fk = fks
                .iter()
                .any(|f| f.child == t && f.column.eq_ignore_ascii_case(&col.name));
            if names.contains(&lc) && !has_fk {
                let entry = TableEntry {
                    table: t.to_string(),
                    user_column: Some(col.name.clone()),
                    ..TableEntry::default()
                };
                findings.push(Finding::warning(format!(
                    "{t}.{} looks like a user id but has no foreign key and is not configured: if it holds user ids, its rows would be left behind; add it to anonsweep.toml",
                    col.name
                )).with_fix(entry_lines(&entry)));
                lookalikes.push(entry);
            }
        }
    }

    let pairs: Vec<(usize, usize)> = before
        .iter()
        .filter_map(|(a, b)| {
            let i = ids.iter().position(|t| t == a)?;
            let j = ids.iter().position(|t| t == b)?;
            Some((i, j))
        })
        .collect();
    let children = match order(children, &pairs) {
        Ok(c) => c,
        Err((c, cycle)) => {
            findings.push(Finding::error(
                format!(
                    "the foreign keys between {} form a cycle: anonsweep cannot order the deletes; break the cycle with ON DELETE CASCADE or SET NULL",
                    cycle.join(", ")
                ),
                None,
            ));
            c
        }
    };
    Ok(Resolved {
        children,
        users_columns: users_cols.typed(),
        findings,
        missing,
        lookalikes,
    })
}

impl Finding {
    fn with_fix(mut self, fix: String) -> Finding {
        self.fix = Some(fix);
        self
    }
}
