//! Draining a backlog and pacing a run: `--max-per-run` deletes at most N users and exits 0
//! saying how many remain; `--stop-file` stops cleanly between batches (exit 6); `--sleep-coef`
//! and `--target-batch-ms` pace and size the batches. And the summary adds up: every user
//! eligible at the start is deleted, kept, failed, gone before its batch or not reached.

use crate::support;

use support::population::*;
use support::{backend_test, Run, TestDb};

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.all()))
}

/// The accounting in a JSON summary adds up to the users eligible at the start.
fn assert_adds_up(j: &serde_json::Value) {
    let a = &j["accounting"];
    let n = |k: &str| {
        a[k].as_u64()
            .unwrap_or_else(|| panic!("accounting.{k}: {j}"))
    };
    assert_eq!(
        n("eligible_at_start"),
        j["eligible"].as_u64().unwrap(),
        "{j}"
    );
    assert_eq!(
        n("eligible_at_start") + n("became_eligible"),
        n("deleted") + n("kept_changed") + n("failed") + n("gone_before_batch") + n("not_reached"),
        "the summary adds up: {j}"
    );
}

backend_test!(
    max_per_run_drains_a_backlog_over_several_runs,
    |db: TestDb| {
        setup(&db);
        let args = quick_run(&[
            "--max-per-run",
            "70",
            "--batch-size",
            "30",
            "--format",
            "json",
        ]);
        let r = db.run(&args);
        assert_eq!(r.code, 0, "--max-per-run is not a failure\n{}", r.all());
        let j = json(&r);
        assert_eq!(j["deleted_users"], 70, "{j}");
        assert_eq!(
            j["accounting"]["not_reached"],
            (ELIGIBLE - 70) as u64,
            "{j}"
        );
        assert_eq!(j["stop_kind"], "max-per-run", "{j}");
        assert_adds_up(&j);
        // The database agrees: exactly 70 of the eligible are gone, every survivor is whole.
        assert_eq!(eligible_left(&db), ELIGIBLE - 70);
        assert_whole(&db, "after the first drain");
        // Batches never cross the limit: 30 + 30 + 10.
        assert_eq!(j["batches"], 3, "{j}");
        assert_eq!(j["batch_size_min"], 10, "{j}");

        // The text summary says how many remain.
        let t = db.run(&quick_run(&["--max-per-run", "70"]));
        assert_eq!(t.code, 0, "{}", t.all());
        assert!(t.stdout.contains("not reached          60"), "{}", t.stdout);
        assert!(t.stdout.contains("--max-per-run 70"), "{}", t.stdout);
        assert_eq!(eligible_left(&db), ELIGIBLE - 140);

        // The last run finds fewer than N and finishes normally.
        let last = db.run(&quick_run(&["--max-per-run", "70", "--format", "json"]));
        assert_eq!(last.code, 0, "{}", last.all());
        let j = json(&last);
        assert_eq!(j["deleted_users"], 60, "{j}");
        assert_eq!(j["accounting"]["not_reached"], 0, "{j}");
        assert!(j["stop_kind"].is_null(), "{j}");
        assert_eq!(user_ids(&db), survivors());
        assert_whole(&db, "after the drain");
    }
);

backend_test!(
    bad_max_per_run_values_are_refused,
    [sqlite],
    |db: TestDb| {
        setup(&db);
        for (flag, value) in [
            ("--max-per-run", "0"),
            ("--max-per-run", "2.5"),
            ("--sleep-coef", "-1"),
            ("--target-batch-ms", "soon"),
        ] {
            let r = db.run(&quick_run(&[flag, value]));
            assert_eq!(r.code, 2, "{flag} {value}\n{}", r.all());
            let lines: Vec<&str> = r.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{}", r.stderr);
            assert!(lines[0].contains(flag), "{}", lines[0]);
            assert_eq!(users_left(&db), ELIGIBLE + 15, "nothing deleted");
        }
    }
);

backend_test!(a_stop_file_stops_the_run_between_batches, |db: TestDb| {
    setup(&db);
    let dir = support::scratch();
    let stop = dir.path().join("anonsweep.stop");
    let stop_s = stop.to_str().unwrap().to_string();
    let mut a = spawn(&db, &slow_run(&["--stop-file", &stop_s]), &[]);
    a.wait_for_first_batch(&db);
    std::fs::write(&stop, "").unwrap();
    let r = a.finish();
    assert_eq!(r.code, 6, "the stop file: exit 6\n{}", r.all());
    assert!(r.stdout.contains("--stop-file"), "{}", r.stdout);
    let deleted = deleted_users(&r.stdout);
    let left = eligible_left(&db);
    assert_eq!(deleted + left, ELIGIBLE, "{}", r.stdout);
    assert!(deleted > 0 && left > 0, "stopped mid-run\n{}", r.all());
    assert_whole(&db, "after the stop file");
    // While the file exists, a run stops before its first batch and deletes nothing.
    let r = db.run(&quick_run(&["--stop-file", &stop_s]));
    assert_eq!(r.code, 6, "{}", r.all());
    assert_eq!(eligible_left(&db), left);
    // Removed, the next run finishes.
    std::fs::remove_file(&stop).unwrap();
    let r = db.run(&quick_run(&["--stop-file", &stop_s]));
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(user_ids(&db), survivors());
});

