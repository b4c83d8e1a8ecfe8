//! The promise "what you review with `anonsweep plan` is exactly what `anonsweep run` executes",
//! checked against the database server's own statement log: every statement `run` (plain, with
//! `--audit-log`, with `--archive-dir`) and `plan` itself send that touches a configured table must
//! appear verbatim (modulo whitespace and parameter values) in the SQL `plan` prints.
//!
//! PostgreSQL: a private throwaway cluster (`initdb` + `pg_ctl` as the `postgres` OS user, its own
//! port and socket directory) with `log_statement = all`, so the shared server is never touched.
//! MySQL/MariaDB: the general query log (`log_output` gains `TABLE`) read for a dedicated user only,
//! serialised across processes with `GET_LOCK`; the previous global settings are restored.
//!
//! Matching: a logged statement is kept when it names a configured table as an identifier (quoted
//! or bare, case-insensitive; string literals, such as catalog look-ups by name, do not count).
//! Both sides are normalised: comments dropped, whitespace collapsed to one space, trailing `;`
//! removed, and every placeholder (`$1`, `?`) and literal value (quoted string, typed literal such
//! as `TIMESTAMP'…'`, number) replaced by `?`. The plan's output is cut into statements at `;` and
//! at blank lines, and a logged statement must equal one of them (a prefix is not enough).

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support::cluster::PgCluster;
use crate::support::{Conn, DbUrl};

const AS_OF: &str = "2026-11-26T00:00:00Z";
/// AS_OF minus the default 30 days.
const CUTOFF: &str = "2026-10-27 00:00:00";

/// The configured tables: the default preset's three and two `[[tables]]`.
const TABLES: &[&str] = &["users", "sessions", "accounts", "notes", "note_files"];

/// Batches of 3 over 7 eligible users: a first batch, two later ones, and the empty last pick.
const BATCH: u64 = 3;

/// `anonsweep.toml` for both `plan` and `run` (`plan` takes no `--batch-size`): the batch size and
/// the two application tables.
fn config() -> String {
    format!("batch_size = {BATCH}\n{TABLES_CONFIG}")
}

const TABLES_CONFIG: &str = r#"
[[tables]]
table = "note_files"
column = "note_id"
parent = "notes"

[[tables]]
table = "notes"
user_column = "user_id"
"#;

/// One user: id, `is_anonymous`, created_at, sessions (created_at, updated_at), accounts, notes
/// (files per note), and whether the rule deletes it. Every row id starts with its owner's id.
struct User {
    id: &'static str,
    anon: Option<bool>,
    created: &'static str,
    sessions: &'static [(&'static str, &'static str)],
    accounts: usize,
    notes: &'static [usize],
    deleted: bool,
}

const OLD: &str = "2026-01-01 00:00:00";
const OLD_SESSION: &str = "2026-02-01 00:00:00";
const RECENT: &str = "2026-11-20 00:00:00";

