//! `init`'s reading of a schema nobody has described yet: the table of anonymous users (its id,
//! flag and creation time), the sessions and accounts tables that reference it, and the preset,
//! if one, whose names these are. It uses the catalog reads the checks make (every table's
//! columns, the foreign keys) and reads none of the application's rows.

use crate::config::preset::{self, SchemaNames};
use crate::preflight::fkgraph::{self, CatalogColumn, Fk, TableId};
use crate::sql::conn::Conn;
use crate::sql::dialect::Backend;
use crate::sql::ident;

/// Names of the anonymous flag (lower case, without underscores), best first.
pub const FLAG_NAMES: [&str; 4] = ["isanonymous", "anonymous", "isguest", "guest"];

/// Names of a creation time, best first.
const CREATED_NAMES: [&str; 12] = [
    "createdat",
    "created",
    "insertedat",
    "createdon",
    "datecreated",
    "creationdate",
    "createdtime",
    "createtime",
    "joinedat",
    "joined",
    "registeredat",
    "signedupat",
];

/// Session columns that show activity.
const SESSION_ACTIVITY: [&str; 10] = [
    "createdat",
    "updatedat",
    "refreshedat",
    "lastseenat",
    "lastactiveat",
    "lastactivityat",
    "lastusedat",
    "lastaccessedat",
    "lastaccessat",
    "lastrefreshedat",
];

/// Users columns an application updates when the user is active.
const USER_ACTIVITY: [&str; 8] = [
    "lastsigninat",
    "lastseenat",
    "lastactiveat",
    "lastactivityat",
    "lastloginat",
    "lastseen",
    "lastactive",
    "lastlogin",
];

/// Where the names come from, as far as they tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// better-auth's own (Kysely) names: `user.isAnonymous`, `session.userId`.
    BetterAuth,
    /// better-auth with snake_case names, as its Drizzle and Prisma adapters can generate them.
    BetterAuthSnake,
    /// Supabase Auth: `auth.users.is_anonymous`.
    Supabase,
    /// The names of the `default` preset.
    Default,
    /// Names inferred from their look.
    Custom,
}

impl Flavour {
    pub fn describe(self) -> &'static str {
        match self {
            Flavour::BetterAuth => "better-auth, anonymous plugin",
            Flavour::BetterAuthSnake => {
                "better-auth, anonymous plugin, with the snake_case names its Drizzle and Prisma adapters generate"
            }
            Flavour::Supabase => "Supabase Auth",
            Flavour::Default => "the names of the default preset",
            Flavour::Custom => "a custom schema: names inferred from their look",
        }
    }
}

/// A recognised schema.
#[derive(Clone, Debug)]
pub struct Recognised {
    /// Every name, as anonsweep.toml spells it (`tables` empty: the foreign keys give those).
    pub names: SchemaNames,
    pub flavour: Flavour,
    /// The preset whose users and sessions names these are, if one.
    pub preset: Option<&'static str>,
    /// Why each choice was made, one line each.
    pub users_why: String,
    pub sessions_why: String,
    pub accounts_why: String,
    pub users_activity_why: Option<String>,
    /// Other tables with an anonymous-looking flag, passed over (each with why).
    pub passed_over: Vec<String>,
}

/// What the catalog showed.
pub enum Recognition {
    Found(Box<Recognised>),
    /// Nothing usable; what was seen on the way (tables with a flag but no sessions, …).
    NotFound {
        seen: Vec<String>,
    },
}

