//! The `supabase` preset on Supabase Auth's real schema (tests/fixtures/supabase_auth.sql):
//! eligible anonymous users go with every row that belongs to them — the tables that cascade
//! from auth.users, refresh_tokens (varchar user_id, no foreign key, rows with or without a
//! session), flow_state (no foreign key) and saml_relay_states below it — and nothing is left
//! pointing at a deleted user, while every row of a kept user stays.

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use support::{backend_test, TestDb};

const AS_OF: &str = "2026-11-26T00:00:00Z";
const OLD: &str = "2026-01-01 00:00:00+00";
const RECENT: &str = "2026-11-25 00:00:00+00";

/// One user: (n, is_anonymous, created_at, session (created_at, updated_at, refreshed_at)).
type User = (
    usize,
    bool,
    &'static str,
    Option<(&'static str, &'static str, &'static str)>,
);

/// Users 1..=3 are eligible; the others are kept.
#[rustfmt::skip]
const USERS: [User; 7] = [
    (1, true, OLD, Some((OLD, OLD, "2026-01-02 00:00:00"))),
    (2, true, OLD, None),
    (3, true, OLD, Some((OLD, "2026-10-26 00:00:00+00", "2026-10-26 00:00:00"))),
    // Active: a session updated after the cutoff.
    (4, true, OLD, Some((OLD, RECENT, "2026-01-02 00:00:00"))),
    // Active: the preset counts refreshed_at (timestamp without time zone) as activity.
    (5, true, OLD, Some((OLD, OLD, "2026-11-25 00:00:00"))),
    // Too young.
    (6, true, "2026-11-20 00:00:00+00", Some((RECENT, RECENT, "2026-11-25 00:00:00"))),
    // Registered.
    (7, false, OLD, Some((OLD, OLD, "2026-01-02 00:00:00"))),
];
const ELIGIBLE: [usize; 3] = [1, 2, 3];

/// A deterministic uuid: `kind` names the table (1 users, 2 sessions, 3 factors, 4 flow states).
fn uid(kind: u32, n: usize) -> String {
    format!("{kind:08}-0000-4000-8000-{n:012}")
}

/// The tables rows of a user live in, and how a row finds its user (as text).
const OWNED: [(&str, &str); 10] = [
    ("auth.users", "x.id::text"),
    ("auth.sessions", "x.user_id::text"),
    ("auth.refresh_tokens", "x.user_id"),
    ("auth.identities", "x.user_id::text"),
    ("auth.mfa_factors", "x.user_id::text"),
    (
        "auth.mfa_challenges",
        "(SELECT f.user_id::text FROM auth.mfa_factors f WHERE f.id = x.factor_id)",
    ),
    (
        "auth.mfa_amr_claims",
        "(SELECT s.user_id::text FROM auth.sessions s WHERE s.id = x.session_id)",
    ),
    ("auth.one_time_tokens", "x.user_id::text"),
    ("auth.flow_state", "x.user_id::text"),
    (
        "auth.saml_relay_states",
        "(SELECT f.user_id::text FROM auth.flow_state f WHERE f.id = x.flow_state_id)",
    ),
];

/// Loads the Supabase Auth schema into a fresh PostgreSQL database.
fn load_supabase_schema(db: &TestDb) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/supabase_auth.sql");
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url(), "-f"])
        .arg(&fixture)
        .output()
        .expect("psql is installed");
    assert!(
        out.status.success(),
        "loading the fixture: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every kind of row for user `n`, plus a refresh token without a session for users 1 and 7.
fn user_rows(n: usize, anon: bool, created: &str, session: Option<(&str, &str, &str)>) -> String {
    let (u, f, fl, sso) = (uid(1, n), uid(3, n), uid(4, n), uid(9, 0));
    let mut sql = format!(
        "INSERT INTO auth.users (id, aud, role, is_anonymous, created_at, updated_at)
           VALUES ('{u}', 'authenticated', 'authenticated', {anon}, '{created}', '{created}');
         INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, created_at)
           VALUES ('{u}', '{u}', '{{\"sub\": \"{u}\"}}', 'anonymous', '{created}');
         INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at)
           VALUES ('{f}', '{u}', 'phone {n}', 'totp', 'verified', '{created}', '{created}');
         INSERT INTO auth.mfa_challenges (id, factor_id, created_at, ip_address)
           VALUES (gen_random_uuid(), '{f}', '{created}', '127.0.0.1');
         INSERT INTO auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to)
           VALUES (gen_random_uuid(), '{u}', 'confirmation_token', 'hash{n}', 'user{n}');
         INSERT INTO auth.flow_state (id, user_id, provider_type, authentication_method, created_at)
           VALUES ('{fl}', '{u}', 'email', 'magiclink', '{created}');
         INSERT INTO auth.saml_relay_states (id, sso_provider_id, request_id, flow_state_id)
           VALUES (gen_random_uuid(), '{sso}', 'request{n}', '{fl}');\n"
    );
    if let Some((c, up, refreshed)) = session {
        let s = uid(2, n);
        sql += &format!(
            "INSERT INTO auth.sessions (id, user_id, created_at, updated_at, refreshed_at)
               VALUES ('{s}', '{u}', '{c}', '{up}', '{refreshed}');
             INSERT INTO auth.refresh_tokens (token, user_id, session_id, revoked, created_at, updated_at)
               VALUES ('token{n}a', '{u}', '{s}', true, '{c}', '{c}'), ('token{n}b', '{u}', '{s}', false, '{c}', '{up}');
             INSERT INTO auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method)
               VALUES (gen_random_uuid(), '{s}', '{c}', '{c}', 'anonymous');\n"
        );
    }
    if n == 1 || n == 7 {
        sql += &format!(
            "INSERT INTO auth.refresh_tokens (token, user_id, session_id, revoked, created_at, updated_at)
               VALUES ('token{n}-no-session', '{u}', NULL, false, '{created}', '{created}');\n"
        );
    }
    sql
}