#[rustfmt::skip]
const USERS: &[User] = &[
    // eligible without sessions, accounts or notes
    User { id: "u01", anon: Some(true), created: OLD, sessions: &[], accounts: 0, notes: &[], deleted: true },
    // kept: a session with recent activity
    User { id: "u02", anon: Some(true), created: OLD, sessions: &[(OLD_SESSION, RECENT)], accounts: 1, notes: &[1], deleted: false },
    // eligible with everything
    User { id: "u03", anon: Some(true), created: OLD, sessions: &[(OLD_SESSION, OLD_SESSION)], accounts: 1, notes: &[2], deleted: true },
    // eligible: two old sessions, one updated a second before the cutoff
    User { id: "u04", anon: Some(true), created: OLD, sessions: &[(OLD_SESSION, OLD_SESSION), (OLD_SESSION, "2026-10-26 23:59:59")], accounts: 0, notes: &[], deleted: true },
    // kept: a session created exactly at the cutoff
    User { id: "u05", anon: Some(true), created: OLD, sessions: &[(CUTOFF, CUTOFF)], accounts: 0, notes: &[], deleted: false },
    // eligible: an account and a note without files, no session
    User { id: "u06", anon: Some(true), created: OLD, sessions: &[], accounts: 1, notes: &[0], deleted: true },
    // kept: registered
    User { id: "u07", anon: Some(false), created: OLD, sessions: &[(OLD_SESSION, OLD_SESSION)], accounts: 1, notes: &[1], deleted: false },
    // eligible: one old session
    User { id: "u08", anon: Some(true), created: OLD, sessions: &[(OLD_SESSION, OLD_SESSION)], accounts: 0, notes: &[], deleted: true },
    // kept: is_anonymous NULL means not anonymous
    User { id: "u09", anon: None, created: OLD, sessions: &[], accounts: 1, notes: &[], deleted: false },
    // eligible: two notes with a file each
    User { id: "u10", anon: Some(true), created: OLD, sessions: &[], accounts: 0, notes: &[1, 1], deleted: true },
    // kept: created recently
    User { id: "u11", anon: Some(true), created: RECENT, sessions: &[], accounts: 0, notes: &[], deleted: false },
    // eligible: created a second before the cutoff
    User { id: "u12", anon: Some(true), created: "2026-10-26 23:59:59", sessions: &[], accounts: 1, notes: &[], deleted: true },
    // kept: created exactly at the cutoff
    User { id: "u13", anon: Some(true), created: CUTOFF, sessions: &[], accounts: 0, notes: &[], deleted: false },
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Postgres,
    Mysql,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }

    fn ts(self, t: &str) -> String {
        match self {
            Backend::Postgres => format!("TIMESTAMPTZ '{t}+00'"),
            Backend::Mysql => format!("'{t}'"),
        }
    }

    fn text(self, expr: &str) -> String {
        match self {
            Backend::Postgres => format!("CAST({expr} AS TEXT)"),
            Backend::Mysql => format!("CAST({expr} AS CHAR)"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Servers whose statement log the test reads.
// ---------------------------------------------------------------------------------------------

/// A database server with its own statement log.
trait LoggedServer {
    fn backend(&self) -> Backend;
    /// Creates an empty, uniquely named database.
    fn create_db(&mut self) -> String;
    fn drop_db(&mut self, name: &str);
    /// The URL the test itself uses (setup, checks).
    fn admin_url(&self, db: &str) -> String;
    /// The URL `anonsweep` runs with.
    fn app_url(&self, db: &str) -> String;
    /// A position in the log: what is logged later comes after it.
    fn mark(&mut self) -> u64;
    /// Every statement anonsweep sent since `mark`, as the server logged it (a logged batch of
    /// several statements is split into its statements).
    fn statements_since(&mut self, mark: u64) -> Vec<String>;
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        nanos % 1_000_000
    )
}

fn connect(url: &str) -> Conn {
    Conn::connect(&DbUrl::parse(url).unwrap()).unwrap_or_else(|e| panic!("connect {url}: {e:#}"))
}

fn exec(backend: Backend, url: &str, sql: &str) {
    let mut c = connect(url);
    let stmts = match backend {
        Backend::Postgres => vec![sql.to_string()],
        // MySQL takes one statement at a time.
        Backend::Mysql => support::split_statements(sql),
    };
    for s in stmts {
        c.batch_execute(&s).unwrap_or_else(|e| panic!("{e}\n{s}"));
    }
}

fn texts(c: &mut Conn, sql: &str, bind: &[&str]) -> Vec<String> {
    c.texts(sql, bind)
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
        .into_iter()
        .map(|v| v.unwrap_or_default())
        .collect()
}

fn text(c: &mut Conn, sql: &str) -> String {
    texts(c, sql, &[]).into_iter().next().unwrap_or_default()
}

/// The throwaway cluster's statement log: every statement, each line prefixed as
/// [`strip_pg_prefix`] reads it.
const PG_LOG_CONF: &str = "logging_collector = off\n\
                           log_statement = 'all'\n\
                           log_line_prefix = '%m [%p] '\n\
                           log_timezone = 'UTC'\n";

impl LoggedServer for PgCluster {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn create_db(&mut self) -> String {
        let name = unique("anonsweep_sl");
        connect(&self.url("postgres"))
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        name
    }

    fn drop_db(&mut self, name: &str) {
        let _ = connect(&self.url("postgres"))
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }

    fn admin_url(&self, db: &str) -> String {
        self.url(db)
    }

    fn app_url(&self, db: &str) -> String {
        self.url(db)
    }

    fn mark(&mut self) -> u64 {
        std::fs::metadata(self.log_path()).map_or(0, |m| m.len())
    }

    fn statements_since(&mut self, mark: u64) -> Vec<String> {
        let bytes = std::fs::read(self.log_path()).expect("read the server log");
        let from = (mark as usize).min(bytes.len());
        pg_log_statements(&String::from_utf8_lossy(&bytes[from..]))
    }
}

/// `%m [%p] ` (`2026-12-01 20:33:23.291 UTC [25004] `): the rest of the line when it starts so.
fn strip_pg_prefix(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    let shape = b"dddd-dd-dd dd:dd:dd.ddd ";
    if b.len() < shape.len()
        || !shape.iter().zip(b).all(|(s, c)| match s {
            b'd' => c.is_ascii_digit(),
            s => s == c,
        })
    {
        return None;
    }
    let rest = &line[shape.len()..];
    let (_tz, rest) = rest.split_once(" [")?;
    let (pid, rest) = rest.split_once("] ")?;
    (!pid.is_empty() && pid.bytes().all(|c| c.is_ascii_digit())).then_some(rest)
}

/// The statements in a PostgreSQL log with `log_statement = all`: `LOG:  statement: …` (simple
/// protocol, possibly several statements) and `LOG:  execute <name>: …` (extended protocol, which
/// the pq driver diesel uses for every bound query). A line without the prefix continues the
/// previous entry; `DETAIL:  parameters: …`, errors and the like are not statements.
pub(crate) fn pg_log_statements(log: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    let mut in_entry = false;
    for line in log.lines() {
        if let Some(rest) = strip_pg_prefix(line) {
            entries.push(rest.to_string());
            in_entry = true;
        } else if in_entry {
            let last = entries.last_mut().unwrap();
            last.push('\n');
            last.push_str(line.strip_prefix('\t').unwrap_or(line));
        }
    }
    let mut out = Vec::new();
    for e in entries {
        let sql = if let Some(s) = e.strip_prefix("LOG:  statement: ") {
            s
        } else if let Some(r) = e.strip_prefix("LOG:  execute ") {
            match r.split_once(": ") {
                Some((_name, s)) => s,
                None => continue,
            }
        } else {
            continue;
        };
        out.extend(split_sql(sql));
    }
    out
}

/// MySQL/MariaDB's general query log, read from `mysql.general_log` for one dedicated user. Holds
/// a named lock for its lifetime, so two copies of this test never fight over the global settings;
/// on drop it restores them, drops the user and every database it created.
struct MysqlLog {
    admin: Option<Conn>,
    user: String,
    password: String,
    prev_general_log: Option<String>,
    prev_log_output: Option<String>,
    /// The log table was empty and unused before: empty it again afterwards.
    truncate_after: bool,
    dbs: Vec<String>,
}

const MYSQL_LOCK: &str = "anonsweep_statement_log_test";

impl MysqlLog {
    fn start() -> MysqlLog {
        let mut admin = connect(&format!("{}/mysql", support::mysql_server()));
        let got = text(
            &mut admin,
            &format!("SELECT CAST(GET_LOCK('{MYSQL_LOCK}', 600) AS CHAR) AS t"),
        );
        assert_eq!(
            got, "1",
            "GET_LOCK('{MYSQL_LOCK}') (another copy of this test runs?)"
        );
        let mut log = MysqlLog {
            admin: None,
            user: unique("anonsweep_log"),
            password: "anonsweep-statement-log".into(),
            prev_general_log: None,
            prev_log_output: None,
            truncate_after: false,
            dbs: Vec::new(),
        };
        let general_log = text(&mut admin, "SELECT CAST(@@global.general_log AS CHAR) AS t");
        let log_output = text(&mut admin, "SELECT CAST(@@global.log_output AS CHAR) AS t");
        let rows = text(
            &mut admin,
            "SELECT CAST(COUNT(*) AS CHAR) AS t FROM mysql.general_log",
        );
        // `ON`/`OFF` (MariaDB) or `1`/`0`.
        let was_on = general_log == "1" || general_log.eq_ignore_ascii_case("ON");
        log.truncate_after = !was_on && !log_output.contains("TABLE") && rows == "0";
        log.prev_general_log = Some(general_log);
        log.prev_log_output = Some(log_output.clone());
        log.admin = Some(admin);
        // From here on, drop restores whatever was changed.
        for host in ["%", "localhost"] {
            log.admin_exec(&format!(
                "CREATE USER '{}'@'{host}' IDENTIFIED BY '{}'",
                log.user, log.password
            ));
        }
        let output = if log_output.contains("TABLE") {
            log_output
        } else if log_output == "NONE" || log_output.is_empty() {
            "TABLE".to_string()
        } else {
            format!("{log_output},TABLE")
        };
        log.admin_exec(&format!("SET GLOBAL log_output = '{output}'"));
        log.admin_exec("SET GLOBAL general_log = 1");
        log
    }

    fn admin(&mut self) -> &mut Conn {
        self.admin.as_mut().unwrap()
    }

    fn admin_exec(&mut self, sql: &str) {
        self.admin()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }
}

impl Drop for MysqlLog {
    fn drop(&mut self) {
        let Some(mut admin) = self.admin.take() else {
            return;
        };
        if admin.batch_execute("SELECT 1").is_err() {
            match Conn::connect(
                &DbUrl::parse(&format!("{}/mysql", support::mysql_server())).unwrap(),
            ) {
                Ok(c) => admin = c,
                Err(_) => return,
            }
        }
        if let Some(v) = &self.prev_general_log {
            let _ = admin.batch_execute(&format!("SET GLOBAL general_log = {v}"));
        }
        if let Some(v) = &self.prev_log_output {
            let _ = admin.batch_execute(&format!("SET GLOBAL log_output = '{v}'"));
        }
        if self.truncate_after {
            let _ = admin.batch_execute("TRUNCATE TABLE mysql.general_log");
        }
        for host in ["%", "localhost"] {
            let _ = admin.batch_execute(&format!("DROP USER IF EXISTS '{}'@'{host}'", self.user));
        }
        for db in &self.dbs {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"));
        }
        let _ = admin.batch_execute(&format!("DO RELEASE_LOCK('{MYSQL_LOCK}')"));
    }
}

impl LoggedServer for MysqlLog {
    fn backend(&self) -> Backend {
        Backend::Mysql
    }

    fn create_db(&mut self) -> String {
        let name = unique("anonsweep_sl");
        self.dbs.push(name.clone());
        self.admin_exec(&format!("CREATE DATABASE {name}"));
        for host in ["%", "localhost"] {
            let grant = format!("GRANT ALL ON {name}.* TO '{}'@'{host}'", self.user);
            self.admin_exec(&grant);
        }
        name
    }

    fn drop_db(&mut self, name: &str) {
        self.admin_exec(&format!("DROP DATABASE IF EXISTS {name}"));
        self.dbs.retain(|d| d != name);
    }

    fn admin_url(&self, db: &str) -> String {
        format!("{}/{db}", support::mysql_server())
    }

    fn app_url(&self, db: &str) -> String {
        let mut u = url::Url::parse(&support::mysql_server()).unwrap();
        u.set_username(&self.user).unwrap();
        u.set_password(Some(&self.password)).unwrap();
        u.set_path(db);
        u.to_string()
    }

    /// Connection ids only grow: the newest connection of the user so far.
    fn mark(&mut self) -> u64 {
        let user = self.user.clone();
        texts(
            self.admin(),
            "SELECT CAST(COALESCE(MAX(thread_id), 0) AS CHAR) AS t FROM mysql.general_log \
             WHERE SUBSTRING_INDEX(user_host, '[', 1) = ?",
            &[&user],
        )[0]
        .parse()
        .unwrap()
    }

    /// `Query` rows hold the text as sent, `Prepare` rows the statement with its `?`s, and
    /// `Execute` rows the same with the values written in.
    fn statements_since(&mut self, mark: u64) -> Vec<String> {
        let user = self.user.clone();
        let mark = mark.to_string();
        texts(
            self.admin(),
            "SELECT CAST(argument AS CHAR) AS t FROM mysql.general_log \
             WHERE SUBSTRING_INDEX(user_host, '[', 1) = ? AND thread_id > CAST(? AS UNSIGNED) \
               AND command_type IN ('Query', 'Prepare', 'Execute')",
            &[&user, &mark],
        )
        .iter()
        .flat_map(|s| split_sql(s))
        .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// SQL text: tokens, normal form, statements.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum Tok {
    /// A bare word: keyword or identifier.
    Word(String),
    /// A quoted identifier (`"x"`, `` `x` ``): raw text and the name inside.
    Ident(String, String),
    /// A placeholder or literal value.
    Value,
    Punct(char),
}

/// Words that, written right before a quote, make a typed literal (`TIMESTAMP'…'`, `E'…'`).
fn literal_prefix(word: &str) -> bool {
    let w = word.to_ascii_uppercase();
    matches!(
        w.as_str(),
        "TIMESTAMP" | "DATE" | "TIME" | "E" | "N" | "X" | "B" | "U&"
    ) || w.starts_with('_')
}

/// Tokens of `sql`, each with whether whitespace (or a comment) came before it.
fn tokens(sql: &str) -> Vec<(bool, Tok)> {
    let c: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut space = false;
    let mut i = 0;
    // Index just past the quoted run starting at `i` (doubled quotes stay inside).
    let quoted = |mut i: usize, q: char| -> usize {
        i += 1;
        while i < c.len() {
            if c[i] == q {
                if c.get(i + 1) == Some(&q) {
                    i += 2;
                    continue;
                }
                return i + 1;
            }
            i += 1;
        }
        c.len()
    };
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        if ch == '-' && c.get(i + 1) == Some(&'-') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
            space = true;
            continue;
        }
        let tok = if ch == '\'' {
            i = quoted(i, '\'');
            Tok::Value
        } else if ch == '"' || ch == '`' {
            let end = quoted(i, ch);
            let raw: String = c[i..end].iter().collect();
            let inner = raw
                .trim_start_matches(ch)
                .trim_end_matches(ch)
                .replace(&format!("{ch}{ch}"), &ch.to_string());
            i = end;
            Tok::Ident(raw, inner)
        } else if ch == '?' {
            i += 1;
            Tok::Value
        } else if ch == '$' && c.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
            i += 1;
            while i < c.len() && c[i].is_ascii_digit() {
                i += 1;
            }
            Tok::Value
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            Tok::Value
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '$') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            if c.get(i) == Some(&'\'') && literal_prefix(&word) {
                i = quoted(i, '\'');
                Tok::Value
            } else {
                Tok::Word(word)
            }
        } else {
            i += 1;
            Tok::Punct(ch)
        };
        out.push((space, tok));
        space = false;
    }
    out
}

