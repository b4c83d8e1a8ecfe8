//! MySQL/MariaDB: the counts read the users through the shipped `(is_anonymous, created_at)`
//! index only while few users are in its range, else in primary-key order (`IGNORE INDEX`).
//! PostgreSQL: with ids that grow with creation time the picks probe each user's sessions
//! (`OFFSET 0` fences the probe) instead of a merge join from the cursor.
//! Above that share, ids that grow with creation time keep the index (the users then come in
//! id order either way). The choice is shown in `plan`'s listing, sent as listed by `run`, and never changes who is
//! deleted: the same users are deleted and kept with and without the shipped indexes.

use crate::support::{default_schema, Run, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";
const TABLES: &[&str] = &["users", "sessions", "accounts"];
const HINT: &str = "IGNORE INDEX (`anonsweep_users_created_at_anon`)";
const ESTIMATE: &str = "FORCE INDEX (`anonsweep_users_created_at_anon`)";
const USERS: usize = 400;

fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "{}", r.all());
    r
}

/// `USERS` users, the first `old_anon` of them anonymous and created before the cutoff (a third
/// of those with a recent session, so kept; a third with an old one; the rest with none), the
/// others registered or recent. Ids are scrambled so the primary-key order is not the creation
/// order, or with `ordered` they grow with it. Returns the ids the rule keeps, sorted.
fn populate(db: &TestDb, old_anon: usize, ordered: bool) -> Vec<String> {
    db.exec(&default_schema(db, "TIMESTAMPTZ", "TEXT", false));
    let mut users = Vec::new();
    let mut sessions = Vec::new();
    let mut accounts = Vec::new();
    let mut kept = Vec::new();
    for i in 0..USERS {
        let id = if ordered {
            format!("u{i:08}")
        } else {
            format!("{:08x}-{i}", (i as u32).wrapping_mul(2_654_435_761))
        };
        let minute = i % 1440;
        let (anon, created) = if i < old_anon {
            (
                1,
                format!("2026-08-01 {:02}:{:02}:00", minute / 60, minute % 60),
            )
        } else if i % 2 == 0 {
            (0, "2026-08-02 00:00:00".to_string())
        } else {
            (1, "2026-11-01 00:00:00".to_string())
        };
        users.push(format!("('{id}', {}, '{created}')", db.bool(anon == 1)));
        let eligible = i < old_anon && i % 3 != 0;
        if i < old_anon && i % 3 == 0 {
            sessions.push(format!(
                "('s{i}', '{id}', '{created}', '2026-11-20 00:00:00')"
            ));
        } else if i % 3 == 1 {
            sessions.push(format!("('s{i}', '{id}', '{created}', '{created}')"));
        }
        if i % 4 == 0 {
            accounts.push(format!("('a{i}', '{id}', 'anonymous')"));
        }
        if !eligible {
            kept.push(id);
        }
    }
    db.exec(&format!(
        "INSERT INTO users VALUES {};\nINSERT INTO sessions VALUES {};\nINSERT INTO accounts VALUES {};",
        users.join(", "),
        sessions.join(", "),
        accounts.join(", ")
    ));
    kept.sort();
    kept
}

fn analyze(db: &TestDb) {
    db.exec(if db.is_pg() {
        "ANALYZE users; ANALYZE sessions; ANALYZE accounts"
    } else {
        "ANALYZE TABLE users, sessions, accounts"
    });
}

/// Fills a database with `old_anon` old anonymous users and copies it; the copy gets the shipped
/// indexes. Both analyzed, as the optimizer's statistics would be.
fn pair(old_anon: usize, ordered: bool) -> (TestDb, TestDb, Vec<String>) {
    pair_on(TestDb::mysql(), old_anon, ordered)
}

fn pair_on(without: TestDb, old_anon: usize, ordered: bool) -> (TestDb, TestDb, Vec<String>) {
    let kept = populate(&without, old_anon, ordered);
    let with = without.copy();
    ok(with.run(&["migrate", "run"]));
    analyze(&without);
    analyze(&with);
    (without, with, kept)
}

fn plan(db: &TestDb) -> String {
    ok(db.run(&["plan", "--as-of", AS_OF])).all()
}

/// `run`, with every statement it sends in the log.
fn run(db: &TestDb) -> String {
    ok(db.run_env(
        &["run", "--as-of", AS_OF, "--max-fraction", "1"],
        &[("ANONSWEEP_LOG", "trace")],
    ))
    .all()
}

/// The statements `run` sent that read the users as `FROM users AS u` with an index hint.
fn hinted_sent(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(" sql ") && l.contains(HINT))
        .count()
}

