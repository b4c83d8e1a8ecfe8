//! The `Plan`: every statement `plan` shows and `run` executes, rendered once from the templates.

pub use crate::config::settings::fmt_time;
use crate::config::settings::{Link, Schema, Settings};
use crate::preflight::children::{Child, Source};
use crate::sql::dialect::{is_binary, Backend, Binder, Param};
pub use crate::sql::dialect::{Formats, Stmt};
use crate::sql::ident::quote;
use crate::sql::templates::{self, render, TimeCmp};

/// A table rows are deleted from, with its label for summaries.
#[derive(Clone, Debug)]
pub struct Labeled {
    pub table: String,
    pub stmt: Stmt,
}

/// Everything `plan` shows and `run` executes.
#[derive(Clone, Debug)]
pub struct Plan {
    pub backend: Backend,
    pub preset: String,
    pub formats: Formats,
    pub count_anonymous: Stmt,
    pub count_eligible: Stmt,
    pub count_rows: Vec<Labeled>,
    pub sample: Stmt,
    pub setup: Vec<Stmt>,
    pub clear: Stmt,
    pub pick_first: Stmt,
    pub pick_next: Stmt,
    /// Like the picks, without row locks: moves the cursor past a user that cannot be deleted.
    pub skip_first: Stmt,
    pub skip_next: Stmt,
    pub advance: Vec<Stmt>,
    /// Before a pick after the cursor (MySQL): load the cursor into a session variable.
    pub load_cursor: Vec<Stmt>,
    /// MySQL: empty the batch table with `TRUNCATE` before the transaction (it commits
    /// implicitly); elsewhere `clear` runs inside the transaction.
    pub clear_before_begin: bool,
    pub lock_children: Vec<Stmt>,
    /// Re-checks the rule after the locks are taken. `None` on SQLite: `BEGIN IMMEDIATE` holds
    /// the database's write lock from before the pick to the commit, so nothing can change.
    pub recheck: Option<Stmt>,
    pub batch_users: Stmt,
    pub count_per_user: Vec<Labeled>,
    pub deletes: Vec<Labeled>,
    /// In every batch, after the pick: statistics for the batch table (PostgreSQL), so the
    /// planner drives the re-check and the joins to the batch (archive reads of tables below a
    /// configured parent) from the batch; the other statements probe with `= ANY(ARRAY(…))`.
    pub analyze: Vec<Stmt>,
    pub teardown: Vec<Stmt>,
    /// The child tables the plan was built for, in delete order.
    pub children: Vec<Child>,
    /// The users table's columns and types (read from the database; empty without one).
    pub users_columns: Vec<(String, String)>,
    /// With an archive: each child's rows, then the users', of the batch, as (id, JSON).
    pub archive_rows: Vec<Stmt>,
    /// The users table and id column, as configured (for archive records).
    pub settings_names: (String, String),
}

/// A child table's quoted names.
struct ChildSql {
    label: String,
    table: String,
    column: String,
    /// What the link column holds.
    parent: Parent,
    as_text: bool,
    source: Source,
    /// (quoted name, declared type).
    columns: Vec<(String, String)>,
}

/// What a child's link column holds.
enum Parent {
    /// The user's id.
    User,
    /// A key of another child (index into `Names::children`).
    Child(usize, String),
    /// A parent that is not in the plan (cannot happen after the checks): match nothing, so
    /// rows are kept rather than matched against the wrong values.
    Missing,
}

/// What a child's link leads to, at the top of the chain.
#[derive(Clone, Copy)]
enum Root<'a> {
    /// The users of the current batch.
    Batch,
    /// Every eligible user (the plan's counts), given the eligibility predicate.
    Eligible(&'a str),
}

/// Quoted names shared by every template.
struct Names {
    backend: Backend,
    users_label: String,
    users: String,
    user_id: String,
    is_anonymous: String,
    created_at: String,
    sessions: String,
    session_user: String,
    activity: Vec<String>,
    /// Tables deleted before users, in delete order.
    children: Vec<ChildSql>,
    temp: &'static str,
}

