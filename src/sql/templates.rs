//! The askama templates under `templates/`, one struct each. SQL is never HTML-escaped.

use askama::Template;

/// A compared timestamp column and the cutoff it is compared with.
pub struct TimeCmp {
    pub expr: String,
    pub cutoff: String,
    /// The earliest plausible time, as a literal in the column's format. An earlier value is
    /// read in doubt (epoch seconds read as milliseconds land in 1970; `-infinity`; MySQL's
    /// zero date), so it counts as activity. `None` for SQLite text (see `unreadable`).
    pub earliest: Option<String>,
    /// SQLite text: the column itself. Only a text value shaped like a date (`YYYY-` first)
    /// that `julianday` reads as before the cutoff is "no activity"; anything else that is not
    /// NULL counts as activity (a number, a blob, a number stored as text, garbage).
    pub unreadable: Option<String>,
}

/// SQLite text: a column compared as text with the cutoff's text bound, the rule's quick test
/// (see [`Eligible::quick`]).
pub struct TextCmp {
    pub column: String,
    pub cutoff: String,
}

impl TimeCmp {
    /// The comparison of column `col` (qualified, quoted), read as `kind`, with `cutoff`.
    pub fn new(
        kind: crate::sql::dialect::TimeKind,
        backend: crate::sql::dialect::Backend,
        col: &str,
        cutoff: String,
    ) -> TimeCmp {
        TimeCmp {
            expr: kind.column_expr(backend, col),
            cutoff,
            earliest: (!kind.may_not_read(backend)).then(|| kind.earliest(backend)),
            unreadable: kind.may_not_read(backend).then(|| col.to_string()),
        }
    }
}

/// "The user is anonymous": one predicate for the rule and the shipped partial index, so the
/// planner can match the two. PostgreSQL's bare boolean; `= 1` for integer flags and MySQL's
/// TINYINT(1); SQLite accepts 1 and 'true'.
#[derive(Template)]
#[template(path = "rule/anonymous.sql", escape = "none")]
pub struct Anonymous<'a> {
    pub backend: &'a str,
    pub column: &'a str,
    pub is_int: bool,
}

/// A users activity column: its quoted name, the compared expression, the cutoff.
pub struct UserActivity {
    pub column: String,
    pub expr: String,
    pub cutoff: String,
    /// As in [`TimeCmp`]: an earlier value is in doubt, and keeps the user.
    pub earliest: String,
}

/// The rows of a `[[keep_if]]` guard's table that keep user `u`.
#[derive(Template)]
#[template(path = "fragments/guard_rows.sql", escape = "none")]
pub struct GuardRows<'a> {
    pub table: &'a str,
    pub alias: &'a str,
    pub user_column: &'a str,
    /// `u.<id>`, as text when the guard compares as text.
    pub user_id: &'a str,
    /// `<column> <op> <literal>` (qualified with the alias in the template), or empty.
    pub condition: &'a str,
}

/// Users the rule without guards would delete that one guard keeps (`plan`'s count).
#[derive(Template)]
#[template(path = "stats/count_guarded.sql", escape = "none")]
pub struct CountGuarded<'a> {
    pub users: &'a str,
    /// The users index hint (`UsersAccess::hint`), or empty.
    pub hint: &'a str,
    pub eligible: &'a str,
    pub guard: &'a str,
}

