//! Golden SQL per backend × preset: `sql/<preset>.<backend>.sql` is exactly what `anonsweep sql`
//! renders, one test per pair (`sql_dir_matches_the_renderer::<preset>::<backend>`), and the
//! committed `migrations/<backend>/` match the templates, one test per backend. Regenerate with
//! `ANONSWEEP_BLESS=1 cargo test --test it golden_sql` and review the diff.

use crate::support;

use std::path::PathBuf;

use support::{backend_test, Backend};

/// `sql/<preset>.<backend>.sql` is what `anonsweep sql --preset PRESET --backend BACKEND` prints
/// (or becomes it, with ANONSWEEP_BLESS).
fn sql_file_matches_the_renderer(preset: &str, backend: Backend) {
    let backend = backend.name();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var("ANONSWEEP_BLESS").is_ok();
    let r = support::anonsweep_in(
        &root,
        &["sql", "--preset", preset, "--backend", backend],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let path = root.join("sql").join(format!("{preset}.{backend}.sql"));
    if bless {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &r.stdout).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        golden == r.stdout,
        "rendered SQL differs from {}; rerun with ANONSWEEP_BLESS=1 and review",
        path.display()
    );
}

/// Formerly one test looping over every preset and backend.
mod sql_dir_matches_the_renderer {
    use super::*;

    backend_test!(default, |backend: Backend| {
        sql_file_matches_the_renderer("default", backend)
    });

    backend_test!(better_auth, |backend: Backend| {
        sql_file_matches_the_renderer("better-auth", backend)
    });

    backend_test!(supabase, |backend: Backend| {
        sql_file_matches_the_renderer("supabase", backend)
    });
}

#[test]
fn sql_out_writes_the_same_text() {
    let dir = support::scratch();
    let out = dir.path().join("x.sql");
    let r = support::anonsweep_in(
        dir.path(),
        &[
            "sql",
            "--backend",
            "postgres",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.is_empty());
    let golden = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql/default.postgres.sql"),
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(out).unwrap(), golden);
}

#[test]
fn camel_case_identifiers_are_quoted_for_postgres() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let r = support::anonsweep_in(
        &root,
        &["sql", "--preset", "better-auth", "--backend", "postgres"],
        &[],
    );
    assert!(
        r.stdout.contains("WHERE u.\"isAnonymous\"\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(r#"FROM "user" AS u"#));
    assert!(r.stdout.contains(r#"s."userId" = u."id""#));
    assert!(
        !r.stdout.contains(" isAnonymous"),
        "unquoted camelCase would be folded to lower case"
    );
}

// `migrations/<backend>/` holds the index migrations rendered for the `default` preset,
// embedded in the binary with `embed_migrations!`; they must be byte-identical to the templates.
backend_test!(migrations_dir_matches_the_templates, |backend: Backend| {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let bless = std::env::var("ANONSWEEP_BLESS").is_ok();
    let mut problems = Vec::new();
    let dir = root.join(backend.name());
    let rendered = support::committed_migrations(backend);
    if bless {
        let _ = std::fs::remove_dir_all(&dir);
    }
    for m in &rendered {
        let d = dir.join(&m.dir_name);
        for (file, text) in [
            ("up.sql", &m.up),
            ("down.sql", &m.down),
            ("metadata.toml", &m.metadata),
        ] {
            let path = d.join(file);
            if bless {
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(&path, text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_ref() != Some(text) {
                problems.push(path.display().to_string());
            }
        }
    }
    let on_disk = std::fs::read_dir(&dir).map(|r| r.count()).unwrap_or(0);
    if !bless && on_disk != rendered.len() {
        problems.push(format!(
            "{} has {on_disk} migrations, expected {}",
            dir.display(),
            rendered.len()
        ));
    }
    assert!(
        problems.is_empty(),
        "stale migrations {problems:?}; rerun with ANONSWEEP_BLESS=1 (then rebuild) and review"
    );
});