impl Names {
    fn new(backend: Backend, s: &Schema, children: &[Child]) -> Names {
        let q = |c: &str| quote(backend, c);
        let children = children
            .iter()
            .map(|c| ChildSql {
                label: c.label(),
                table: c.table.quoted(backend),
                column: q(c.link.column()),
                parent: match &c.link {
                    Link::User(_) => Parent::User,
                    Link::Parent { parent, key, .. } => children
                        .iter()
                        .position(|p| &p.table == parent)
                        .map(|i| Parent::Child(i, q(key)))
                        .unwrap_or(Parent::Missing),
                },
                as_text: c.as_text,
                source: c.source,
                columns: c
                    .columns
                    .iter()
                    .map(|(n, t)| (quote_any(backend, n), t.clone()))
                    .collect(),
            })
            .collect();
        Names {
            backend,
            users_label: s.users.to_string(),
            users: s.users.quoted(backend),
            user_id: q(&s.users_id),
            is_anonymous: q(&s.users_is_anonymous),
            created_at: q(&s.users_created_at),
            sessions: s.sessions.quoted(backend),
            session_user: q(&s.sessions_user_id),
            activity: s.sessions_activity.iter().map(|c| q(c)).collect(),
            children,
            temp: backend.temp_schema(),
        }
    }

    fn text_cast(&self, expr: &str, as_text: bool) -> String {
        if as_text {
            self.backend.id_as_text(expr)
        } else {
            expr.to_string()
        }
    }

    /// A subquery of the values child `i`'s link column must hold to belong to a user of `root`.
    fn keys(&self, i: usize, root: Root) -> String {
        let c = &self.children[i];
        match &c.parent {
            Parent::Missing => "SELECT NULL WHERE 1 = 0".to_string(),
            Parent::User => match root {
                Root::Batch => format!(
                    "SELECT {} FROM {}anonsweep_batch AS b",
                    self.text_cast("b.id", c.as_text),
                    self.temp
                ),
                Root::Eligible(e) => format!(
                    "SELECT {} FROM {} AS u\n  WHERE {}",
                    self.text_cast(&format!("u.{}", self.user_id), c.as_text),
                    self.users,
                    indent(e, "  ")
                ),
            },
            Parent::Child(p, key) => {
                let pc = &self.children[*p];
                let alias = format!("p{}", i + 1);
                format!(
                    "SELECT {} FROM {} AS {alias} WHERE {}",
                    self.text_cast(&format!("{alias}.{key}"), c.as_text),
                    pc.table,
                    self.member(
                        &format!("{alias}.{}", pc.column),
                        &self.keys(*p, root),
                        root
                    )
                )
            }
        }
    }

    /// `column` holds one of the values `keys` (a subquery) returns. PostgreSQL, for a batch:
    /// `= ANY(ARRAY(…))`, so the batch is read once and the table is probed through its index
    /// for each key; an `IN` lets the planner pick a merge join that walks the index from its
    /// start in every batch (cost growing with the cursor's position).
    fn member(&self, column: &str, keys: &str, root: Root) -> String {
        match (self.backend, root) {
            (Backend::Postgres, Root::Batch) => format!("{column} = ANY(ARRAY({keys}))"),
            _ => format!("{column} IN ({keys})"),
        }
    }

    /// Joins from child `i` (aliased `x`) up to the batch table (aliased `b`).
    fn joins(&self, i: usize) -> String {
        let mut out = Vec::new();
        let mut from = "x".to_string();
        let mut cur = i;
        loop {
            let c = &self.children[cur];
            match &c.parent {
                Parent::Missing => {
                    out.push("JOIN (SELECT NULL AS k) AS none ON 1 = 0".to_string());
                    break;
                }
                Parent::User => {
                    out.push(format!(
                        "JOIN {}anonsweep_batch AS b ON {from}.{} = {}",
                        self.temp,
                        c.column,
                        self.text_cast("b.id", c.as_text)
                    ));
                    break;
                }
                Parent::Child(p, key) => {
                    let alias = format!("p{}", p + 1);
                    out.push(format!(
                        "JOIN {} AS {alias} ON {from}.{} = {}",
                        self.children[*p].table,
                        c.column,
                        self.text_cast(&format!("{alias}.{key}"), c.as_text)
                    ));
                    from = alias;
                    cur = *p;
                }
            }
        }
        out.join("\n")
    }