fn fill(db: &TestDb) {
    let mut sql = format!(
        "INSERT INTO auth.sso_providers (id, resource_id) VALUES ('{}', 'idp');\n",
        uid(9, 0)
    );
    for (n, anon, created, session) in USERS {
        sql += &user_rows(n, anon, created, session);
    }
    db.exec(&sql);
}

/// Rows per owner (user id as text, "" for none) of each table in OWNED.
fn owners(db: &TestDb) -> BTreeMap<&'static str, BTreeMap<String, usize>> {
    OWNED
        .iter()
        .map(|(t, owner)| {
            let mut m = BTreeMap::new();
            for o in db.strings(&format!("SELECT coalesce({owner}, '') AS t FROM {t} AS x")) {
                *m.entry(o).or_insert(0) += 1;
            }
            (*t, m)
        })
        .collect()
}

/// Rows, in every auth table with a user_id column, whose user does not exist.
fn orphans(db: &TestDb) -> Vec<String> {
    let tables = db.strings(
        "SELECT table_name::text AS t FROM information_schema.columns \
         WHERE table_schema = 'auth' AND column_name = 'user_id' ORDER BY 1",
    );
    assert!(tables.len() >= 8, "user_id tables: {tables:?}");
    tables
        .iter()
        .filter_map(|t| {
            let sql = format!(
                "SELECT x.user_id::text AS t FROM auth.{t} AS x WHERE x.user_id IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id::text = x.user_id::text)"
            );
            let bad = db.strings(&sql);
            (!bad.is_empty()).then(|| format!("auth.{t}: {bad:?}"))
        })
        .collect()
}

/// `[{table, rows}]` as a map.
fn table_rows(list: &serde_json::Value) -> BTreeMap<String, u64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let t = e["table"].as_str().unwrap().to_string();
            (t, e["rows"].as_u64().unwrap())
        })
        .collect()
}

