#!/usr/bin/env python3
"""What a cleanup does to the application: latency of live traffic while anonsweep runs.

PostgreSQL only. Fills the deterministic demo dataset once (bench.py's `Postgres.prepare`:
`anonsweep demo --fill-only --as-of 2026-11-26T00:00:00Z`, then VACUUM ANALYZE), adds the unique
index on `sessions.token` that a real sign-in application has (the demo schema has none, and a
token lookup without it is a full scan), and then, for every phase, on a fresh template copy of
that database, runs a guest sign-in application against it:

* `--workers` threads (default 4), each with its own connection, share one open-loop schedule at
  `--rate` operations per second in total (default 200): operation k is due at start + k/rate,
  the next free worker takes it, and its latency is measured from that due time, so a stall
  (a worker waiting for a lock, or all of them busy) counts in full.
* the operations, each in its own short transaction: session lookup by token (30 %) and by id
  (15 %), both joined to the user; session touch `UPDATE sessions SET updated_at = now()` (25 %);
  a returning guest inserting a new session for an existing anonymous user of the dataset, drawn
  uniformly, so a third of them are old users eligible for deletion (15 %); a new guest
  sign-in inserting a user and a session (15 %). Lookups and touches pick a session created in
  this phase half of the time and one from a fixed sample of the dataset's sessions otherwise
  (old sessions, many of eligible users: a guest coming back with an old cookie). A returning
  guest whose user the cleanup has just deleted gets a foreign-key error: that is expected and
  counted apart from every other error.

The phases (`--phases`, in this order by default):

    idle            workers only, for --idle-seconds (30; --quick 10)
    run             anonsweep run with its defaults (release binary target/release/anonsweep)
    baseline        bench.py's hand-written set-based SQL, one transaction (psql -f)
    run-target100   anonsweep run --target-batch-ms 100
    run-target200   anonsweep run --target-batch-ms 200 (README's "drain a backlog gently")
    run-sleep1      anonsweep run --sleep-coef 1
    idle-end        idle again, to see whether the machine's load moved during the run

A cleanup phase measures the operations due while the cleanup process runs (after a short lead-in
of traffic). For each phase the report gives the application's p50/p99/max latency, operations
done, errors by kind, the cleanup's wall time and p99 ÷ idle p99.

Correctness, after each phase: the user ids that remain are compared with the pristine dataset
the way bench.py compares contenders (md5 of the sorted ids) over the users the workers never
wrote to (touched or returning guests are excluded, since a guest who got a session is active):
a cleanup must have removed exactly the users that were eligible before it started, an idle phase
none (a cleanup that failed and rolled back: none). Two more checks: every user whose session a
worker touched or created in a committed transaction must still exist (deleting such a user is
deleting an active guest), and every guest the workers signed up must exist. The hand-written
SQL has no guard against deleting an active guest: what it deletes is reported, not failed.

    python3 bench/live_traffic.py --quick                        # 100k users, short phases
    python3 bench/live_traffic.py --users 1000000 --out live.json
    python3 bench/live_traffic.py --phases idle,run,run-target100 --workers 8 --rate 400

Needs the PostgreSQL driver psycopg (pip install "psycopg[binary]"); everything else is the
Python 3.11 standard library and bench.py (imported from this folder). The release binary is
built with `cargo build --release` if it is missing (an existing one is used as it is). Timings
are reported, never asserted: the exit status is non-zero only when a correctness check fails or
a command fails unexpectedly (the set-based SQL failing under the traffic is a result, not that).
"""

import argparse
import hashlib
import json
import math
import os
import random
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (dataset building, copies, the set-based baseline)

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover
    sys.exit('live_traffic.py needs psycopg: pip install "psycopg[binary]"')

# Our own database names, so that a bench.py running on the same server does not collide.
bench.PREFIX = "anonsweep_live"
log = bench.log

OPS = ("lookup_token", "lookup_id", "touch", "returning_guest", "new_guest")
MIX = (30, 15, 25, 15, 15)  # percent, in the order of OPS
SAMPLE_SESSIONS = 50_000
SEED = 20261126

PHASES = {
    "idle": dict(kind="idle"),
    "run": dict(kind="anonsweep", flags=[]),
    "baseline": dict(kind="baseline"),
    "run-target100": dict(kind="anonsweep", flags=["--target-batch-ms", "100"]),
    "run-target200": dict(kind="anonsweep", flags=["--target-batch-ms", "200"]),
    "run-sleep1": dict(kind="anonsweep", flags=["--sleep-coef", "1"]),
    "idle-end": dict(kind="idle"),
}
DEFAULT_PHASES = "idle,run,baseline,run-target100,run-target200,run-sleep1,idle-end"


