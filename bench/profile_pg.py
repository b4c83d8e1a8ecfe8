#!/usr/bin/env python3
"""Where `anonsweep run` spends its time on PostgreSQL, statement by statement.

Fills the deterministic demo dataset (N users) into a scratch database, turns on
`log_min_duration_statement = 0` for that database only, runs anonsweep, and sums the server's
logged durations per statement (parse/bind/execute separately). Needs the local cluster's log
file (found with `pg_lsclusters`) to be readable. The scratch database is dropped at the end.

    python3 bench/profile_pg.py --users 1000000 --batch-size 1000
"""
import argparse
import collections
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "target", "release", "anonsweep")
PG = "postgres://postgres@127.0.0.1:5432"
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-X", "-q", "-At"]
AS_OF = "2026-11-26T00:00:00Z"
DB = "anonsweep_profile"


def psql(sql, db="postgres"):
    return subprocess.run(PSQL + ["-d", db, "-c", sql], check=True, capture_output=True, text=True).stdout


def log_file():
    out = subprocess.run(["pg_lsclusters", "--no-header"], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 7 and f[2] == "5432":
            return f[6]
    sys.exit("no cluster on port 5432 in pg_lsclusters")


def aggregate(lines):
    total = collections.defaultdict(float)
    count = collections.Counter()
    rec = None
    records = []
    for line in lines:
        m = re.search(r"duration: ([\d.]+) ms\s+(\w+)?( [^:]*)?: (.*)", line)
        if m:
            if rec:
                records.append(rec)
            rec = [float(m.group(1)), ((m.group(2) or "") + " " + m.group(4))]
        elif rec and line.startswith(("\t", " ")):
            rec[1] += " " + line.strip()
        elif rec:
            records.append(rec)
            rec = None
    if rec:
        records.append(rec)
    for ms, text in records:
        key = re.sub(r"\s+", " ", text)[:110]
        total[key] += ms
        count[key] += 1
    return total, count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--batch-size", type=int, default=None, help="default: anonsweep's own")
    ap.add_argument("--top", type=int, default=16)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=REPO, check=True)
    log = log_file()
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    psql(f"CREATE DATABASE {DB}")
    try:
        subprocess.run([BIN, "demo", "--fill-only", "--users", str(a.users), "--as-of", AS_OF,
                        "--database-url", f"{PG}/{DB}"], check=True, capture_output=True)
        psql("VACUUM ANALYZE", db=DB)
        psql("CHECKPOINT")
        psql(f"ALTER DATABASE {DB} SET log_min_duration_statement = 0")
        start = os.path.getsize(log)
        argv = [BIN, "run", "--as-of", AS_OF, "--format", "json", "--database-url", f"{PG}/{DB}"]
        if a.batch_size:
            argv += ["--batch-size", str(a.batch_size)]
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"anonsweep exited {r.returncode}: {r.stderr}")
        with open(log, errors="replace") as f:
            f.seek(start)
            lines = f.read().split("\n")
        total, count = aggregate(lines)
        print(r.stdout.strip())
        print(f"\nserver time, all statements: {sum(total.values()):.0f} ms")
        print("| ms | calls | statement |\n|---|---|---|")
        for k, v in sorted(total.items(), key=lambda x: -x[1])[:a.top]:
            print(f"| {v:.0f} | {count[k]} | `{k}` |")
    finally:
        psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
