#!/usr/bin/env python3
"""anonsweep benchmark harness (stdlib only).

Compares `anonsweep run` with a hand-written set-based SQL baseline on SQLite,
PostgreSQL and MariaDB (and with pt-archiver on MariaDB), every contender on an
identical fresh copy of the deterministic demo dataset, and verifies after every
contender that exactly the same users were removed.

    python3 bench/bench.py                     # 1,000,000 users, all backends, 3 repeats
    python3 bench/bench.py --quick             # ~100k users, 1 repeat (< 2 minutes)
    python3 bench/bench.py --users 1000000 --repeat 3 --backends postgres,sqlite
    python3 bench/bench.py --scaling           # PostgreSQL series at 100k / 1M / 4M eligible users
    python3 bench/bench.py --out results.json

Timings are reported, never asserted. Exit status is non-zero only when contenders
disagree about the remaining rows or a command fails.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "target", "release", "anonsweep")
AS_OF = "2026-11-26T00:00:00Z"
CUTOFF_ISO = "2026-10-27T00:00:00.000Z"   # SQLite canonical text
CUTOFF_TS = "2026-10-27 00:00:00"          # PostgreSQL (UTC) / MariaDB DATETIME
PG_ADMIN = "postgres://postgres@127.0.0.1:5432"
MY_ADMIN = "mysql://root@127.0.0.1:3306"
PREFIX = "anonsweep_bench"
TIME_BIN = "/usr/bin/time"
PSQL = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"]
MARIADB = ["mariadb", "-uroot", "-h127.0.0.1", "--batch", "--skip-column-names"]

FAILURES = []      # fatal problems (commands failing)
MISMATCHES = []    # contenders disagreeing about the remaining rows
WORKDIR = tempfile.mkdtemp(prefix="anonsweep-bench-")
CREATED_PG = set()
CREATED_MY = set()


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class CmdError(Exception):
    pass


def run_measured(argv, env=None, stdin_path=None, check=True):
    """Runs argv; returns dict(wall, rss_kib, rc, stdout, stderr, start_epoch)."""
    out = tempfile.TemporaryFile(dir=WORKDIR)
    err = tempfile.TemporaryFile(dir=WORKDIR)
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    full_env = dict(os.environ)
    full_env.pop("DATABASE_URL", None)
    if env:
        full_env.update(env)
    # Peak RSS: Linux carries the RSS high-water mark across fork+exec, so a child forked from
    # this (large) Python process would report at least Python's own RSS. /usr/bin/time forks
    # the measured command from a tiny process and reports that command's ru_maxrss alone.
    rss_file = None
    if os.path.exists(TIME_BIN):
        fd, rss_file = tempfile.mkstemp(dir=WORKDIR)
        os.close(fd)
        argv = [TIME_BIN, "-f", "%M", "-o", rss_file] + list(argv)
    start_epoch = time.time()
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=stdin, env=full_env, cwd=WORKDIR)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if stdin_path:
        stdin.close()
    out.seek(0)
    err.seek(0)
    rss_kib = ru.ru_maxrss  # upper bound only (see above)
    if rss_file:
        with open(rss_file) as f:
            lines = [l for l in f.read().split() if l.isdigit()]
        os.remove(rss_file)
        if lines:
            rss_kib = int(lines[-1])
    res = dict(wall=wall, rss_kib=rss_kib, rc=p.returncode,
               stdout=out.read().decode(errors="replace"),
               stderr=err.read().decode(errors="replace"), start_epoch=start_epoch)
    if check and res["rc"] != 0:
        raise CmdError(f"{' '.join(argv)} exited {res['rc']}:\n{res['stderr'][-3000:]}\n{res['stdout'][-2000:]}")
    return res


def sh(argv, input_text=None):
    p = subprocess.run(argv, input=input_text, capture_output=True, text=True, cwd=WORKDIR)
    if p.returncode != 0:
        raise CmdError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr[-3000:]}")
    return p.stdout


# ---------------------------------------------------------------------------------------------
# Backends: copies, baselines, verification
# ---------------------------------------------------------------------------------------------

ELIG_SQLITE = f"""SELECT u.id FROM users u
 WHERE u.is_anonymous = 1 AND u.created_at < '{CUTOFF_ISO}'
   AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id
                   AND (s.created_at >= '{CUTOFF_ISO}' OR s.updated_at >= '{CUTOFF_ISO}'))"""
ELIG_PG = f"""SELECT u.id FROM users u
 WHERE u.is_anonymous AND u.created_at < TIMESTAMPTZ '{CUTOFF_TS}+00'
   AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id
                   AND (s.created_at >= TIMESTAMPTZ '{CUTOFF_TS}+00' OR s.updated_at >= TIMESTAMPTZ '{CUTOFF_TS}+00'))"""
ELIG_MY = f"""SELECT u.id FROM users u
 WHERE u.is_anonymous = 1 AND u.created_at < '{CUTOFF_TS}'
   AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id
                   AND (s.created_at >= '{CUTOFF_TS}' OR s.updated_at >= '{CUTOFF_TS}'))"""


class Sqlite:
    name = "sqlite"

    def __init__(self):
        self.master = None
        self.n = 0

    def prepare(self, users):
        self.master = os.path.join(WORKDIR, f"master-{users}.db")
        run_measured([BIN, "demo", "--fill-only", "--users", str(users), "--as-of", AS_OF,
                      "--database-url", f"sqlite://{self.master}"])

    def copy(self):
        self.n += 1
        path = os.path.join(WORKDIR, f"copy-{self.n}.db")
        shutil.copyfile(self.master, path)
        return path

    def url(self, copy):
        return f"sqlite://{copy}"

    def drop(self, copy):
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(copy + suffix):
                os.remove(copy + suffix)

    def query(self, copy, sql):
        return sh(["sqlite3", "-batch", copy, sql])

    def eligible(self, copy):
        return int(self.query(copy, f"SELECT count(*) FROM ({ELIG_SQLITE});").strip())

    def state(self, copy):
        ids = sh(["sqlite3", "-batch", copy, "SELECT id FROM users ORDER BY id;"])
        counts = self.query(copy, "SELECT (SELECT count(*) FROM sessions)||' '||(SELECT count(*) FROM accounts);").split()
        return state_tuple(ids, counts)

    def baseline(self, copy):
        script = os.path.join(WORKDIR, "baseline-sqlite.sql")
        with open(script, "w") as f:
            f.write(f""".bail on