#[derive(Template)]
#[template(path = "rule/eligible.sql", escape = "none")]
pub struct Eligible<'a> {
    pub anonymous: &'a str,
    pub created_expr: &'a str,
    pub created_cutoff: &'a str,
    /// The earliest plausible creation time: an earlier one is in doubt and keeps the user.
    pub created_earliest: &'a str,
    /// SQLite text columns: the column, whose value must be text (a number is in doubt).
    pub created_text: Option<&'a str>,
    pub sessions: &'a str,
    pub session_user: &'a str,
    pub user_id: &'a str,
    pub activity: &'a [TimeCmp],
    /// False when the sessions live elsewhere (`sessions.source = "none"`).
    pub sessions_show_activity: bool,
    /// The users' own activity columns: NULL is no activity; a value at or after the cutoff
    /// (or one that cannot be read) keeps the user.
    pub users_activity: &'a [UserActivity],
    /// `[[keep_if]]` guards, each the rows that keep a user (`fragments/guard_rows.sql`).
    pub guards: &'a [String],
    /// Redundant keyset bound for the sessions probe (implied by the user's own bound), so a
    /// merge join starts at the cursor instead of the start of the sessions index.
    pub session_after: &'a str,
    /// SQLite text: the created column (with its `+` when unindexed) compared as text with the
    /// cutoff's text bound (`dialect::text_bound`): a user whose text sorts at or after it was
    /// created after the cutoff, or at a time in doubt; kept either way.
    pub created_quick: Option<TextCmp>,
    /// SQLite text activity columns compared as text with the cutoff's text bound. A session
    /// whose text sorts at or after it is activity, or in doubt, so it keeps the user before
    /// any value is parsed; the full reading of the values (and of the created time) runs only
    /// for the users this test leaves. The answer is the full rule's, only sooner.
    pub quick: &'a [TextCmp],
    /// PostgreSQL picks when the ids grow with creation time (`UsersAccess::ProbeEach`): the
    /// sessions probe fenced with `OFFSET 0` (no change to its answer), so each picked user's
    /// sessions are read through the index instead of a merge join that walks the sessions
    /// after the cursor up to the next recent one, which such tables keep at their end.
    pub probe_each: bool,
}

/// The batch table, first in each batch transaction; it never outlives the transaction.
#[derive(Template)]
#[template(path = "batch/create_temp.sql", escape = "none")]
pub struct CreateBatch<'a> {
    /// PostgreSQL: dropped by the commit or rollback itself.
    pub on_commit_drop: bool,
    pub user_id: &'a str,
    pub users: &'a str,
}

/// Drops the batch table: last in the transaction (MySQL, SQLite), or after a rollback
/// (`if_exists`; MySQL keeps a temporary table across a rollback).
#[derive(Template)]
#[template(path = "batch/drop_batch.sql", escape = "none")]
pub struct DropBatch<'a> {
    pub mysql: bool,
    pub temp: &'a str,
    pub if_exists: bool,
}

/// The batch's last id as text: the keyset cursor the client binds in the next pick.
#[derive(Template)]
#[template(path = "batch/last_id.sql", escape = "none")]
pub struct LastId<'a> {
    pub temp: &'a str,
    pub id_text: &'a str,
    /// MySQL binary ids: as hex.
    pub hex: bool,
}

/// The server process serving this connection (PostgreSQL): how a transaction-mode pooler shows.
#[derive(Template)]
#[template(path = "batch/backend_pid.sql", escape = "none")]
pub struct BackendPid;

/// PostgreSQL, in each batch: UTC for this transaction (text times and the audit log's text).
#[derive(Template)]
#[template(path = "batch/time_zone.sql", escape = "none")]
pub struct BatchTimeZone;

#[derive(Template)]
#[template(path = "batch/pick.sql", escape = "none")]
pub struct Pick<'a> {
    pub temp: &'a str,
    pub user_id: &'a str,
    pub users: &'a str,
    pub eligible: &'a str,
    pub after_cursor: bool,
    pub cursor: &'a str,
    /// `--workers`: the last id of a failed batch, typed like the cursor (empty: no bound).
    pub upto: &'a str,
    /// A run that listed its users: the batch's users among the bound ids (empty: any user).
    pub in_ids: &'a str,
    pub limit: &'a str,
    pub lock: &'a str,
}

/// The users of a bound JSON array of ids (`u.id IN (…)`).
#[derive(Template)]
#[template(path = "fragments/in_ids.sql", escape = "none")]
pub struct InIds<'a> {
    pub backend: &'a str,
    /// The compared id column (`u.id`).
    pub id: &'a str,
    pub placeholder: &'a str,
    /// One element `j.v`, in the id's type.
    pub typed: &'a str,
}

