//! `anonsweep init`: on better-auth (camelCase, and the snake_case names Drizzle generates),
//! Supabase Auth, the default preset's names and a custom schema with a two-level chain of
//! unconfigured tables, the written file passes `doctor`, and `run` with it deletes exactly the
//! eligible users and every row of theirs while keeping the rest. An existing file is kept
//! unless `--force`; a schema with nothing anonymous-looking is refused with one line.

use crate::support;

use std::path::Path;
use std::process::Command;

use chrono::{TimeDelta, Utc};
use support::{backend_test, TestDb};

/// Times relative to this machine's clock: `init` checks the values against it.
struct Times {
    old: String,
    recent: String,
}

fn times() -> Times {
    let now = Utc::now();
    let f = |d: i64| {
        (now - TimeDelta::days(d))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    Times {
        old: f(300),
        recent: f(2),
    }
}

/// A quoted identifier for the backend.
fn q(db: &TestDb, name: &str) -> String {
    if db.is_mysql() {
        format!("`{name}`")
    } else {
        format!("\"{name}\"")
    }
}

/// (id, boolean, timestamp) column types.
fn types(db: &TestDb) -> (&'static str, &'static str, &'static str) {
    match db {
        TestDb::Pg { .. } => ("TEXT", "BOOLEAN", "TIMESTAMPTZ"),
        TestDb::Sqlite { .. } => ("TEXT", "INTEGER", "DATE"),
        TestDb::Mysql { .. } => ("VARCHAR(64)", "BOOLEAN", "DATETIME(3)"),
    }
}

/// `anonsweep ARGS --database-url URL` in `dir`.
fn run_in(db: &TestDb, dir: &Path, args: &[&str]) -> support::Run {
    let url = db.url();
    let mut all = args.to_vec();
    all.extend(["--database-url", &url]);
    support::anonsweep_in(dir, &all, &[])
}

/// `init` into `dir`, then `doctor` with the file it wrote (no errors), then `run`; returns the
/// file's text.
fn init_doctor_run(db: &TestDb, dir: &Path) -> String {
    let r = run_in(db, dir, &["init"]);
    assert_eq!(r.code, 0, "init: {}", r.all());
    assert!(
        r.stdout.is_empty(),
        "the file's text goes only into the file:\n{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("anonsweep init: found table")
            && r.stderr.contains("anonsweep init: wrote anonsweep.toml"),
        "init says what it found and wrote:\n{}",
        r.stderr
    );
    let text = std::fs::read_to_string(dir.join("anonsweep.toml")).expect("init wrote the file");
    let d = run_in(db, dir, &["doctor"]);
    assert_eq!(
        d.code,
        0,
        "doctor with the written file:\n{text}\n{}",
        d.all()
    );
    assert!(d.stdout.contains("result: 0 error(s)"), "{}", d.stdout);
    let run = run_in(db, dir, &["run"]);
    assert_eq!(
        run.code,
        0,
        "run with the written file:\n{text}\n{}",
        run.all()
    );
    text
}

/// The better-auth tables (camelCase), the app's `try_on` (by `userId`, no cascade) and
/// `try_on_image` below it (no cascade). MySQL: session and account without foreign keys, as
/// better-auth's MySQL schema has them (the inline REFERENCES that MySQL ignores).
fn better_auth_camel(db: &TestDb, t: &Times) {
    let (id, b, ts) = types(db);
    let user = q(db, "user");
    let [session, account, anon, created, updated, user_id, verified, expires] = [
        "session",
        "account",
        "isAnonymous",
        "createdAt",
        "updatedAt",
        "userId",
        "emailVerified",
        "expiresAt",
    ]
    .map(|n| q(db, n));
    let fk = |on: &str| {
        if db.is_mysql() {
            String::new()
        } else {
            format!(", FOREIGN KEY ({user_id}) REFERENCES {user} (id) {on}")
        }
    };
    db.exec(&format!(
        "CREATE TABLE {user} (id {id} PRIMARY KEY, name TEXT, email TEXT, {verified} {b}, {anon} {b}, {created} {ts}, {updated} {ts});
         CREATE TABLE {session} (id {id} PRIMARY KEY, {user_id} {id} NOT NULL, token TEXT, {expires} {ts}, {created} {ts}, {updated} {ts}{});
         CREATE TABLE {account} (id {id} PRIMARY KEY, {user_id} {id} NOT NULL, {} TEXT{});
         CREATE TABLE verification (id {id} PRIMARY KEY, identifier TEXT, value TEXT);
         CREATE TABLE try_on (id {id} PRIMARY KEY, {user_id} {id} NOT NULL, FOREIGN KEY ({user_id}) REFERENCES {user} (id));
         CREATE TABLE try_on_image (id {id} PRIMARY KEY, try_on_id {id} NOT NULL, FOREIGN KEY (try_on_id) REFERENCES try_on (id));",
        fk("ON DELETE CASCADE"),
        q(db, "providerId"),
        fk("ON DELETE CASCADE"),
    ));
    let (yes, no) = (db.bool(true), db.bool(false));
    let (old, recent) = (db.ts(&t.old), db.ts(&t.recent));
    db.exec(&format!(
        // u1, u2: old guests without recent activity (eligible); u3: a guest active lately;
        // u4: a young guest; u5: registered.
        "INSERT INTO {user} VALUES ('u1', 'a', NULL, {no}, {yes}, {old}, {old});
         INSERT INTO {user} VALUES ('u2', 'b', NULL, {no}, {yes}, {old}, {old});
         INSERT INTO {user} VALUES ('u3', 'c', NULL, {no}, {yes}, {old}, {old});
         INSERT INTO {user} VALUES ('u4', 'd', NULL, {no}, {yes}, {recent}, {recent});
         INSERT INTO {user} VALUES ('u5', 'e', 'e@x', {yes}, {no}, {old}, {old});
         INSERT INTO {session} VALUES ('s1', 'u1', 't1', {old}, {old}, {old});
         INSERT INTO {session} VALUES ('s3', 'u3', 't3', {recent}, {old}, {recent});
         INSERT INTO {session} VALUES ('s4', 'u4', 't4', {recent}, {recent}, {recent});
         INSERT INTO {account} VALUES ('a1', 'u1', 'anonymous');
         INSERT INTO {account} VALUES ('a5', 'u5', 'credential');
         INSERT INTO try_on VALUES ('t1', 'u1');
         INSERT INTO try_on VALUES ('t2', 'u2');
         INSERT INTO try_on VALUES ('t3', 'u3');
         INSERT INTO try_on VALUES ('t5', 'u5');
         INSERT INTO try_on_image VALUES ('i1', 't1');
         INSERT INTO try_on_image VALUES ('i1b', 't1');
         INSERT INTO try_on_image VALUES ('i3', 't3');
         INSERT INTO try_on_image VALUES ('i5', 't5');"
    ));
}

backend_test!(better_auth_camel_case, |db: TestDb| {
    better_auth_camel(&db, &times());
    let dir = support::scratch();
    let text = init_doctor_run(&db, dir.path());
    assert!(text.contains("\npreset = \"better-auth\"\n"), "{text}");
    assert!(
        text.contains("# found table user with isAnonymous (better-auth, anonymous plugin)"),
        "the comment explains the choice:\n{text}"
    );
    // Nothing the preset already says: no [users] or [sessions] section.
    assert!(
        !text.contains("[users]") && !text.contains("[sessions]"),
        "{text}"
    );
    // Both levels of the chain, children first.
    let image = text
        .find("[[tables]]\ntable = \"try_on_image\"\ncolumn = \"try_on_id\"\nparent = \"try_on\"\nparent_column = \"id\"\n")
        .unwrap_or_else(|| panic!("{text}"));
    let try_on = text
        .find("[[tables]]\ntable = \"try_on\"\nuser_column = \"userId\"\n")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(image < try_on, "{text}");
    let user = q(&db, "user");
    assert_eq!(db.ids(&user, "id"), ["u3", "u4", "u5"]);
    assert_eq!(db.ids(&q(&db, "session"), "id"), ["s3", "s4"]);
    assert_eq!(db.ids(&q(&db, "account"), "id"), ["a5"]);
    assert_eq!(db.ids("try_on", "id"), ["t3", "t5"]);
    assert_eq!(db.ids("try_on_image", "id"), ["i3", "i5"]);
});

// better-auth as Drizzle generates it with snake_case names and epoch-millisecond integers
// (SQLite): no preset has these names, so every section is written.
backend_test!(
    drizzle_snake_case_writes_every_section,
    [sqlite],
    |db: TestDb| {
        let now = Utc::now();
        let ms = |d: i64| (now - TimeDelta::days(d)).timestamp_millis();
        let (old, recent) = (ms(300), ms(2));
        db.exec(&format!(
        "CREATE TABLE \"user\" (id TEXT PRIMARY KEY, name TEXT, email TEXT, email_verified INTEGER, is_anonymous INTEGER, created_at INTEGER, updated_at INTEGER);
         CREATE TABLE \"session\" (id TEXT PRIMARY KEY, expires_at INTEGER, token TEXT, created_at INTEGER, updated_at INTEGER, user_id TEXT NOT NULL REFERENCES \"user\" (id) ON DELETE CASCADE);
         CREATE TABLE \"account\" (id TEXT PRIMARY KEY, account_id TEXT, provider_id TEXT, user_id TEXT NOT NULL REFERENCES \"user\" (id) ON DELETE CASCADE);
         CREATE TABLE verification (id TEXT PRIMARY KEY, identifier TEXT, value TEXT, expires_at INTEGER);
         CREATE TABLE favorites (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES \"user\" (id));
         INSERT INTO \"user\" VALUES ('u1', 'a', NULL, 0, 1, {old}, {old});
         INSERT INTO \"user\" VALUES ('u2', 'b', NULL, 0, 1, {old}, {old});
         INSERT INTO \"user\" VALUES ('u3', 'c', NULL, 0, 1, {recent}, {recent});
         INSERT INTO \"user\" VALUES ('u4', 'd', 'd@x', 1, 0, {old}, {old});
         INSERT INTO \"session\" VALUES ('s1', {old}, 't1', {old}, {old}, 'u1');
         INSERT INTO \"session\" VALUES ('s3', {recent}, 't3', {recent}, {recent}, 'u3');
         INSERT INTO \"account\" VALUES ('a1', 'u1', 'anonymous', 'u1');
         INSERT INTO \"account\" VALUES ('a4', 'u4', 'credential', 'u4');
         INSERT INTO favorites VALUES ('f1', 'u1');
         INSERT INTO favorites VALUES ('f2', 'u2');
         INSERT INTO favorites VALUES ('f4', 'u4');"
    ));
        let dir = support::scratch();
        let text = init_doctor_run(&db, dir.path());
        assert!(!text.contains("\npreset ="), "{text}");
        for lines in [
        "[users]\ntable = \"user\"\nid = \"id\"\nis_anonymous = \"is_anonymous\"\ncreated_at = \"created_at\"\n",
        "[sessions]\ntable = \"session\"\nuser_id = \"user_id\"\nactivity = [\"created_at\", \"updated_at\"]\n",
        "[accounts]\ntable = \"account\"\nuser_id = \"user_id\"\n",
        "[[tables]]\ntable = \"favorites\"\nuser_column = \"user_id\"\n",
    ] {
        assert!(text.contains(lines), "{lines}\nin:\n{text}");
    }
        assert!(text.contains("snake_case"), "names its origin:\n{text}");
        assert!(
            text.contains("#   user.created_at: epoch-ms"),
            "the storage found:\n{text}"
        );
        assert_eq!(db.ids("\"user\"", "id"), ["u3", "u4"]);
        assert_eq!(db.ids("\"session\"", "id"), ["s3"]);
        assert_eq!(db.ids("\"account\"", "id"), ["a4"]);
        assert_eq!(db.ids("favorites", "id"), ["f4"]);
    }
);

// Plural snake_case names (`users.is_anonymous`, `sessions.user_id`) are the default preset's.
backend_test!(
    plural_snake_case_is_the_default_preset,
    [postgres],
    |db: TestDb| {
        let t = times();
        db.exec(&format!(
        "CREATE TABLE users (id TEXT PRIMARY KEY, email_verified BOOLEAN, is_anonymous BOOLEAN, created_at TIMESTAMPTZ);
         CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE, token TEXT, expires_at TIMESTAMPTZ, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ);
         CREATE TABLE accounts (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE);
         CREATE TABLE carts (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE);
         INSERT INTO users VALUES ('u1', false, true, '{0}+00'), ('u2', false, true, '{1}+00'), ('u3', true, false, '{0}+00');
         INSERT INTO sessions VALUES ('s1', 'u1', 't', '{0}+00', '{0}+00', '{0}+00'), ('s2', 'u2', 't', '{1}+00', '{1}+00', '{1}+00');
         INSERT INTO carts VALUES ('c1', 'u1'), ('c2', 'u2'), ('c3', 'u3');",
        t.old, t.recent
    ));
        let dir = support::scratch();
        // A password in the URL appears nowhere (the local server ignores it).
        let mut url = url::Url::parse(&db.url()).unwrap();
        if url.password().is_none() {
            url.set_password(Some("Zq9secretpw")).unwrap();
        }
        let secret = url.password().unwrap().to_string();
        let r = support::anonsweep_in(
            dir.path(),
            &["init", "--out", "-", "--database-url", url.as_str()],
            &[],
        );
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(!r.all().contains(&secret), "{}", r.all());
        assert!(
            r.stdout.contains("from the postgres database postgres://"),
            "{}",
            r.stdout
        );
        let text = init_doctor_run(&db, dir.path());
        assert_eq!(text, r.stdout, "the same file either way");
        assert!(text.contains("\npreset = \"default\"\n"), "{text}");
        assert!(!text.contains("[[tables]]"), "carts cascades:\n{text}");
        assert!(text.contains("#   carts (user_id = user id)"), "{text}");
        assert_eq!(db.ids("users", "id"), ["u2", "u3"]);
        assert_eq!(db.ids("sessions", "id"), ["s2"]);
        assert_eq!(db.ids("carts", "id"), ["c2", "c3"]);
    }
);

/// A custom schema: `members.guest`, `member_sessions`, a users activity column, and a chain of
/// two unconfigured tables (`outfits` by member, `outfit_photos` by outfit, neither cascading)
/// with a cascading table below (`photo_tags`).
fn custom(db: &TestDb, t: &Times) {
    let (id, b, ts) = types(db);
    db.exec(&format!(
        "CREATE TABLE members (id {id} PRIMARY KEY, nickname TEXT, guest {b}, created {ts}, last_active_at {ts});
         CREATE TABLE member_sessions (id {id} PRIMARY KEY, member_id {id} NOT NULL, created_at {ts}, last_seen_at {ts}, FOREIGN KEY (member_id) REFERENCES members (id) ON DELETE CASCADE);
         CREATE TABLE outfits (id {id} PRIMARY KEY, member_id {id} NOT NULL, FOREIGN KEY (member_id) REFERENCES members (id));
         CREATE TABLE outfit_photos (id {id} PRIMARY KEY, outfit_id {id} NOT NULL, FOREIGN KEY (outfit_id) REFERENCES outfits (id));
         CREATE TABLE photo_tags (id {id} PRIMARY KEY, photo_id {id} NOT NULL, FOREIGN KEY (photo_id) REFERENCES outfit_photos (id) ON DELETE CASCADE);"
    ));
    let (yes, no) = (db.bool(true), db.bool(false));
    let (old, recent) = (db.ts(&t.old), db.ts(&t.recent));
    db.exec(&format!(
        // m1, m2 eligible; m3 kept by its own last_active_at; m4 young; m5 registered.
        "INSERT INTO members VALUES ('m1', 'a', {yes}, {old}, NULL);
         INSERT INTO members VALUES ('m2', 'b', {yes}, {old}, {old});
         INSERT INTO members VALUES ('m3', 'c', {yes}, {old}, {recent});
         INSERT INTO members VALUES ('m4', 'd', {yes}, {recent}, NULL);
         INSERT INTO members VALUES ('m5', 'e', {no}, {old}, NULL);
         INSERT INTO member_sessions VALUES ('s1', 'm1', {old}, {old});
         INSERT INTO member_sessions VALUES ('s3', 'm3', {old}, {old});
         INSERT INTO member_sessions VALUES ('s4', 'm4', {recent}, {recent});
         INSERT INTO outfits VALUES ('o1', 'm1');
         INSERT INTO outfits VALUES ('o2', 'm2');
         INSERT INTO outfits VALUES ('o3', 'm3');
         INSERT INTO outfits VALUES ('o5', 'm5');
         INSERT INTO outfit_photos VALUES ('p1', 'o1');
         INSERT INTO outfit_photos VALUES ('p2', 'o2');
         INSERT INTO outfit_photos VALUES ('p3', 'o3');
         INSERT INTO outfit_photos VALUES ('p5', 'o5');
         INSERT INTO photo_tags VALUES ('g1', 'p1');
         INSERT INTO photo_tags VALUES ('g3', 'p3');
         INSERT INTO photo_tags VALUES ('g5', 'p5');"
    ));
}

backend_test!(custom_schema_with_a_two_level_chain, |db: TestDb| {
    custom(&db, &times());
    let dir = support::scratch();
    let text = init_doctor_run(&db, dir.path());
    assert!(!text.contains("\npreset ="), "{text}");
    for lines in [
        "[users]\ntable = \"members\"\nid = \"id\"\nis_anonymous = \"guest\"\ncreated_at = \"created\"\nactivity = [\"last_active_at\"]\n",
        "[sessions]\ntable = \"member_sessions\"\nuser_id = \"member_id\"\nactivity = [\"created_at\", \"last_seen_at\"]\n",
        "[accounts]\nenabled = false\n",
    ] {
        assert!(text.contains(lines), "{lines}\nin:\n{text}");
    }
    let photos = text
        .find("[[tables]]\ntable = \"outfit_photos\"\ncolumn = \"outfit_id\"\nparent = \"outfits\"\nparent_column = \"id\"\n")
        .unwrap_or_else(|| panic!("{text}"));
    let outfits = text
        .find("[[tables]]\ntable = \"outfits\"\nuser_column = \"member_id\"\n")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(photos < outfits, "in delete order:\n{text}");
    assert!(
        text.contains("#   photo_tags (photo_id -> outfit_photos.id)"),
        "the cascading table is a comment:\n{text}"
    );
    assert_eq!(text.matches("[[tables]]").count(), 2, "{text}");
    assert_eq!(db.ids("members", "id"), ["m3", "m4", "m5"]);
    assert_eq!(db.ids("member_sessions", "id"), ["s3", "s4"]);
    assert_eq!(db.ids("outfits", "id"), ["o3", "o5"]);
    assert_eq!(db.ids("outfit_photos", "id"), ["p3", "p5"]);
    assert_eq!(db.ids("photo_tags", "id"), ["g3", "g5"]);
});

// Supabase Auth's schema (tests/fixtures/supabase_auth.sql) with an app table referencing
// auth.users without a cascade (`public.notes`) and a profile table keyed by the user's id
// (`public.profiles`, cascading): the supabase preset, one entry, and no warning about a
// table's own primary key.
backend_test!(supabase_auth_schema, [postgres], |db: TestDb| {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/supabase_auth.sql");
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url(), "-f"])
        .arg(&fixture)
        .output()
        .expect("psql is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = times();
    let uid = |n: u32| format!("00000000-0000-4000-8000-{n:012}");
    let mut sql = String::from(
        "CREATE TABLE public.profiles (id uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE, name text);
         CREATE TABLE public.notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), user_id uuid NOT NULL REFERENCES auth.users (id), body text);\n",
    );
    // 1, 2 eligible; 3 active lately; 4 young; 5 registered.
    for (n, anon, created, session) in [
        (1, true, &t.old, Some(&t.old)),
        (2, true, &t.old, None),
        (3, true, &t.old, Some(&t.recent)),
        (4, true, &t.recent, Some(&t.recent)),
        (5, false, &t.old, Some(&t.old)),
    ] {
        let u = uid(n);
        sql += &format!(
            "INSERT INTO auth.users (id, aud, role, is_anonymous, created_at, updated_at)
               VALUES ('{u}', 'authenticated', 'authenticated', {anon}, '{created}+00', '{created}+00');
             INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, created_at)
               VALUES ('{u}', '{u}', '{{}}', 'anonymous', '{created}+00');
             INSERT INTO public.profiles VALUES ('{u}', 'p{n}');
             INSERT INTO public.notes (user_id, body) VALUES ('{u}', 'n{n}');\n"
        );
        if let Some(s) = session {
            sql += &format!(
                "INSERT INTO auth.sessions (id, user_id, created_at, updated_at, refreshed_at)
                   VALUES ('{}', '{u}', '{created}+00', '{s}+00', '{s}');\n",
                uid(100 + n)
            );
        }
    }
    db.exec(&sql);
    let dir = support::scratch();
    let text = init_doctor_run(&db, dir.path());
    assert!(text.contains("\npreset = \"supabase\"\n"), "{text}");
    assert!(text.contains("(Supabase Auth)"), "{text}");
    assert!(
        text.contains("[[tables]]\ntable = \"notes\"\nuser_column = \"user_id\"\n"),
        "{text}"
    );
    assert_eq!(text.matches("\n[[tables]]").count(), 1, "{text}");
    assert!(
        text.contains("#   auth.identities (user_id = user id)"),
        "{text}"
    );
    assert!(text.contains("#   profiles (id = user id)"), "{text}");
    let d = run_in(&db, dir.path(), &["doctor"]);
    assert!(
        !d.stdout.contains(".id looks like a user id"),
        "no warning about a table's own primary key:\n{}",
        d.stdout
    );
    let kept: Vec<String> = [3, 4, 5].map(uid).to_vec();
    assert_eq!(db.ids("auth.users", "id"), kept);
    assert_eq!(db.ids("auth.identities", "user_id"), kept);
    assert_eq!(db.ids("public.profiles", "id"), kept);
    assert_eq!(db.ids("public.notes", "user_id"), kept);
    assert_eq!(
        db.ids("auth.sessions", "user_id"),
        [3, 4, 5].map(uid).to_vec()
    );
});