def pressure():
    """Linux pressure-stall totals (µs) for cpu and io, to tell a phase disturbed by other load."""
    out = {}
    for res in ("cpu", "io"):
        try:
            with open(f"/proc/pressure/{res}") as fh:
                first = fh.readline().split()
            out[res] = int(dict(x.split("=") for x in first[1:])["total"])
        except (OSError, KeyError, ValueError):
            pass
    return out


def ids_md5(ids):
    """bench.py's state fingerprint: md5 of the sorted ids, one per line."""
    return hashlib.md5("\n".join(sorted(ids)).encode()).hexdigest()


def pct(sorted_xs, q):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_xs:
        return None
    return sorted_xs[max(0, math.ceil(q * len(sorted_xs)) - 1)]


# ---------------------------------------------------------------------------------------------
# The dataset as the workers and the checks see it
# ---------------------------------------------------------------------------------------------

class Dataset:
    def __init__(self, pg, users):
        self.pg = pg
        self.users = users

    def prepare(self):
        log(f"filling {self.users:,} demo users (anonsweep demo --fill-only)")
        self.pg.prepare(self.users)
        src = self.pg.src
        self.pg.admin("CREATE UNIQUE INDEX sessions_token_idx ON sessions (token)", db=src)
        self.all_ids = self.pg.admin("SELECT id FROM users", db=src).split()
        self.anon_ids = self.pg.admin("SELECT id FROM users WHERE is_anonymous", db=src).split()
        self.pristine_set = set(self.all_ids)
        self.eligible = set(self.pg.admin(bench.ELIG_PG, db=src).split())
        n_sessions = int(self.pg.admin("SELECT count(*) FROM sessions", db=src))
        p = min(100.0, 100.0 * SAMPLE_SESSIONS / max(1, n_sessions))
        rows = self.pg.admin(f"SELECT id, token, user_id FROM sessions TABLESAMPLE BERNOULLI ({p:.6f}) "
                             f"REPEATABLE (7) ORDER BY id", db=src)
        self.sample = [tuple(line.split("|")) for line in rows.splitlines() if line]
        # Let the fill's dirty pages reach the disk before the first phase.
        self.pg.admin("CHECKPOINT", db=src)
        os.sync()
        time.sleep(5)
        log(f"dataset: {len(self.all_ids):,} users, {len(self.anon_ids):,} anonymous, "
            f"{len(self.eligible):,} eligible, {n_sessions:,} sessions ({len(self.sample):,} sampled)")


# ---------------------------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------------------------

SQL_LOOKUP_TOKEN = ("SELECT s.id, s.user_id, s.expires_at, u.name, u.is_anonymous FROM sessions s "
                    "JOIN users u ON u.id = s.user_id WHERE s.token = %s")
SQL_LOOKUP_ID = ("SELECT s.id, s.user_id, s.expires_at, u.name, u.is_anonymous FROM sessions s "
                 "JOIN users u ON u.id = s.user_id WHERE s.id = %s")
SQL_TOUCH = "UPDATE sessions SET updated_at = now() WHERE id = %s"
SQL_NEW_SESSION = ("INSERT INTO sessions (id, user_id, token, created_at, updated_at, expires_at) "
                   "VALUES (%s, %s, %s, now(), now(), now() + interval '7 days')")
SQL_NEW_USER = ("INSERT INTO users (id, name, email, is_anonymous, created_at, updated_at) "
                "VALUES (%s, 'Anonymous', NULL, TRUE, now(), now())")