/// A run's count that lists the eligible users' ids (at most `limit`).
#[derive(Template)]
#[template(path = "batch/candidates.sql", escape = "none")]
pub struct Candidates<'a> {
    pub id_text: &'a str,
    pub users: &'a str,
    /// The users index hint (`UsersAccess::hint`), or empty.
    pub hint: &'a str,
    pub eligible: &'a str,
    pub limit: &'a str,
}

/// After the batches: the listed users still eligible.
#[derive(Template)]
#[template(path = "batch/count_listed.sql", escape = "none")]
pub struct CountListed<'a> {
    /// The backend's text type for the casts (`CHAR` on MySQL).
    pub text: &'a str,
    pub users: &'a str,
    pub user_id: &'a str,
    /// SQLite: the users of the list table (else those of the bound ids, `in_ids`).
    pub listed_table: bool,
    pub in_ids: &'a str,
    pub eligible: &'a str,
}

/// SQLite: the run's list of eligible users, a temporary table, created empty.
#[derive(Template)]
#[template(path = "batch/listed_create.sql", escape = "none")]
pub struct ListedCreate<'a> {
    pub user_id: &'a str,
    pub users: &'a str,
}

/// SQLite: the database's change counter (`PRAGMA data_version`) as this connection sees it.
#[derive(Template)]
#[template(path = "batch/data_version.sql", escape = "none")]
pub struct DataVersion;

/// The list table's index on the ids, for the picks' keyset order.
#[derive(Template)]
#[template(path = "batch/listed_index.sql", escape = "none")]
pub struct ListedIndex;

/// The run's count on SQLite: the eligible users' ids, into the list table.
#[derive(Template)]
#[template(path = "batch/listed_fill.sql", escape = "none")]
pub struct ListedFill<'a> {
    pub user_id: &'a str,
    pub users: &'a str,
    /// The users index hint (`UsersAccess::hint`), or empty.
    pub hint: &'a str,
    pub eligible: &'a str,
}

/// Drops the list table (`if_exists`: before it is created).
#[derive(Template)]
#[template(path = "batch/listed_drop.sql", escape = "none")]
pub struct ListedDrop {
    pub if_exists: bool,
}

/// SQLite: the pick of the next listed users still eligible, after the cursor.
#[derive(Template)]
#[template(path = "batch/pick_listed.sql", escape = "none")]
pub struct PickListed<'a> {
    pub user_id: &'a str,
    pub users: &'a str,
    /// Re-check the rule (else: nobody else has written since the list was filled).
    pub recheck: bool,
    pub eligible: &'a str,
    pub after_cursor: bool,
    pub cursor: &'a str,
    pub limit: &'a str,
}

#[derive(Template)]
#[template(path = "batch/lock_children.sql", escape = "none")]
pub struct LockChildren<'a> {
    /// PostgreSQL cannot lock rows under an aggregate: lock in a derived table, count outside.
    pub derived: bool,
    pub table: &'a str,
    /// `x.<link column>` holds a key of the batch.
    pub member: &'a str,
    /// PostgreSQL: activity at or after the cutoff, over the locked rows (aliased `s`).
    pub active: &'a str,
    pub lock: &'a str,
}

#[derive(Template)]
#[template(path = "batch/recheck.sql", escape = "none")]
pub struct Recheck<'a> {
    pub temp: &'a str,
    pub users: &'a str,
    pub user_id: &'a str,
    pub eligible: &'a str,
}

#[derive(Template)]
#[template(path = "batch/batch_users.sql", escape = "none")]
pub struct BatchUsers<'a> {
    pub id_text: &'a str,
    pub created_text: &'a str,
    pub users: &'a str,
    pub user_id: &'a str,
    /// `u.<id>` is in the batch.
    pub member: &'a str,
}

#[derive(Template)]
#[template(path = "batch/count_per_user.sql", escape = "none")]
pub struct CountPerUser<'a> {
    pub id_text: &'a str,
    pub table: &'a str,
    pub joins: &'a str,
}