// Epoch seconds stored as REAL (SQLite): auto-detection refuses a column of reals, and init
// writes the format with which every check passes.
backend_test!(undetectable_storage_is_written, [sqlite], |db: TestDb| {
    let now = Utc::now().timestamp() as f64;
    let (old, recent) = (now - 300.0 * 86_400.0 + 0.25, now - 2.0 * 86_400.0 + 0.5);
    db.exec(&format!(
        "CREATE TABLE users (id TEXT PRIMARY KEY, is_anonymous INTEGER, created_at REAL);
         CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE, created_at REAL, updated_at REAL);
         INSERT INTO users VALUES ('u1', 1, {old}), ('u2', 1, {old}), ('u3', 1, {recent}), ('u4', 0, {old});
         INSERT INTO sessions VALUES ('s1', 'u1', {old}, {old}), ('s2', 'u2', {old}, {recent}), ('s3', 'u3', {recent}, {recent});"
    ));
    let dir = support::scratch();
    let text = init_doctor_run(&db, dir.path());
    assert!(
        text.contains("\ntimestamp_format = \"epoch-s\"\n"),
        "{text}"
    );
    assert!(
        text.contains("# Timestamps: auto-detection fails here"),
        "{text}"
    );
    assert!(text.contains("[accounts]\nenabled = false\n"), "{text}");
    assert_eq!(db.ids("users", "id"), ["u2", "u3", "u4"]);
    assert_eq!(db.ids("sessions", "id"), ["s2", "s3"]);
});

