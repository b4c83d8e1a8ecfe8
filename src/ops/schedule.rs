//! Writes the files for a daily, locked `anonsweep run` (cron, systemd, a Kubernetes CronJob, a
//! GitHub Actions workflow), so operators install a checked schedule (secrets kept out of the
//! file, safe quoting, one run at a time, exit 75 not a failure) instead of hand-writing one.

use std::path::{Path, PathBuf};

use crate::error::usage;

/// The kinds of schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Cron,
    Systemd,
    Kubernetes,
    GithubActions,
}

impl Kind {
    /// The name on the command line (`schedule KIND`).
    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "cron" => Kind::Cron,
            "systemd" => Kind::Systemd,
            "kubernetes" => Kind::Kubernetes,
            "github-actions" => Kind::GithubActions,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Cron => "cron",
            Kind::Systemd => "systemd",
            Kind::Kubernetes => "kubernetes",
            Kind::GithubActions => "github-actions",
        }
    }

    /// Where this kind's run reads DATABASE_URL (and ANONSWEEP_LOCK_URL) from.
    fn secrets(self) -> &'static str {
        match self {
            Kind::Cron | Kind::Systemd => "the env file",
            Kind::Kubernetes => "the Secret",
            Kind::GithubActions => "a repository secret",
        }
    }
}

pub const DEFAULT_ENV_FILE: &str = "/etc/anonsweep/anonsweep.env";
pub const DEFAULT_RANDOMIZED_DELAY: &str = "30m";
pub const DEFAULT_SECRET: &str = "anonsweep";
/// The executable a CronJob runs without --binary: found on the image's PATH.
const DEFAULT_IMAGE_BINARY: &str = "anonsweep";

/// What the scheduled run looks like. `None` is "not given": each kind has its own default,
/// and refuses the options that mean nothing to it.
pub struct ScheduleOptions {
    pub kind: Kind,
    /// This binary's real path: what cron and systemd run without `binary`.
    pub this_binary: PathBuf,
    /// `--binary`: the executable written into the files.
    pub binary: Option<PathBuf>,
    pub env_file: Option<PathBuf>,
    /// `database`, a redis:// URL, or `env` (ANONSWEEP_LOCK_URL from where DATABASE_URL comes).
    pub lock: String,
    /// HH:MM: local time for cron and systemd, UTC for Kubernetes and GitHub Actions.
    pub time: String,
    /// systemd RandomizedDelaySec, e.g. 30m.
    pub randomized_delay: Option<String>,
    pub user: Option<String>,
    /// Kubernetes: the container image.
    pub image: Option<String>,
    /// Kubernetes: the Secret holding DATABASE_URL.
    pub secret: Option<String>,
    /// Further `run` arguments.
    pub run_args: Vec<String>,
}

/// One generated file.
pub struct File {
    pub name: &'static str,
    pub text: String,
}

/// The checked inputs every kind is built from.
struct Checked {
    hour: u32,
    minute: u32,
    /// The `run` arguments: `--lock <lock>` (unless `env`), then the user's.
    args: Vec<String>,
    /// `--lock env`: the run reads ANONSWEEP_LOCK_URL from where DATABASE_URL comes.
    lock_from_env: bool,
}

/// The files of `o.kind`; warns (stderr) when they run a binary from a cargo build directory.
pub fn files(o: &ScheduleOptions) -> anyhow::Result<Vec<File>> {
    check_flags(o)?;
    let (files, binary) = match o.kind {
        Kind::Cron => {
            let (text, binary) = cron(o)?;
            (vec![file("anonsweep.cron", text)], Some(binary))
        }
        Kind::Systemd => {
            let (service, timer, binary) = systemd(o)?;
            (
                vec![
                    file("anonsweep.service", service),
                    file("anonsweep.timer", timer),
                ],
                Some(binary),
            )
        }
        Kind::Kubernetes => {
            let (text, binary) = kubernetes(o)?;
            (vec![file("anonsweep-cronjob.yaml", text)], Some(binary))
        }
        Kind::GithubActions => (vec![file("anonsweep.yml", github_actions(o)?)], None),
    };
    if let Some(b) = binary.filter(|b| in_build_dir(b)) {
        crate::warn!(
            "the schedule runs {b}, a cargo build output that the next build or `cargo clean` replaces: \
             install anonsweep with `cargo install --locked --path .` and pass the installed path with \
             --binary (e.g. --binary $HOME/.cargo/bin/anonsweep)"
        );
    }
    Ok(files)
}