backend_test!(
    supabase_run_deletes_eligible_users_and_leaves_no_orphans,
    [postgres],
    |db: TestDb| {
        load_supabase_schema(&db);
        fill(&db);
        let eligible: Vec<String> = ELIGIBLE.iter().map(|n| uid(1, *n)).collect();
        assert!(orphans(&db).is_empty(), "the data starts clean");
        let before = owners(&db);

        let p = db.run(&[
            "plan", "--preset", "supabase", "--as-of", AS_OF, "--format", "json",
        ]);
        assert_eq!(p.code, 0, "{}", p.all());
        let plan: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
        assert_eq!(plan["eligible"], 3, "{}", p.stdout);
        let planned = table_rows(&plan["rows"]);

        let r = db.run(&[
            "run",
            "--preset",
            "supabase",
            "--as-of",
            AS_OF,
            "--batch-size",
            "2",
            "--format",
            "json",
        ]);
        assert_eq!(r.code, 0, "{}", r.all());
        let run: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(run["deleted_users"], 3, "{}", r.stdout);
        let deleted = table_rows(&run["deleted_rows"]);

        let users = db.ids("auth.users", "id");
        let kept: Vec<String> = [4, 5, 6, 7].iter().map(|n| uid(1, *n)).collect();
        assert_eq!(users, kept, "the eligible users are gone, the others kept");
        assert_eq!(
            orphans(&db),
            Vec::<String>::new(),
            "no row points at a deleted user"
        );

        let after = owners(&db);
        for (t, _) in OWNED {
            let had_eligible: usize = eligible.iter().filter_map(|u| before[t].get(u)).sum();
            assert!(had_eligible > 0, "{t}: the data has rows of eligible users");
            // Every row of a kept user (and every row with no user) is still there; nothing else.
            let want: BTreeMap<String, usize> = before[t]
                .iter()
                .filter(|(o, _)| !eligible.contains(o))
                .map(|(o, c)| (o.clone(), *c))
                .collect();
            assert_eq!(after[t], want, "{t}: rows per user after the run");
            // The plan's and the run's counts are the rows that actually went.
            let gone =
                (before[t].values().sum::<usize>() - after[t].values().sum::<usize>()) as u64;
            assert_eq!(planned.get(t), Some(&gone), "{t} in plan: {planned:?}");
            assert_eq!(deleted.get(t), Some(&gone), "{t} in run: {deleted:?}");
        }
    }
);

backend_test!(
    supabase_plan_succeeds_and_lists_the_cascading_tables,
    [postgres],
    |db: TestDb| {
        load_supabase_schema(&db);
        fill(&db);
        let before = db.fingerprint(&OWNED.map(|(t, _)| t));
        let p = db.run(&["plan", "--preset", "supabase", "--as-of", AS_OF]);
        assert_eq!(p.code, 0, "{}", p.all());
        let listed: BTreeMap<&str, u64> = p
            .stdout
            .lines()
            .skip_while(|l| !l.contains("would delete rows:"))
            .skip(1)
            .take_while(|l| l.starts_with("    "))
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?, w.next()?.parse().ok()?))
            })
            .collect();
        for t in [
            "auth.identities",
            "auth.mfa_factors",
            "auth.mfa_challenges",
            "auth.mfa_amr_claims",
            "auth.one_time_tokens",
            "auth.saml_relay_states",
            "auth.refresh_tokens",
            "auth.flow_state",
            "auth.sessions",
        ] {
            assert!(
                listed.get(t).is_some_and(|n| *n > 0),
                "{t}: {listed:?}\n{}",
                p.stdout
            );
        }
        assert_eq!(listed.get("auth.users"), Some(&3), "{}", p.stdout);
        assert_eq!(
            db.fingerprint(&OWNED.map(|(t, _)| t)),
            before,
            "plan changed nothing"
        );
    }
);

// Archive and restore on the Supabase schema: every auth table's rows of the deleted users
// (including `refresh_tokens`, whose varchar `user_id` is compared as text, and the tables
// reached through a parent) go into the archive, and `restore` gives back exactly the rows
// that were there before.
backend_test!(
    supabase_archive_then_restore_gives_back_every_row,
    [postgres],
    |db: TestDb| {
        load_supabase_schema(&db);
        fill(&db);
        let before = owners(&db);
        let fingerprint_before = db.fingerprint(&OWNED.map(|(t, _)| t));
        let dir = support::scratch();
        let archive_dir = dir.path().to_str().unwrap();
        let r = db.run(&[
            "run",
            "--preset",
            "supabase",
            "--as-of",
            AS_OF,
            "--batch-size",
            "2",
            "--archive-dir",
            archive_dir,
            "--format",
            "json",
        ]);
        assert_eq!(r.code, 0, "{}", r.all());
        let run: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(run["deleted_users"], 3, "{}", r.stdout);
        assert_ne!(owners(&db), before, "the run deleted rows");
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .expect("an archive file");
        let r = db.run(&[
            "restore",
            "--preset",
            "supabase",
            "--archive",
            file.to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(owners(&db), before, "every row is back, per user");
        assert_eq!(
            db.fingerprint(&OWNED.map(|(t, _)| t)),
            fingerprint_before,
            "with the same values"
        );
        assert!(orphans(&db).is_empty());
    }
);