#[derive(Template)]
#[template(path = "batch/delete_rows.sql", escape = "none")]
pub struct DeleteRows<'a> {
    /// MySQL: a multi-table DELETE driven by the batch (a single-table DELETE with `IN (SELECT…)`
    /// may scan the whole table).
    pub join_delete: bool,
    pub table: &'a str,
    /// The link column holds a key of the batch.
    pub member: &'a str,
    /// MySQL: joins from `x` up to the batch table `b`.
    pub joins: &'a str,
}

#[derive(Template)]
#[template(path = "stats/count_anonymous.sql", escape = "none")]
pub struct CountAnonymous<'a> {
    pub users: &'a str,
    pub anonymous: &'a str,
}

#[derive(Template)]
#[template(path = "stats/count_eligible.sql", escape = "none")]
pub struct CountEligible<'a> {
    pub users: &'a str,
    /// The users index hint (`UsersAccess::hint`), or empty.
    pub hint: &'a str,
    pub eligible: &'a str,
}

/// One table of [`CountPlan`]: its rows that belong to the user `u`.
pub struct CountedTable {
    pub table: String,
    pub member: String,
}

/// `plan`'s counts in one pass: eligible users and each table's rows.
#[derive(Template)]
#[template(path = "stats/count_plan.sql", escape = "none")]
pub struct CountPlan<'a> {
    pub text: &'a str,
    pub users: &'a str,
    /// The users index hint (`UsersAccess::hint`), or empty.
    pub hint: &'a str,
    pub eligible: &'a str,
    pub children: &'a [CountedTable],
}

/// The access-path estimate (MySQL): users in the shipped users index's range, at most `limit`.
#[derive(Template)]
#[template(path = "stats/users_in_range.sql", escape = "none")]
pub struct UsersInRange<'a> {
    pub users: &'a str,
    /// The index's quoted name.
    pub index: &'a str,
    /// The index's range ([`UsersRange`]).
    pub range: &'a str,
    pub limit: &'a str,
}

/// The shipped users index's range (anonymous, created before the cutoff), for the
/// access-path reads.
#[derive(Template)]
#[template(path = "fragments/users_range.sql", escape = "none")]
pub struct UsersRange<'a> {
    pub anonymous: &'a str,
    pub created_expr: &'a str,
    pub created_cutoff: &'a str,
    pub created_earliest: &'a str,
}

/// The access-path estimate (MySQL, PostgreSQL): whether the users in the shipped users index's
/// range come in id order (1) or not (0), from the last `sample` of them.
#[derive(Template)]
#[template(path = "stats/users_in_order.sql", escape = "none")]
pub struct UsersInOrder<'a> {
    pub users: &'a str,
    /// MySQL: ` FORCE INDEX (…)`, the shipped users index; else empty.
    pub hint: &'a str,
    /// The users id column, quoted.
    pub id: &'a str,
    /// The created-at column, quoted.
    pub created: &'a str,
    /// The index's range ([`UsersRange`]).
    pub range: &'a str,
    pub sample: u64,
}

/// The optimizer's row estimate of one table (MySQL).
#[derive(Template)]
#[template(path = "stats/table_rows.sql", escape = "none")]
pub struct TableRows<'a> {
    /// `DATABASE()` or the schema as a string literal.
    pub schema: &'a str,
    /// The table name as a string literal.
    pub table: &'a str,
}

#[derive(Template)]
#[template(path = "stats/sample.sql", escape = "none")]
pub struct Sample<'a> {
    pub id_text: &'a str,
    pub users: &'a str,
    pub eligible: &'a str,
    pub user_id: &'a str,
    pub limit: &'a str,
}

#[derive(Template)]
#[template(path = "batch/session.sql", escape = "none")]
pub struct SessionLockWait<'a> {
    pub backend: &'a str,
    pub lock_timeout_ms: u64,
    /// InnoDB row-lock waits are in whole seconds.
    pub lock_wait_secs: u64,
}

#[derive(Template)]
#[template(path = "batch/lock_timeout.sql", escape = "none")]
pub struct BatchLockTimeout {
    pub lock_timeout_ms: u64,
}

/// One statement of the listing, with when it runs.
pub struct ListedSql<'a> {
    /// A section heading printed before this statement, if it opens one.
    pub section: &'a str,
    pub when: &'a str,
    pub what: &'a str,
    pub binds: String,
    pub sql: &'a str,
}