class Traffic:
    """Open-loop guest sign-in traffic: `workers` connections sharing one schedule."""

    def __init__(self, dsn, ds, phase, rate, workers):
        self.dsn = dsn
        self.ds = ds
        self.phase = phase
        self.rate = rate
        self.nworkers = workers
        self.lock = threading.Lock()
        self.next_k = 0
        self.t0 = None
        self.stop_at = math.inf
        self.fresh = []               # (session id, token, user id) created in this phase
        self.records = []             # per worker: list of (due, end, op index, outcome)
        self.touched = set()          # users a worker wrote for (attempted)
        self.active = set()           # users with a committed touch or new session
        self.signed_up = set()        # guests created by a committed sign-in
        self.threads = []
        self.ready = threading.Barrier(workers + 1)
        self.fatal = []

    def start(self):
        for w in range(self.nworkers):
            recs = []
            self.records.append(recs)
            t = threading.Thread(target=self._worker, args=(w, recs), daemon=True)
            self.threads.append(t)
            t.start()
        # Every worker is connected at the barrier; the schedule starts just after it.
        self.t0 = time.perf_counter() + 0.2
        self.ready.wait()

    def stop(self, at):
        self.stop_at = at

    def join(self):
        for t in self.threads:
            t.join()

    def _take(self):
        with self.lock:
            k = self.next_k
            self.next_k += 1
        return k, self.t0 + k / self.rate

    def _connect(self):
        conn = psycopg.connect(self.dsn, autocommit=False)
        # A guard against a hang, far above any wait the phases can cause.
        conn.execute("SET statement_timeout = '120s'")
        conn.commit()
        return conn

    def _worker(self, w, recs):
        try:
            conn = self._connect()
        except psycopg.Error as e:
            self.fatal.append(f"worker {w} could not connect: {e}")
            self.ready.wait()
            return
        self.ready.wait()
        try:
            while True:
                k, due = self._take()
                if due >= self.stop_at:
                    break
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                if due >= self.stop_at:
                    break
                op, outcome = self._op(conn, k)
                recs.append((due, time.perf_counter(), op, outcome))
                if conn.broken:
                    conn.close()
                    try:
                        conn = self._connect()
                    except psycopg.Error as e:
                        self.fatal.append(f"worker {w} lost its connection: {e}")
                        return
        finally:
            conn.close()

    def _pick_session(self, rng):
        fresh = self.fresh
        if fresh and rng.random() < 0.5:
            return fresh[rng.randrange(len(fresh))]
        return self.ds.sample[rng.randrange(len(self.ds.sample))]

    def _op(self, conn, k):
        rng = random.Random(SEED * 1_000_003 + k)
        op = rng.choices(range(len(OPS)), weights=MIX)[0]
        name = OPS[op]
        outcome = "ok"
        wrote_for = None
        try:
            if name == "lookup_token":
                sid, token, _ = self._pick_session(rng)
                if conn.execute(SQL_LOOKUP_TOKEN, (token,)).fetchone() is None:
                    outcome = "not_found"
            elif name == "lookup_id":
                sid, _, _ = self._pick_session(rng)
                if conn.execute(SQL_LOOKUP_ID, (sid,)).fetchone() is None:
                    outcome = "not_found"
            elif name == "touch":
                sid, _, uid = self._pick_session(rng)
                wrote_for = uid
                self.touched.add(uid)
                if conn.execute(SQL_TOUCH, (sid,)).rowcount == 0:
                    outcome = "not_found"
            elif name == "returning_guest":
                uid = self.ds.anon_ids[rng.randrange(len(self.ds.anon_ids))]
                wrote_for = uid
                self.touched.add(uid)
                sid, token = f"live_ses_{k}", f"livetok{k}"
                conn.execute(SQL_NEW_SESSION, (sid, uid, token))
            else:  # new_guest
                uid = f"live_usr_{k:09}"
                sid, token = f"live_ses_{k}", f"livetok{k}"
                conn.execute(SQL_NEW_USER, (uid,))
                conn.execute(SQL_NEW_SESSION, (sid, uid, token))
            conn.commit()
            if name in ("returning_guest", "new_guest"):
                self.fresh.append((sid, token, uid))
                if name == "new_guest":
                    self.signed_up.add(uid)
                else:
                    self.active.add(uid)
            elif name == "touch" and outcome == "ok":
                self.active.add(wrote_for)
        except pg_errors.ForeignKeyViolation:
            conn.rollback()
            outcome = "fk_user_deleted" if name == "returning_guest" else "error:ForeignKeyViolation"
        except psycopg.Error as e:
            outcome = f"error:{type(e).__name__}"
            try:
                conn.rollback()
            except psycopg.Error:
                pass
        return op, outcome

    def stats(self, start, end):
        """Latency (ms, from the due time) of the operations due in [start, end)."""
        rows = [r for recs in self.records for r in recs if start <= r[0] < end]
        lat = sorted((r[1] - r[0]) * 1000 for r in rows)
        outcomes = {}
        per_op = {}
        for due, fin, op, outcome in rows:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            per_op.setdefault(OPS[op], []).append((fin - due) * 1000)
        errors = {o.split(":", 1)[1]: n for o, n in outcomes.items() if o.startswith("error:")}
        window = max(1e-9, end - start)
        timeline = []
        for sec in range(int(math.ceil(window))):
            xs = sorted((r[1] - r[0]) * 1000 for r in rows if start + sec <= r[0] < start + sec + 1)
            if xs:
                timeline.append(dict(second=sec, ops=len(xs), p99_ms=round(pct(xs, 0.99), 2),
                                     max_ms=round(xs[-1], 2)))
        return dict(
            window_s=round(window, 3), ops=len(rows), ops_per_s=round(len(rows) / window, 1),
            p50_ms=pct(lat, 0.50), p99_ms=pct(lat, 0.99), max_ms=lat[-1] if lat else None,
            fk_user_deleted=outcomes.get("fk_user_deleted", 0), errors=errors,
            not_found=outcomes.get("not_found", 0),
            per_op={k: dict(ops=len(v), p50_ms=pct(sorted(v), 0.5), p99_ms=pct(sorted(v), 0.99),
                            max_ms=max(v)) for k, v in per_op.items()},
            timeline=timeline)