/// The normal form: whitespace collapsed to one space, no comments, no trailing `;`, every
/// placeholder and literal value written `?`.
pub(crate) fn normalise(sql: &str) -> String {
    let mut toks = tokens(sql);
    while matches!(toks.last(), Some((_, Tok::Punct(';')))) {
        toks.pop();
    }
    let mut out = String::new();
    for (space, t) in toks {
        if space && !out.is_empty() {
            out.push(' ');
        }
        match t {
            Tok::Word(w) => out.push_str(&w),
            Tok::Ident(raw, _) => out.push_str(&raw),
            Tok::Value => out.push('?'),
            Tok::Punct(p) => out.push(p),
        }
    }
    out
}

/// The configured tables `sql` names as identifiers (not inside string literals).
fn tables_in(sql: &str) -> BTreeSet<&'static str> {
    tokens(sql)
        .into_iter()
        .filter_map(|(_, t)| match t {
            Tok::Word(w) | Tok::Ident(_, w) => {
                TABLES.iter().copied().find(|t| t.eq_ignore_ascii_case(&w))
            }
            _ => None,
        })
        .collect()
}

/// The table a `DELETE` removes rows from: the name after its first `FROM` (PostgreSQL
/// `DELETE FROM "t" …`, MySQL `DELETE x FROM \`t\` AS x …`), schema qualification dropped.
fn delete_target(sql: &str) -> Option<String> {
    let toks = tokens(sql);
    let word = |t: &Tok, w: &str| matches!(t, Tok::Word(x) if x.eq_ignore_ascii_case(w));
    if !word(&toks.first()?.1, "DELETE") {
        return None;
    }
    let from = toks.iter().position(|(_, t)| word(t, "FROM"))?;
    let mut name = None;
    let mut i = from + 1;
    while let Some((_, t)) = toks.get(i) {
        match t {
            Tok::Word(w) | Tok::Ident(_, w) => name = Some(w.clone()),
            _ => break,
        }
        if toks.get(i + 1).map(|(_, t)| t) == Some(&Tok::Punct('.')) {
            i += 2;
        } else {
            break;
        }
    }
    name
}