#[derive(Template)]
#[template(path = "overview.sql", escape = "none")]
pub struct Overview<'a> {
    pub preset: &'a str,
    pub backend: &'a str,
    pub assumed: bool,
    pub formats: Vec<String>,
    pub statements: Vec<ListedSql<'a>>,
}

#[derive(Template)]
#[template(path = "script.sql", escape = "none")]
pub struct Script<'a> {
    pub version: &'a str,
    pub as_of: String,
    pub retention_days: u32,
    pub cutoff: String,
    pub preset: &'a str,
    pub backend: &'a str,
    pub database: String,
    pub eligible: String,
    pub begin: &'a str,
    pub setup: Vec<&'a str>,
    pub pick: &'a str,
    pub lock_children: Vec<&'a str>,
    pub recheck: &'a str,
    pub deletes: Vec<&'a str>,
    pub teardown: Vec<&'a str>,
}

/// The values a link column must hold: a subquery over the batch, the eligible users or a
/// parent table (`kind`: `batch`, `eligible`, `parent`, or `none` for a parent not in the plan).
#[derive(Template)]
#[template(path = "fragments/keys.sql", escape = "none")]
pub struct Keys<'a> {
    pub kind: &'a str,
    pub value: &'a str,
    pub temp: &'a str,
    pub table: &'a str,
    pub alias: &'a str,
    pub filter: &'a str,
}

/// `column` holds one of the values `keys` returns. PostgreSQL, for a batch, `= ANY(ARRAY(…))`.
#[derive(Template)]
#[template(path = "fragments/member.sql", escape = "none")]
pub struct Member<'a> {
    /// `keys` is one value (the user `u` of the query around): `column = keys`.
    pub eq: bool,
    pub any_array: bool,
    pub column: &'a str,
    pub keys: &'a str,
}

/// One join of a chain from a child up to the batch table.
#[derive(Template)]
#[template(path = "fragments/join.sql", escape = "none")]
pub struct Join<'a> {
    /// The parent is not in the plan: the join matches nothing.
    pub missing: bool,
    pub table: &'a str,
    pub alias: &'a str,
    pub from: &'a str,
    pub column: &'a str,
    pub value: &'a str,
}

/// A column of a row turned into JSON: its quoted name, the JSON key as a string literal
/// (SQLite: with the separator before it), and whether it holds bytes (MySQL: base64).
pub struct JsonColumn {
    pub name: String,
    pub key: String,
    pub binary: bool,
}

/// A row of `alias` as JSON text that restore turns back into the same values.
#[derive(Template)]
#[template(path = "fragments/row_json.sql", escape = "none")]
pub struct RowJson<'a> {
    pub backend: &'a str,
    pub alias: &'a str,
    pub columns: &'a [JsonColumn],
}

/// The keyset cursor as a pick reads it: a bound text value in the id's type.
#[derive(Template)]
#[template(path = "fragments/cursor.sql", escape = "none")]
pub struct Cursor<'a> {
    /// The placeholder.
    pub placeholder: &'a str,
    /// The placeholder cast to the id's type.
    pub typed: &'a str,
    /// MySQL binary ids: the cursor is hex.
    pub hex: bool,
}

#[derive(Template)]
#[template(path = "batch/archive_rows.sql", escape = "none")]
pub struct ArchiveRows<'a> {
    pub id: &'a str,
    pub json: &'a str,
    pub table: &'a str,
    /// Joins up to the batch table, or
    pub joins: &'a str,
    /// a membership condition on the link column (PostgreSQL, direct links).
    pub condition: &'a str,
    pub lock: &'a str,
}

#[derive(Template)]
#[template(path = "batch/analyze.sql", escape = "none")]
pub struct Analyze<'a> {
    pub temp: &'a str,
}

/// The first rows of a table, which the pre-flight checks read.
#[derive(Template)]
#[template(path = "fragments/sample.sql", escape = "none")]
pub struct FirstRows<'a> {
    pub table: &'a str,
    pub rows: u64,
}