    /// A row of `alias` as JSON text that restore turns back into the same values; `columns`
    /// are (quoted name, declared type).
    fn row_json(&self, alias: &str, columns: &[(String, String)]) -> String {
        let unquote = |c: &str| {
            let inner = &c[1..c.len() - 1];
            match self.backend {
                Backend::Mysql => inner.replace("``", "`"),
                _ => inner.replace("\"\"", "\""),
            }
        };
        let literal = |text: &str| format!("'{}'", text.replace('\'', "''"));
        match self.backend {
            // Exact for every type: numerics keep their digits, json its text.
            Backend::Postgres => format!("CAST(row_to_json({alias}) AS TEXT)"),
            // Built as text: json_object would write REALs with 15 digits; %!.17g round-trips
            // them. A BLOB makes json_quote fail, so its user fails and is kept.
            Backend::Sqlite => {
                let parts: Vec<String> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, (c, _))| {
                        let key = serde_json::to_string(&unquote(c)).unwrap_or_default();
                        format!(
                            "{} || CASE typeof({alias}.{c}) WHEN 'real' THEN printf('%!.17g', {alias}.{c}) ELSE json_quote({alias}.{c}) END",
                            literal(&format!("{}{key}:", if i == 0 { "" } else { "," }))
                        )
                    })
                    .collect();
                if parts.is_empty() {
                    "'{}'".to_string()
                } else {
                    format!("'{{' || {} || '}}'", parts.join(" || "))
                }
            }
            // Binary columns as base64 (a binary argument would turn the whole object into a
            // binary string and garble its text).
            Backend::Mysql => {
                let pairs: Vec<String> = columns
                    .iter()
                    .map(|(c, ty)| {
                        let value = if is_binary(ty) {
                            format!("JSON_OBJECT('b64', TO_BASE64({alias}.{c}))")
                        } else {
                            format!("{alias}.{c}")
                        };
                        format!("{}, {value}", literal(&unquote(c)))
                    })
                    .collect();
                format!("JSON_OBJECT({})", pairs.join(", "))
            }
        }
    }

    /// Reads (and on PostgreSQL and MySQL locks) the rows of each child, then of the users, of
    /// the current batch, with their user's id: what the archive holds.
    fn archive_rows(&self, users_columns: &[(String, String)]) -> Vec<Stmt> {
        let lock = self.backend.lock_clause("x");
        let id = self.backend.id_as_text("b.id");
        let pg = self.backend == Backend::Postgres;
        let batch_ids = format!("SELECT b.id FROM {}anonsweep_batch AS b", self.temp);
        let select = |id: &str, json: String, table: &str, filter: String| {
            plain(
                format!("SELECT {id} AS id, {json} AS t\nFROM {table} AS x\n{filter}\n{lock}")
                    .trim_end()
                    .to_string(),
            )
        };
        let mut out: Vec<Stmt> = self
            .children
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let json = self.row_json("x", &c.columns);
                match c.parent {
                    // PostgreSQL: probe the link column's index per key (see `member`); the
                    // link value is the user's id (as text when compared as text).
                    Parent::User if pg => select(
                        &self.backend.id_as_text(&format!("x.{}", c.column)),
                        json,
                        &c.table,
                        format!(
                            "WHERE {}",
                            self.member(
                                &format!("x.{}", c.column),
                                &self.keys(i, Root::Batch),
                                Root::Batch
                            )
                        ),
                    ),
                    _ => select(&id, json, &c.table, self.joins(i)),
                }
            })
            .collect();
        let ucols: Vec<(String, String)> = users_columns
            .iter()
            .map(|(n, t)| (quote_any(self.backend, n), t.clone()))
            .collect();
        let json = self.row_json("x", &ucols);
        out.push(if pg {
            select(
                &self.backend.id_as_text(&format!("x.{}", self.user_id)),
                json,
                &self.users,
                format!(
                    "WHERE {}",
                    self.member(&format!("x.{}", self.user_id), &batch_ids, Root::Batch)
                ),
            )
        } else {
            select(
                &id,
                json,
                &self.users,
                format!(
                    "JOIN {}anonsweep_batch AS b ON x.{} = b.id",
                    self.temp, self.user_id
                ),
            )
        });
        out
    }

    /// The index of the sessions table among the children.
    fn sessions_child(&self) -> Option<usize> {
        self.children
            .iter()
            .position(|c| c.source == Source::Sessions)
    }

    fn anonymous(&self, f: &Formats) -> String {
        let col = format!("u.{}", self.is_anonymous);
        match (self.backend, f.anonymous_is_int) {
            // Bare boolean: the same predicate as the shipped partial index, so the planner can use it.
            (Backend::Postgres, false) => col,
            (Backend::Postgres, true) => format!("{col} = 1"),
            (Backend::Sqlite, _) => format!("{col} IN (1, 'true')"),
            // TINYINT(1) / BOOLEAN.
            (Backend::Mysql, _) => format!("{col} = 1"),
        }
    }

    fn eligible(&self, f: &Formats, b: &mut Binder) -> String {
        self.eligible_after(f, b, "")
    }

    fn eligible_after(&self, f: &Formats, b: &mut Binder, session_after: &str) -> String {
        self.eligible_with(f, b, session_after, false)
    }

    /// The rule; `created_unindexed` writes the created-at comparison as `+expr`, which SQLite
    /// never matches to an index (same value).
    fn eligible_with(
        &self,
        f: &Formats,
        b: &mut Binder,
        session_after: &str,
        created_unindexed: bool,
    ) -> String {
        let created_cutoff = b.cutoff(f.created_at);
        let activity: Vec<TimeCmp> = self
            .activity
            .iter()
            .zip(&f.activity)
            .map(|(c, k)| TimeCmp {
                expr: k.column_expr(self.backend, &format!("s.{c}")),
                cutoff: b.cutoff(*k),
            })
            .collect();
        render(&templates::Eligible {
            anonymous: &self.anonymous(f),
            created_expr: &format!(
                "{}{}",
                if created_unindexed { "+" } else { "" },
                f.created_at
                    .column_expr(self.backend, &format!("u.{}", self.created_at))
            ),
            created_cutoff: &created_cutoff,
            sessions: &self.sessions,
            session_user: &self.session_user,
            user_id: &self.user_id,
            activity: &activity,
            session_after,
        })
    }

    fn stmt(&self, b: &mut Binder, f: impl FnOnce(&mut Binder) -> String) -> Stmt {
        let sql = f(b);
        Stmt {
            sql,
            params: b.take(),
        }
    }

    fn pick(
        &self,
        f: &Formats,
        b: &mut Binder,
        after_cursor: bool,
        limited: bool,
        lock: bool,
    ) -> Stmt {
        self.stmt(b, |b| {
            let cursor = self.cursor_expr();
            // MySQL cannot open one temporary table twice in a statement; it needs no such hint.
            let bound = after_cursor && self.backend != Backend::Mysql;
            let eligible = self.eligible_after(f, b, if bound { &cursor } else { "" });
            let limit = if limited { b.limit() } else { String::new() };
            render(&templates::Pick {
                temp: self.temp,
                user_id: &self.user_id,
                users: &self.users,
                eligible: &eligible,
                after_cursor,
                cursor: &cursor,
                limit: &limit,
                lock: &if lock {
                    self.backend.lock_clause("u")
                } else {
                    String::new()
                },
            })
        })
    }

    fn recheck(&self, f: &Formats, b: &mut Binder) -> Stmt {
        self.stmt(b, |b| {
            let eligible = indent(&self.eligible(f, b), "  ");
            render(&templates::Recheck {
                temp: self.temp,
                users: &self.users,
                user_id: &self.user_id,
                eligible: &eligible,
            })
        })
    }

    fn setup(&self) -> Vec<Stmt> {
        let mut out: Vec<Stmt> = [("anonsweep_batch", "id"), ("anonsweep_cursor", "last_id")]
            .iter()
            .map(|(t, c)| {
                plain(render(&templates::CreateTemp {
                    temp_table: t,
                    temp_column: c,
                    user_id: &self.user_id,
                    users: &self.users,
                }))
            })
            .collect();
        if self.backend == Backend::Mysql {
            // One row, updated in place each batch (its value is unused until the first batch
            // moves it): deleted rows of an InnoDB temporary table linger and skew the plans.
            out.push(plain(format!(
                "INSERT INTO anonsweep_cursor (last_id) SELECT u.{0} FROM {1} AS u ORDER BY u.{0} LIMIT 1",
                self.user_id, self.users
            )));
        }
        out
    }

    /// The keyset cursor as the pick reads it. MySQL: a session variable loaded from the cursor
    /// table at the start of each batch, a constant the optimizer turns into a primary-key range.
    fn cursor_expr(&self) -> String {
        match self.backend {
            Backend::Mysql => "@anonsweep_after".to_string(),
            _ => format!("(SELECT c.last_id FROM {}anonsweep_cursor AS c)", self.temp),
        }
    }

    fn advance(&self) -> Vec<Stmt> {
        let temp = self.temp;
        match self.backend {
            Backend::Mysql => vec![plain(
                "UPDATE anonsweep_cursor SET last_id = \
                 (SELECT b.id FROM anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1)"
                    .to_string(),
            )],
            _ => vec![
                plain(self.backend.clear_table(&format!("{temp}anonsweep_cursor"))),
                plain(format!(
                    "INSERT INTO {temp}anonsweep_cursor (last_id) SELECT b.id FROM {temp}anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1"
                )),
            ],
        }
    }

    fn teardown(&self) -> Vec<Stmt> {
        ["anonsweep_batch", "anonsweep_cursor"]
            .iter()
            .map(|t| plain(self.backend.drop_temp(t)))
            .collect()
    }

    /// Locks the sessions of the batch. PostgreSQL: counts, among the locked rows (their latest
    /// versions, read after the users were locked), those with activity at or after the cutoff;
    /// the re-check runs only when that count is not zero. MySQL: counts the locked rows.
    fn lock_children(&self, f: &Formats, b: &mut Binder) -> Vec<Stmt> {
        if !self.backend.has_row_locks() {
            return Vec::new();
        }
        let Some(i) = self.sessions_child() else {
            return Vec::new();
        };
        let derived = self.backend == Backend::Postgres;
        let member = self.member(
            &format!("x.{}", self.children[i].column),
            &self.keys(i, Root::Batch),
            Root::Batch,
        );
        vec![self.stmt(b, |b| {
            let active: Vec<String> = if derived {
                self.activity
                    .iter()
                    .zip(&f.activity)
                    .map(|(c, k)| {
                        format!(
                            "{} >= {}",
                            k.column_expr(self.backend, &format!("s.{c}")),
                            b.cutoff(*k)
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            };
            render(&templates::LockChildren {
                derived,
                table: &self.children[i].table,
                member: &member,
                active: &active.join(" OR "),
                lock: &self.backend.lock_clause("x"),
            })
        })]
    }

    fn deletes(&self) -> Vec<Labeled> {
        let mut out: Vec<Labeled> = self
            .children
            .iter()
            .enumerate()
            .map(|(i, c)| Labeled {
                table: c.label.clone(),
                stmt: plain(render(&templates::DeleteRows {
                    join_delete: self.backend == Backend::Mysql,
                    table: &c.table,
                    member: &self.member(&c.column, &self.keys(i, Root::Batch), Root::Batch),
                    joins: &self.joins(i),
                })),
            })
            .collect();
        out.push(Labeled {
            table: self.users_label.clone(),
            stmt: plain(render(&templates::DeleteRows {
                join_delete: self.backend == Backend::Mysql,
                table: &self.users,
                member: &self.member(
                    &self.user_id,
                    &format!("SELECT b.id FROM {}anonsweep_batch AS b", self.temp),
                    Root::Batch,
                ),
                joins: &format!(
                    "JOIN {}anonsweep_batch AS b ON x.{} = b.id",
                    self.temp, self.user_id
                ),
            })),
        });
        out
    }
}

/// Quotes a name read from the database (not validated like configured names): quote
/// characters inside it are doubled.
fn quote_any(backend: Backend, name: &str) -> String {
    match backend {
        Backend::Mysql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// Indents every line but the first, for a predicate embedded one level deeper.
fn indent(text: &str, by: &str) -> String {
    text.replace('\n', &format!("\n{by}"))
}

fn plain(sql: String) -> Stmt {
    Stmt {
        sql,
        params: Vec::new(),
    }
}

impl Plan {
    /// Renders every statement for `settings` with the given storage formats.
    pub fn build(
        settings: &Settings,
        formats: Formats,
        children: &[Child],
        users_columns: &[(String, String)],
    ) -> Plan {
        let backend = settings.backend;
        let n = Names::new(backend, &settings.schema, children);
        let f = &formats;
        let mut b = Binder::placeholders(backend);
        let id_text = backend.id_as_text(&format!("u.{}", n.user_id));

        let count_anonymous = n.stmt(&mut b, |_| {
            render(&templates::CountAnonymous {
                users: &n.users,
                anonymous: &n.anonymous(f),
            })
        });
        let count_eligible = n.stmt(&mut b, |b| {
            let e = n.eligible(f, b);
            render(&templates::CountEligible {
                users: &n.users,
                eligible: &e,
            })
        });
        let count_rows = n
            .children
            .iter()
            .enumerate()
            .map(|(i, c)| Labeled {
                table: c.label.clone(),
                stmt: n.stmt(&mut b, |b| {
                    let e = n.eligible(f, b);
                    render(&templates::CountRows {
                        table: &c.table,
                        user_column: &c.column,
                        keys: &n.keys(i, Root::Eligible(&e)),
                    })
                }),
            })
            .collect();
        let sample = n.stmt(&mut b, |b| {
            // The first few by id: on SQLite a unary `+` keeps the created_at index from
            // driving this (it would read every old anonymous user, then sort) instead of the
            // primary key, which stops after `limit` rows.
            let e = n.eligible_with(f, b, "", backend == Backend::Sqlite);
            let limit = b.limit();
            render(&templates::Sample {
                id_text: &id_text,
                users: &n.users,
                eligible: &e,
                user_id: &n.user_id,
                limit: &limit,
            })
        });
        let batch_users = plain(render(&templates::BatchUsers {
            id_text: &id_text,
            created_text: &backend.id_as_text(&format!("u.{}", n.created_at)),
            users: &n.users,
            user_id: &n.user_id,
            member: &n.member(
                &format!("u.{}", n.user_id),
                &format!("SELECT b.id FROM {}anonsweep_batch AS b", n.temp),
                Root::Batch,
            ),
        }));
        let count_per_user = n
            .children
            .iter()
            .enumerate()
            .map(|(i, c)| Labeled {
                table: c.label.clone(),
                stmt: plain(render(&templates::CountPerUser {
                    id_text: &backend.id_as_text("b.id"),
                    table: &c.table,
                    joins: &n.joins(i),
                })),
            })
            .collect();
        let temp = n.temp;
        Plan {
            backend,
            preset: settings.preset.clone(),
            count_anonymous,
            count_eligible,
            count_rows,
            sample,
            setup: n.setup(),
            clear: plain(backend.clear_table(&format!("{temp}anonsweep_batch"))),
            pick_first: n.pick(f, &mut b, false, true, true),
            pick_next: n.pick(f, &mut b, true, true, true),
            skip_first: n.pick(f, &mut b, false, true, false),
            skip_next: n.pick(f, &mut b, true, true, false),
            advance: n.advance(),
            load_cursor: match backend {
                Backend::Mysql => vec![plain(
                    "SET @anonsweep_after = (SELECT c.last_id FROM anonsweep_cursor AS c)"
                        .to_string(),
                )],
                _ => Vec::new(),
            },
            clear_before_begin: backend == Backend::Mysql,
            lock_children: n.lock_children(f, &mut b),
            recheck: backend.has_row_locks().then(|| n.recheck(f, &mut b)),
            batch_users,
            count_per_user,
            deletes: n.deletes(),
            analyze: match backend {
                Backend::Postgres => vec![plain(format!("ANALYZE {temp}anonsweep_batch"))],
                Backend::Sqlite | Backend::Mysql => Vec::new(),
            },
            teardown: n.teardown(),
            children: children.to_vec(),
            users_columns: users_columns.to_vec(),
            archive_rows: n.archive_rows(users_columns),
            settings_names: (
                settings.schema.users.to_string(),
                settings.schema.users_id.clone(),
            ),
            formats,
        }
    }

    fn format_lines(&self, settings: &Settings) -> Vec<String> {
        let s = &settings.schema;
        let mut out = vec![format!(
            "{}.{}: {}",
            s.users,
            s.users_created_at,
            self.formats.created_at.name()
        )];
        for (c, k) in s.sessions_activity.iter().zip(&self.formats.activity) {
            out.push(format!("{}.{c}: {}", s.sessions, k.name()));
        }
        out
    }

    /// The annotated listing `anonsweep sql` prints and `plan` shows.
    pub fn overview(&self, settings: &Settings) -> String {
        let params = self
            .pick_next
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let ph = match self.backend {
                    Backend::Postgres => format!("${}", i + 1),
                    Backend::Sqlite => format!("?{}", i + 1),
                    Backend::Mysql => format!("? #{}", i + 1),
                };
                match p {
                    Param::Cutoff(k) => {
                        format!("{ph} = cutoff (as-of minus retention, UTC) as {}", k.name())
                    }
                    Param::Limit => format!("{ph} = batch size"),
                }
            })
            .collect();
        fn strs(v: &[Stmt]) -> Vec<&str> {
            v.iter().map(|s| s.sql.as_str()).collect()
        }
        let deletes: Vec<&str> = self.deletes.iter().map(|d| d.stmt.sql.as_str()).collect();
        let text = render(&templates::Overview {
            preset: &self.preset,
            backend: self.backend.name(),
            params,
            assumed: self.formats.assumed,
            formats: self.format_lines(settings),
            count_eligible: &self.count_eligible.sql,
            setup: strs(&self.setup),
            begin: self.backend.begin(),
            clear_before_begin: self.clear_before_begin,
            clear: &self.clear.sql,
            load_cursor: strs(&self.load_cursor),
            pick: &self.pick_next.sql,
            advance: strs(&self.advance),
            lock_children: strs(&self.lock_children),
            recheck: self.recheck.as_ref().map_or("", |r| r.sql.as_str()),
            lock_counts_active: self.lock_counts_active(),
            batch_users: &self.batch_users.sql,
            deletes,
            analyze: strs(&self.analyze),
            teardown: strs(&self.teardown),
        });
        format!("{text}\n")
    }

    /// PostgreSQL: `lock_children` counts the locked sessions with activity at or after the
    /// cutoff, and the re-check runs only when one has (the pick's `FOR UPDATE` already
    /// re-checked each user's own row). Elsewhere the re-check runs in every batch.
    pub fn lock_counts_active(&self) -> bool {
        self.backend == Backend::Postgres && !self.lock_children.is_empty()
    }

    /// A standalone script with the cutoff as a literal: deletes, in one transaction,
    /// exactly the users `run` deletes at this cutoff.
    pub fn script(&self, settings: &Settings, eligible: Option<u64>) -> String {
        let backend = self.backend;
        let n = Names::new(backend, &settings.schema, &self.children);
        let mut b = Binder::literals(backend, settings.cutoff);
        let pick = n.pick(&self.formats, &mut b, false, false, true);
        let recheck = if backend.has_row_locks() {
            n.recheck(&self.formats, &mut b).sql
        } else {
            String::new()
        };
        let meta: Vec<&str> = match backend {
            Backend::Postgres => vec!["\\set ON_ERROR_STOP on"],
            Backend::Sqlite => vec![".bail on", "PRAGMA foreign_keys = ON;"],
            // The `mariadb`/`mysql` client stops at the first error when reading a file.
            Backend::Mysql => vec![
                "SET time_zone = '+00:00';",
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;",
            ],
        };
        let strs = |v: &[Stmt]| v.iter().map(|s| s.sql.clone()).collect::<Vec<_>>();
        // The script needs the batch table only (no cursor: it takes every eligible user at once).
        let setup: Vec<String> = strs(&self.setup).into_iter().take(1).collect();
        let teardown: Vec<String> = strs(&self.teardown).into_iter().take(1).collect();
        let lock = strs(&n.lock_children(&self.formats, &mut b));
        let deletes: Vec<String> = self.deletes.iter().map(|d| d.stmt.sql.clone()).collect();
        let text = render(&templates::Script {
            meta,
            version: env!("CARGO_PKG_VERSION"),
            as_of: fmt_time(settings.as_of),
            retention_days: settings.retention_days,
            cutoff: fmt_time(settings.cutoff),
            preset: &settings.preset,
            backend: backend.name(),
            database: settings
                .database
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            eligible: eligible
                .map(|e| e.to_string())
                .unwrap_or_else(|| "unknown".into()),
            begin: backend.begin(),
            setup: setup.iter().map(String::as_str).collect(),
            pick: &pick.sql,
            lock_children: lock.iter().map(String::as_str).collect(),
            recheck: &recheck,
            deletes: deletes.iter().map(String::as_str).collect(),
            teardown: teardown.iter().map(String::as_str).collect(),
        });
        crate::error::redact(&format!("{text}\n"))
    }
}