fn file(name: &'static str, text: String) -> File {
    File { name, text }
}

/// A path inside a cargo target directory (`cargo build` output).
fn in_build_dir(path: &str) -> bool {
    path.contains("/target/debug/") || path.contains("/target/release/")
}

/// Refuses an option the kind has no use for (it would be silently ignored otherwise).
fn check_flags(o: &ScheduleOptions) -> anyhow::Result<()> {
    let kind = o.kind.name();
    let host = matches!(o.kind, Kind::Cron | Kind::Systemd);
    let given = |set: bool, flag: &str, fix: &str| -> anyhow::Result<()> {
        if set {
            return Err(usage(format!(
                "{flag} does not apply to `schedule {kind}`: {fix}"
            )));
        }
        Ok(())
    };
    if !host {
        let from = match o.kind {
            Kind::Kubernetes => "the Secret named by --secret",
            _ => "the repository secret DATABASE_URL",
        };
        given(
            o.env_file.is_some(),
            "--env-file",
            &format!("DATABASE_URL comes from {from}; remove --env-file"),
        )?;
        given(
            o.randomized_delay.is_some(),
            "--randomized-delay",
            "it is for systemd; remove it",
        )?;
        given(
            o.user.is_some(),
            "--user",
            "it is for cron and systemd; remove it",
        )?;
    }
    if o.kind != Kind::Kubernetes {
        given(
            o.image.is_some(),
            "--image",
            "it is for kubernetes; remove it",
        )?;
        given(
            o.secret.is_some(),
            "--secret",
            "it is for kubernetes; remove it",
        )?;
    }
    if o.kind == Kind::GithubActions {
        given(
            o.binary.is_some(),
            "--binary",
            "the workflow installs anonsweep from npm itself; remove --binary",
        )?;
    }
    Ok(())
}

/// The /etc/cron.d file, and the binary it runs.
fn cron(o: &ScheduleOptions) -> anyhow::Result<(String, String)> {
    let c = check(o)?;
    let host = check_host(o)?;
    let mut script = format!(
        "set -a; . {}; set +a; exec {} run",
        sh_double_quote(&host.env_file),
        sh_double_quote(&host.binary)
    );
    for a in &c.args {
        script.push(' ');
        script.push_str(&sh_double_quote(a));
    }
    // No terminal: progress lines would only fill the log.
    if !c.args.iter().any(|a| a == "--quiet" || a == "-q") {
        script.push_str(" --quiet");
    }
    let command = format!(
        "/bin/sh -c {} 2>&1 | logger -t anonsweep",
        sh_quote(&script)
    );
    // cron turns an unescaped % into a newline; `\%` is a literal %, but `\` before it can't be.
    if command.contains("\\%") {
        return Err(usage(
            "a backslash followed by % cannot be written in a cron line: use `anonsweep schedule systemd`",
        ));
    }
    let command = command.replace('%', "\\%");
    let user = o.user.as_deref().unwrap_or("root");
    let text = format!(
        "\
# /etc/cron.d/anonsweep: delete abandoned anonymous users daily at {h:02}:{m:02} (server local time).
# Generated by `anonsweep schedule cron`. Install (cron.d ignores file names with a dot):
#   install -m 0644 anonsweep.cron /etc/cron.d/anonsweep
# DATABASE_URL and any ANONSWEEP_* settings come from {env} (mode 0600,
# KEY='value' lines: it is sourced by /bin/sh), never from this file.
# The run's summary or error line goes to syslog with the tag anonsweep:
#   journalctl -t anonsweep   (or grep anonsweep /var/log/syslog)
# cron ignores exit codes, so check that log; `anonsweep schedule systemd` reports failures.
{lock_note}SHELL=/bin/sh
PATH=/usr/bin:/bin
{m} {h} * * * {user} {command}
",
        h = c.hour,
        m = c.minute,
        env = host.env_file,
        lock_note = host_lock_note(&c),
    );
    Ok((text, host.binary))
}

