//! The tables a batch deletes from before the users rows (sessions, accounts, `[[tables]]` and
//! the tables that cascade from them), in an order that satisfies the foreign keys, and the
//! problems the foreign-key graph reveals before anything is deleted.

use serde::Serialize;

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
}

fn config_lines(child: &TableId, fk: &Fk, users: &TableId, users_id: &str) -> String {
    if fk.parent == *users && fk.parent_column == users_id {
        format!(
            "[[tables]]\ntable = \"{}\"\nuser_column = \"{}\"",
            child, fk.column
        )
    } else {
        format!(
            "[[tables]]\ntable = \"{}\"\ncolumn = \"{}\"\nparent = \"{}\"\nparent_column = \"{}\"",
            child, fk.column, fk.parent, fk.parent_column
        )
    }
}

/// Reads the foreign keys and columns, adds the cascading tables, checks every table that
/// references a deleted table, and orders the deletes.
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

    // Walk the tables that reference deleted tables, adding those that cascade.
    let mut deleted: Vec<TableId> = vec![users.clone()];
    deleted.extend(ids.iter().cloned());
    let mut queue: Vec<TableId> = deleted.clone();
    let mut before: Vec<(TableId, TableId)> = Vec::new();
    while let Some(x) = queue.pop() {
        for f in fks.iter().filter(|f| f.parent == x) {
            let c = &f.child;
            let via = format!(
                "{}.{} references {}.{} ({}, constraint {})",
                c,
                f.column,
                f.parent,
                f.parent_column,
                f.on_delete.sql(),
                f.name
            );
            if *c == users {
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
            if let Some(pos) = ids.iter().position(|i| i == c) {
                // A configured (or already cascading) table: its own link deletes its rows.
                if children[pos].link.column().eq_ignore_ascii_case(&f.column) {
                    before.push((c.clone(), x.clone()));
                    continue;
                }
                match f.on_delete {
                    OnDelete::Cascade | OnDelete::SetNull | OnDelete::SetDefault => {
                        before.push((c.clone(), x.clone()));
                    }
                    _ => {
                        before.push((c.clone(), x.clone()));
                        findings.push(Finding::warning(format!(
                            "{via}: {} is deleted through {}.{}, so a row that references a deleted row through {} but belongs to someone else makes that user's batch fail (kept and reported)",
                            c, c, children[pos].link.column(), f.column
                        )));
                    }
                }
                continue;
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
                        let Some(pos) = ids.iter().position(|i| *i == f.parent) else {
                            continue;
                        };
                        Link::Parent {
                            column: f.column.clone(),
                            parent: children[pos].table.clone(),
                            key: f.parent_column.clone(),
                        }
                    };
                    let table = c.table_name();
                    let cols = introspect::columns(conn, &table, "a cascading table")?;
                    children.push(Child {
                        table,
                        link,
                        as_text: false,
                        source: Source::Cascade,
                        columns: cols.typed(),
                    });
                    ids.push(c.clone());
                    deleted.push(c.clone());
                    queue.push(c.clone());
                    before.push((c.clone(), x.clone()));
                }
                OnDelete::SetNull | OnDelete::SetDefault => {
                    findings.push(Finding::warning(format!(
                        "{via}: its rows are kept, unlinked; add a [[tables]] entry if they belong to the user"
                    )));
                }
                OnDelete::Restrict | OnDelete::NoAction => findings.push(Finding::error(
                    format!(
                        "{via} but is not configured: deleting would fail with a foreign-key error; add it to anonsweep.toml"
                    ),
                    Some(config_lines(c, f, &users, &s.users_id)),
                )),
            }
        }
    }

    // Columns that look like user ids, in tables nothing deletes from and no foreign key covers.
    let mut names: Vec<String> = vec!["user_id".into(), "userid".into()];
    for c in &children {
        if let Link::User(col) = &c.link {
            names.push(col.to_ascii_lowercase());
        }
    }
    for (t, cols) in fkgraph::all_columns(conn)? {
        if t == users || deleted.contains(&t) || t.name.starts_with("anonsweep_") {
            continue;
        }
        for col in &cols {
            let lc = col.to_ascii_lowercase();
            let has_fk = fks
                .iter()
                .any(|f| f.child == t && f.column.eq_ignore_ascii_case(col));
            if names.contains(&lc) && !has_fk {
                findings.push(Finding::warning(format!(
                    "{t}.{col} looks like a user id but has no foreign key and is not configured: if it holds user ids, its rows would be left behind; add it to anonsweep.toml"
                )).with_fix(format!("[[tables]]\ntable = \"{t}\"\nuser_column = \"{col}\"")));
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
    })
}

impl Finding {
    fn with_fix(mut self, fix: String) -> Finding {
        self.fix = Some(fix);
        self
    }
}