/// How many rows of a table the pre-flight checks read ([`FirstRows`]).
pub const SAMPLE_ROWS: u64 = 10_000;

/// The rows of `table` (quoted) the pre-flight checks read.
pub fn sample(table: &str) -> String {
    render(&FirstRows {
        table,
        rows: SAMPLE_ROWS,
    })
}

/// Pre-flight: the largest value of an epoch column (seconds or milliseconds?).
#[derive(Template)]
#[template(path = "preflight/max_value.sql", escape = "none")]
pub struct MaxValue<'a> {
    pub max_text: &'a str,
    pub table: &'a str,
}

/// Pre-flight: is there a row of `table` (with any of the columns at or after the cutoff)?
#[derive(Template)]
#[template(path = "preflight/any_row.sql", escape = "none")]
pub struct AnyRow<'a> {
    pub table: &'a str,
    pub alias: &'a str,
    pub at_or_after: &'a [TimeCmp],
    pub newest: Option<&'a Newest>,
}

/// The newest rows of a table, as far as its storage tells (see [`Backend::newest_first`]): the
/// last `rows` in `order` (descending), with only `columns` read.
///
/// [`Backend::newest_first`]: crate::sql::dialect::Backend::newest_first
pub struct Newest {
    pub columns: String,
    pub order: String,
    pub rows: u64,
}

/// `--max-replica-lag` on PostgreSQL without `--replica`: the primary's WAL position and each
/// physical standby's replay position, as the primary last heard it (one row even without one).
#[derive(Template)]
#[template(path = "replicas/from_primary.sql", escape = "none")]
pub struct ReplicasFromPrimary;

/// `--replica` on PostgreSQL: the standby's own view of its replay.
#[derive(Template)]
#[template(path = "replicas/standby.sql", escape = "none")]
pub struct StandbyLag;

/// `--replica` on MySQL/MariaDB: `SHOW REPLICA STATUS`, or `SLAVE` for older servers.
#[derive(Template)]
#[template(path = "replicas/status.sql", escape = "none")]
pub struct ReplicaStatus<'a> {
    pub word: &'a str,
}

/// Renders a template; the templates are compiled in, so failure is a bug.
pub fn render(t: &impl Template) -> String {
    t.render()
        .expect("SQL template renders")
        .trim_end()
        .to_string()
}

/// One compared time column of a plausibility read: its quoted name and how its storage is read
/// (`sqlite`: every value type counted; `time`: a timestamp type; `text`: PostgreSQL ISO-8601
/// text; `epoch`: integers as stored).
pub struct RangeColumn<'a> {
    pub column: String,
    pub shape: &'a str,
}

/// Pre-flight: the range of each compared time column of one table, as its format reads it, in
/// one scan (`f1|f2|…`, decoded by `preflight::plausible`).
#[derive(Template)]
#[template(path = "preflight/time_range.sql", escape = "none")]
pub struct TimeRange<'a> {
    pub backend: &'a str,
    pub table: &'a str,
    pub columns: &'a [RangeColumn<'a>],
    /// PostgreSQL: what an ISO-8601 timestamp in a text column looks like (a POSIX regex).
    pub iso_pattern: &'a str,
}

/// Pre-flight (PostgreSQL): how many values of each text time column of one table are not
/// ISO-8601 timestamps (`n1|n2|…`), read before [`TimeRange`] casts the others.
#[derive(Template)]
#[template(path = "preflight/not_iso_text.sql", escape = "none")]
pub struct NotIsoText<'a> {
    pub table: &'a str,
    /// The quoted columns.
    pub columns: &'a [String],
    pub iso_pattern: &'a str,
}

/// A candidate for a user's latest activity in `plan --list`.
pub struct ListActivity {
    /// 1-based, for the column names (`a1`, …).
    pub n: usize,
    /// The later candidates' `n`s: a candidate is the latest when at least every later one.
    pub later: Vec<usize>,
    /// Where the value came from, as a string literal (`'sessions.updated_at'`).
    pub label: String,
    pub table: String,
    pub user_column: String,
    /// The compared expression over the table's rows (aliased `s`), and how it is stored
    /// (`timestamptz`, `timestamp`, `iso-text`, `epoch-ms`, `epoch-s`).
    pub expr: String,
    pub kind: &'static str,
}