/// The systemd service and timer, and the binary they run.
fn systemd(o: &ScheduleOptions) -> anyhow::Result<(String, String, String)> {
    let c = check(o)?;
    let host = check_host(o)?;
    if host.binary.contains(['\'', '"', '\\']) {
        return Err(usage(format!(
            "systemd refuses to start an executable whose path has a quote or backslash: move {} elsewhere",
            host.binary
        )));
    }
    // The executable gets specifier (%) expansion only; arguments also get $VAR expansion.
    let mut exec = systemd_quote(&host.binary.replace('%', "%%"));
    exec.push_str(" run");
    for a in &c.args {
        exec.push(' ');
        exec.push_str(&systemd_quote(&a.replace('%', "%%").replace('$', "$$")));
    }
    let user = o
        .user
        .as_ref()
        .map(|u| format!("User={u}\n"))
        .unwrap_or_default();
    let install = "\
# Install:
#   install -m 0644 anonsweep.service anonsweep.timer /etc/systemd/system/
#   systemctl daemon-reload
#   systemctl enable --now anonsweep.timer
";
    let service = format!(
        "\
# anonsweep.service: one run deleting abandoned anonymous users, started daily by anonsweep.timer.
# Generated by `anonsweep schedule systemd`.
{install}\
# Run now: systemctl start anonsweep.service; logs: journalctl -u anonsweep.service
# DATABASE_URL and any ANONSWEEP_* settings come from the EnvironmentFile (mode 0600).
# Exit 75 (another server's run holds the lock) is a success here: with the same timer on
# several servers one of them runs and the others step aside every day. Every other non-zero
# exit (1-7) leaves the unit failed: see systemctl --failed.
# After TimeoutStartSec systemd sends SIGTERM and anonsweep stops after the current batch.
{lock_note}# Hardening: PrivateTmp=yes hides the real /tmp (keep --archive-dir and SQLite files out of it);
# ProtectSystem=full makes /usr, /boot and /etc read-only.
[Unit]
Description=Delete abandoned anonymous users (anonsweep)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
EnvironmentFile={env}
ExecStart={exec}
{user}TimeoutStartSec=6h
SuccessExitStatus=75
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=full
",
        env = host.env_file.replace('%', "%%"),
        lock_note = host_lock_note(&c),
    );
    let timer = format!(
        "\
# anonsweep.timer: start anonsweep.service daily at {h:02}:{m:02} (local time), up to {d} later.
# Generated by `anonsweep schedule systemd`.
{install}\
# Next run: systemctl list-timers anonsweep.timer
[Unit]
Description=Daily anonsweep run

[Timer]
OnCalendar=*-*-* {h:02}:{m:02}:00
Persistent=true
RandomizedDelaySec={d}
Unit=anonsweep.service

[Install]
WantedBy=timers.target
",
        h = c.hour,
        m = c.minute,
        d = host.randomized_delay,
    );
    Ok((service, timer, host.binary))
}

fn host_lock_note(c: &Checked) -> &'static str {
    if c.lock_from_env {
        "# The lock is ANONSWEEP_LOCK_URL from the env file: without it runs may overlap.\n"
    } else {
        ""
    }
}

/// The container's command: a /bin/sh wrapper that runs anonsweep (`$0`) with the run arguments
/// (`$@`) as its child, passes SIGTERM on (a shell as PID 1 gets no default signal handling, so
/// without the trap anonsweep would only see the SIGKILL after the grace period), and exits 0
/// for 75. No text from the command line enters the script: the binary and the arguments are
/// its positional parameters.
const K8S_WRAPPER: &str = r#"pid=
trap 'stop=1; [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null' TERM INT
"$0" "$@" &
pid=$!
[ -z "${stop:-}" ] || kill -TERM "$pid" 2>/dev/null
wait "$pid"
status=$?
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; status=$?; done
if [ "$status" -eq 75 ]; then
  echo "anonsweep: exit 75 (another instance holds the lock): nothing to do, counted as success" >&2
  exit 0