PRAGMA foreign_keys = ON;
BEGIN IMMEDIATE;
CREATE TEMP TABLE elig (id TEXT PRIMARY KEY);
INSERT INTO elig {ELIG_SQLITE};
DELETE FROM sessions WHERE user_id IN (SELECT id FROM elig);
DELETE FROM accounts WHERE user_id IN (SELECT id FROM elig);
DELETE FROM users WHERE id IN (SELECT id FROM elig);
COMMIT;
""")
        return run_measured(["sqlite3", "-batch", copy], stdin_path=script)


class Postgres:
    name = "postgres"

    def __init__(self):
        self.src = None
        self.n = 0

    def admin(self, sql, db="postgres"):
        return sh(PSQL + ["-d", db, "-At", "-c", sql])

    def create_empty(self, name):
        self.admin(f"DROP DATABASE IF EXISTS {name}")
        self.admin(f"CREATE DATABASE {name}")
        CREATED_PG.add(name)

    def drop_db(self, name):
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        CREATED_PG.discard(name)

    def prepare(self, users):
        self.src = f"{PREFIX}_src"
        self.create_empty(self.src)
        run_measured([BIN, "demo", "--fill-only", "--users", str(users), "--as-of", AS_OF,
                      "--database-url", f"{PG_ADMIN}/{self.src}"])
        # A production database has statistics and a visibility map; give the source both once
        # (every copy inherits them through the template).
        self.admin("VACUUM ANALYZE", db=self.src)

    def copy(self):
        self.n += 1
        name = f"{PREFIX}_c{self.n}"
        self.admin(f"DROP DATABASE IF EXISTS {name}")
        self.admin(f"CREATE DATABASE {name} TEMPLATE {self.src} STRATEGY FILE_COPY")
        CREATED_PG.add(name)
        self.admin("CHECKPOINT")
        return name

    def url(self, copy):
        return f"{PG_ADMIN}/{copy}"

    def drop(self, copy):
        self.drop_db(copy)

    def query(self, copy, sql):
        return self.admin(sql, db=copy)

    def eligible(self, copy):
        return int(self.query(copy, f"SELECT count(*) FROM ({ELIG_PG}) e").strip())

    def state(self, copy):
        ids = sh(PSQL + ["-d", copy, "-At", "-c", "SELECT id FROM users ORDER BY id"])
        counts = self.query(copy, "SELECT (SELECT count(*) FROM sessions)||' '||(SELECT count(*) FROM accounts)").split()
        return state_tuple(ids, counts)

    def baseline(self, copy):
        script = os.path.join(WORKDIR, "baseline-postgres.sql")
        with open(script, "w") as f:
            f.write(f"""BEGIN;