/// A table's rows of one user in `plan --list`.
pub struct ListCount {
    /// 1-based, for the column names (`n1`, …), in delete order.
    pub n: usize,
    pub table: String,
    /// `x`'s rows that belong to the user `u`.
    pub filter: String,
}

/// `plan --list`: a page of the eligible users with their latest activity and rows per table.
#[derive(Template)]
#[template(path = "stats/list.sql", escape = "none")]
pub struct List<'a> {
    pub backend: &'a str,
    pub users: &'a str,
    pub user_id: &'a str,
    pub id_text: &'a str,
    pub created_expr: &'a str,
    pub created_kind: &'a str,
    pub activity: &'a [ListActivity],
    pub counts: &'a [ListCount],
    /// A NULL text value.
    pub no_text: &'a str,
    pub eligible: &'a str,
    pub after_cursor: bool,
    /// The previous page's last id, in the id column's type.
    pub cursor: &'a str,
    pub limit: &'a str,
}

// The archive table and restore (`archive/`): templates under `templates/archive/`.

/// A JSON object key as it stands between `'$."` and `"'` in a JSON path string literal
/// (SQLite, MySQL): quotes doubled for the literal, double quotes escaped for the path.
pub fn json_path_key(key: &str) -> String {
    key.replace('\'', "''").replace('"', "\\\"")
}

/// `CREATE TABLE IF NOT EXISTS` for the archive table.
#[derive(Template)]
#[template(path = "archive/create_table.sql", escape = "none")]
pub struct CreateArchiveTable<'a> {
    pub backend: &'a str,
    /// The quoted archive table.
    pub table: &'a str,
}

/// The placeholders of one archived user's row in the archive table.
pub struct ArchivedUser {
    pub run_id: String,
    pub batch: String,
    pub user_id: String,
    pub archived_at: String,
    /// The whole record, as JSON text.
    pub record: String,
}

/// One INSERT of archived users into the archive table.
#[derive(Template)]
#[template(path = "archive/insert_records.sql", escape = "none")]
pub struct InsertArchived<'a> {
    pub backend: &'a str,
    pub table: &'a str,
    pub records: &'a [ArchivedUser],
}

/// The runs in the archive table (`run_id`, `last_at`, `users`), the most recent first.
#[derive(Template)]
#[template(path = "archive/runs.sql", escape = "none")]
pub struct ArchivedRuns<'a> {
    pub table: &'a str,
}

/// The records in the archive table (as `t`): of the run bound at the placeholder `run`, or of
/// every run when `run` is empty.
#[derive(Template)]
#[template(path = "archive/records.sql", escape = "none")]
pub struct ArchivedRecords<'a> {
    pub table: &'a str,
    pub run: &'a str,
}

/// Which archived users exist again: the positions (as `t`, 0-based) in the JSON array of users
/// rows bound at `rows` of those whose id is in `users`.
#[derive(Template)]
#[template(path = "archive/existing_users.sql", escape = "none")]
pub struct ExistingUsers<'a> {
    pub backend: &'a str,
    /// The quoted users table and id column.
    pub users: &'a str,
    pub id: &'a str,
    /// The id column's JSON key ([`json_path_key`]).
    pub id_key: &'a str,
    pub rows: &'a str,
}

/// A column restore inserts into.
pub struct RestoreColumn {
    /// The quoted name.
    pub name: String,
    /// Its JSON key in an archived row ([`json_path_key`]).
    pub key: String,
    /// MySQL: the column holds bytes (archived as `{"b64": …}`).
    pub binary: bool,
}

/// One INSERT of archived rows of `table`, bound as one JSON array of row objects at `rows`,
/// in the array's order.
#[derive(Template)]
#[template(path = "archive/restore_rows.sql", escape = "none")]
pub struct RestoreRows<'a> {
    pub backend: &'a str,
    /// The quoted table.
    pub table: &'a str,
    pub columns: &'a [RestoreColumn],
    pub rows: &'a str,
}