/// The default schema, for the refusals.
fn small(db: &TestDb) {
    let t = times();
    db.exec(&support::default_schema(db, "TEXT", "TEXT", true));
    db.exec(&format!(
        "INSERT INTO users VALUES ('u1', 1, {0}); INSERT INTO sessions VALUES ('s1', 'u1', {0}, {0});",
        db.ts(&t.old)
    ));
}

backend_test!(
    an_existing_file_is_kept_unless_force,
    [sqlite],
    |db: TestDb| {
        small(&db);
        let dir = support::scratch();
        let file = dir.path().join("anonsweep.toml");
        std::fs::write(&file, "# mine\nretention_days = 7\n").unwrap();

        let r = run_in(&db, dir.path(), &["init"]);
        assert_eq!(r.code, 2, "{}", r.all());
        assert_eq!(
        r.stderr.trim(),
        "anonsweep: error: anonsweep.toml already exists: pass --force to overwrite it (nothing was written)"
    );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "# mine\nretention_days = 7\n"
        );

        // Another name: the same refusal, naming that file.
        let other = dir.path().join("other.toml");
        std::fs::write(&other, "x").unwrap();
        let r = run_in(&db, dir.path(), &["init", "--out", "other.toml"]);
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(
            r.stderr.contains("other.toml already exists: pass --force"),
            "{}",
            r.stderr
        );
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "x");

        let r = run_in(&db, dir.path(), &["init", "--force"]);
        assert_eq!(r.code, 0, "{}", r.all());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("# anonsweep.toml, written by `anonsweep init`"),
            "{text}"
        );
        assert!(text.contains("\npreset = \"default\"\n"), "{text}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        // `--out -`: the text on stdout, no file.
        let fresh = support::scratch();
        let r = run_in(&db, fresh.path(), &["init", "--out", "-"]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(r.stdout, text, "the same text");
        assert!(
            r.stderr.contains("anonsweep init: found table users"),
            "{}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("written by `anonsweep init`") && !r.stderr.contains("\npreset ="),
            "the file's text only on stdout: {}",
            r.stderr
        );
        assert_eq!(std::fs::read_dir(fresh.path()).unwrap().count(), 0);
    }
);

