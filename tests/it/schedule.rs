//! `anonsweep schedule cron|systemd`: the generated files are checked by the programs that will
//! read them (/bin/sh running the cron command against a fake binary, `systemd-analyze verify`),
//! not only by eye.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