fi
exit "$status"
"#;

/// A Kubernetes CronJob (batch/v1), and the binary it runs inside the image.
fn kubernetes(o: &ScheduleOptions) -> anyhow::Result<(String, String)> {
    let c = check(o)?;
    let image = o.image.as_deref().ok_or_else(|| {
        usage(
            "schedule kubernetes needs --image: the container image with anonsweep and /bin/sh in it, \
             e.g. --image registry.example.com/anonsweep:0.1.0",
        )
    })?;
    if image.is_empty()
        || image.starts_with('-')
        || image.chars().any(|ch| ch.is_whitespace() || unwritable(ch))
    {
        return Err(usage(format!(
            "--image must be an image reference without spaces, got {image:?}: set e.g. --image registry.example.com/anonsweep:0.1.0"
        )));
    }
    let secret = o.secret.as_deref().unwrap_or(DEFAULT_SECRET);
    if !is_dns_subdomain(secret) {
        return Err(usage(format!(
            "--secret must be a Kubernetes object name (lower-case letters, digits, '-' and '.', \
             at most 253), got {secret:?}: set e.g. --secret anonsweep"
        )));
    }
    let binary = match &o.binary {
        Some(b) => plain(b, "--binary")?,
        None => DEFAULT_IMAGE_BINARY.to_string(),
    };
    if binary.is_empty() || binary.starts_with('-') {
        return Err(usage(format!(
            "--binary must be the path of anonsweep in the image, got {binary:?}: set e.g. --binary /usr/local/bin/anonsweep"
        )));
    }
    let mut env = secret_env("DATABASE_URL", secret);
    if c.lock_from_env {
        env.push_str(&secret_env("ANONSWEEP_LOCK_URL", secret));
    }
    let lock_note = if c.lock_from_env {
        format!(
            "# The lock is ANONSWEEP_LOCK_URL from the Secret {secret}: without it runs may overlap.\n"
        )
    } else {
        String::new()
    };
    let where_binary = if binary.contains('/') {
        format!("anonsweep at {binary}")
    } else {
        format!("anonsweep on its PATH as {binary}")
    };
    let pad = " ".repeat(18);
    let wrapper: String = K8S_WRAPPER.lines().map(|l| format!("{pad}{l}\n")).collect();
    let mut args = format!("                - {}\n", yaml_str("run"));
    for a in &c.args {
        args.push_str(&format!("                - {}\n", yaml_str(a)));
    }
    let text = format!(
        "\
# anonsweep-cronjob.yaml: a Kubernetes CronJob deleting abandoned anonymous users daily at
# {h:02}:{m:02} UTC. Generated by `anonsweep schedule kubernetes`; needs Kubernetes 1.29 or later.
# Install:
#   kubectl create secret generic {secret} --from-literal=DATABASE_URL='postgres://...'
#   kubectl apply -f anonsweep-cronjob.yaml
# Run now: kubectl create job --from=cronjob/anonsweep anonsweep-now
# Logs: kubectl logs job/anonsweep-now (the summary on stdout, progress and errors on stderr)
# DATABASE_URL comes from the key DATABASE_URL of the Secret {secret}, never from this file.
{lock_note}\
# Exit codes:
# - 75 (another instance, e.g. outside this cluster, holds the lock; nothing was done) ends the
#   Job as complete: the container's /bin/sh wrapper turns it into 0. A podFailurePolicy rule
#   `onExitCodes: {{operator: In, values: [75]}}, action: Ignore` is not used for it: Ignore means
#   \"do not count this failure, and create a replacement pod at once\", which would start pod
#   after pod for as long as the other run holds the lock.
# - 2 (bad flags or configuration) and 4 (a safety cap stopped the run) fail the Job at once
#   (podFailurePolicy FailJob): a retry would stop the same way.
# - Any other failure is retried in a new pod, at most backoffLimit times.
# The wrapper also passes SIGTERM on to anonsweep, which stops after the batch in flight; so the
# image needs /bin/sh (a distroless image has none) besides {where_binary}.
apiVersion: batch/v1
kind: CronJob
metadata:
  name: anonsweep
  labels:
    app.kubernetes.io/name: anonsweep
spec:
  schedule: {schedule}
  timeZone: Etc/UTC
  # Never two runs at once from this CronJob; a start missed by more than an hour is skipped.
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 3600
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 3
  jobTemplate:
    metadata:
      labels:
        app.kubernetes.io/name: anonsweep
    spec:
      backoffLimit: 2
      # After 6 hours the Job fails: its pod gets SIGTERM and anonsweep stops after the batch in flight.
      activeDeadlineSeconds: 21600
      podFailurePolicy:
        rules:
          - action: FailJob
            onExitCodes:
              containerName: anonsweep
              operator: In
              values: [2, 4]
          # An evicted or preempted pod (a node drain) is replaced without counting as a failure.
          - action: Ignore
            onPodConditions:
              - type: DisruptionTarget
                status: \"True\"
      template:
        metadata:
          labels:
            app.kubernetes.io/name: anonsweep
        spec:
          # podFailurePolicy requires restartPolicy Never: every retry is a new pod.
          restartPolicy: Never
          containers:
            - name: anonsweep
              image: {image}
              command:
                - \"/bin/sh\"
                - \"-c\"
                - |
{wrapper}                - {binary_yaml}
              args:
{args}              env:
{env}              securityContext:
                allowPrivilegeEscalation: false
",
        h = c.hour,
        m = c.minute,
        schedule = yaml_str(&format!("{} {} * * *", c.minute, c.hour)),
        image = yaml_str(image),
        binary_yaml = yaml_str(&binary),
    );
    Ok((text, binary))
}

