//! The configured schema's quoted names and the SQL fragments the templates are filled with.

use super::{Formats, Labeled};
use crate::config::settings::{Guard, GuardValue, Link, Schema};
use crate::preflight::children::{Child, Source};
use crate::sql::dialect::{is_binary, Backend, Binder, Stmt, UsersAccess};
use crate::sql::ident::{quote, string_literal};
use crate::sql::templates::{self, render, TextCmp, TimeCmp};

/// A child table's quoted names.
pub(super) struct ChildSql {
    pub(super) label: String,
    pub(super) table: String,
    pub(super) column: String,
    /// What the link column holds.
    pub(super) parent: Parent,
    pub(super) as_text: bool,
    pub(super) source: Source,
    /// (quoted name, declared type).
    pub(super) columns: Vec<(String, String)>,
}

/// What a child's link column holds.
pub(super) enum Parent {
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
pub(super) enum Root {
    /// The users of the current batch.
    Batch,
}

/// Quoted names shared by every template.
pub(super) struct Names {
    pub(super) backend: Backend,
    pub(super) users_label: String,
    pub(super) users: String,
    pub(super) user_id: String,
    pub(super) is_anonymous: String,
    pub(super) created_at: String,
    pub(super) sessions: String,
    pub(super) session_user: String,
    pub(super) activity: Vec<String>,
    pub(super) sessions_show_activity: bool,
    pub(super) users_activity: Vec<String>,
    /// `[[keep_if]]` guards: (label, rendered rows that keep a user).
    pub(super) guards: Vec<(String, String)>,
    /// Tables deleted before users, in delete order.
    pub(super) children: Vec<ChildSql>,
    pub(super) temp: &'static str,
    /// The users id column's declared type, as the catalog pass read it (`None`: not read), so
    /// the keyset cursor, bound as text, is compared in the id's own type.
    pub(super) id_type: Option<String>,
}

/// The declared type of the users id column among `users_columns` (exact name, else any case).
pub(super) fn id_type<'c>(
    schema: &Schema,
    users_columns: &'c [(String, String)],
) -> Option<&'c str> {
    users_columns
        .iter()
        .find(|(n, _)| n == &schema.users_id)
        .or_else(|| {
            users_columns
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&schema.users_id))
        })
        .map(|(_, t)| t.as_str())
}