// Another process deletes users the run has not reached yet: the summary says so, instead of
// "eligible 200, deleted 150" and nothing else.
backend_test!(
    users_deleted_by_someone_else_are_accounted_for,
    |db: TestDb| {
        setup(&db);
        let mut a = spawn(&db, &slow_run(&["--format", "json"]), &[]);
        a.wait_for_first_batch(&db);
        // The batches go in id order: the last 50 eligible users are reached last.
        let gone: Vec<String> = (ELIGIBLE - 50..ELIGIBLE)
            .map(|i| format!("'e{i:04}'"))
            .collect();
        let list = gone.join(", ");
        db.exec(&format!(
        "DELETE FROM sessions WHERE user_id IN ({list}); DELETE FROM accounts WHERE user_id IN ({list}); DELETE FROM users WHERE id IN ({list});"
    ));
        let r = a.finish();
        assert_eq!(r.code, 0, "{}", r.all());
        let j = json(&r);
        assert_eq!(j["eligible"], ELIGIBLE as u64, "{j}");
        assert_eq!(j["deleted_users"], (ELIGIBLE - 50) as u64, "{j}");
        assert_eq!(j["accounting"]["gone_before_batch"], 50, "{j}");
        assert_eq!(j["accounting"]["not_reached"], 0, "{j}");
        assert_adds_up(&j);
        assert_eq!(user_ids(&db), survivors());
        assert!(
            r.stderr.contains("gone before their batch"),
            "said on stderr too:\n{}",
            r.stderr
        );
    }
);

backend_test!(
    paced_and_sized_batches_delete_exactly_the_eligible,
    |db: TestDb| {
        setup(&db);
        let r = db.run(&quick_run(&[
            "--batch-size",
            "40",
            "--target-batch-ms",
            "1",
            "--sleep-coef",
            "0.5",
            "--format",
            "json",
        ]));
        assert_eq!(r.code, 0, "{}", r.all());
        let j = json(&r);
        assert_eq!(j["deleted_users"], ELIGIBLE as u64, "{j}");
        let (lo, hi) = (
            j["batch_size_min"].as_u64().unwrap(),
            j["batch_size_max"].as_u64().unwrap(),
        );
        assert!(
            1 <= lo && lo <= hi && hi <= 40,
            "sizes within --batch-size: {j}"
        );
        assert!(
            j["paused_seconds"].as_f64().unwrap() > 0.0,
            "--sleep-coef paused: {j}"
        );
        assert_adds_up(&j);
        assert_eq!(user_ids(&db), survivors());
        assert_whole(&db, "after a paced run");
    }
);

// PostgreSQL sizes batches toward 100 ms by default (the live-traffic benchmark's choice): the
// first batch has 100 users, later ones follow the measured time, never above --batch-size.
// Elsewhere batches have the fixed default size unless --target-batch-ms is given.
backend_test!(postgres_aims_batches_at_100_ms_by_default, |db: TestDb| {
    setup(&db);
    let r = db.run(&quick_run(&["--format", "json"]));
    assert_eq!(r.code, 0, "{}", r.all());
    let j = json(&r);
    let (lo, hi) = (
        j["batch_size_min"].as_u64().unwrap(),
        j["batch_size_max"].as_u64().unwrap(),
    );
    if db.is_pg() {
        assert!(j["batches"].as_u64().unwrap() >= 2, "{j}");
        assert!(lo <= 100 && hi <= 5000, "{j}");
        assert!(r.stderr.contains("sized toward 100 ms"), "{}", r.stderr);
    } else {
        assert_eq!(j["batches"], 1, "{j}");
        assert_eq!(
            (lo, hi),
            if db.is_mysql() {
                (2000, 2000)
            } else {
                (1000, 1000)
            },
            "{j}"
        );
        assert!(!r.stderr.contains("sized toward"), "{}", r.stderr);
    }
    assert_eq!(user_ids(&db), survivors());
    assert_whole(&db, "after a default run");
});