/// One `env:` entry read from a key of the Secret.
fn secret_env(key: &str, secret: &str) -> String {
    format!(
        "                - name: {key}
                  valueFrom:
                    secretKeyRef:
                      name: {secret}
                      key: {key}
"
    )
}

/// A scheduled GitHub Actions workflow.
fn github_actions(o: &ScheduleOptions) -> anyhow::Result<String> {
    let c = check(o)?;
    if let Some(a) = c.args.iter().find(|a| a.contains("${{")) {
        return Err(usage(format!(
            "run argument {a:?} contains ${{{{, which GitHub Actions would evaluate as an expression: remove it"
        )));
    }
    let mut command = String::from("anonsweep run");
    for a in &c.args {
        command.push(' ');
        // Double quotes: shellcheck (which actionlint runs) flags a `$` in single quotes.
        command.push_str(&sh_double_quote(a));
    }
    let version = env!("CARGO_PKG_VERSION");
    let (lock_env, lock_note) = if c.lock_from_env {
        (
            "          ANONSWEEP_LOCK_URL: ${{ secrets.ANONSWEEP_LOCK_URL }}\n",
            "# The lock is the repository secret ANONSWEEP_LOCK_URL: without it runs may overlap.\n",
        )
    } else {
        ("", "")
    };
    Ok(format!(
        "\
# anonsweep.yml: a GitHub Actions workflow deleting abandoned anonymous users daily at {h:02}:{m:02} UTC.
# Generated by `anonsweep schedule github-actions`. Install: commit it as
# .github/workflows/anonsweep.yml, and add the repository secret DATABASE_URL (Settings, Secrets
# and variables, Actions; or `gh secret set DATABASE_URL`). The database must accept
# connections from GitHub's runners.
# Run now: gh workflow run anonsweep.yml (or \"Run workflow\" on the Actions tab).
# GitHub may start a scheduled run late when it is busy, and turns schedules off in a repository
# without activity for 60 days.
{lock_note}\
name: anonsweep

on:
  schedule:
    - cron: {cron}
  workflow_dispatch:

# One run at a time: a start while a run is in flight waits for it, and no run is cancelled
# mid-way (anonsweep would stop after a batch; the next run would finish the job).
concurrency:
  group: anonsweep
  cancel-in-progress: false

permissions: {{}}

jobs:
  anonsweep:
    runs-on: ubuntu-latest
    # On cancel or timeout the runner sends SIGINT: anonsweep stops after the batch in flight
    # (SIGTERM follows 7.5 s later and stops it at once, the batch in flight rolled back).
    timeout-minutes: 360
    steps:
      # The npm package anonsweep carries the prebuilt Linux x64 binary, so this takes seconds;
      # `cargo install --locked anonsweep` would compile it from source in every run (minutes).
      - name: Install anonsweep {version}
        run: |
          npm install --global --prefix \"$RUNNER_TEMP/anonsweep\" --no-audit --no-fund anonsweep@{version}
          echo \"$RUNNER_TEMP/anonsweep/bin\" >> \"$GITHUB_PATH\"
      # Exit 75: another instance holds the lock and nothing was done: a success here.
      - name: Delete abandoned anonymous users
        env:
          DATABASE_URL: ${{{{ secrets.DATABASE_URL }}}}
{lock_env}        run: |
          status=0
          {command} || status=$?
          if [ \"$status\" -eq 75 ]; then
            echo \"::notice::another anonsweep run holds the lock: nothing done\"
            exit 0
          fi
          exit \"$status\"
",
        h = c.hour,
        m = c.minute,
        cron = yaml_str(&format!("{} {} * * *", c.minute, c.hour)),
    ))
}

/// The checks every kind shares: the time, the lock and the run arguments.
fn check(o: &ScheduleOptions) -> anyhow::Result<Checked> {
    let (hour, minute) = parse_time(&o.time).ok_or_else(|| {
        usage(format!(
            "--time must be HH:MM (00:00 to 23:59), got {:?}: set e.g. --time 02:00",
            o.time
        ))
    })?;
    let kind = o.kind.name();
    let secrets = o.kind.secrets();
    let mut args = Vec::new();
    match o.lock.as_str() {
        "env" => {}
        "database" => args.extend(["--lock".to_string(), "database".to_string()]),
        l if l.starts_with("redis://") || l.starts_with("rediss://") => {
            let url = url::Url::parse(l).map_err(|e| {
                usage(format!(
                    "--lock is not a valid redis URL ({e}): set e.g. redis://host:6379"
                ))
            })?;
            if url.password().is_some() {
                return Err(usage(format!(
                    "the lock URL contains a password: put it in {secrets} as ANONSWEEP_LOCK_URL instead and pass --lock env",
                )));
            }
            args.extend(["--lock".to_string(), l.to_string()]);
        }
        l => {
            return Err(usage(format!(
                "unknown --lock {l:?}: use database, env (ANONSWEEP_LOCK_URL in {secrets}) or redis://host:6379"
            )))
        }
    }
    for a in &o.run_args {
        if a == "--database-url" || a.starts_with("--database-url=") {
            return Err(usage(format!(
                "--database-url does not belong in a schedule: put DATABASE_URL in {secrets}",
            )));
        }
        if a == "--lock" || a.starts_with("--lock=") {
            return Err(usage(format!(
                "--lock after -- is not needed: pass it before --, e.g. schedule {kind} --lock database",
            )));
        }
        if a.chars().any(unwritable) {
            return Err(usage(format!(
                "run argument {a:?} has a control character (newline, tab...): remove it"
            )));
        }
        args.push(a.clone());
    }
    Ok(Checked {
        hour,
        minute,
        args,
        lock_from_env: o.lock == "env",
    })
}

/// What cron and systemd need besides: the binary and env file paths, the delay, the user.
struct Host {
    binary: String,
    env_file: String,
    randomized_delay: String,
}

fn check_host(o: &ScheduleOptions) -> anyhow::Result<Host> {
    let randomized_delay = o
        .randomized_delay
        .as_deref()
        .unwrap_or(DEFAULT_RANDOMIZED_DELAY);
    if !is_time_span(randomized_delay) {
        return Err(usage(format!(
            "--randomized-delay must be a systemd time span, got {randomized_delay:?}: set e.g. 30m, 1h, 90s or 0",
        )));
    }
    let env_file = o
        .env_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ENV_FILE));
    if !env_file.is_absolute() {
        return Err(usage(format!(
            "--env-file must be an absolute path, got {:?}: set e.g. {DEFAULT_ENV_FILE}",
            env_file.display()
        )));
    }
    let env_file = plain(&env_file, "--env-file")?;
    let binary = match &o.binary {
        Some(b) if !b.is_absolute() => {
            return Err(usage(format!(
                "--binary must be an absolute path, got {:?}: set e.g. --binary /usr/local/bin/anonsweep",
                b.display()
            )))
        }
        Some(b) => plain(b, "--binary")?,
        None => plain(&o.this_binary, "the binary path")?,
    };
    if let Some(u) = &o.user {
        let ok = !u.is_empty()
            && !u.starts_with('-')
            && u.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch));
        if !ok {
            return Err(usage(format!(
                "--user must be a user name, got {u:?}: set e.g. --user anonsweep"
            )));
        }
    }
    Ok(Host {
        binary,
        env_file,
        randomized_delay: randomized_delay.to_string(),
    })
}