backend_test!(
    nothing_anonymous_is_refused_with_one_line,
    [sqlite],
    |db: TestDb| {
        db.exec(
        "CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, created_at TEXT);
         CREATE TABLE sessions (id TEXT PRIMARY KEY, person_id TEXT REFERENCES people (id), created_at TEXT);",
    );
        let dir = support::scratch();
        let r = run_in(&db, dir.path(), &["init"]);
        assert_eq!(r.code, 2, "{}", r.all());
        assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
        for words in [
            "found no table of anonymous users",
            "is_anonymous, isAnonymous, anonymous, is_guest or guest",
            "docs/configuration.md",
            "anonsweep doctor",
        ] {
            assert!(r.stderr.contains(words), "{words}: {}", r.stderr);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file");

        // A flag without a sessions table says so.
        db.exec("CREATE TABLE guests (id TEXT PRIMARY KEY, is_guest INTEGER, created_at TEXT)");
        let r = run_in(&db, dir.path(), &["init"]);
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(
            r.stderr
                .contains("table guests has is_guest but no sessions table references it"),
            "{}",
            r.stderr
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file");
    }
);

// What the file cannot fix is said, in the file and on stderr: here the sessions table is empty
// although users were created lately (sessions kept elsewhere), which doctor refuses.
backend_test!(problems_left_are_reported, [sqlite], |db: TestDb| {
    let t = times();
    db.exec(&support::default_schema(&db, "TEXT", "TEXT", true));
    db.exec(&format!(
        "INSERT INTO users VALUES ('u1', 1, {}), ('u2', 1, {});",
        db.ts(&t.old),
        db.ts(&t.recent)
    ));
    let dir = support::scratch();
    let r = run_in(&db, dir.path(), &["init"]);
    assert_eq!(r.code, 0, "the file is written: {}", r.all());
    assert!(
        r.stderr.contains(
            "anonsweep init: still to fix (doctor reports it): the sessions table sessions has no rows"
        ),
        "{}",
        r.stderr
    );
    let text = std::fs::read_to_string(dir.path().join("anonsweep.toml")).unwrap();
    assert!(
        text.contains("# Still to fix (`anonsweep doctor` reports these):\n#   - the sessions table sessions has no rows"),
        "{text}"
    );
    let d = run_in(&db, dir.path(), &["doctor"]);
    assert_eq!(d.code, 2, "{}", d.all());
    assert_eq!(db.count("users"), 2, "nothing deleted");
});