// A run whose count listed its users (one worker, few enough eligible) takes those and no
// others, and its summary is exact: a listed user deleted by someone else is gone before its
// batch, one that became active is kept, and a user who became eligible while the run went is
// left for the next run.
backend_test!(a_run_takes_only_the_users_its_count_listed, |db: TestDb| {
    setup(&db);
    let mut a = spawn(&db, &slow_run(&["--format", "json"]), &[]);
    a.wait_for_first_batch(&db);
    let (old, recent) = (db.ts("2026-01-02 00:00:00"), db.ts("2026-11-20 00:00:00"));
    db.exec(&format!(
            "UPDATE sessions SET created_at = {old}, updated_at = {old} WHERE user_id = 'k0';
             DELETE FROM sessions WHERE user_id = 'e0198'; DELETE FROM accounts WHERE user_id = 'e0198'; DELETE FROM users WHERE id = 'e0198';
             UPDATE sessions SET updated_at = {recent} WHERE id = 'e0199-s1';"
        ));
    let r = a.finish();
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr
            .contains("(listed: the batches take these users, by id)"),
        "{}",
        r.stderr
    );
    let j = json(&r);
    assert_eq!(j["users_listed"], true, "{j}");
    assert_eq!(j["eligible"], ELIGIBLE as u64, "{j}");
    assert_eq!(j["deleted_users"], (ELIGIBLE - 2) as u64, "{j}");
    let a = &j["accounting"];
    assert_eq!(a["gone_before_batch"], 1, "{j}");
    assert_eq!(a["kept_changed"], 1, "{j}");
    assert_eq!(j["kept_changed"], 1, "{j}");
    assert_eq!(a["not_reached"], 0, "{j}");
    assert_eq!(a["became_eligible"], 0, "{j}");
    assert_adds_up(&j);
    let mut left = survivors();
    left.push("e0199".into());
    left.sort();
    assert_eq!(
        user_ids(&db),
        left,
        "k0 became eligible during the run: kept for the next"
    );
    assert_whole(&db, "after the listed run");
    // The next run takes k0, and only k0.
    let r = db.run(&quick_run(&["--format", "json"]));
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(json(&r)["deleted_users"], 1, "{}", r.stdout);
    left.retain(|id| id != "k0");
    assert_eq!(user_ids(&db), left);
});

// More eligible users than a run lists in memory: on PostgreSQL the run counts them and its
// batches walk the users table in key order; on SQLite its count lists every one of them in a
// temporary table, which its batches take; on MySQL its count streams every id into its list,
// which moves to a temporary file, and its batches take them from there. The same users are
// deleted every way.
backend_test!(
    more_eligible_than_a_run_lists_in_memory,
    [sqlite, postgres, mysql],
    |db: TestDb| {
        setup(&db);
        let extra = 50_000;
        let (t, old) = (db.bool(true), db.ts("2026-01-01 00:00:00"));
        db.exec(&if db.is_pg() {
            format!(
                "INSERT INTO users SELECT 'x' || i, {t}, {old} FROM generate_series(1, {extra}) AS i;"
            )
        } else if db.is_mysql() {
            // The digits five times over (a recursive CTE stops at 1000 rows there).
            let d = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
            format!(
                "INSERT INTO users SELECT CONCAT('x', i), {t}, {old} FROM (
                   SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 1 AS i
                   FROM {d} AS a, {d} AS b, {d} AS c, {d} AS e, {d} AS f) AS n
                 WHERE i <= {extra};"
            )
        } else {
            format!(
                "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {extra})
                 INSERT INTO users SELECT 'x' || i, {t}, {old} FROM c;"
            )
        });
        let r = db.run(&quick_run(&["--format", "json"]));
        assert_eq!(r.code, 0, "{}", r.all());
        let j = json(&r);
        let listed = !db.is_pg();
        assert_eq!(r.stderr.contains("(listed:"), listed, "{}", r.stderr);
        assert_eq!(j["users_listed"], listed, "{j}");
        assert_eq!(j["eligible"], (ELIGIBLE + extra) as u64, "{j}");
        assert_eq!(j["deleted_users"], (ELIGIBLE + extra) as u64, "{j}");
        assert_eq!(j["accounting"]["not_reached"], 0, "{j}");
        assert_adds_up(&j);
        assert_eq!(user_ids(&db), survivors());
        assert_whole(&db, "after the run");
    }
);

/// The picks a run traced (`ANONSWEEP_LOG=trace`), in order: one line each.
fn traced_picks(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("sql") && l.contains("anonsweep_batch (id)"))
        .collect()
}