/// Lower case without underscores: `isAnonymous`, `is_anonymous` and `IsAnonymous` alike.
fn norm(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// A column that can hold true/false: a boolean, or an integer 0/1.
fn boolish(backend: Backend, ty: &str) -> bool {
    match backend {
        Backend::Postgres => matches!(ty, "boolean" | "smallint" | "integer" | "bigint"),
        Backend::Mysql => [
            "tinyint",
            "smallint",
            "mediumint",
            "int",
            "bigint",
            "bit",
            "bool",
        ]
        .iter()
        .any(|t| ty.starts_with(t)),
        // Declared types are affinities: anything that is not plainly text, bytes or a time.
        Backend::Sqlite => ![
            "char", "text", "clob", "blob", "real", "floa", "doub", "date", "time",
        ]
        .iter()
        .any(|t| ty.contains(t)),
    }
}

/// A column that may hold a time (the checks detect how): not a flag, id or document.
fn timeish(ty: &str) -> bool {
    !["bool", "uuid", "json", "bytea", "blob", "binary", "bit"]
        .iter()
        .any(|t| ty.contains(t))
}

/// A name anonsweep.toml can hold (letters, digits, underscores; one dot for a schema).
fn configurable(table: &str, columns: &[&str]) -> bool {
    ident::table(table, "init").is_ok() && columns.iter().all(|c| ident::column(c, "init").is_ok())
}

struct Table<'a> {
    id: &'a TableId,
    cols: &'a [CatalogColumn],
}

impl Table<'_> {
    fn name(&self) -> String {
        self.id.to_string()
    }

    fn find(
        &self,
        names: &[&str],
        pred: impl Fn(&CatalogColumn) -> bool,
    ) -> Option<&CatalogColumn> {
        names
            .iter()
            .find_map(|n| self.cols.iter().find(|c| norm(&c.name) == *n && pred(c)))
    }

    /// The columns named like `names`, in table order.
    fn all(&self, names: &[&str]) -> Vec<String> {
        self.cols
            .iter()
            .filter(|c| names.contains(&norm(&c.name).as_str()) && timeish(&c.ty))
            .map(|c| c.name.clone())
            .collect()
    }

    fn has(&self, n: &str) -> bool {
        self.cols.iter().any(|c| norm(&c.name) == n)
    }
}

/// A table that references the users table: by a foreign key, or by a column named like a user
/// id.
#[derive(Clone)]
struct Referrer {
    table: String,
    column: String,
    fk: Option<Fk>,
}

impl Referrer {
    fn how(&self, users: &str, id: &str) -> String {
        match &self.fk {
            Some(f) => format!(
                "{}.{} references {users}.{id} (foreign key {}, {})",
                self.table,
                self.column,
                f.name,
                f.on_delete.sql()
            ),
            None => format!(
                "{}.{} is named like a user id (no foreign key)",
                self.table, self.column
            ),
        }
    }
}

/// Reads the catalog and recognises the schema.
pub fn recognise(conn: &mut Conn) -> anyhow::Result<Recognition> {
    let backend = conn.backend();
    let all = fkgraph::all_columns(conn)?;
    let fks = fkgraph::load(conn)?;
    let tables: Vec<Table> = all
        .iter()
        .filter(|(t, _)| !t.name.starts_with("anonsweep_"))
        .map(|(id, cols)| Table { id, cols })
        .collect();
    let mut found: Vec<(Recognised, (bool, usize, bool))> = Vec::new();
    let mut seen = Vec::new();
    for u in &tables {
        for (rank, flag_name) in FLAG_NAMES.iter().enumerate() {
            let Some(flag) = u
                .cols
                .iter()
                .find(|c| norm(&c.name) == *flag_name && boolish(backend, &c.ty))
            else {
                continue;
            };
            match candidate(backend, u, flag, &tables, &fks) {
                Ok((r, by_fk)) => {
                    let named_users = matches!(norm(&u.id.name).as_str(), "user" | "users");
                    found.push((r, (by_fk, usize::MAX - rank, named_users)));
                }
                Err(why) => seen.push(why),
            }
            break;
        }
    }
    // A sessions table joined by a foreign key first, then the best flag name, then a table
    // called user(s).
    found.sort_by_key(|f| std::cmp::Reverse(f.1));
    let mut found = found.into_iter().map(|(r, _)| r);
    let Some(mut best) = found.next() else {
        return Ok(Recognition::NotFound { seen });
    };
    best.passed_over = found
        .map(|r| {
            format!(
                "{}.{} (a better match was found)",
                r.names.users_table, r.names.users_is_anonymous
            )
        })
        .chain(seen)
        .collect();
    Ok(Recognition::Found(Box::new(best)))
}