# ---------------------------------------------------------------------------------------------
# Cleanups
# ---------------------------------------------------------------------------------------------

def cleanup_anonsweep(pg, copy, flags):
    argv = [bench.BIN, "run", "--as-of", bench.AS_OF, "--format", "json",
            "--database-url", pg.url(copy)] + flags
    r = bench.run_measured(argv, env={"ANONSWEEP_LOG": "info"}, check=False)
    res = dict(command=" ".join(["anonsweep", "run"] + flags), rc=r["rc"], rss_kib=r["rss_kib"])
    try:
        s = json.loads(r["stdout"].strip().splitlines()[-1])
        for key in ("eligible", "deleted_users", "batches", "p99_batch_ms", "max_batch_ms", "kept_changed",
                    "duration_seconds"):
            res[key] = s.get(key)
        res["failed_users"] = len(s.get("failed") or [])
    except (ValueError, IndexError):
        res["error"] = (r["stderr"].strip().splitlines() or ["no output"])[-1]
    if r["rc"] != 0:
        res["error"] = res.get("error") or f"exit {r['rc']}: {r['stderr'].strip()[-500:]}"
    return res


def cleanup_baseline(pg, copy):
    res = dict(command="set-based SQL in one transaction (bench.py's baseline, psql -f)")
    try:
        r = pg.baseline(copy)
        res["rc"] = r["rc"]
    except bench.CmdError as e:
        res["rc"] = None
        found = re.findall(r"((?:ERROR|DETAIL):.*)", str(e))
        res["error"] = " ".join(" ".join(x.split()) for x in found) or str(e).splitlines()[0]
    return res


# ---------------------------------------------------------------------------------------------
# One phase
# ---------------------------------------------------------------------------------------------

def verify(pg, copy, ds, traffic, cleanup_ok):
    """Compares what remains with the pristine dataset, over the users the workers never wrote to."""
    remaining = set(pg.query(copy, "SELECT id FROM users").split())
    pristine = ds.all_ids
    expected_deleted = ds.eligible if cleanup_ok else set()
    untouched_expected = [u for u in pristine if u not in traffic.touched and u not in expected_deleted]
    untouched_actual = [u for u in remaining if u in ds.pristine_set and u not in traffic.touched]
    active_deleted = sorted(u for u in traffic.active if u not in remaining)
    signups_missing = sorted(u for u in traffic.signed_up if u not in remaining)
    touched_eligible = [u for u in traffic.touched if u in ds.eligible]
    res = dict(
        remaining_users=len(remaining),
        deleted_pristine_users=sum(1 for u in pristine if u not in remaining),
        untouched_expected=dict(users=len(untouched_expected), md5=ids_md5(untouched_expected)),
        untouched_actual=dict(users=len(untouched_actual), md5=ids_md5(untouched_actual)),
        touched_users=len(traffic.touched),
        touched_eligible_users=len(touched_eligible),
        touched_eligible_kept=sum(1 for u in touched_eligible if u in remaining),
        committed_active_users=len(traffic.active),
        active_users_deleted=len(active_deleted), active_users_deleted_examples=active_deleted[:5],
        signups=len(traffic.signed_up), signups_missing=len(signups_missing),
    )
    res["untouched_match"] = res["untouched_expected"] == res["untouched_actual"]
    return res


