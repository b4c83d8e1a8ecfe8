//! CLI conventions: shell completions and man pages from the one clap definition, help with
//! headings and examples, each command offering only the flags it uses, and `run --dry-run`
//! taking the dry run's own flags.

use std::process::Command;

use crate::support::{self, backend_test, population};

fn help(args: &[&str]) -> String {
    let dir = support::scratch();
    let mut a = args.to_vec();
    a.push("--help");
    let r = support::anonsweep_in(dir.path(), &a, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    r.stdout
}

/// The long flags a command's help offers.
fn flags(help: &str) -> Vec<String> {
    help.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("-q, ").unwrap_or(l);
            let l = l.strip_prefix("-h, ").unwrap_or(l);
            let l = l.strip_prefix("-V, ").unwrap_or(l);
            l.starts_with("--")
                .then(|| l.split([' ', '=']).next().unwrap().to_string())
        })
        .collect()
}

#[test]
fn each_command_offers_only_the_flags_it_uses() {
    let rule_only = ["--retention-days", "--as-of"];
    for cmd in [
        &["restore"][..],
        &["migrate", "status"],
        &["migrate", "sql"],
        &["migrate", "run"],
    ] {
        let f = flags(&help(cmd));
        assert!(f.contains(&"--database-url".to_string()), "{cmd:?}: {f:?}");
        for flag in rule_only {
            assert!(
                !f.contains(&flag.to_string()),
                "{cmd:?} offers {flag}: {f:?}"
            );
        }
    }
    for cmd in [
        &["restore"][..],
        &["migrate", "status"],
        &["migrate", "sql"],
    ] {
        let f = flags(&help(cmd));
        assert!(
            !f.contains(&"--lock-timeout-ms".to_string()),
            "{cmd:?} offers --lock-timeout-ms: {f:?}"
        );
    }
    assert!(flags(&help(&["migrate", "run"])).contains(&"--lock-timeout-ms".to_string()));
    // `sql` prints SQL, not a summary: no --format, and asking for one is an error, not text.
    assert!(!flags(&help(&["sql"])).contains(&"--format".to_string()));
    let dir = support::scratch();
    let r = support::anonsweep_in(dir.path(), &["sql", "--format", "json"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("--format"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[test]
fn run_help_groups_its_flags_under_headings_with_examples() {
    let h = help(&["run"]);
    let mut at = 0;
    for heading in [
        "Connection:",
        "Rule:",
        "Output:",
        "Batches:",
        "Safety:",
        "Archive:",
        "Operations:",
        "Examples:",
    ] {
        let i = h[at..]
            .find(&format!("\n{heading}\n"))
            .unwrap_or_else(|| panic!("{heading} missing or out of order in:\n{h}"));
        at += i + 1;
    }
    // A flag sits under its heading.
    let section = |name: &str| {
        let start = h.find(&format!("\n{name}:\n")).unwrap();
        let rest = &h[start + name.len() + 3..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_string()
    };
    assert!(section("Connection").contains("--database-url"));
    assert!(section("Rule").contains("--retention-days"));
    assert!(section("Batches").contains("--batch-size"));
    assert!(section("Safety").contains("--max-deletions"));
    assert!(section("Archive").contains("--archive-dir"));
    assert!(section("Operations").contains("--metrics-file"));
    for cmd in [
        "plan", "run", "sql", "doctor", "restore", "schedule", "demo", "migrate",
    ] {
        let h = help(&[cmd]);
        assert!(
            h.contains("\nExamples:\n  anonsweep "),
            "{cmd} --help has examples:\n{h}"
        );
    }
}

#[test]
fn bash_completion_is_valid_and_completes_commands_and_flags() {
    let dir = support::scratch();
    let r = support::anonsweep_in(dir.path(), &["completions", "bash"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let file = dir.path().join("anonsweep.bash");
    std::fs::write(&file, &r.stdout).unwrap();
    // Source it in a real bash and ask it to complete `anonsweep pl` and `anonsweep run --arch`.
    let script = format!(
        r#"source {f}
complete -p anonsweep >/dev/null || exit 3
COMP_WORDS=(anonsweep pl); COMP_CWORD=1; COMP_LINE="anonsweep pl"; COMP_POINT=${{#COMP_LINE}}
_anonsweep anonsweep pl anonsweep; echo "one: ${{COMPREPLY[*]}}"
COMP_WORDS=(anonsweep run --arch); COMP_CWORD=2; COMP_LINE="anonsweep run --arch"; COMP_POINT=${{#COMP_LINE}}
_anonsweep anonsweep --arch run; echo "two: ${{COMPREPLY[*]}}""#,
        f = file.display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let one = text.lines().find(|l| l.starts_with("one:")).unwrap();
    assert!(one.contains("plan"), "{text}");
    let two = text.lines().find(|l| l.starts_with("two:")).unwrap();
    assert!(
        two.contains("--archive-dir") && two.contains("--archive-to-table"),
        "{text}"
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let r = support::anonsweep_in(dir.path(), &["completions", shell], &[]);
        assert_eq!(r.code, 0, "{shell}: {}", r.all());
        assert!(
            r.stdout.contains("archive-to-table"),
            "{shell}: {}",
            r.stdout
        );
    }
    let r = support::anonsweep_in(dir.path(), &["completions", "tcsh"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("tcsh"), "{}", r.stderr);
}

#[test]
fn man_pages_render_without_warnings() {
    let dir = support::scratch();
    let r = support::anonsweep_in(dir.path(), &["man"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains(".TH anonsweep 1"), "{}", r.stdout);
    let out_dir = dir.path().join("man1");
    let r = support::anonsweep_in(
        dir.path(),
        &["man", "--out-dir", out_dir.to_str().unwrap()],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    for page in [
        "anonsweep.1",
        "anonsweep-run.1",
        "anonsweep-plan.1",
        "anonsweep-migrate-run.1",
    ] {
        let path = out_dir.join(page);
        assert!(path.exists(), "{page} written: {}", r.all());
        // groff renders it, and says nothing (-ww: every warning).
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .expect("groff is installed (it comes with man-db)");
        assert!(out.status.success(), "{page}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{page}");
    }
    let run_page = std::fs::read_to_string(out_dir.join("anonsweep-run.1")).unwrap();
    assert!(run_page.contains("archive\\-to\\-table"), "{run_page}");
}

// `run --dry-run` is `plan`: it takes plan's --explain and --sample, and deletes nothing.
backend_test!(run_dry_run_takes_the_plans_flags, |db: TestDb| {
    population::setup(&db);
    let before = population::user_ids(&db);
    let r = db.run(&[
        "run",
        "--dry-run",
        "--explain",
        "--sample",
        "3",
        "--as-of",
        population::AS_OF,
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.to_ascii_uppercase().contains("PLAN") || r.stdout.contains("SCAN"),
        "the database's plan is shown:\n{}",
        r.stdout
    );
    assert_eq!(
        population::user_ids(&db),
        before,
        "a dry run deletes nothing"
    );
    let plan = db.run(&[
        "plan",
        "--explain",
        "--sample",
        "3",
        "--as-of",
        population::AS_OF,
    ]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    // `--explain` without `--dry-run` is refused, not ignored.
    let r = db.run(&["run", "--explain", "--as-of", population::AS_OF]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("--dry-run"), "{}", r.stderr);
    assert_eq!(
        population::user_ids(&db),
        before,
        "a refused run deletes nothing"
    );
});