impl Names {
    pub(super) fn new(backend: Backend, s: &Schema, children: &[Child]) -> Names {
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
                    .map(|(n, t)| (quote(backend, n), t.clone()))
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
            sessions_show_activity: s.sessions_show_activity,
            users_activity: s.users_activity.iter().map(|c| q(c)).collect(),
            guards: s
                .keep_if
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    (
                        g.table.to_string(),
                        guard_rows(backend, g, i, &q(&s.users_id)),
                    )
                })
                .collect(),
            children,
            temp: backend.temp_schema(),
            id_type: None,
        }
    }

    /// With the users id column's declared type from `users_columns`.
    pub(super) fn with_id_type(mut self, s: &Schema, users_columns: &[(String, String)]) -> Names {
        self.id_type = id_type(s, users_columns).map(str::to_string);
        self
    }

    /// MySQL ids of a binary type travel as hex.
    fn hex_id(&self) -> bool {
        self.backend == Backend::Mysql && self.id_type.as_deref().is_some_and(is_binary)
    }

    pub(super) fn text_cast(&self, expr: &str, as_text: bool) -> String {
        if as_text {
            self.backend.id_as_text(expr)
        } else {
            expr.to_string()
        }
    }

    /// The batch's ids (`SELECT b.id FROM … AS b`).
    pub(super) fn batch_ids(&self) -> String {
        self.keys_sql("batch", "b.id", "", "", "")
    }

    fn keys_sql(&self, kind: &str, value: &str, table: &str, alias: &str, filter: &str) -> String {
        render(&templates::Keys {
            kind,
            value,
            temp: self.temp,
            table,
            alias,
            filter,
        })
    }

    /// A subquery of the values child `i`'s link column must hold to belong to a user of `root`.
    pub(super) fn keys(&self, i: usize, root: Root) -> String {
        let c = &self.children[i];
        match &c.parent {
            Parent::Missing => self.keys_sql("none", "", "", "", ""),
            Parent::User => match root {
                Root::Batch => {
                    self.keys_sql("batch", &self.text_cast("b.id", c.as_text), "", "", "")
                }
            },
            Parent::Child(p, key) => {
                let pc = &self.children[*p];
                let alias = format!("p{}", i + 1);
                self.keys_sql(
                    "parent",
                    &self.text_cast(&format!("{alias}.{key}"), c.as_text),
                    &pc.table,
                    &alias,
                    &self.member(
                        &format!("{alias}.{}", pc.column),
                        &self.keys(*p, root),
                        root,
                    ),
                )
            }
        }
    }

    /// `column` holds one of the values `keys` (a subquery) returns. PostgreSQL, for a batch:
    /// `= ANY(ARRAY(…))`, so the batch is read once and the table is probed through its index
    /// for each key; an `IN` lets the planner pick a merge join that walks the index from its
    /// start in every batch (cost growing with the cursor's position).
    pub(super) fn member(&self, column: &str, keys: &str, root: Root) -> String {
        render(&templates::Member {
            eq: false,
            any_array: matches!((self.backend, root), (Backend::Postgres, Root::Batch)),
            column,
            keys,
        })
    }

    /// The join of `from`.`column` to the batch table (aliased `b`), by id (as text if asked).
    pub(super) fn join_batch(&self, from: &str, column: &str, as_text: bool) -> String {
        render(&templates::Join {
            missing: false,
            table: &format!("{}anonsweep_batch", self.temp),
            alias: "b",
            from,
            column,
            value: &self.text_cast("b.id", as_text),
        })
    }

    /// Joins from child `i` (aliased `x`) up to the batch table (aliased `b`).
    pub(super) fn joins(&self, i: usize) -> String {
        let mut out = Vec::new();
        let mut from = "x".to_string();
        let mut cur = i;
        loop {
            let c = &self.children[cur];
            match &c.parent {
                Parent::Missing => {
                    out.push(render(&templates::Join {
                        missing: true,
                        table: "",
                        alias: "",
                        from: "",
                        column: "",
                        value: "",
                    }));
                    break;
                }
                Parent::User => {
                    out.push(self.join_batch(&from, &c.column, c.as_text));
                    break;
                }
                Parent::Child(p, key) => {
                    let alias = format!("p{}", p + 1);
                    out.push(render(&templates::Join {
                        missing: false,
                        table: &self.children[*p].table,
                        alias: &alias,
                        from: &from,
                        column: &c.column,
                        value: &self.text_cast(&format!("{alias}.{key}"), c.as_text),
                    }));
                    from = alias;
                    cur = *p;
                }
            }
        }
        out.join("\n")
    }

    /// A row of `alias` as JSON text that restore turns back into the same values; `columns`
    /// are (quoted name, declared type). PostgreSQL: exact for every type (numerics keep their
    /// digits, json its text). SQLite: built as text, since json_object would write REALs with
    /// 15 digits and %!.17g round-trips them (a BLOB makes json_quote fail, so its user fails
    /// and is kept). MySQL: binary columns as base64 (a binary argument would turn the whole
    /// object into a binary string and garble its text).
    pub(super) fn row_json(&self, alias: &str, columns: &[(String, String)]) -> String {
        let unquote = |c: &str| {
            let inner = &c[1..c.len() - 1];
            match self.backend {
                Backend::Mysql => inner.replace("``", "`"),
                _ => inner.replace("\"\"", "\""),
            }
        };
        let cols: Vec<templates::JsonColumn> = columns
            .iter()
            .enumerate()
            .map(|(i, (c, ty))| templates::JsonColumn {
                name: c.clone(),
                key: match self.backend {
                    Backend::Sqlite => {
                        let key = serde_json::to_string(&unquote(c)).unwrap_or_default();
                        string_literal(&format!("{}{key}:", if i == 0 { "" } else { "," }))
                    }
                    _ => string_literal(&unquote(c)),
                },
                binary: self.backend == Backend::Mysql && is_binary(ty),
            })
            .collect();
        render(&templates::RowJson {
            backend: self.backend.name(),
            alias,
            columns: &cols,
        })
    }

    /// Reads (and on PostgreSQL and MySQL locks) the rows of each child, then of the users, of
    /// the current batch, with their user's id: what the archive holds.
    pub(super) fn archive_rows(&self, users_columns: &[(String, String)]) -> Vec<Stmt> {
        let lock = self.backend.lock_clause("x");
        let id = self.backend.id_as_text("b.id");
        let pg = self.backend == Backend::Postgres;
        let select = |id: &str, json: String, table: &str, joins: String, condition: String| {
            plain(render(&templates::ArchiveRows {
                id,
                json: &json,
                table,
                joins: &joins,
                condition: &condition,
                lock: &lock,
            }))
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
                        String::new(),
                        self.member(
                            &format!("x.{}", c.column),
                            &self.keys(i, Root::Batch),
                            Root::Batch,
                        ),
                    ),
                    _ => select(&id, json, &c.table, self.joins(i), String::new()),
                }
            })
            .collect();
        let ucols: Vec<(String, String)> = users_columns
            .iter()
            .map(|(n, t)| (quote(self.backend, n), t.clone()))
            .collect();
        let json = self.row_json("x", &ucols);
        out.push(if pg {
            select(
                &self.backend.id_as_text(&format!("x.{}", self.user_id)),
                json,
                &self.users,
                String::new(),
                self.member(
                    &format!("x.{}", self.user_id),
                    &self.batch_ids(),
                    Root::Batch,
                ),
            )
        } else {
            select(
                &id,
                json,
                &self.users,
                self.join_batch("x", &self.user_id, false),
                String::new(),
            )
        });
        out
    }

    /// The index of the sessions table among the children.
    pub(super) fn sessions_child(&self) -> Option<usize> {
        self.children
            .iter()
            .position(|c| c.source == Source::Sessions)
    }

    pub(super) fn anonymous(&self, f: &Formats) -> String {
        render(&templates::Anonymous {
            backend: self.backend.name(),
            column: &format!("u.{}", self.is_anonymous),
            is_int: f.anonymous_is_int,
        })
    }

    pub(super) fn eligible(&self, f: &Formats, b: &mut Binder) -> String {
        self.eligible_with(f, b, "", false)
    }

    /// The rule; `created_unindexed` writes the created-at comparison as `+expr`, which SQLite
    /// never matches to an index (same value).
    pub(super) fn eligible_with(
        &self,
        f: &Formats,
        b: &mut Binder,
        session_after: &str,
        created_unindexed: bool,
    ) -> String {
        self.rule(f, b, session_after, created_unindexed, true, false)
    }

    /// The rule, with or without its `[[keep_if]]` guards (without: what each guard's count
    /// starts from).
    pub(super) fn rule(
        &self,
        f: &Formats,
        b: &mut Binder,
        session_after: &str,
        created_unindexed: bool,
        with_guards: bool,
        probe_each: bool,
    ) -> String {
        let created_cutoff = b.cutoff(f.created_at);
        let created_col = format!("u.{}", self.created_at);
        let plus = if created_unindexed { "+" } else { "" };
        let created_quick = b.text_bound(f.created_at).map(|cutoff| TextCmp {
            column: format!("{plus}{created_col}"),
            cutoff,
        });
        // Only what the template writes binds a value (MySQL's `?` are positional).
        let activity: Vec<TimeCmp> = self
            .activity
            .iter()
            .filter(|_| self.sessions_show_activity)
            .zip(&f.activity)
            .map(|(c, k)| TimeCmp::new(*k, self.backend, &format!("s.{c}"), b.cutoff(*k)))
            .collect();
        let quick: Vec<TextCmp> = self
            .activity
            .iter()
            .filter(|_| self.sessions_show_activity)
            .zip(&f.activity)
            .filter_map(|(c, k)| {
                b.text_bound(*k).map(|cutoff| TextCmp {
                    column: format!("s.{c}"),
                    cutoff,
                })
            })
            .collect();
        let users_activity: Vec<templates::UserActivity> = self
            .users_activity
            .iter()
            .zip(&f.users_activity)
            .map(|(c, k)| templates::UserActivity {
                column: c.clone(),
                expr: k.column_expr(self.backend, &format!("u.{c}")),
                cutoff: b.cutoff(*k),
                earliest: k.earliest(self.backend),
            })
            .collect();
        let guards: Vec<String> = if with_guards {
            self.guards.iter().map(|(_, g)| g.clone()).collect()
        } else {
            Vec::new()
        };
        render(&templates::Eligible {
            anonymous: &self.anonymous(f),
            created_expr: &format!(
                "{plus}{}",
                f.created_at
                    .column_expr(self.backend, &format!("u.{}", self.created_at))
            ),
            created_cutoff: &created_cutoff,
            created_earliest: &f.created_at.earliest(self.backend),
            created_text: f
                .created_at
                .may_not_read(self.backend)
                .then_some(created_col.as_str()),
            sessions: &self.sessions,
            session_user: &self.session_user,
            user_id: &self.user_id,
            activity: &activity,
            sessions_show_activity: self.sessions_show_activity,
            users_activity: &users_activity,
            guards: &guards,
            session_after,
            created_quick,
            quick: &quick,
            probe_each,
        })
    }

    pub(super) fn stmt(&self, b: &mut Binder, f: impl FnOnce(&mut Binder) -> String) -> Stmt {
        let sql = f(b);
        Stmt {
            sql,
            params: b.take(),
        }
    }

    /// A run's own pick (one key range, no upper bound), locking (`lock`) or the skip's: on
    /// SQLite the next listed users still eligible, from the list table (no row locks there);
    /// elsewhere the walk over the users table.
    pub(super) fn run_pick(
        &self,
        f: &Formats,
        b: &mut Binder,
        after_cursor: bool,
        lock: bool,
    ) -> Stmt {
        match self.backend {
            Backend::Sqlite => self.pick_listed(f, b, after_cursor, true),
            _ => self.pick(f, b, after_cursor, false, true, lock, false),
        }
    }

    /// The pick of the next users into the batch table: after the keyset cursor (`after_cursor`),
    /// up to the last id of a failed batch (`upto`, `--workers`), at most the limit (`limited`),
    /// their rows locked (`lock`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pick(
        &self,
        f: &Formats,
        b: &mut Binder,
        after_cursor: bool,
        upto: bool,
        limited: bool,
        lock: bool,
        listed: bool,
    ) -> Stmt {
        self.stmt(b, |b| {
            // MySQL needs no bound on the sessions probe (and its positional `?` bind in the
            // order they stand: the rule's, the cursor, the limit).
            let bound = after_cursor && self.backend != Backend::Mysql;
            let mut cursor = String::new();
            if bound {
                // The cutoff first, as in every other statement (the rule reuses it).
                b.cutoff(f.created_at);
                cursor = self.cursor(b);
            }
            let eligible = self.rule(
                f,
                b,
                if bound { &cursor } else { "" },
                false,
                true,
                f.users_access == UsersAccess::ProbeEach,
            );
            if after_cursor && !bound {
                cursor = self.cursor(b);
            }
            let upto = if upto {
                let placeholder = b.upto();
                self.typed_key(&placeholder)
            } else {
                String::new()
            };
            let in_ids = if listed {
                self.in_ids(b)
            } else {
                String::new()
            };
            let limit = if limited { b.limit() } else { String::new() };
            render(&templates::Pick {
                temp: self.temp,
                user_id: &self.user_id,
                users: &self.users,
                eligible: &eligible,
                after_cursor,
                cursor: &cursor,
                upto: &upto,
                in_ids: &in_ids,
                limit: &limit,
                lock: &if lock {
                    self.backend.lock_clause("u")
                } else {
                    String::new()
                },
            })
        })
    }

    /// The keyset cursor as the pick reads it: the previous batch's last id, bound as text
    /// (`last_id`) and cast to the id's type (PostgreSQL; MySQL integers; MySQL binary ids from
    /// hex), so the client carries it from one transaction to the next.
    fn cursor(&self, b: &mut Binder) -> String {
        let placeholder = b.page_after();
        self.typed_key(&placeholder)
    }

    /// `u.id` among the bound JSON array of ids the run's count listed, each element cast like
    /// the cursor (MySQL text ids compared as bytes: they are the column's own values).
    fn in_ids(&self, b: &mut Binder) -> String {
        let placeholder = b.ids();
        let element = "j.v";
        let typed = match self.typed_key(element) {
            t if self.backend == Backend::Mysql && t == element => {
                format!("CAST({element} AS BINARY)")
            }
            t => t,
        };
        render(&templates::InIds {
            backend: self.backend.name(),
            id: &format!("u.{}", self.user_id),
            placeholder: &placeholder,
            typed: &typed,
        })
    }

    /// A run's count that lists the eligible users (at most the bound limit), reaching them
    /// the way the counts do (`hint`).
    /// MySQL: every eligible user's id, without a limit (the run streams them into its list).
    pub(super) fn candidates(&self, f: &Formats, b: &mut Binder, hint: &str) -> Stmt {
        self.stmt(b, |b| {
            let eligible = self.eligible(f, b);
            let limit = if self.lists_all() {
                String::new()
            } else {
                b.limit()
            };
            render(&templates::Candidates {
                id_text: &self.backend.id_as_text(&format!("u.{}", self.user_id)),
                users: &self.users,
                hint,
                eligible: &eligible,
                limit: &limit,
            })
        })
    }

    /// Whether a run's count lists every eligible user (MySQL: the ids stream into the run's
    /// list, which moves to a temporary file past a few thousand), not just a daily run's few.
    pub(super) fn lists_all(&self) -> bool {
        self.backend == Backend::Mysql
    }

    /// MySQL: the pick and lock of the next listed users (a JSON array of their ids) that still
    /// exist, without the rule: in every MySQL batch the re-check evaluates the whole rule
    /// after the sessions are locked, and drops those no longer eligible (kept, changed).
    pub(super) fn pick_listed_unchecked(&self, b: &mut Binder) -> Stmt {
        self.stmt(b, |b| {
            let in_ids = self.in_ids(b);
            let limit = b.limit();
            render(&templates::Pick {
                temp: self.temp,
                user_id: &self.user_id,
                users: &self.users,
                eligible: "",
                after_cursor: false,
                cursor: "",
                upto: "",
                in_ids: &in_ids,
                limit: &limit,
                lock: &self.backend.lock_clause("u"),
            })
        })
    }

    /// After the batches: how many of the listed users are still eligible (`listed_table`:
    /// those of SQLite's list table, else those of the bound ids).
    pub(super) fn count_listed(&self, f: &Formats, b: &mut Binder, listed_table: bool) -> Stmt {
        self.stmt(b, |b| {
            // In the order they stand (MySQL binds positionally).
            let eligible = indent(&self.eligible(f, b), "    ");
            let in_ids = if listed_table {
                String::new()
            } else {
                self.in_ids(b)
            };
            render(&templates::CountListed {
                text: self.backend.text_type(),
                users: &self.users,
                user_id: &self.user_id,
                listed_table,
                in_ids: &in_ids,
                eligible: &eligible,
            })
        })
    }

    /// SQLite: the run's count, which lists every eligible user's id in the list table.
    pub(super) fn listed_fill(&self, f: &Formats, b: &mut Binder, hint: &str) -> Stmt {
        self.stmt(b, |b| {
            let eligible = self.eligible(f, b);
            render(&templates::ListedFill {
                user_id: &self.user_id,
                users: &self.users,
                hint,
                eligible: &eligible,
            })
        })
    }

    /// SQLite: the pick of the next listed users, after the cursor (`after_cursor`), at most
    /// the limit: those still eligible (`recheck`), else those still there.
    pub(super) fn pick_listed(
        &self,
        f: &Formats,
        b: &mut Binder,
        after_cursor: bool,
        recheck: bool,
    ) -> Stmt {
        self.stmt(b, |b| {
            let eligible = if recheck {
                self.eligible(f, b)
            } else {
                String::new()
            };
            let cursor = if after_cursor {
                self.cursor(b)
            } else {
                String::new()
            };
            let limit = b.limit();
            render(&templates::PickListed {
                user_id: &self.user_id,
                users: &self.users,
                recheck,
                eligible: &eligible,
                after_cursor,
                cursor: &cursor,
                limit: &limit,
            })
        })
    }

    /// SQLite: the list table's statements before the count fills it: a list an earlier run on
    /// this connection left, if any, dropped; the table, empty; its index.
    pub(super) fn listed_setup(&self) -> Vec<Stmt> {
        vec![
            plain(render(&templates::ListedDrop { if_exists: true })),
            plain(render(&templates::ListedCreate {
                user_id: &self.user_id,
                users: &self.users,
            })),
            plain(render(&templates::ListedIndex)),
        ]
    }

    /// A bound id as the picks compare it: text, cast to the id's type (see `cursor`).
    fn typed_key(&self, placeholder: &str) -> String {
        render(&templates::Cursor {
            placeholder,
            typed: &self
                .backend
                .text_param_as(placeholder, self.id_type.as_deref()),
            hex: self.hex_id(),
        })
    }

    pub(super) fn recheck(&self, f: &Formats, b: &mut Binder) -> Stmt {
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

    /// The batch table, created first in each batch's transaction.
    pub(super) fn create_batch(&self) -> Stmt {
        plain(render(&templates::CreateBatch {
            on_commit_drop: self.backend == Backend::Postgres,
            user_id: &self.user_id,
            users: &self.users,
        }))
    }

    /// Drops the batch table (`if_exists`: after a rollback).
    pub(super) fn drop_batch(&self, if_exists: bool) -> Stmt {
        plain(render(&templates::DropBatch {
            mysql: self.backend == Backend::Mysql,
            temp: self.temp,
            if_exists,
        }))
    }

    /// The batch's last id, as text: the cursor the next pick binds.
    pub(super) fn last_id(&self) -> Stmt {
        plain(render(&templates::LastId {
            temp: self.temp,
            id_text: &self.backend.id_as_text("b.id"),
            hex: self.hex_id(),
        }))
    }

    /// Locks the sessions of the batch. PostgreSQL: counts, among the locked rows (their latest
    /// versions, read after the users were locked), those with activity at or after the cutoff;
    /// the re-check runs only when that count is not zero. MySQL: counts the locked rows.
    pub(super) fn lock_children(&self, f: &Formats, b: &mut Binder) -> Vec<Stmt> {
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

    pub(super) fn deletes(&self) -> Vec<Labeled> {
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
                member: &self.member(&self.user_id, &self.batch_ids(), Root::Batch),
                joins: &self.join_batch("x", &self.user_id, false),
            })),
        });
        out
    }
}