def run_phase(pg, ds, name, a):
    spec = PHASES[name]
    copy = pg.copy()
    # The copy's files were just written: flush them so that the writeback does not land in the
    # measured window.
    os.sync()
    log(f"== phase {name} on {copy}")
    traffic = Traffic(f"host=127.0.0.1 port=5432 user=postgres dbname={copy}", ds, name, a.rate, a.workers)
    try:
        traffic.start()
        try:
            if traffic.fatal:
                raise bench.CmdError("; ".join(traffic.fatal))
            time.sleep(a.lead_seconds)
            load_before = os.getloadavg()[0]
            psi_before = pressure()
            start = time.perf_counter()
            if spec["kind"] == "idle":
                time.sleep(a.idle_seconds)
                cleanup = None
            elif spec["kind"] == "baseline":
                cleanup = cleanup_baseline(pg, copy)
            else:
                cleanup = cleanup_anonsweep(pg, copy, spec["flags"])
            end = time.perf_counter()
            psi_after = pressure()
        finally:
            traffic.stop(time.perf_counter())
            traffic.join()
        if traffic.fatal:
            raise bench.CmdError("; ".join(traffic.fatal))
        stats = traffic.stats(start, end)
        cleanup_ok = cleanup is not None and not cleanup.get("error")
        if spec["kind"] == "anonsweep" and not cleanup_ok:
            raise bench.CmdError(f"{cleanup['command']} failed: {cleanup.get('error')}")
        check = verify(pg, copy, ds, traffic, cleanup_ok)
        # anonsweep and an idle phase must never delete an active user; the hand-written SQL has
        # no such guard, and what it does is reported, not failed.
        check["ok"] = check["untouched_match"] and not check["signups_missing"] and (
            spec["kind"] == "baseline" or not check["active_users_deleted"])
        if cleanup is not None:
            cleanup["wall_s"] = round(end - start, 3)
        # Share of the window in which some task waited for a CPU / for I/O (this harness, the
        # cleanup and the database included): compare a phase with the idle ones.
        machine = dict(loadavg_1m_before=round(load_before, 2))
        for key in psi_before.keys() & psi_after.keys():
            machine[f"{key}_some_pct"] = round((psi_after[key] - psi_before[key]) / 1e4 / (end - start), 1)
        res = dict(phase=name, kind=spec["kind"], cleanup=cleanup, app=stats, check=check, machine=machine)
        msg = (f"phase {name}: window {stats['window_s']:.1f}s, {stats['ops']} ops, "
               f"p50 {stats['p50_ms'] or 0:.1f} ms, p99 {stats['p99_ms'] or 0:.1f} ms, "
               f"max {stats['max_ms'] or 0:.1f} ms, fk {stats['fk_user_deleted']}, errors {stats['errors']}")
        if cleanup is not None:
            msg += f"; cleanup {cleanup['wall_s']:.2f}s {cleanup.get('error') or 'ok'}"
        log(msg + f"; check {'ok' if check['ok'] else 'FAILED'}; machine {machine}")
        if not check["ok"]:
            log(f"  check details: {json.dumps(check)}")
        return res
    finally:
        pg.drop(copy)


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def f(x, spec=".1f"):
    return "–" if x is None else f"{x:{spec}}"