/// The tables referencing `u.id` whose names contain `word`, best first: an exact name, then by
/// foreign key, then the shorter name.
fn referrers(
    u: &Table,
    id: &str,
    word: &str,
    exact: &[&str],
    tables: &[Table],
    fks: &[Fk],
) -> Vec<(Referrer, usize)> {
    let user_cols = ["userid".to_string(), format!("{}id", norm(&u.id.name)), {
        let n = norm(&u.id.name);
        format!("{}id", n.strip_suffix('s').unwrap_or(&n))
    }];
    let mut out: Vec<(Referrer, usize)> = Vec::new();
    for t in tables {
        if t.id == u.id || !norm(&t.id.name).contains(word) {
            continue;
        }
        let by_fk = fks.iter().find(|f| {
            f.child == *t.id
                && f.parent == *u.id
                && !f.composite
                && f.parent_column.eq_ignore_ascii_case(id)
        });
        let r = match by_fk {
            Some(f) => Referrer {
                table: t.name(),
                column: f.column.clone(),
                fk: Some(f.clone()),
            },
            None => {
                // No foreign key (MySQL ignores inline REFERENCES; SQLite may have none): a
                // column named like a user id that no foreign key sends elsewhere.
                let Some(c) = t.cols.iter().find(|c| {
                    user_cols.contains(&norm(&c.name))
                        && !fks
                            .iter()
                            .any(|f| f.child == *t.id && f.column.eq_ignore_ascii_case(&c.name))
                }) else {
                    continue;
                };
                Referrer {
                    table: t.name(),
                    column: c.name.clone(),
                    fk: None,
                }
            }
        };
        let rank = if exact.contains(&norm(&t.id.name).as_str()) {
            0
        } else {
            1
        };
        let rank = rank * 2 + usize::from(r.fk.is_none());
        out.push((r, rank));
    }
    out.sort_by_key(|(r, rank)| (*rank, r.table.len()));
    out
}

