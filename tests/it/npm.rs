//! The npm packages (`npm/`): `npm/pack.sh` packs the locally built binary, both tarballs
//! install into a scratch project without the registry (`npm install --offline`), and the
//! package.json script `"cleanup:anonymous": "anonsweep run"` run by `npm run` deletes the
//! eligible users of a SQLite database and keeps the others. Exit codes (a bad flag: 2) and
//! signals (SIGTERM: the run stops after a batch, exit 6) pass through `npm run` and the launcher.
//! The launcher is also checked on its own with stand-in binaries: death by a signal, one copy of
//! a signal burst passed on, arguments kept intact, and the error when no platform package is
//! installed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support;
use support::population::{self, AS_OF, ELIGIBLE};
use support::{Run, TestDb};

const NPM_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/npm");

/// Node's name for this machine (`linux-x64`, ...), as the platform packages are named.
fn node_platform() -> String {
    let out = Command::new("node")
        .args(["-p", "process.platform + '-' + process.arch"])
        .output()
        .expect("Node.js is installed (apt-get install nodejs npm; bash scripts/test does)");
    assert!(out.status.success(), "node -p: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A command with no anonsweep setting or DATABASE_URL from this environment, and npm kept off
/// the registry and off the user's cache.
fn clean(mut cmd: Command, cache: &Path) -> Command {
    for (k, _) in std::env::vars() {
        if k == "DATABASE_URL" || k.starts_with("ANONSWEEP_") || k.starts_with("npm_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("npm_config_cache", cache)
        .env("npm_config_offline", "true")
        .env("npm_config_update_notifier", "false")
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Run {
    cmd.output().expect("start the command").into()
}

#[test]
fn npm_run_script_deletes_through_the_packed_packages() {
    let platform = node_platform();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("npm-cache");
    let out = work.path().join("tarballs");

    // Pack: the platform package with this binary, and the main package. The copy packed is
    // without the debug info of a test build (150 MB to 35 MB: npm gzips it in seconds).
    let binary = work.path().join("anonsweep");
    fs::copy(env!("CARGO_BIN_EXE_anonsweep"), &binary).unwrap();
    let stripped = Command::new("strip")
        .arg("--strip-debug")
        .arg(&binary)
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        eprintln!("note: no `strip`: packing the test binary with its debug info (slower)");
        fs::copy(env!("CARGO_BIN_EXE_anonsweep"), &binary).unwrap();
    }
    let r = run(Command::new("bash")
        .arg(format!("{NPM_DIR}/pack.sh"))
        .arg(&binary)
        .arg(&out));
    assert_eq!(r.code, 0, "npm/pack.sh\n{}{}", r.stdout, r.stderr);
    let tarballs: Vec<PathBuf> = r.stdout.lines().map(PathBuf::from).collect();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        tarballs,
        [
            out.join(format!("anonsweep-cli-{platform}-{version}.tgz")),
            out.join(format!("anonsweep-{version}.tgz")),
        ],
        "the two tarball paths, platform package first:\n{}",
        r.stdout
    );
    assert!(tarballs.iter().all(|t| t.is_file()));

    // A project with the script, and both tarballs installed without the registry.
    let project = work.path().join("app");
    fs::create_dir_all(&project).unwrap();
    fs::write(
        project.join("package.json"),
        r#"{ "name": "app", "private": true, "scripts": { "cleanup:anonymous": "anonsweep run" } }"#,
    )
    .unwrap();
    let mut install = clean(Command::new("npm"), &cache);
    install
        .args(["install", "--no-audit", "--no-fund"])
        .args(&tarballs)
        .current_dir(&project);
    let r = run(&mut install);
    assert_eq!(r.code, 0, "npm install\n{}{}", r.stdout, r.stderr);
    let modules = project.join("node_modules");
    let installed: Vec<String> = fs::read_dir(modules.join("@anonsweep"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        installed,
        [format!("cli-{platform}")],
        "only this platform's package"
    );
    let binary = modules.join(format!("@anonsweep/cli-{platform}/bin/anonsweep"));
    let mode = fs::metadata(&binary).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "{} is executable", binary.display());

    let db = TestDb::sqlite();
    population::setup(&db);
    let url = db.url();
    let npm_run = |extra: &[&str]| {
        let mut cmd = clean(Command::new("npm"), &cache);
        cmd.args(["run", "--silent", "cleanup:anonymous"]);
        if !extra.is_empty() {
            cmd.arg("--").args(extra);
        }
        cmd.current_dir(&project)
            .env("DATABASE_URL", &url)
            .env("ANONSWEEP_AS_OF", AS_OF);
        cmd
    };

    // A bad flag: anonsweep's exit 2 comes out of `npm run`; nothing is deleted.
    let r = run(&mut npm_run(&["--no-such-flag"]));
    assert_eq!(
        r.code, 2,
        "exit 2 through npm run\n{}{}",
        r.stdout, r.stderr
    );
    assert!(r.stderr.contains("--no-such-flag"), "{}", r.stderr);
    assert_eq!(population::users_left(&db), ELIGIBLE + 15);

    // SIGTERM to the launcher reaches anonsweep: it stops after the batch in flight (exit 6).
    let mut launcher = clean(Command::new(modules.join(".bin/anonsweep")), &cache);
    launcher
        .args(population::slow_run(&[]))
        .current_dir(&project)
        .env("DATABASE_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = launcher.spawn().expect("start the launcher");
    let until = Instant::now() + Duration::from_secs(30);
    while population::users_left(&db) == ELIGIBLE + 15 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before a batch"
        );
        assert!(Instant::now() < until, "no batch after 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(child.id(), "TERM");
    let r = Run::from(child.wait_with_output().unwrap());
    assert_eq!(
        r.code, 6,
        "exit 6 through the launcher\n{}{}",
        r.stdout, r.stderr
    );
    assert!(r.stdout.contains("stopped early"), "{}", r.stdout);
    let left = population::eligible_left(&db);
    assert!(left > 0 && left < ELIGIBLE, "stopped mid-run: {left} left");
    population::assert_whole(&db, "after SIGTERM to the launcher");

    // The script itself: the eligible users are gone, the others kept.
    let r = run(&mut npm_run(&[]));
    assert_eq!(
        r.code, 0,
        "npm run cleanup:anonymous\n{}{}",
        r.stdout, r.stderr
    );
    assert_eq!(population::deleted_users(&r.stdout), left, "{}", r.stdout);
    assert_eq!(population::eligible_left(&db), 0);
    assert_eq!(population::user_ids(&db), population::survivors());
    population::assert_whole(&db, "after npm run cleanup:anonymous");
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// node_modules with the repository's launcher and a platform package whose binary is `script`.
fn stand_in(dir: &Path, script: &str) -> PathBuf {
    let modules = dir.join("node_modules");
    let main = modules.join("anonsweep/bin");
    fs::create_dir_all(&main).unwrap();
    let launcher = main.join("anonsweep");
    fs::copy(format!("{NPM_DIR}/anonsweep/bin/anonsweep"), &launcher).unwrap();
    fs::set_permissions(&launcher, fs::Permissions::from_mode(0o755)).unwrap();
    let platform = modules.join(format!("@anonsweep/cli-{}", node_platform()));
    fs::create_dir_all(platform.join("bin")).unwrap();
    fs::copy(
        format!("{NPM_DIR}/platforms/{}/package.json", node_platform()),
        platform.join("package.json"),
    )
    .unwrap();
    let binary = platform.join("bin/anonsweep");
    fs::write(&binary, format!("#!/bin/sh\n{script}\n")).unwrap();
    fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
    launcher
}

fn wait_for_file(path: &Path, child: &mut std::process::Child) {
    let until = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(child.try_wait().unwrap().is_none(), "ended early");
        assert!(Instant::now() < until, "no {} after 20 s", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn launcher_passes_arguments_exit_codes_and_signals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Arguments arrive intact; the exit code comes back.
    let launcher = stand_in(d, "printf '%s\\n' \"$@\"; exit 75");
    let awkward = "it's \"quoted\" $HOME `id` *";
    let r = run(Command::new(&launcher).args(["run", awkward, ""]));
    assert_eq!(r.code, 75, "{}", r.stderr);
    assert_eq!(r.stdout, format!("run\n{awkward}\n\n"));

    // A binary killed by a signal: the launcher dies of the same signal.
    let launcher = stand_in(d, "kill -KILL $$");
    let status = Command::new(&launcher).status().unwrap();
    assert_eq!(status.signal(), Some(9), "{status:?}");

    // Signals are passed on; copies of one signal a moment apart only once (a Ctrl-C under
    // `npm run` arrives twice, and anonsweep stops at once on a second signal).
    let log = d.join("signals.log");
    let ready = d.join("ready");
    let done = d.join("done");
    let launcher = stand_in(
        d,
        &format!(
            "trap 'echo TERM >> {log}' TERM\ntrap 'echo INT >> {log}' INT\ntouch {ready}\n\
             while [ ! -e {done} ]; do sleep 0.02; done\nexit 0",
            log = log.display(),
            ready = ready.display(),
            done = done.display()
        ),
    );
    let mut child = Command::new(&launcher).spawn().unwrap();
    wait_for_file(&ready, &mut child);
    signal(child.id(), "TERM");
    std::thread::sleep(Duration::from_millis(50));
    signal(child.id(), "TERM");
    std::thread::sleep(Duration::from_millis(1500));
    signal(child.id(), "TERM");
    std::thread::sleep(Duration::from_millis(100));
    signal(child.id(), "INT");
    let until = Instant::now() + Duration::from_secs(20);
    while fs::read_to_string(&log).unwrap_or_default().lines().count() < 3 {
        assert!(Instant::now() < until, "signals never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    fs::write(&done, "").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(fs::read_to_string(&log).unwrap(), "TERM\nTERM\nINT\n");

    // No platform package (e.g. installed with --omit=optional): one line naming it, exit 1.
    fs::remove_dir_all(d.join("node_modules/@anonsweep")).unwrap();
    let r = run(&mut Command::new(&launcher));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(lines[0].starts_with("anonsweep: error: "), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!("@anonsweep/cli-{}", node_platform())),
        "{}",
        lines[0]
    );
}