CREATE TEMP TABLE elig ON COMMIT DROP AS {ELIG_PG};
ALTER TABLE elig ADD PRIMARY KEY (id);
ANALYZE elig;
DELETE FROM sessions WHERE user_id IN (SELECT id FROM elig);
DELETE FROM accounts WHERE user_id IN (SELECT id FROM elig);
DELETE FROM users WHERE id IN (SELECT id FROM elig);
COMMIT;
""")
        return run_measured(PSQL + ["-d", copy, "-f", script])


class Mysql:
    name = "mysql"

    def __init__(self):
        self.users = 0
        self.n = 0

    def admin(self, sql, db=None):
        return sh(MARIADB + ([db] if db else []) + ["-e", sql])

    def prepare(self, users):
        self.users = users

    def copy(self):
        # No cheap template copy in MariaDB: re-run the deterministic fill per copy.
        self.n += 1
        name = f"{PREFIX}_c{self.n}"
        self.admin(f"DROP DATABASE IF EXISTS {name}")
        self.admin(f"CREATE DATABASE {name}")
        CREATED_MY.add(name)
        r = run_measured([BIN, "demo", "--fill-only", "--users", str(self.users), "--as-of", AS_OF,
                          "--database-url", f"{MY_ADMIN}/{name}"])
        log(f"  mysql fill {self.users} users: {r['wall']:.1f}s")
        return name

    def url(self, copy):
        return f"{MY_ADMIN}/{copy}"

    def drop(self, copy):
        self.admin(f"DROP DATABASE IF EXISTS {copy}")
        CREATED_MY.discard(copy)

    def query(self, copy, sql):
        return self.admin(sql, db=copy)

    def eligible(self, copy):
        return int(self.query(copy, f"SELECT count(*) FROM ({ELIG_MY}) e").strip())

    def state(self, copy):
        ids = sh(MARIADB + [copy, "-e", "SELECT id FROM users ORDER BY id"])
        counts = self.query(copy, "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM accounts)").split()
        return state_tuple(ids, counts)

    def baseline(self, copy):
        script = os.path.join(WORKDIR, "baseline-mysql.sql")
        with open(script, "w") as f:
            f.write(f"""START TRANSACTION;