/// One users table with its flag: the rest of the schema around it, or why not.
fn candidate(
    backend: Backend,
    u: &Table,
    flag: &CatalogColumn,
    tables: &[Table],
    fks: &[Fk],
) -> Result<(Recognised, bool), String> {
    let users = u.name();
    let id = u
        .cols
        .iter()
        .find(|c| c.primary_key)
        .or_else(|| u.cols.iter().find(|c| c.name.eq_ignore_ascii_case("id")))
        .ok_or_else(|| {
            format!(
                "table {users} has {} but no single-column primary key",
                flag.name
            )
        })?;
    let created = u
        .find(&CREATED_NAMES, |c| timeish(&c.ty))
        .ok_or_else(|| {
            format!(
                "table {users} has {} but no creation time column (created_at, createdAt, created, inserted_at, …)",
                flag.name
            )
        })?;
    let sessions = referrers(
        u,
        &id.name,
        "session",
        &["session", "sessions"],
        tables,
        fks,
    )
    .into_iter()
    .map(|(r, _)| r)
    .find_map(|r| {
        let t = tables.iter().find(|t| t.name() == r.table)?;
        let activity = t.all(&SESSION_ACTIVITY);
        (!activity.is_empty()).then_some((r, activity))
    });
    let Some((sessions, activity)) = sessions else {
        return Err(format!(
            "table {users} has {} but no sessions table references it (a table named like session with a user id column and a created_at / updated_at column)",
            flag.name
        ));
    };
    let accounts = referrers(
        u,
        &id.name,
        "account",
        &["account", "accounts"],
        tables,
        fks,
    )
    .into_iter()
    .map(|(r, _)| r)
    .find(|r| r.table != sessions.table);
    let users_activity = u.all(&USER_ACTIVITY);

    let mut names = SchemaNames {
        users_table: users.clone(),
        users_id: id.name.clone(),
        users_is_anonymous: flag.name.clone(),
        users_created_at: created.name.clone(),
        users_activity: users_activity.clone(),
        sessions_table: sessions.table.clone(),
        sessions_user_id: sessions.column.clone(),
        sessions_activity: activity.clone(),
        accounts_enabled: accounts.is_some(),
        accounts_table: String::new(),
        accounts_user_id: String::new(),
        tables: Vec::new(),
    };
    if let Some(a) = &accounts {
        names.accounts_table = a.table.clone();
        names.accounts_user_id = a.column.clone();
    }
    let mut every: Vec<&str> = vec![
        &names.users_id,
        &names.users_is_anonymous,
        &names.users_created_at,
        &names.sessions_user_id,
    ];
    every.extend(names.users_activity.iter().map(String::as_str));
    every.extend(names.sessions_activity.iter().map(String::as_str));
    if !configurable(&names.users_table, &every)
        || !configurable(&names.sessions_table, &[])
        || accounts
            .as_ref()
            .is_some_and(|a| !configurable(&a.table, &[&a.column]))
    {
        return Err(format!(
            "table {users} has {} but a name anonsweep.toml cannot hold (letters, digits and underscores only)",
            flag.name
        ));
    }

    let preset = preset::NAMES
        .iter()
        .copied()
        .find(|p| preset::lookup(p).is_some_and(|base| same_core(&base, &names)));
    let session_table = tables.iter().find(|t| t.name() == sessions.table);
    let flavour = if backend == Backend::Postgres && u.id.schema == "auth" && u.id.name == "users" {
        Flavour::Supabase
    } else if flag.name == "isAnonymous" {
        Flavour::BetterAuth
    } else if u.has("emailverified")
        && session_table.is_some_and(|s| s.has("token") && s.has("expiresat"))
    {
        Flavour::BetterAuthSnake
    } else if preset == Some("default") {
        Flavour::Default
    } else {
        Flavour::Custom
    };
    let users_why = format!(
        "found table {users} with {} ({}): id {}, creation time {}",
        flag.name,
        flavour.describe(),
        id.name,
        created.name
    );
    let sessions_why = format!(
        "found sessions table {}: {}; activity: {}",
        sessions.table,
        sessions.how(&users, &id.name),
        activity.join(", ")
    );
    let accounts_why = match &accounts {
        Some(a) => format!(
            "found accounts table {}: {}",
            a.table,
            a.how(&users, &id.name)
        ),
        None => format!("no accounts table (a table named like account referencing {users})"),
    };
    let users_activity_why = (!users_activity.is_empty()).then(|| {
        let cols: Vec<String> = users_activity
            .iter()
            .map(|c| format!("{users}.{c}"))
            .collect();
        format!(
            "{} counts as activity: a value at or after the cutoff keeps the user",
            cols.join(", ")
        )
    });
    Ok((
        Recognised {
            names,
            flavour,
            preset,
            users_why,
            sessions_why,
            accounts_why,
            users_activity_why,
            passed_over: Vec::new(),
        },
        sessions.fk.is_some(),
    ))
}

/// The names a preset is chosen by: the users table, its id, flag and creation time, and the
/// sessions table with its user column.
pub fn same_core(a: &SchemaNames, b: &SchemaNames) -> bool {
    a.users_table == b.users_table
        && a.users_id == b.users_id
        && a.users_is_anonymous == b.users_is_anonymous
        && a.users_created_at == b.users_created_at
        && a.sessions_table == b.sessions_table
        && a.sessions_user_id == b.sessions_user_id
}