/// A Kubernetes object name (RFC 1123 subdomain).
fn is_dns_subdomain(s: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    s.len() <= 253
        && edge(s.chars().next())
        && edge(s.chars().last())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

/// A YAML double-quoted scalar: JSON's string syntax is valid YAML (the characters JSON leaves
/// unescaped that YAML would not read literally are refused earlier, see `unwritable`).
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// A character none of the formats can carry literally: control characters (a newline would
/// end a cron line or a systemd setting), Unicode line separators (YAML 1.1 readers break lines
/// there) and the non-characters YAML refuses.
fn unwritable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FFFE}' | '\u{FFFF}')
}

/// `HH:MM` with two digits each.
fn parse_time(t: &str) -> Option<(u32, u32)> {
    let (h, m) = t.split_once(':')?;
    let two = |s: &str| (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse());
    let (h, m): (u32, u32) = (two(h)?.ok()?, two(m)?.ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

/// A systemd time span: `0`, `90` (seconds) or number+unit groups like `1h 30min`.
fn is_time_span(s: &str) -> bool {
    const UNITS: [&str; 30] = [
        "usec", "us", "msec", "ms", "seconds", "second", "sec", "s", "minutes", "minute", "min",
        "m", "hours", "hour", "hr", "h", "days", "day", "d", "weeks", "week", "w", "months",
        "month", "M", "years", "year", "y", "µs", "μs",
    ];
    let mut rest = s.trim();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        let after = rest[digits..].trim_start();
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == ' ');
        let unit = &after[..unit_len.unwrap_or(after.len())];
        if !unit.is_empty() && !UNITS.contains(&unit) {
            return false;
        }
        rest = after[unit.len()..].trim_start();
    }
    true
}