CREATE TEMPORARY TABLE elig (PRIMARY KEY (id)) AS {ELIG_MY};
DELETE s FROM sessions s JOIN elig e ON s.user_id = e.id;
DELETE a FROM accounts a JOIN elig e ON a.user_id = e.id;
DELETE u FROM users u JOIN elig e ON u.id = e.id;
COMMIT;
DROP TEMPORARY TABLE elig;
""")
        return run_measured(MARIADB + [copy], stdin_path=script)

    def pt_archiver(self, copy):
        """Helper table + pt-archiver children before parents; the whole job is timed."""
        t0 = time.perf_counter()
        self.admin(f"CREATE TABLE bench_elig (PRIMARY KEY (id)) AS {ELIG_MY}", db=copy)
        steps = []
        rss = 0
        for table, col in (("sessions", "user_id"), ("accounts", "user_id"), ("users", "id")):
            r = run_measured([
                "pt-archiver", "--source", f"h=127.0.0.1,u=root,D={copy},t={table}",
                "--purge", "--bulk-delete", "--limit", "1000", "--commit-each",
                "--where", f"{col} IN (SELECT id FROM bench_elig)",
                "--no-check-charset", "--why-quit", "--statistics"])
            steps.append(dict(table=table, wall=r["wall"], stdout=r["stdout"][-1500:]))
            rss = max(rss, r["rss_kib"])
        self.admin("DROP TABLE bench_elig", db=copy)
        wall = time.perf_counter() - t0
        return dict(wall=wall, rss_kib=rss, steps=steps)


def state_tuple(ids_text, counts):
    ids = ids_text.strip()
    n = 0 if not ids else ids.count("\n") + 1
    return dict(users=n, md5=hashlib.md5(ids.encode()).hexdigest(),
                sessions=int(counts[0]), accounts=int(counts[1]))


# ---------------------------------------------------------------------------------------------
# Contenders
# ---------------------------------------------------------------------------------------------

def parse_log_epoch(stderr, needle):
    for line in stderr.splitlines():
        if needle in line:
            ts = line.split(" ", 1)[0]
            try:
                return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
            except ValueError:
                return None
    return None


# anonsweep's default --batch-size per backend (src/dialect.rs, default_batch_size).
DEFAULT_BATCH = {"postgres": 5000, "mysql": 2000, "sqlite": 1000}


def anonsweep_run(url, batch_size=None):
    argv = [BIN, "run", "--as-of", AS_OF, "--format", "json", "--database-url", url]
    if batch_size:
        argv += ["--batch-size", str(batch_size)]
    r = run_measured(argv, env={"ANONSWEEP_LOG": "info"})
    summary = json.loads(r["stdout"].strip().splitlines()[-1])
    batches_start = parse_log_epoch(r["stderr"], " eligible of ")
    counting = (batches_start - r["start_epoch"]) if batches_start else None
    return dict(wall=r["wall"], rss_kib=r["rss_kib"], deleted_users=summary["deleted_users"],
                eligible=summary["eligible"], batches=summary["batches"],
                max_batch_ms=summary["max_batch_ms"], p99_batch_ms=summary["p99_batch_ms"],
                duration_seconds=summary["duration_seconds"],
                counting_s=counting, failed=len(summary["failed"]), kept_changed=summary["kept_changed"])


def run_contender(be, label, fn, reference, expected_eligible, results):
    copy = be.copy()
    try:
        before = None
        log(f"{be.name}: {label} ...")
        res = fn(copy)
        after = be.state(copy)
        res["state"] = after
        res["contender"] = label
        res["backend"] = be.name
        ok = True
        if reference.get("state") is None:
            reference["state"] = after
            reference["by"] = label
        elif after != reference["state"]:
            ok = False
        if "deleted_users" in res and res["deleted_users"] != expected_eligible:
            ok = False
        if not ok:
            msg = (f"MISMATCH on {be.name}: {label} left {after} (deleted {res.get('deleted_users')}), "
                   f"but {reference['by']} left {reference['state']} (expected eligible {expected_eligible})")
            print("!" * 100 + "\n" + msg + "\n" + "!" * 100, file=sys.stderr, flush=True)
            MISMATCHES.append(msg)
            res["void"] = True
        extra = ""
        if "p99_batch_ms" in res:
            extra = (f" p99 {res['p99_batch_ms']:.0f} ms max {res['max_batch_ms']:.0f} ms "
                     f"rss {res['rss_kib']/1024:.1f} MiB counting {res['counting_s'] or 0:.2f}s")
        log(f"{be.name}: {label}: {res['wall']:.2f}s{extra} remaining users {after['users']}")
        results.append(res)
        return res
    except (CmdError, ValueError, KeyError) as e:
        msg = f"FAILED on {be.name}: {label}: {e}"
        print(msg, file=sys.stderr, flush=True)
        FAILURES.append(msg)
        return None
    finally:
        be.drop(copy)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def bench_backend(be, users, repeat, batch_sizes, best_batch, out):
    log(f"== {be.name}: preparing {users} users")
    be.prepare(users)
    # expected eligible count from the rule, on a pristine copy (also checks the copy step)
    copy = be.copy()
    try:
        expected = be.eligible(copy)
        pristine = be.state(copy)
    finally:
        be.drop(copy)
    log(f"{be.name}: {expected} eligible of {pristine['users']} users")
    runs = []
    reference = {"state": None}
    sweep = {}
    if batch_sizes:
        for bs in batch_sizes:
            r = run_contender(be, f"anonsweep --batch-size {bs}",
                              lambda c, bs=bs: anonsweep_run(be.url(c), bs), reference, expected, runs)
            if r and not r.get("void"):
                sweep[bs] = r
        if sweep:
            # fastest batch size whose p99 batch time stays within the 250 ms target
            within = [b for b in sweep if sweep[b]["p99_batch_ms"] <= 250] or list(sweep)
            best_batch = min(within, key=lambda b: sweep[b]["wall"])
            log(f"{be.name}: best batch size of the sweep (fastest with p99 <= 250 ms): {best_batch}")
    default = DEFAULT_BATCH[be.name]
    contenders = [(f"anonsweep (default batch {default})", lambda c: anonsweep_run(be.url(c)))]
    if best_batch and best_batch != default:
        contenders.append((f"anonsweep (batch {best_batch})", lambda c: anonsweep_run(be.url(c), best_batch)))
    contenders.append(("set-based SQL baseline", be.baseline))
    if be.name == "mysql":
        contenders.append(("pt-archiver", be.pt_archiver))
    per_rep = []
    for rep in range(repeat):
        row = {}
        for label, fn in contenders:
            r = run_contender(be, label, fn, reference, expected, runs)
            if r:
                r["repeat"] = rep
                if not r.get("void"):
                    row[label] = r
        per_rep.append(row)
    # summary per contender
    summary = []
    base_label = "set-based SQL baseline"
    for label, _ in contenders:
        rs = [row[label] for row in per_rep if label in row]
        if not rs:
            continue
        s = dict(backend=be.name, contender=label, n=len(rs),
                 wall_median=median([r["wall"] for r in rs]),
                 walls=[round(r["wall"], 3) for r in rs])
        ratios = [row[label]["wall"] / row[base_label]["wall"] for row in per_rep
                  if label in row and base_label in row]
        s["ratio_vs_baseline"] = median(ratios)
        s["ratios"] = [round(x, 3) for x in ratios]
        if be.name == "mysql" and "pt-archiver" in [c for c, _ in contenders]:
            pr = [row["pt-archiver"]["wall"] / row[label]["wall"] for row in per_rep
                  if label in row and "pt-archiver" in row]
            s["pt_archiver_over_this"] = median(pr)
        if label.startswith("anonsweep"):
            s["p99_batch_ms"] = median([r["p99_batch_ms"] for r in rs])
            s["max_batch_ms"] = max(r["max_batch_ms"] for r in rs)
            s["rss_mib"] = max(r["rss_kib"] for r in rs) / 1024
            s["counting_s"] = median([r["counting_s"] for r in rs])
            s["deleted_users"] = rs[0]["deleted_users"]
        summary.append(s)
    out["backends"][be.name] = dict(users=users, eligible=expected, pristine=pristine, runs=runs,
                                    summary=summary,
                                    sweep={str(k): dict(wall=v["wall"], p99_batch_ms=v["p99_batch_ms"],
                                                        max_batch_ms=v["max_batch_ms"],
                                                        rss_mib=v["rss_kib"] / 1024,
                                                        counting_s=v["counting_s"])
                                           for k, v in sweep.items()},
                                    best_batch=best_batch)
    return best_batch


def bench_plan(be, users, out, reps=3):
    """`anonsweep plan` wall time without and with the shipped indexes (same copy)."""
    log(f"== {be.name}: plan timing on {users} users")
    if be.name == "mysql":
        be.prepare(users)
    copy = be.copy()
    res = {}
    try:
        url = be.url(copy)
        for phase in ("without indexes", "with shipped indexes"):
            if phase == "with shipped indexes":
                m = run_measured([BIN, "migrate", "run", "--database-url", url])
                res["migrate_run_s"] = m["wall"]
            walls = []
            rss = 0
            for _ in range(reps):
                r = run_measured([BIN, "plan", "--as-of", AS_OF, "--format", "json", "--database-url", url])
                walls.append(r["wall"])
                rss = max(rss, r["rss_kib"])
                eligible = json.loads(r["stdout"]).get("eligible")
            res[phase] = dict(walls=[round(w, 3) for w in walls], median=median(walls), eligible=eligible,
                              rss_mib=rss / 1024)
            log(f"{be.name}: plan {phase}: {', '.join(f'{w:.2f}s' for w in walls)} (eligible {eligible})")
    except (CmdError, ValueError) as e:
        FAILURES.append(f"FAILED plan timing on {be.name}: {e}")
        print(FAILURES[-1], file=sys.stderr)
    finally:
        be.drop(copy)
    out.setdefault("plan", {})[be.name] = dict(users=users, **res)


# ---------------------------------------------------------------------------------------------
# Scaling series (PostgreSQL, plain-SQL dataset)
# ---------------------------------------------------------------------------------------------

SCHEMA_PG = """
CREATE TABLE users (id text PRIMARY KEY, name text NOT NULL, email text, is_anonymous boolean,
  created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE sessions (id text PRIMARY KEY, user_id text NOT NULL REFERENCES users (id), token text NOT NULL,
  created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, expires_at timestamptz NOT NULL);
CREATE TABLE accounts (id text PRIMARY KEY, user_id text NOT NULL REFERENCES users (id),
  provider_id text NOT NULL, created_at timestamptz NOT NULL);
"""


def scaling_fill_sql(eligible):
    """`eligible` anonymous users created long ago (half with one old session), plus a quarter as
    many registered users, each with a fresh session and an account (80% anonymous overall)."""
    reg = eligible // 4
    total = eligible + reg
    return SCHEMA_PG + f"""
INSERT INTO users SELECT 'usr_' || lpad(i::text, 9, '0'),
  CASE WHEN i % 5 = 0 THEN 'Registered' ELSE 'Anonymous' END,
  CASE WHEN i % 5 = 0 THEN 'u' || i || '@example.com' END,
  i % 5 <> 0,
  TIMESTAMPTZ '2026-06-01 00:00:00+00' + (i % 86400) * INTERVAL '1 minute',
  TIMESTAMPTZ '2026-06-01 00:00:00+00' + (i % 86400) * INTERVAL '1 minute'
FROM generate_series(1, {total}) AS i;
INSERT INTO sessions SELECT 'ses_' || lpad(i::text, 9, '0'), 'usr_' || lpad(i::text, 9, '0'), 'tok' || i,
  CASE WHEN i % 5 = 0 THEN TIMESTAMPTZ '2026-11-20 00:00:00+00' ELSE TIMESTAMPTZ '2026-09-01 00:00:00+00' END,
  CASE WHEN i % 5 = 0 THEN TIMESTAMPTZ '2026-11-21 00:00:00+00' ELSE TIMESTAMPTZ '2026-09-02 00:00:00+00' END,
  TIMESTAMPTZ '2026-12-01 00:00:00+00'
FROM generate_series(1, {total}) AS i WHERE i % 5 = 0 OR i % 2 = 1;
INSERT INTO accounts SELECT 'acc_' || lpad(i::text, 9, '0'), 'usr_' || lpad(i::text, 9, '0'), 'credential',
  TIMESTAMPTZ '2026-06-01 00:00:00+00'
FROM generate_series(5, {total}, 5) AS i;
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX accounts_user_id_idx ON accounts (user_id);
VACUUM ANALYZE;
"""


def bench_scaling(sizes, batch_size, out):
    pg = Postgres()
    series = []
    for eligible in sizes:
        name = f"{PREFIX}_scale"
        log(f"== scaling: {eligible} eligible users: generating")
        try:
            pg.create_empty(name)
            script = os.path.join(WORKDIR, "scale.sql")
            with open(script, "w") as f:
                f.write(scaling_fill_sql(eligible))
            g = run_measured(PSQL + ["-d", name, "-f", script])
            log(f"scaling: generated in {g['wall']:.1f}s")
            expected = pg.eligible(name)
            total = int(pg.query(name, "SELECT count(*) FROM users").strip())
            r = anonsweep_run(pg.url(name), batch_size)
            remaining = int(pg.query(name, "SELECT count(*) FROM users").strip())
            again = pg.eligible(name)
            row = dict(eligible=expected, users=total, generate_s=g["wall"], wall=r["wall"],
                       deleted_users=r["deleted_users"], us_per_user=r["wall"] / max(1, r["deleted_users"]) * 1e6,
                       batch_us_per_user=(r["wall"] - (r["counting_s"] or 0)) / max(1, r["deleted_users"]) * 1e6,
                       counting_s=r["counting_s"], p99_batch_ms=r["p99_batch_ms"],
                       max_batch_ms=r["max_batch_ms"], rss_mib=r["rss_kib"] / 1024,
                       batch_size=batch_size or DEFAULT_BATCH["postgres"])
            if r["deleted_users"] != expected or remaining != total - expected or again != 0:
                msg = (f"MISMATCH scaling {eligible}: deleted {r['deleted_users']}, expected {expected}, "
                       f"remaining {remaining} of {total}, still eligible {again}")
                print("!" * 100 + "\n" + msg + "\n" + "!" * 100, file=sys.stderr)
                MISMATCHES.append(msg)
                row["void"] = True
            log(f"scaling {eligible}: {r['wall']:.1f}s, {row['us_per_user']:.1f} us/user, "
                f"counting {r['counting_s'] or 0:.2f}s, p99 {r['p99_batch_ms']:.0f} ms, rss {row['rss_mib']:.1f} MiB")
            series.append(row)
        except (CmdError, ValueError) as e:
            FAILURES.append(f"FAILED scaling {eligible}: {e}")
            print(FAILURES[-1], file=sys.stderr)
        finally:
            pg.drop_db(name)
        out["scaling"] = series


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def fmt(x, spec=".2f", suffix=""):
    return "–" if x is None else f"{x:{spec}}{suffix}"


def markdown(out):
    lines = []
    for name, b in out.get("backends", {}).items():
        lines.append(f"\n### {name}: {b['users']:,} users, {b['eligible']:,} eligible\n")
        lines.append("| contender | n | wall median (s) | walls (s) | ratio vs baseline | pt-archiver ÷ this | "
                     "p99 batch (ms) | max batch (ms) | counting (s) | peak RSS (MiB) |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for s in b["summary"]:
            lines.append(
                f"| {s['contender']} | {s['n']} | {fmt(s['wall_median'])} | {', '.join(map(str, s['walls']))} | "
                f"{fmt(s.get('ratio_vs_baseline'), '.2f', '×')} | {fmt(s.get('pt_archiver_over_this'), '.2f', '×')} | "
                f"{fmt(s.get('p99_batch_ms'), '.0f')} | {fmt(s.get('max_batch_ms'), '.0f')} | "
                f"{fmt(s.get('counting_s'))} | {fmt(s.get('rss_mib'), '.1f')} |")
        if b.get("sweep"):
            lines.append(f"\nbatch-size sweep ({name}, one run each):\n")
            lines.append("| batch size | wall (s) | p99 batch (ms) | max batch (ms) | counting (s) | peak RSS (MiB) |")
            lines.append("|---|---|---|---|---|---|")
            for k, v in b["sweep"].items():
                lines.append(f"| {k} | {v['wall']:.2f} | {v['p99_batch_ms']:.0f} | {v['max_batch_ms']:.0f} | "
                             f"{fmt(v['counting_s'])} | {v['rss_mib']:.1f} |")
    if out.get("plan"):
        lines.append("\n### `anonsweep plan` wall time (median of 3)\n")
        lines.append("| backend | users | without indexes (s) | with shipped indexes (s) | migrate run (s) | plan peak RSS (MiB) |")
        lines.append("|---|---|---|---|---|---|")
        for name, p in out["plan"].items():
            rss = max([p.get(k, {}).get("rss_mib") or 0 for k in ("without indexes", "with shipped indexes")])
            lines.append(f"| {name} | {p['users']:,} | {fmt(p.get('without indexes', {}).get('median'))} | "
                         f"{fmt(p.get('with shipped indexes', {}).get('median'))} | {fmt(p.get('migrate_run_s'))} | "
                         f"{fmt(rss or None, '.1f')} |")
    if out.get("scaling"):
        lines.append("\n### scaling (PostgreSQL, generated dataset)\n")
        lines.append("| eligible | users | wall (s) | µs per deleted user | counting (s) | p99 batch (ms) | "
                     "max batch (ms) | peak RSS (MiB) |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in out["scaling"]:
            lines.append(f"| {r['eligible']:,} | {r['users']:,} | {r['wall']:.1f} | {r['us_per_user']:.1f} | "
                         f"{fmt(r['counting_s'])} | {r['p99_batch_ms']:.0f} | {r['max_batch_ms']:.0f} | "
                         f"{r['rss_mib']:.1f} |")
    return "\n".join(lines)


def cleanup():
    for name in list(CREATED_PG):
        try:
            sh(PSQL + ["-d", "postgres", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
        except CmdError:
            pass
    for name in list(CREATED_MY):
        try:
            sh(MARIADB + ["-e", f"DROP DATABASE IF EXISTS {name}"])
        except CmdError:
            pass
    shutil.rmtree(WORKDIR, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=None, help="users in the demo dataset (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=None, help="repeats per contender (default 3)")
    ap.add_argument("--backends", default="postgres,mysql,sqlite")
    ap.add_argument("--quick", action="store_true", help="~100k users, 1 repeat")
    ap.add_argument("--scaling", action="store_true", help="only the PostgreSQL scaling series")
    ap.add_argument("--scaling-sizes", default="100000,1000000,4000000")
    ap.add_argument("--batch-sizes", default="1000,2000,3000,5000,10000",
                    help="PostgreSQL batch-size sweep ('' to skip)")
    ap.add_argument("--best-batch", type=int, default=None,
                    help="batch size for the second anonsweep contender when no sweep runs")
    ap.add_argument("--no-plan", action="store_true", help="skip the `anonsweep plan` timing")
    ap.add_argument("--out", default=None, help="write the JSON results here")
    a = ap.parse_args()
    users = a.users or (100_000 if a.quick else 1_000_000)
    repeat = a.repeat or (1 if a.quick else 3)

    if "mysql" in a.backends.split(",") and not a.scaling and shutil.which("pt-archiver") is None:
        # The contender MariaDB is compared with: Debian's percona-toolkit.
        log("installing pt-archiver: apt-get install -y percona-toolkit")
        subprocess.run(["apt-get", "install", "-y", "-q", "percona-toolkit"],
                       stdout=subprocess.DEVNULL, check=False)
    log("building: cargo build --release -q")
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=REPO, check=True)
    version = sh([BIN, "--version"]).strip()
    out = dict(version=version, users=users, repeat=repeat, as_of=AS_OF, cores=os.cpu_count(),
               started=datetime.now(timezone.utc).isoformat(), backends={})
    try:
        if a.scaling:
            bench_scaling([int(x) for x in a.scaling_sizes.split(",") if x], a.best_batch, out)
        else:
            order = [b for b in ("postgres", "sqlite", "mysql") if b in a.backends.split(",")]
            best = a.best_batch
            sweep = [int(x) for x in a.batch_sizes.split(",") if x]
            for name in order:
                be = {"postgres": Postgres, "sqlite": Sqlite, "mysql": Mysql}[name]()
                # the sweep runs on PostgreSQL (or the first backend when PostgreSQL is not selected)
                do_sweep = sweep if (name == order[0] and best is None) else []
                try:
                    best = bench_backend(be, users, repeat, do_sweep, best, out) or best
                    if not a.no_plan:
                        bench_plan(be, users, out)
                except CmdError as e:
                    FAILURES.append(f"FAILED {name}: {e}")
                    print(FAILURES[-1], file=sys.stderr)
                finally:
                    if isinstance(be, Postgres) and be.src:
                        be.drop_db(be.src)
                    if isinstance(be, Sqlite) and be.master:
                        be.drop(be.master)
    finally:
        cleanup()
    out["finished"] = datetime.now(timezone.utc).isoformat()
    out["mismatches"] = MISMATCHES
    out["failures"] = FAILURES
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=2)
    print(markdown(out))
    if MISMATCHES:
        print("\n**CONTENDERS DISAGREE:**\n" + "\n".join(f"- {m}" for m in MISMATCHES))
    if FAILURES:
        print("\n**FAILURES:**\n" + "\n".join(f"- {m}" for m in FAILURES))
    sys.exit(1 if (MISMATCHES or FAILURES) else 0)


if __name__ == "__main__":
    main()