fn same_outcome(without: &TestDb, with: &TestDb, kept: &[String]) {
    assert_eq!(without.ids("users", "id"), kept, "without the indexes");
    assert_eq!(with.ids("users", "id"), kept, "with the indexes");
    assert_eq!(without.fingerprint(TABLES), with.fingerprint(TABLES));
}

#[test]
fn a_high_share_scans_users_and_deletes_the_same_users() {
    // Half the users are old anonymous ones: far above 3 % of the rows.
    let (without, with, kept) = pair(USERS / 2, false);

    let listed = plan(&with);
    assert!(
        listed.contains(ESTIMATE),
        "the estimate is listed:\n{listed}"
    );
    assert!(
        listed.contains(HINT),
        "the counts ignore the index:\n{listed}"
    );
    assert!(listed.contains("access path: more than 3 %"), "{listed}");
    // Only the counts (and the run's count that lists the users): the picks walk the primary
    // key or take listed ids anyway.
    for l in listed.lines().filter(|l| l.contains(HINT)) {
        assert!(
            l.starts_with("SELECT COUNT(*) AS n FROM")
                || l.starts_with("FROM")
                || l.starts_with("SELECT CAST(u.`id` AS CHAR) AS id FROM"),
            "{l}"
        );
    }
    let listed_without = plan(&without);
    assert!(
        !listed_without.contains("IGNORE INDEX") && !listed_without.contains("FORCE INDEX"),
        "no hint and no estimate without the index:\n{listed_without}"
    );

    let log = run(&with);
    // The count that lists the users before the first batch; the count after the batches reads
    // the listed users by primary key.
    assert_eq!(hinted_sent(&log), 1, "{log}");
    assert!(log.contains(ESTIMATE), "{log}");
    let log_without = run(&without);
    assert!(!log_without.contains("IGNORE INDEX"), "{log_without}");
    same_outcome(&without, &with, &kept);
}

#[test]
fn a_low_share_reads_users_through_the_index_and_deletes_the_same_users() {
    // 6 of 400 users (1.5 %) are old anonymous ones: under 3 % of the rows.
    let (without, with, kept) = pair(6, false);

    let listed = plan(&with);
    assert!(
        listed.contains(ESTIMATE),
        "the estimate is listed:\n{listed}"
    );
    assert!(
        !listed.contains(HINT),
        "the counts use the index:\n{listed}"
    );
    assert!(
        listed.contains("access path: 6 of the about"),
        "the note says how many are in the range:\n{listed}"
    );

    let log = run(&with);
    assert_eq!(hinted_sent(&log), 0, "{log}");
    run(&without);
    same_outcome(&without, &with, &kept);
}

#[test]
fn a_high_share_with_ids_in_creation_order_reads_users_through_the_index() {
    // Half the users are old anonymous ones, and their ids grow with their creation times.
    let (without, with, kept) = pair(USERS / 2, true);

    let listed = plan(&with);
    assert!(
        listed.contains(ESTIMATE),
        "the estimate is listed:\n{listed}"
    );
    assert!(
        listed.contains("LAG(r.id) OVER"),
        "so is the read of the ids' order:\n{listed}"
    );
    assert!(
        !listed.contains(HINT),
        "the counts use the index:\n{listed}"
    );
    assert!(
        listed.contains("but their ids grow with their creation times"),
        "the note says why:\n{listed}"
    );

    let log = run(&with);
    assert_eq!(hinted_sent(&log), 0, "{log}");
    run(&without);
    same_outcome(&without, &with, &kept);
}

#[test]
fn postgres_picks_probe_each_user_when_ids_grow_with_creation_time() {
    for ordered in [true, false] {
        let (without, with, kept) = pair_on(TestDb::pg(), USERS / 2, ordered);
        let listed = plan(&with);
        let note = if ordered {
            "grow with their creation times"
        } else {
            "do not follow their creation times"
        };
        assert!(listed.contains(note), "ordered {ordered}:\n{listed}");
        assert!(
            listed.contains("LAG(r.id) OVER"),
            "the read of the ids' order is listed:\n{listed}"
        );
        assert_eq!(
            listed.contains("OFFSET 0"),
            ordered,
            "the picks fence the sessions probe only when ordered:\n{listed}"
        );
        run(&with);
        run(&without);
        same_outcome(&without, &with, &kept);
        let listed_without = plan(&without);
        assert!(
            !listed_without.contains("OFFSET 0") && !listed_without.contains("access path"),
            "nothing chosen without the shipped index:\n{listed_without}"
        );
    }
}