/// A slow traced run during which another connection gives e0199, a listed user, a recent
/// session once the first batch is done.
fn run_while_e0199_becomes_active(db: &TestDb) -> Run {
    let mut a = spawn(
        db,
        &slow_run(&["--format", "json"]),
        &[("ANONSWEEP_LOG", "trace")],
    );
    a.wait_for_first_batch(db);
    let recent = db.ts("2026-11-20 00:00:00");
    db.exec(&format!(
        "UPDATE sessions SET updated_at = {recent} WHERE id = 'e0199-s1';"
    ));
    let r = a.finish();
    assert_eq!(r.code, 0, "{}", r.all());
    r
}

/// After [`run_while_e0199_becomes_active`]: e0199 was kept (changed), every other eligible
/// user was deleted.
fn assert_e0199_kept(db: &TestDb, j: &serde_json::Value) {
    assert_eq!(j["deleted_users"], (ELIGIBLE - 1) as u64, "{j}");
    assert_eq!(j["kept_changed"], 1, "{j}");
    assert_adds_up(j);
    let mut left = survivors();
    left.push("e0199".into());
    left.sort();
    assert_eq!(user_ids(db), left, "e0199 became active: kept");
    assert_whole(db, "after the run");
}

// SQLite: while nobody else writes, a batch's pick takes the next listed users without reading
// the rule again (the database's change counter is the count's); once another connection has
// committed, every later pick re-checks the rule, and a listed user who became active is kept.
backend_test!(
    sqlite_picks_read_the_rule_again_once_another_connection_wrote,
    [sqlite],
    |db: TestDb| {
        setup(&db);
        let r = run_while_e0199_becomes_active(&db);
        let picks = traced_picks(&r.stderr);
        let rechecks = |l: &&str| l.contains("is_anonymous");
        assert!(picks.len() > 2, "{}", r.stderr);
        assert!(
            !rechecks(&picks[0]),
            "the first pick re-read the rule: {}",
            picks[0]
        );
        assert!(
            rechecks(picks.last().unwrap()),
            "a pick after another connection's commit did not re-check: {}",
            picks.last().unwrap()
        );
        let first_recheck = picks.iter().position(rechecks).unwrap();
        assert!(
            picks[first_recheck..].iter().all(rechecks),
            "once the counter moved, every pick re-checks:\n{}",
            picks.join("\n")
        );
        assert_e0199_kept(&db, &json(&r));
    }
);

// MySQL: a batch's pick takes the next listed users without the rule; the re-check, after their
// sessions are locked, evaluates it. A listed user who became active after the count is picked,
// then dropped by the re-check and kept (reported as changed).
backend_test!(
    mysql_listed_picks_leave_the_rule_to_the_recheck,
    [mysql],
    |db: TestDb| {
        setup(&db);
        let r = run_while_e0199_becomes_active(&db);
        let picks = traced_picks(&r.stderr);
        assert!(picks.len() > 2, "{}", r.stderr);
        assert!(
            picks
                .iter()
                .all(|l| l.contains("JSON_TABLE") && !l.contains("is_anonymous")),
            "every pick takes listed users without the rule:\n{}",
            picks.join("\n")
        );
        let j = json(&r);
        assert_eq!(j["users_listed"], true, "{j}");
        assert_e0199_kept(&db, &j);
    }
);

// SQLite with a trigger: a batch's own deletes may write what the rule reads, without moving the
// change counter, so every pick evaluates the rule. Here deleting e0000 gives e0199, a listed
// user, a recent session: e0199 is kept.
backend_test!(
    sqlite_with_a_trigger_every_pick_reads_the_rule,
    [sqlite],
    |db: TestDb| {
        setup(&db);
        let recent = db.ts("2026-11-20 00:00:00");
        db.exec(&format!(
            "CREATE TRIGGER revive AFTER DELETE ON users WHEN old.id = 'e0000' BEGIN
               INSERT INTO sessions (id, user_id, created_at, updated_at)
               VALUES ('e0199-revived', 'e0199', {recent}, {recent});
             END;"
        ));
        let r = db.run_env(
            &quick_run(&["--batch-size", "5", "--format", "json"]),
            &[("ANONSWEEP_LOG", "trace")],
        );
        assert_eq!(r.code, 0, "{}", r.all());
        let picks = traced_picks(&r.stderr);
        assert!(picks.len() > 2, "{}", r.stderr);
        assert!(
            picks.iter().all(|l| l.contains("is_anonymous")),
            "a pick without the rule in a database with triggers:\n{}",
            picks.join("\n")
        );
        let j = json(&r);
        assert_eq!(j["deleted_users"], (ELIGIBLE - 1) as u64, "{j}");
        assert_adds_up(&j);
        let mut left = survivors();
        left.push("e0199".into());
        left.sort();
        assert_eq!(user_ids(&db), left, "e0199 became active in the run: kept");
    }
);