/// Indents every line but the first, for a predicate embedded one level deeper.
fn indent(text: &str, by: &str) -> String {
    text.replace('\n', &format!("\n{by}"))
}

pub(super) fn plain(sql: String) -> Stmt {
    Stmt {
        sql,
        params: Vec::new(),
    }
}

/// The rows of guard `g` (the `i`th) that keep user `u`.
fn guard_rows(backend: Backend, g: &Guard, i: usize, user_id: &str) -> String {
    let q = |c: &str| quote(backend, c);
    let id = format!("u.{user_id}");
    let condition = g
        .condition
        .as_ref()
        .map(|c| {
            let value = match &c.value {
                None => String::new(),
                Some(GuardValue::Text(t)) => format!(" {}", string_literal(t)),
                Some(GuardValue::Number(n)) => format!(" {n}"),
                Some(GuardValue::Bool(v)) => format!(" {}", backend.bool_literal(*v)),
            };
            format!("{} {}{value}", q(&c.column), c.op)
        })
        .unwrap_or_default();
    render(&templates::GuardRows {
        table: &g.table.quoted(backend),
        alias: &format!("g{}", i + 1),
        user_column: &q(&g.user_column),
        user_id: &if g.as_text {
            backend.id_as_text(&id)
        } else {
            id
        },
        condition: &condition,
    })
}