/// A path as text with no control characters (a newline would break either file format).
fn plain(p: &Path, what: &str) -> anyhow::Result<String> {
    match p.to_str() {
        Some(s) if !s.chars().any(unwritable) => Ok(s.to_string()),
        _ => Err(usage(format!(
            "{what} {:?} is not plain UTF-8 text without control characters: use another path",
            p.display()
        ))),
    }
}

fn is_safe_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@+,-".contains(c))
}

/// One word for /bin/sh: bare when safe, else single-quoted (`'` written as `'\''`).
fn sh_quote(s: &str) -> String {
    if is_safe_word(s) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// One word inside the single-quoted `sh -c` script: bare or double-quoted, which keeps the
/// outer single quotes readable (only a `'` in a word needs `'\''` there).
fn sh_double_quote(s: &str) -> String {
    if is_safe_word(s) {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '$' | '`' | '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// One word for a systemd command line: bare when safe, else double-quoted with C escapes.
fn systemd_quote(s: &str) -> String {
    if is_safe_word(s) {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_spans() {
        assert_eq!(parse_time("02:05"), Some((2, 5)));
        assert_eq!(parse_time("23:59"), Some((23, 59)));
        for bad in [
            "24:00", "2:00", "02:60", "0200", "aa:bb", "02:00:00", "+1:00",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        for ok in ["0", "90", "30m", "1h", "90s", "1h 30min", "1h30m", "2d"] {
            assert!(is_time_span(ok), "{ok}");
        }
        for bad in ["", "m", "30 minutes-ish", "-5m", "30x"] {
            assert!(!is_time_span(bad), "{bad}");
        }
    }
}