def markdown(out):
    idle = next((p for p in out["phases"] if p["phase"] == "idle"), None)
    idle_p99 = idle["app"]["p99_ms"] if idle else None
    lines = [
        f"{out['users']:,} users ({out['eligible']:,} eligible), {out['workers']} workers, "
        f"{out['rate']} ops/s open-loop; latency from each operation's due time.",
        "",
        "| phase | cleanup wall (s) | deleted | app ops | p50 (ms) | p99 (ms) | max (ms) | p99 ÷ idle p99 | "
        "FK errors (user just deleted) | other errors | correctness | CPU / IO stall % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in out["phases"]:
        app, c, chk = p["app"], p["cleanup"], p["check"]
        wall = "–" if c is None else f"{c['wall_s']:.2f}"
        if c is not None and c.get("error"):
            wall += " (failed)"
        deleted = f"{chk['deleted_pristine_users']:,}"
        ratio = "–" if not idle_p99 or p is idle else f"{app['p99_ms'] / idle_p99:.1f}×"
        other = ", ".join(f"{k} {v}" for k, v in sorted(app["errors"].items())) or "0"
        bad = []
        if not chk["untouched_match"]:
            bad.append("untouched users differ")
        if chk["active_users_deleted"]:
            bad.append(f"{chk['active_users_deleted']} active users deleted")
        if chk["signups_missing"]:
            bad.append(f"{chk['signups_missing']} sign-ups missing")
        corr = "**" + "; ".join(bad) + "**" if bad else "ok"
        lines.append(f"| {p['phase']} | {wall} | {deleted} | {app['ops']:,} | {f(app['p50_ms'])} | "
                     f"{f(app['p99_ms'])} | {f(app['max_ms'])} | {ratio} | {app['fk_user_deleted']} | "
                     f"{other} | {corr} | {f(p['machine'].get('cpu_some_pct'), '.0f')} / "
                     f"{f(p['machine'].get('io_some_pct'), '.0f')} |")
    notes = []
    for p in out["phases"]:
        c = p["cleanup"]
        if c and c.get("error"):
            notes.append(f"- {p['phase']}: the cleanup failed: {c['error']}")
        elif c and c.get("batches") is not None:
            notes.append(f"- {p['phase']}: `{c['command']}`: {c['batches']} batches, p99 / max batch "
                         f"{f(c.get('p99_batch_ms'), '.0f')} / {f(c.get('max_batch_ms'), '.0f')} ms, "
                         f"kept because they became active {c.get('kept_changed')}")
    if notes:
        lines += [""] + notes
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=None, help="users in the demo dataset (default 1,000,000)")
    ap.add_argument("--quick", action="store_true", help="100k users, short phases")
    ap.add_argument("--workers", type=int, default=4, help="application connections (default 4)")
    ap.add_argument("--rate", type=float, default=200.0, help="operations per second in total (default 200)")
    ap.add_argument("--phases", default=DEFAULT_PHASES, help=f"comma-separated (default {DEFAULT_PHASES})")
    ap.add_argument("--idle-seconds", type=float, default=None, help="length of an idle phase (30; --quick 10)")
    ap.add_argument("--lead-seconds", type=float, default=None,
                    help="traffic before the measured window of each phase (3; --quick 2)")
    ap.add_argument("--out", default=None, help="write the JSON results here")
    a = ap.parse_args()
    users = a.users or (100_000 if a.quick else 1_000_000)
    a.idle_seconds = a.idle_seconds or (10.0 if a.quick else 30.0)
    a.lead_seconds = a.lead_seconds if a.lead_seconds is not None else (2.0 if a.quick else 3.0)
    phases = [p for p in a.phases.split(",") if p]
    unknown = [p for p in phases if p not in PHASES]
    if unknown or len(set(phases)) != len(phases) or a.workers < 1 or a.rate <= 0:
        ap.error(f"--phases takes each of {', '.join(PHASES)} at most once (got {a.phases}); "
                 f"--workers and --rate must be positive")

    if not os.path.exists(bench.BIN):
        log("building: cargo build --release")
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=bench.REPO, check=True)
    version = bench.sh([bench.BIN, "--version"]).strip()
    out = dict(version=version, users=users, workers=a.workers, rate=a.rate, mix=dict(zip(OPS, MIX)),
               as_of=bench.AS_OF, idle_seconds=a.idle_seconds, lead_seconds=a.lead_seconds,
               started=datetime.now(timezone.utc).isoformat(), command=" ".join(sys.argv), phases=[])
    failures = []
    pg = bench.Postgres()
    try:
        ds = Dataset(pg, users)
        ds.prepare()
        out["eligible"] = len(ds.eligible)
        for name in phases:
            try:
                out["phases"].append(run_phase(pg, ds, name, a))
            except bench.CmdError as e:
                failures.append(f"phase {name}: {e}")
                log(failures[-1])
    finally:
        bench.cleanup()
    out["finished"] = datetime.now(timezone.utc).isoformat()
    idle = next((p for p in out["phases"] if p["phase"] == "idle"), None)
    if idle and idle["app"]["p99_ms"]:
        for p in out["phases"]:
            if p["app"]["p99_ms"] is not None:
                p["app"]["p99_over_idle"] = p["app"]["p99_ms"] / idle["app"]["p99_ms"]
    bad = [p["phase"] for p in out["phases"] if not p["check"]["ok"]]
    out["failures"] = failures
    out["check_failed"] = bad
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(out, fh, indent=2)
    print(markdown(out))
    if failures:
        print("\n**FAILURES:**\n" + "\n".join(f"- {m}" for m in failures))
    sys.exit(1 if (failures or bad) else 0)


if __name__ == "__main__":
    main()