fn first_word(sql: &str) -> String {
    match tokens(sql).into_iter().next() {
        Some((_, Tok::Word(w))) => w.to_ascii_uppercase(),
        _ => String::new(),
    }
}

/// Splits SQL text at `;` outside quotes and comments; comments are dropped.
fn split_sql(sql: &str) -> Vec<String> {
    let c: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        match quote {
            Some(q) => {
                cur.push(ch);
                if ch == q {
                    quote = None;
                }
            }
            None => match ch {
                '\'' | '"' | '`' => {
                    quote = Some(ch);
                    cur.push(ch);
                }
                '-' if c.get(i + 1) == Some(&'-') => {
                    while i < c.len() && c[i] != '\n' {
                        i += 1;
                    }
                    cur.push('\n');
                    continue;
                }
                ';' => {
                    if !cur.trim().is_empty() {
                        out.push(cur.trim().to_string());
                    }
                    cur.clear();
                }
                _ => cur.push(ch),
            },
        }
        i += 1;
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// The statements `plan` prints, normalised: its output cut at blank lines (so the summary
/// above the SQL, and any stray quote in it, stays apart) and then at `;`.
/// The statements of the plan's "When a connection opens" section, normalised.
fn connect_settings(stdout: &str) -> Vec<String> {
    let mut lines = stdout
        .lines()
        .skip_while(|l| !l.starts_with("-- == When a connection opens"))
        .skip(1)
        .take_while(|l| !l.starts_with("-- =="));
    let section: String = lines.by_ref().fold(String::new(), |mut acc, l| {
        acc.push_str(l);
        acc.push('\n');
        acc
    });
    split_sql(&section).iter().map(|s| normalise(s)).collect()
}

pub(crate) fn plan_statements(stdout: &str) -> BTreeSet<String> {
    let mut blocks = vec![String::new()];
    for line in stdout.lines() {
        if line.trim().is_empty() {
            blocks.push(String::new());
        } else {
            let b = blocks.last_mut().unwrap();
            b.push_str(line);
            b.push('\n');
        }
    }
    blocks
        .iter()
        .flat_map(|b| split_sql(b))
        .map(|s| normalise(&s))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The population and its checks.
// ---------------------------------------------------------------------------------------------

fn schema(backend: Backend) -> String {
    let (id, ts) = match backend {
        Backend::Postgres => ("TEXT", "TIMESTAMPTZ"),
        Backend::Mysql => ("VARCHAR(64)", "DATETIME(3)"),
    };
    // Foreign keys without cascade: the delete order matters.
    format!(
        "CREATE TABLE users (id {id} PRIMARY KEY, is_anonymous BOOLEAN, created_at {ts});
         CREATE TABLE sessions (id {id} PRIMARY KEY, user_id {id} NOT NULL, created_at {ts}, updated_at {ts}, FOREIGN KEY (user_id) REFERENCES users (id));
         CREATE INDEX sessions_user_idx ON sessions (user_id);
         CREATE TABLE accounts (id {id} PRIMARY KEY, user_id {id} NOT NULL, provider TEXT, FOREIGN KEY (user_id) REFERENCES users (id));
         CREATE TABLE notes (id {id} PRIMARY KEY, user_id {id} NOT NULL, body TEXT, FOREIGN KEY (user_id) REFERENCES users (id));
         CREATE TABLE note_files (id {id} PRIMARY KEY, note_id {id} NOT NULL, path TEXT, FOREIGN KEY (note_id) REFERENCES notes (id));"
    )
}

/// Every row of the population: (table, row id).
fn rows() -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    for u in USERS {
        v.push(("users", u.id.to_string()));
        for s in 1..=u.sessions.len() {
            v.push(("sessions", format!("{}-s{s}", u.id)));
        }
        for a in 1..=u.accounts {
            v.push(("accounts", format!("{}-a{a}", u.id)));
        }
        for (n, files) in u.notes.iter().enumerate() {
            v.push(("notes", format!("{}-n{}", u.id, n + 1)));
            for f in 1..=*files {
                v.push(("note_files", format!("{}-n{}-f{f}", u.id, n + 1)));
            }
        }
    }
    v
}

fn setup(backend: Backend, url: &str) {
    let mut sql = schema(backend);
    sql.push('\n');
    for u in USERS {
        let anon = match u.anon {
            Some(true) => "TRUE",
            Some(false) => "FALSE",
            None => "NULL",
        };
        sql += &format!(
            "INSERT INTO users VALUES ('{}', {anon}, {});\n",
            u.id,
            backend.ts(u.created)
        );
        for (i, (c, up)) in u.sessions.iter().enumerate() {
            sql += &format!(
                "INSERT INTO sessions VALUES ('{}-s{}', '{}', {}, {});\n",
                u.id,
                i + 1,
                u.id,
                backend.ts(c),
                backend.ts(up)
            );
        }
        for a in 1..=u.accounts {
            sql += &format!(
                "INSERT INTO accounts VALUES ('{0}-a{a}', '{0}', 'anonymous');\n",
                u.id
            );
        }
        for (n, files) in u.notes.iter().enumerate() {
            let note = format!("{}-n{}", u.id, n + 1);
            sql += &format!(
                "INSERT INTO notes VALUES ('{note}', '{}', 'it''s a note');\n",
                u.id
            );
            for f in 1..=*files {
                sql += &format!(
                    "INSERT INTO note_files VALUES ('{note}-f{f}', '{note}', '/files/{f}');\n"
                );
            }
        }
    }
    exec(backend, url, &sql);
}

fn deleted_ids() -> BTreeSet<String> {
    USERS
        .iter()
        .filter(|u| u.deleted)
        .map(|u| u.id.to_string())
        .collect()
}

/// The users the rule deletes are gone with every row of theirs; everything else is still there.
fn check_rows(backend: Backend, url: &str, label: &str) {
    let deleted = deleted_ids();
    let mut c = connect(url);
    for table in TABLES {
        let mut want: Vec<String> = rows()
            .into_iter()
            .filter(|(t, id)| t == table && !deleted.contains(&id[..3]))
            .map(|(_, id)| id)
            .collect();
        want.sort();
        let mut got = texts(
            &mut c,
            &format!("SELECT {} AS t FROM {table}", backend.text("id")),
            &[],
        );
        got.sort();
        assert_eq!(got, want, "{label}: rows left in {table}");
    }
}

fn check_audit_log(path: &Path, label: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{label}: {e}"));
    let users: BTreeSet<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["user_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(users, deleted_ids(), "{label}: users in the audit log");
}

fn check_archive(dir: &Path, label: &str) {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{label}: one archive file: {files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let users: BTreeSet<String> = text
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["kind"] == "user").then(|| v["user_id"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(users, deleted_ids(), "{label}: users in the archive");
}

// ---------------------------------------------------------------------------------------------
// The check.
// ---------------------------------------------------------------------------------------------

/// Logged statements that touch a configured table, de-duplicated by normal form, in log order.
fn touching(logged: &[String]) -> Vec<(String, String)> {
    let mut seen = BTreeSet::new();
    logged
        .iter()
        .filter(|s| !tables_in(s).is_empty())
        .filter_map(|s| {
            let n = normalise(s);
            seen.insert(n.clone()).then(|| (n, s.clone()))
        })
        .collect()
}

#[derive(Default)]
struct Report {
    /// (section, logged statements missing from the plan, in full)
    missing: Vec<(String, Vec<String>)>,
    /// (section, logged statements found in the plan)
    found: Vec<(String, Vec<String>)>,
    /// The log capture did not see what every run must execute.
    problems: Vec<String>,
}

impl Report {
    fn compare(&mut self, section: &str, logged: &[(String, String)], shown: &BTreeSet<String>) {
        let (found, missing): (Vec<_>, Vec<_>) =
            logged.iter().partition(|(n, _)| shown.contains(n));
        self.missing.push((
            section.to_string(),
            missing.into_iter().map(|(_, s)| s.clone()).collect(),
        ));
        self.found.push((
            section.to_string(),
            found.into_iter().map(|(_, s)| s.clone()).collect(),
        ));
    }

    fn render(&self, backend: Backend) -> String {
        let total: usize = self.missing.iter().map(|(_, v)| v.len()).sum();
        let mut out = format!(
            "statement log ({}): {total} statement(s) the server logged touch a configured table \
             ({}) but are not in the output of `anonsweep plan` for the same database:\n",
            backend.name(),
            TABLES.join(", ")
        );
        for (section, stmts) in &self.missing {
            out += &format!("\n== {section}: {} missing\n", stmts.len());
            for (i, s) in stmts.iter().enumerate() {
                out += &format!("\n-- {section}, missing #{}\n{s};\n", i + 1);
            }
        }
        for p in &self.problems {
            out += &format!("\nPROBLEM: {p}\n");
        }
        out += "\nFound in the plan (the matcher's evidence):\n";
        for (section, stmts) in &self.found {
            out += &format!("  {section}: {} statement(s)\n", stmts.len());
            for s in stmts {
                let one: String = normalise(s).chars().take(110).collect();
                out += &format!("    - {one}\n");
            }
        }
        out
    }

    fn failed(&self) -> bool {
        !self.problems.is_empty() || self.missing.iter().any(|(_, v)| !v.is_empty())
    }
}

struct Variant {
    name: &'static str,
    audit: bool,
    archive: bool,
    /// `--workers 2` for `plan` and `run` alike.
    workers: bool,
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "run",
        audit: false,
        archive: false,
        workers: false,
    },
    Variant {
        name: "run --audit-log",
        audit: true,
        archive: false,
        workers: false,
    },
    Variant {
        name: "run --archive-dir",
        audit: false,
        archive: true,
        workers: false,
    },
];

/// With workers: the plain run first (the others' own reads are compared with it).
const WORKER_VARIANTS: &[Variant] = &[
    Variant {
        name: "run --workers 2",
        audit: false,
        archive: false,
        workers: true,
    },
    Variant {
        name: "run --workers 2 --audit-log --archive-dir",
        audit: true,
        archive: true,
        workers: true,
    },
];

fn check_statement_log(server: &mut dyn LoggedServer, variants: &[Variant]) {
    let backend = server.backend();
    let mut report = Report::default();
    let mut plain_run: BTreeSet<String> = BTreeSet::new();
    let mut plan_missing: Vec<(String, String)> = Vec::new();
    let mut plan_found: Vec<(String, String)> = Vec::new();
    for v in variants {
        let db = server.create_db();
        setup(backend, &server.admin_url(&db));
        let scratch = support::scratch();
        let config_file = scratch.path().join("anonsweep.toml");
        std::fs::write(&config_file, config()).unwrap();
        let config_file = config_file.to_str().unwrap().to_string();
        let url = server.app_url(&db);
        let mut common = vec![
            "--config",
            config_file.as_str(),
            "--as-of",
            AS_OF,
            "--database-url",
            url.as_str(),
        ];
        if v.workers {
            common.extend(["--workers", "2"]);
        }

        let mark = server.mark();
        // With --list: its page queries (first and later pages, of the batch size) are the
        // plan's own reads too.
        let list = scratch.path().join("eligible.csv");
        let list = list.to_str().unwrap().to_string();
        let mut args = vec!["plan", "--list", list.as_str()];
        args.extend(&common);
        let plan = support::anonsweep_in(scratch.path(), &args, &[]);
        assert_eq!(plan.code, 0, "{}: plan: {}", v.name, plan.all());
        let plan_log = touching(&server.statements_since(mark));
        let shown = plan_statements(&plan.stdout);

        let audit = scratch.path().join("audit.jsonl");
        let archive = scratch.path().join("archive");
        std::fs::create_dir(&archive).unwrap();
        // Fixed batches (no time target): their number is known.
        let mut args = vec!["run", "-q", "--format", "json", "--target-batch-ms", "0"];
        let (audit_s, archive_s) = (
            audit.to_str().unwrap().to_string(),
            archive.to_str().unwrap().to_string(),
        );
        if v.audit {
            args.extend(["--audit-log", audit_s.as_str()]);
        }
        if v.archive {
            args.extend(["--archive-dir", archive_s.as_str()]);
        }
        args.extend(&common);
        let mark = server.mark();
        let run = support::anonsweep_in(scratch.path(), &args, &[]);
        assert_eq!(run.code, 0, "{}: {}", v.name, run.all());
        let run_all = server.statements_since(mark);
        let run_log = touching(&run_all);

        // Each connection's settings, listed first by the plan, are what the server saw.
        let connect = connect_settings(&plan.stdout);
        assert!(
            !connect.is_empty(),
            "{}: the plan lists no connection settings:\n{}",
            v.name,
            plan.stdout
        );
        let sent: BTreeSet<String> = run_all.iter().map(|s| normalise(s)).collect();
        for c in &connect {
            assert!(
                sent.contains(c),
                "{}: the plan's connection setting {c:?} is not in the server log",
                v.name
            );
        }

        // Not vacuous: the run deleted exactly the eligible users, in a first and later batches.
        let summary: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{}: summary is not JSON ({e}): {}", v.name, run.all()));
        let eligible = deleted_ids().len() as u64;
        assert_eq!(summary["deleted_users"], eligible, "{}: {summary}", v.name);
        assert_eq!(
            summary["batches"],
            eligible.div_ceil(BATCH),
            "{}: {summary}",
            v.name
        );
        assert_eq!(summary["retries"], 0, "{}: {summary}", v.name);
        check_rows(backend, &server.admin_url(&db), v.name);
        if v.audit {
            check_audit_log(&audit, v.name);
        }
        if v.archive {
            check_archive(&archive, v.name);
        }

        // What every run executes, as the log shows it.
        let picks = run_log
            .iter()
            .filter(|(_, s)| first_word(s) == "INSERT" && tables_in(s).contains("users"))
            .filter(|(n, _)| n.contains("SELECT"))
            .count();
        if picks == 0 {
            report.problems.push(format!(
                "{}: no pick (INSERT … SELECT from users) in the server log",
                v.name
            ));
        }
        // With workers: two connections took batches (the bounded picks run only after a
        // failed batch, which this population has none of).
        if v.workers {
            assert_eq!(summary["workers"], 2, "{}: {summary}", v.name);
        }
        for table in TABLES {
            if !run_log
                .iter()
                .any(|(_, s)| delete_target(s).is_some_and(|t| t.eq_ignore_ascii_case(table)))
            {
                report.problems.push(format!(
                    "{}: no DELETE from {table} in the server log",
                    v.name
                ));
            }
        }
        // The variant's own reads: statements this run sent that the plain run did not.
        let own: Vec<&String> = run_log
            .iter()
            .filter(|(n, _)| !plain_run.contains(n))
            .filter(|(_, s)| first_word(s) == "SELECT")
            .map(|(_, s)| s)
            .collect();
        let need: &[&str] = if v.archive {
            TABLES
        } else if v.audit {
            &["users"]
        } else {
            &[]
        };
        for table in need {
            if !own.iter().any(|s| tables_in(s).contains(table)) {
                report.problems.push(format!(
                    "{}: no read of {table} of its own (compared with the plain run) in the server log",
                    v.name
                ));
            }
        }
        if plan_log.is_empty() {
            report.problems.push(format!(
                "{}: plan sent no statement on a configured table",
                v.name
            ));
        }

        if !v.audit && !v.archive {
            plain_run = run_log.iter().map(|(n, _)| n.clone()).collect();
        }
        report.compare(v.name, &run_log, &shown);
        for (n, s) in plan_log {
            let list = if shown.contains(&n) {
                &mut plan_found
            } else {
                &mut plan_missing
            };
            if !list.iter().any(|(m, _)| *m == n) {
                list.push((n, s));
            }
        }
        server.drop_db(&db);
    }
    report.missing.push((
        "plan (its own reads)".into(),
        plan_missing.into_iter().map(|(_, s)| s).collect(),
    ));
    report.found.push((
        "plan (its own reads)".into(),
        plan_found.into_iter().map(|(_, s)| s).collect(),
    ));
    let text = report.render(backend);
    assert!(!report.failed(), "{text}");
    eprintln!("{text}");
}

#[test]
fn plan_shows_every_statement_run_executes_postgres() {
    let mut cluster = PgCluster::start("anonsweep-stmtlog-", PG_LOG_CONF);
    check_statement_log(&mut cluster, VARIANTS);
}

#[test]
fn plan_shows_every_statement_run_executes_mysql() {
    let mut log = MysqlLog::start();
    check_statement_log(&mut log, VARIANTS);
}

#[test]
fn plan_shows_every_statement_run_with_workers_executes_postgres() {
    let mut cluster = PgCluster::start("anonsweep-stmtlog-", PG_LOG_CONF);
    check_statement_log(&mut cluster, WORKER_VARIANTS);
}

#[test]
fn plan_shows_every_statement_run_with_workers_executes_mysql() {
    let mut log = MysqlLog::start();
    check_statement_log(&mut log, WORKER_VARIANTS);
}

/// The matcher itself: equal up to whitespace, comments and values; never a prefix; identifiers
/// and keywords exact; table references outside string literals only.
#[test]
fn statement_matcher_normalises_whitespace_and_values_only() {
    let plan = "anonsweep plan: it's a summary with a stray quote\n  eligible 3\n\n\
                -- 1. count\nSELECT COUNT(*) AS n FROM \"users\" AS u\nWHERE u.\"is_anonymous\"\n  \
                AND u.\"created_at\" < $1;\n-- 2. delete\nDELETE x FROM `users` AS x -- inline\n\
                JOIN anonsweep_batch AS b ON x.`id` = b.id LIMIT 10;\n";
    let shown = plan_statements(plan);
    let has = |s: &str| shown.contains(&normalise(s));
    assert!(has(
        "SELECT COUNT(*) AS n FROM \"users\" AS u\n\tWHERE u.\"is_anonymous\" AND u.\"created_at\" < '2026-10-27 00:00:00+00'"
    ));
    assert!(has(
        "SELECT COUNT(*)  AS n FROM \"users\" AS u WHERE u.\"is_anonymous\" AND u.\"created_at\" < TIMESTAMP'2026-10-27 00:00:00';"
    ));
    assert!(has(
        "DELETE x FROM `users` AS x JOIN anonsweep_batch AS b ON x.`id` = b.id LIMIT ?"
    ));
    // A prefix of a shown statement is not shown.
    assert!(!has(
        "SELECT COUNT(*) AS n FROM \"users\" AS u WHERE u.\"is_anonymous\""
    ));
    // Other identifiers, keywords or punctuation are not the same statement.
    assert!(!has(
        "SELECT COUNT(*) AS n FROM \"sessions\" AS u WHERE u.\"is_anonymous\" AND u.\"created_at\" < $1"
    ));
    assert!(!has(
        "SELECT COUNT(*) AS n FROM \"users\" AS u WHERE u.\"is_anonymous\" AND u.\"created_at\" <= $1"
    ));
    assert!(!has(
        "SELECT COUNT(*) AS n FROM \"users\" AS u WHERE u.\"is_anonymous\" OR u.\"created_at\" < $1"
    ));
    assert_eq!(normalise("x.n1 = 1 AND y = $12"), "x.n1 = ? AND y = ?");

    assert_eq!(
        tables_in("SELECT 1 FROM pg_temp.anonsweep_batch b JOIN \"Users\" u ON TRUE"),
        BTreeSet::from(["users"])
    );
    assert!(
        tables_in("SELECT 1 FROM information_schema.tables WHERE table_name = 'users'").is_empty()
    );
    assert!(tables_in("CREATE INDEX anonsweep_users_created_at_anon ON t (x)").is_empty());
    assert_eq!(
        tables_in("DELETE FROM note_files WHERE note_id IN (SELECT id FROM `notes`)"),
        BTreeSet::from(["note_files", "notes"])
    );
    assert_eq!(
        delete_target("DELETE FROM \"public\".\"notes\" WHERE x"),
        Some("notes".into())
    );
    assert_eq!(
        delete_target("DELETE x FROM `sessions` AS x JOIN b"),
        Some("sessions".into())
    );
    assert_eq!(
        delete_target("DELETE FROM anonsweep_batch WHERE NOT EXISTS (SELECT 1 FROM \"users\")"),
        Some("anonsweep_batch".into())
    );

    let log = "2026-12-01 20:33:23.312 UTC [25004] LOG:  execute <unnamed>: INSERT INTO b (id)\n\
               \tSELECT u.\"id\"\n\
               \tFROM \"users\" AS u\n\
               2026-12-01 20:33:23.312 UTC [25004] DETAIL:  parameters: $1 = '2026-10-27 00:00:00+00'\n\
               2026-12-01 20:33:23.313 UTC [25004] LOG:  statement: BEGIN; SELECT 1 FROM \"accounts\"\n\
               2026-12-01 20:33:23.313 UTC [25004] LOG:  execute S_1: DELETE FROM \"users\"\n\
               2026-12-01 20:33:23.314 UTC [25004] LOG:  checkpoint starting: time\n";
    assert_eq!(
        pg_log_statements(log),
        vec![
            "INSERT INTO b (id)\nSELECT u.\"id\"\nFROM \"users\" AS u".to_string(),
            "BEGIN".into(),
            "SELECT 1 FROM \"accounts\"".into(),
            "DELETE FROM \"users\"".into(),
        ]
    );
}
