//! `plan --list`: every eligible user with its latest activity and the rows each table would
//! lose, read in keyset pages over the users' primary key (the rule and binds of the counts).

use super::names::{id_type, Names, Parent};
use super::{Formats, Stmt};
use crate::config::settings::Schema;
use crate::sql::dialect::{Backend, Binder, TimeKind};
use crate::sql::ident::string_literal;
use crate::sql::templates::{self, render, ListActivity, ListCount};

/// The list's page queries, and what each row counts.
#[derive(Clone, Debug)]
pub struct List {
    /// The first page (no cursor yet).
    pub first: Stmt,
    /// The page after the previous page's last id.
    pub next: Stmt,
    /// The tables a row counts, in delete order, the users table last (always 1 row: the
    /// queries count the others).
    pub tables: Vec<String>,
    /// Where the latest activity can come from (`sessions.updated_at`, …).
    pub activity: Vec<String>,
}

impl Names {
    /// Both page queries. `users_columns` gives the id's declared type, so the cursor (read
    /// back as text) is compared in the id's own type.
    pub(super) fn list(
        &self,
        f: &Formats,
        b: &mut Binder,
        schema: &Schema,
        users_columns: &[(String, String)],
    ) -> List {
        // (label, table, its user column, expression over its rows `s`, storage): the sessions'
        // activity columns (when the rule reads them), then the users' own.
        let sessions = schema
            .sessions_activity
            .iter()
            .zip(&self.activity)
            .zip(&f.activity)
            .filter(|_| self.sessions_show_activity)
            .map(|((raw, quoted), k)| {
                (
                    format!("{}.{raw}", schema.sessions),
                    self.sessions.clone(),
                    self.session_user.clone(),
                    k.display_expr(self.backend, &format!("s.{quoted}")),
                    *k,
                )
            });
        let users = schema
            .users_activity
            .iter()
            .zip(&self.users_activity)
            .zip(&f.users_activity)
            .map(|((raw, quoted), k)| {
                (
                    format!("{}.{raw}", schema.users),
                    self.users.clone(),
                    self.user_id.clone(),
                    k.display_expr(self.backend, &format!("s.{quoted}")),
                    *k,
                )
            });
        let activity: Vec<(String, String, String, String, TimeKind)> =
            sessions.chain(users).collect();
        let id_type = id_type(schema, users_columns);
        let page = |b: &mut Binder, after_cursor: bool| {
            self.stmt(b, |b| {
                // As the pick: a redundant bound on the sessions probe, so a merge join starts
                // at the cursor (MySQL needs none). On SQLite `+created_at` keeps the
                // created_at index from driving a page (the primary key stops after `limit`).
                let bound = after_cursor && self.backend != Backend::Mysql;
                let mut cursor = String::new();
                if bound {
                    // The cutoff first, as in every other statement (the rule reuses it).
                    b.cutoff(f.created_at);
                    cursor = self.backend.text_param_as(&b.page_after(), id_type);
                }
                let eligible = self.eligible_with(
                    f,
                    b,
                    if bound { &cursor } else { "" },
                    self.backend == Backend::Sqlite,
                );
                if after_cursor && !bound {
                    // MySQL's positional `?`: bound where it stands, after the rule's.
                    cursor = self.backend.text_param_as(&b.page_after(), id_type);
                }
                let limit = b.limit();
                let candidates: Vec<ListActivity> = activity
                    .iter()
                    .enumerate()
                    .map(|(i, (label, table, user_column, expr, k))| ListActivity {
                        n: i + 1,
                        later: (i + 2..=activity.len()).collect(),
                        label: string_literal(label),
                        table: table.clone(),
                        user_column: user_column.clone(),
                        expr: expr.clone(),
                        kind: k.format_value(),
                    })
                    .collect();
                let counts: Vec<ListCount> = self
                    .children
                    .iter()
                    .enumerate()
                    .map(|(i, c)| ListCount {
                        n: i + 1,
                        table: c.table.clone(),
                        filter: self.of_user(i, &format!("x.{}", c.column)),
                    })
                    .collect();
                render(&templates::List {
                    backend: self.backend.name(),
                    users: &self.users,
                    user_id: &self.user_id,
                    id_text: &self.backend.id_as_text(&format!("u.{}", self.user_id)),
                    created_expr: &f
                        .created_at
                        .display_expr(self.backend, &format!("u.{}", self.created_at)),
                    created_kind: f.created_at.format_value(),
                    activity: &candidates,
                    counts: &counts,
                    no_text: &self.backend.id_as_text("NULL"),
                    eligible: &indent(&eligible, "  "),
                    after_cursor,
                    cursor: &cursor,
                    limit: &limit,
                })
            })
        };
        let first = page(b, false);
        let next = page(b, true);
        let mut tables: Vec<String> = self.children.iter().map(|c| c.label.clone()).collect();
        tables.push(self.users_label.clone());
        List {
            first,
            next,
            tables,
            activity: activity
                .into_iter()
                .map(|(label, _, _, _, _)| label)
                .collect(),
        }
    }

    /// `column` (of child `i`) holds a value that belongs to the user `u`: its id, or a key of
    /// the parent's rows that belong to `u` (the deletes' keys, for one user).
    pub(super) fn of_user(&self, i: usize, column: &str) -> String {
        let c = &self.children[i];
        match &c.parent {
            Parent::User => render(&templates::Member {
                eq: true,
                any_array: false,
                column,
                keys: &self.text_cast(&format!("u.{}", self.user_id), c.as_text),
            }),
            Parent::Missing => render(&templates::Member {
                eq: false,
                any_array: false,
                column,
                keys: &render(&templates::Keys {
                    kind: "none",
                    value: "",
                    temp: "",
                    table: "",
                    alias: "",
                    filter: "",
                }),
            }),
            Parent::Child(p, key) => {
                let pc = &self.children[*p];
                let alias = format!("p{}", i + 1);
                render(&templates::Member {
                    eq: false,
                    any_array: false,
                    column,
                    keys: &render(&templates::Keys {
                        kind: "parent",
                        value: &self.text_cast(&format!("{alias}.{key}"), c.as_text),
                        temp: "",
                        table: &pc.table,
                        alias: &alias,
                        filter: &self.of_user(*p, &format!("{alias}.{}", pc.column)),
                    }),
                })
            }
        }
    }
}

/// Indents every line but the first, for a predicate embedded one level deeper.
fn indent(text: &str, by: &str) -> String {
    text.replace('\n', &format!("\n{by}"))
}
