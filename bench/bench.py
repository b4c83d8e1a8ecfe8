#!/usr/bin/env python3
"""anonsweep benchmark harness (stdlib only).

Compares `anonsweep run` (and `anonsweep plan`) with a hand-written set-based SQL baseline on
SQLite, PostgreSQL and MariaDB (and with pt-archiver on MariaDB), every contender on an identical
fresh copy of the deterministic demo dataset, and verifies after every contender that exactly the
same users were removed.

Scenarios:

  backlog   the first cleanup: the demo dataset as filled, ~20 % of the users eligible
            (contenders, a PostgreSQL batch-size sweep, `plan` with and without the shipped indexes)
  daily     the job's normal life: the backlog as of one day earlier is already gone (removed with
            the set-based SQL, then VACUUM ANALYZE / ANALYZE), one more day is eligible (~0.5 %);
            `plan`, `run` and the set-based SQL per repeat
  workers   `anonsweep run --workers W` for each W of --workers-sweep on the PostgreSQL and
            MariaDB backlog, against the set-based SQL of the same invocation

    python3 bench/bench.py                     # 1,000,000 users, all backends: backlog + plan + daily
    python3 bench/bench.py --quick             # 100k users, 1 repeat, the same parts (~2.5 minutes)
    python3 bench/bench.py --daily --users 1000000            # with and without the shipped indexes
    python3 bench/bench.py --daily --backends sqlite --indexes with --repeat 8 --daily-run '--batch-size 6000'
    python3 bench/bench.py --backlog --indexes with,without   # the first cleanup, both index variants
    python3 bench/bench.py --workers-sweep 1,2,4 --users 1000000
    python3 bench/bench.py --users 1000000 --repeat 3 --backends postgres,sqlite
    python3 bench/bench.py --scaling           # PostgreSQL series at 100k / 1M / 4M eligible users
    python3 bench/bench.py --out results.json  # also the raw results as JSON

Scenario flags combine (--backlog --daily --workers-sweep 1,2); with none, the harness runs the
backlog (with its plan timing) and the daily run. Copies: SQLite file copy; PostgreSQL CREATE DATABASE …
TEMPLATE; MariaDB the InnoDB files of a local server (FLUSH TABLES … FOR EXPORT / IMPORT
TABLESPACE), else INSERT … SELECT per table (--mysql-copy). Every table printed carries the
command line and the binary's --version.

"With the shipped indexes" means `anonsweep migrate run` was applied to the master the copies are
made from; "without" is the demo schema as filled (primary keys and the foreign-key indexes on
sessions.user_id and accounts.user_id only).

Timings are reported, never asserted. Exit status is non-zero only when contenders
disagree about the remaining rows or a command fails.
"""

import argparse
import atexit
import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "target", "release", "anonsweep")
AS_OF = "2026-11-26T00:00:00Z"
RETENTION_DAYS = 30                        # anonsweep's default --retention-days
AS_OF_DT = datetime(2026, 11, 26, tzinfo=timezone.utc)
CUTOFF_DT = AS_OF_DT - timedelta(days=RETENTION_DAYS)
DAILY_PRIOR_DT = CUTOFF_DT - timedelta(days=1)   # the daily scenario's backlog, removed beforehand
PG_ADMIN = "postgres://postgres@127.0.0.1:5432"
MY_ADMIN = "mysql://root@127.0.0.1:3306"
PREFIX = "anonsweep_bench"
TIME_BIN = "/usr/bin/time"
PSQL = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"]
MARIADB = ["mariadb", "-uroot", "-h127.0.0.1", "--batch", "--skip-column-names"]
MARIADB_DUMP = ["mariadb-dump", "-uroot", "-h127.0.0.1"]
INDEX_VARIANTS = ("with", "without")

FAILURES = []      # fatal problems (commands failing)
MISMATCHES = []    # contenders disagreeing about the remaining rows
WORKDIR = tempfile.mkdtemp(prefix="anonsweep-bench-")
atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)  # also after --help or an import
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


def write_script(name, text):
    path = os.path.join(WORKDIR, name)
    with open(path, "w") as f:
        f.write(text)
    return path


# ---------------------------------------------------------------------------------------------
# The rule in plain SQL, per backend, at a given cutoff
# ---------------------------------------------------------------------------------------------

def iso_text(dt):
    """SQLite canonical text, as the demo stores it."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def plain_ts(dt):
    """PostgreSQL (UTC) / MariaDB DATETIME literal."""
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def elig_sqlite(cutoff=CUTOFF_DT):
    c = iso_text(cutoff)
    return f"""SELECT u.id FROM users u
 WHERE u.is_anonymous = 1 AND u.created_at < '{c}'
   AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id
                   AND (s.created_at >= '{c}' OR s.updated_at >= '{c}'))"""


def elig_pg(cutoff=CUTOFF_DT):
    c = f"TIMESTAMPTZ '{plain_ts(cutoff)}+00'"
    return f"""SELECT u.id FROM users u
 WHERE u.is_anonymous AND u.created_at < {c}
   AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id
                   AND (s.created_at >= {c} OR s.updated_at >= {c}))"""


def elig_my(cutoff=CUTOFF_DT):
    c = plain_ts(cutoff)
    return f"""SELECT u.id FROM users u
 WHERE u.is_anonymous = 1 AND u.created_at < '{c}'
   AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id
                   AND (s.created_at >= '{c}' OR s.updated_at >= '{c}'))"""


CUTOFF_ISO = iso_text(CUTOFF_DT)
CUTOFF_TS = plain_ts(CUTOFF_DT)
ELIG_SQLITE = elig_sqlite()
ELIG_PG = elig_pg()
ELIG_MY = elig_my()


def state_tuple(ids_text, counts):
    ids = ids_text.strip()
    n = 0 if not ids else ids.count("\n") + 1
    return dict(users=n, md5=hashlib.md5(ids.encode()).hexdigest(),
                sessions=int(counts[0]), accounts=int(counts[1]))


# ---------------------------------------------------------------------------------------------
# Backends: masters, copies, baselines, verification
#
# A "handle" is what a backend names a database by: a file path (SQLite) or a database name.
# fill() makes a master from the demo fill, clone() an identical copy of any database.
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# --dataset ordered: a second population, with other shapes than the demo's
# ---------------------------------------------------------------------------------------------

DATASET = "demo"            # --dataset
ORDERED_DAYS = 200
ORDERED_SOURCE = {}         # users -> {"db": SQLite file, "csv": {(flavour, table): path}}

ORDERED_DDL = """CREATE TABLE users (id {id} PRIMARY KEY, name TEXT NOT NULL, email TEXT, is_anonymous {boolean},
  created_at {ts} NOT NULL, updated_at {ts} NOT NULL);
CREATE TABLE sessions (id {id} PRIMARY KEY, user_id {id} NOT NULL, token TEXT NOT NULL, created_at {ts} NOT NULL,
  updated_at {ts} NOT NULL, expires_at {ts} NOT NULL, FOREIGN KEY (user_id) REFERENCES users (id));
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE TABLE accounts (id {id} PRIMARY KEY, user_id {id} NOT NULL, provider_id TEXT NOT NULL,
  created_at {ts} NOT NULL, FOREIGN KEY (user_id) REFERENCES users (id));
CREATE INDEX accounts_user_id_idx ON accounts (user_id);
"""


def ordered_sql(users):
    """The `ordered` population, as a sqlite3 script: `users` users created one after another
    over ORDERED_DAYS days before AS_OF, ids (u000000001, ...) and rows in creation order, 80 %
    anonymous. 70 % of the guests come once: one session, active for under an hour. The other
    users have three sessions, the last one active up to 90 days after sign-up. Registered users
    and one guest in 20 have an account. About 62 % of the users are eligible on the first
    cleanup (the demo: 20 %), and the tables keep their recent rows last."""
    step = ORDERED_DAYS * 86400 / users
    iso = "strftime('%Y-%m-%dT%H:%M:%fZ', {}, 'unixepoch')"
    last = "min(c + ((i * 7919) % 90) * 86400 * k / 2, unixepoch('{as_of}'))".format(as_of=AS_OF[:10])
    return f"""PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
{ORDERED_DDL.format(id="TEXT", boolean="INTEGER", ts="TEXT")}
CREATE TEMP TABLE g AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {users})
SELECT i, printf('u%09d', i) AS id, i % 5 != 0 AS anon, (i * 2654435761) % 100 < 70 AS oneshot,
  CAST(unixepoch('{AS_OF[:10]}') - ({users} - i) * {step!r} - 3600 AS INTEGER) AS c FROM n;
INSERT INTO users SELECT id, CASE WHEN anon THEN 'Anonymous' ELSE 'User ' || i END,
  CASE WHEN anon THEN NULL ELSE 'user' || i || '@example.com' END,
  CASE WHEN anon THEN 1 WHEN i % 50 = 0 THEN NULL ELSE 0 END, {iso.format('c')}, {iso.format('c')} FROM g;
INSERT INTO sessions SELECT 's' || id || '_0', id, 't' || i, {iso.format('c')}, {iso.format('c + i % 3600')},
  {iso.format('c + i % 3600 + 604800')} FROM g;
INSERT INTO sessions SELECT 's' || id || '_' || k, id, 't' || i || 'x' || k, {iso.format('c + k * 3600')},
  {iso.format(last)}, {iso.format(last + ' + 604800')}
  FROM g, (SELECT 1 AS k UNION ALL SELECT 2) WHERE NOT (anon AND oneshot);
INSERT INTO accounts SELECT 'a' || id, id, CASE WHEN anon THEN 'anonymous' ELSE 'credential' END, {iso.format('c')}
  FROM g WHERE NOT anon OR i % 20 = 1;
"""


def ordered_source(users):
    """The `ordered` population as a SQLite file, and as CSV files for PostgreSQL (ISO-8601 text)
    and MariaDB (DATETIME text), built once per size."""
    if users in ORDERED_SOURCE:
        return ORDERED_SOURCE[users]
    db = os.path.join(WORKDIR, f"ordered-{users}.db")
    log(f"  ordered population: {users:,} users (sqlite3)")
    run_measured(["sqlite3", "-batch", db], stdin_path=write_script("ordered.sql", ordered_sql(users)))
    plain = "replace(replace({},'T',' '),'Z','')"
    cols = {
        "users": ["id", "name", "email", "is_anonymous", "created_at", "updated_at"],
        "sessions": ["id", "user_id", "token", "created_at", "updated_at", "expires_at"],
        "accounts": ["id", "user_id", "provider_id", "created_at"],
    }
    csv = {}
    for table, names in cols.items():
        for flavour in ("iso", "plain"):
            sel = ", ".join(plain.format(c) if flavour == "plain" and c.endswith("_at") else c for c in names)
            path = os.path.join(WORKDIR, f"ordered-{users}-{table}-{flavour}.csv")
            with open(path, "w") as f:
                subprocess.run(["sqlite3", "-batch", "-csv", db, f"SELECT {sel} FROM {table};"], stdout=f, check=True)
            csv[(flavour, table)] = path
    ORDERED_SOURCE[users] = dict(db=db, csv=csv)
    return ORDERED_SOURCE[users]


class Sqlite:
    name = "sqlite"
    title = "SQLite"
    copy_method = "a file copy"

    def __init__(self):
        self.master = None
        self.n = 0

    def fill(self, users, tag):
        path = os.path.join(WORKDIR, f"master-{tag}.db")
        self.drop(path)
        if DATASET == "ordered":
            shutil.copyfile(ordered_source(users)["db"], path)
            return path
        run_measured([BIN, "demo", "--fill-only", "--users", str(users), "--as-of", AS_OF,
                      "--database-url", f"sqlite://{path}"])
        return path

    def clone(self, src, tag=None):
        self.n += 1
        path = os.path.join(WORKDIR, f"master-{tag}.db" if tag else f"copy-{self.n}.db")
        shutil.copyfile(src, path)
        return path

    def maintain(self, h):
        self.query(h, "ANALYZE;")

    # the interface live_traffic.py and older callers use
    def prepare(self, users):
        self.master = self.fill(users, "src")

    def copy(self, master=None):
        return self.clone(master or self.master)

    def url(self, copy):
        return f"sqlite://{copy}"

    def drop(self, copy):
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(copy + suffix):
                os.remove(copy + suffix)

    def query(self, copy, sql):
        return sh(["sqlite3", "-batch", copy, sql])

    def eligible(self, copy, cutoff=CUTOFF_DT):
        return int(self.query(copy, f"SELECT count(*) FROM ({elig_sqlite(cutoff)});").strip())

    def anonymous(self, copy):
        return int(self.query(copy, "SELECT count(*) FROM users WHERE is_anonymous = 1;").strip())

    def state(self, copy):
        ids = sh(["sqlite3", "-batch", copy, "SELECT id FROM users ORDER BY id;"])
        counts = self.query(copy, "SELECT (SELECT count(*) FROM sessions)||' '||(SELECT count(*) FROM accounts);").split()
        return state_tuple(ids, counts)

    def baseline(self, copy, cutoff=CUTOFF_DT):
        script = write_script("baseline-sqlite.sql", f""".bail on
PRAGMA foreign_keys = ON;
BEGIN IMMEDIATE;
CREATE TEMP TABLE elig (id TEXT PRIMARY KEY);
INSERT INTO elig {elig_sqlite(cutoff)};
DELETE FROM sessions WHERE user_id IN (SELECT id FROM elig);
DELETE FROM accounts WHERE user_id IN (SELECT id FROM elig);
DELETE FROM users WHERE id IN (SELECT id FROM elig);
COMMIT;
""")
        return run_measured(["sqlite3", "-batch", copy], stdin_path=script)


class Postgres:
    name = "postgres"
    title = "PostgreSQL"
    copy_method = "CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY"

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

    def fill(self, users, tag):
        name = f"{PREFIX}_m_{tag}"
        self.create_empty(name)
        if DATASET == "ordered":
            csv = ordered_source(users)["csv"]
            script = ORDERED_DDL.format(id="TEXT", boolean="BOOLEAN", ts="TIMESTAMPTZ") + "".join(
                f"\\copy {t} FROM '{csv[('iso', t)]}' CSV\n" for t in ("users", "sessions", "accounts"))
            sh(PSQL + ["-d", name, "-f", write_script("ordered-postgres.sql", script)])
            return name
        run_measured([BIN, "demo", "--fill-only", "--users", str(users), "--as-of", AS_OF,
                      "--database-url", f"{PG_ADMIN}/{name}"])
        return name

    def clone(self, src, tag=None):
        self.n += 1
        name = f"{PREFIX}_m_{tag}" if tag else f"{PREFIX}_c{self.n}"
        self.admin(f"DROP DATABASE IF EXISTS {name}")
        self.admin(f"CREATE DATABASE {name} TEMPLATE {src} STRATEGY FILE_COPY")
        CREATED_PG.add(name)
        self.admin("CHECKPOINT")
        return name

    def maintain(self, h):
        # A production database has statistics and a visibility map; give the master both once
        # (every copy inherits them through the template).
        self.admin("VACUUM ANALYZE", db=h)

    # the interface live_traffic.py uses
    def prepare(self, users):
        self.src = f"{PREFIX}_src"
        self.create_empty(self.src)
        run_measured([BIN, "demo", "--fill-only", "--users", str(users), "--as-of", AS_OF,
                      "--database-url", f"{PG_ADMIN}/{self.src}"])
        self.maintain(self.src)

    def copy(self, master=None):
        return self.clone(master or self.src)

    def url(self, copy):
        return f"{PG_ADMIN}/{copy}"

    def drop(self, copy):
        self.drop_db(copy)

    def query(self, copy, sql):
        return self.admin(sql, db=copy)

    def eligible(self, copy, cutoff=CUTOFF_DT):
        return int(self.query(copy, f"SELECT count(*) FROM ({elig_pg(cutoff)}) e").strip())

    def anonymous(self, copy):
        return int(self.query(copy, "SELECT count(*) FROM users WHERE is_anonymous").strip())

    def state(self, copy):
        ids = sh(PSQL + ["-d", copy, "-At", "-c", "SELECT id FROM users ORDER BY id"])
        counts = self.query(copy, "SELECT (SELECT count(*) FROM sessions)||' '||(SELECT count(*) FROM accounts)").split()
        return state_tuple(ids, counts)

    def baseline(self, copy, cutoff=CUTOFF_DT):
        script = write_script("baseline-postgres.sql", f"""BEGIN;
CREATE TEMP TABLE elig ON COMMIT DROP AS {elig_pg(cutoff)};
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
    title = "MariaDB"
    # --mysql-copy: how a copy is made (see clone)
    copy_mode = "auto"

    def __init__(self):
        self.master = None
        self.n = 0
        self.verified = set()
        self.schema = {}   # source database -> (its tables, its DDL); masters do not change once built
        self.datadir = None
        self.no_tablespace = False
        self.copy_method = None

    def admin(self, sql, db=None):
        return sh(MARIADB + ([db] if db else []) + ["-e", sql])

    def create_empty(self, name):
        self.admin(f"DROP DATABASE IF EXISTS {name}")
        self.admin(f"CREATE DATABASE {name}")
        CREATED_MY.add(name)

    def fill(self, users, tag):
        name = f"{PREFIX}_m_{tag}"
        self.create_empty(name)
        if DATASET == "ordered":
            csv = ordered_source(users)["csv"]
            load = "LOAD DATA LOCAL INFILE '{}' INTO TABLE {} FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"'"
            script = (ORDERED_DDL.format(id="VARCHAR(36)", boolean="BOOLEAN", ts="DATETIME(3)")
                      + "SET foreign_key_checks = 0;\n"
                      + load.format(csv[("plain", "users")], "users")
                      + " (id, name, @e, @a, created_at, updated_at) SET email = NULLIF(@e, ''), is_anonymous = NULLIF(@a, '');\n"
                      + "".join(load.format(csv[("plain", t)], t) + ";\n" for t in ("sessions", "accounts"))
                      + "ANALYZE TABLE users, sessions, accounts;\n")
            run_measured(MARIADB + ["--local-infile=1", name], stdin_path=write_script("ordered-mysql.sql", script))
            return name
        r = run_measured([BIN, "demo", "--fill-only", "--users", str(users), "--as-of", AS_OF,
                          "--database-url", f"{MY_ADMIN}/{name}"])
        log(f"  mysql fill {users} users: {r['wall']:.1f}s")
        return name

    def tables(self, db):
        return self.admin(f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}' "
                          "AND table_type = 'BASE TABLE' ORDER BY table_name").split()

    def ddl(self, db):
        """The CREATE TABLE statements of db, as SHOW CREATE TABLE gives them (foreign keys and
        every index included; a CREATE TABLE … LIKE would lose the foreign keys)."""
        return sh(MARIADB_DUMP + ["--no-data", "--skip-comments", "--skip-add-drop-table",
                                  "--skip-triggers", "--no-create-db", db])

    def fingerprint(self, db):
        tables = self.tables(db)
        rows = self.admin("CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables), db=db).splitlines()
        # each row is "db.table<TAB>checksum"; keep the table part of the name
        sums = sorted((line.split("\t")[0].split(".", 1)[-1], line.split("\t")[-1]) for line in rows if line)
        return dict(tables=tables, checksums=sums, ddl=self.ddl(db))

    def tablespace_dir(self, db, tables):
        """The server's directory of db when this process can copy its InnoDB files (a local
        server, file-per-table tablespaces, a writable data directory), else None."""
        if self.no_tablespace:
            return None
        if self.datadir is None:
            self.datadir = self.admin("SELECT @@datadir").strip()
        d = os.path.join(self.datadir, db)
        ok = os.path.isdir(d) and os.access(self.datadir, os.W_OK) and all(
            os.path.exists(os.path.join(d, f"{t}.ibd")) for t in tables)
        return d if ok else None

    def clone(self, src, tag=None):
        """A copy of src: its DDL (foreign keys and indexes included), then its rows.

        tablespace  the InnoDB files themselves (FLUSH TABLES … FOR EXPORT, copy the .ibd/.cfg
                    files, ALTER TABLE … IMPORT TABLESPACE): a physical copy, as PostgreSQL's
                    FILE_COPY template is, ~10x quicker than the rows at 1M users
        insert      INSERT … SELECT per table (any server); about half the time of re-running
                    the fill at 1M users
        Then ANALYZE TABLE. The first copy of each source is compared with it (CHECKSUM TABLE of
        every table and the DDL)."""
        self.n += 1
        name = f"{PREFIX}_m_{tag}" if tag else f"{PREFIX}_c{self.n}"
        t0 = time.perf_counter()
        self.create_empty(name)
        if src not in self.schema:
            self.schema[src] = (self.tables(src), self.ddl(src))
        tables, ddl = self.schema[src]
        mode = self.copy_mode
        src_dir = self.tablespace_dir(src, tables) if mode in ("auto", "tablespace") else None
        if mode == "tablespace" and src_dir is None:
            raise CmdError(f"--mysql-copy tablespace: cannot reach the InnoDB files of {src} under {self.datadir}")
        method = "tablespace" if src_dir else "insert"
        if method == "tablespace":
            try:
                self.copy_tablespaces(src, src_dir, name, tables, ddl)
            except OSError as e:
                if mode == "tablespace" or self.copy_method == "tablespace":
                    raise CmdError(f"copying the InnoDB files of {src}: {e}")
                log(f"  mysql: cannot copy the InnoDB files ({e}); copying rows with INSERT … SELECT instead")
                self.no_tablespace = True  # not again in this run
                self.create_empty(name)
                method = "insert"
        if method == "insert":
            self.copy_rows(src, name, tables, ddl)
        if self.copy_method and self.copy_method != method:
            raise CmdError(f"MariaDB copies switched from {self.copy_method} to {method} within one run")
        self.copy_method = method
        log(f"  mysql copy of {src} ({method}): {time.perf_counter() - t0:.1f}s")
        if src not in self.verified:
            a, b = self.fingerprint(src), self.fingerprint(name)
            if a != b:
                raise CmdError(f"the copy {name} of {src} differs from it (CHECKSUM TABLE or DDL): {a} vs {b}")
            self.verified.add(src)
            log(f"  mysql copy of {src} verified: same DDL and CHECKSUM TABLE for {', '.join(a['tables'])}")
        return name

    @staticmethod
    def ddl_head(ddl):
        return ["SET SESSION foreign_key_checks = 0;", "SET SESSION unique_checks = 0;", ddl,
                "SET SESSION foreign_key_checks = 0;", "SET SESSION unique_checks = 0;"]

    def run_script(self, db, lines):
        run_measured(MARIADB + [db], stdin_path=write_script("clone-mysql.sql", "\n".join(lines) + "\n"))

    def copy_rows(self, src, name, tables, ddl):
        self.run_script(name, self.ddl_head(ddl) +
                        [f"START TRANSACTION; INSERT INTO `{t}` SELECT * FROM `{src}`.`{t}`; COMMIT;" for t in tables] +
                        ["ANALYZE TABLE " + ", ".join(f"`{t}`" for t in tables) + ";"])

    def copy_tablespaces(self, src, src_dir, name, tables, ddl):
        self.run_script(name, self.ddl_head(ddl) + [f"ALTER TABLE `{t}` DISCARD TABLESPACE;" for t in tables])
        dst_dir = os.path.join(self.datadir, name)
        owner = os.stat(src_dir)
        # FLUSH TABLES … FOR EXPORT holds while its session is open: copy the files meanwhile.
        p = subprocess.Popen(MARIADB + ["--unbuffered"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=WORKDIR)
        try:
            p.stdin.write(f"FLUSH TABLES {', '.join(f'`{src}`.`{t}`' for t in tables)} FOR EXPORT;\n"
                          "SELECT 'exported';\n")
            p.stdin.flush()
            line = p.stdout.readline().strip()
            if line != "exported":
                raise CmdError(f"FLUSH TABLES … FOR EXPORT on {src} failed: {line}")
            for t in tables:
                for ext in (".ibd", ".cfg"):
                    f = os.path.join(src_dir, t + ext)
                    if os.path.exists(f):
                        shutil.copyfile(f, os.path.join(dst_dir, t + ext))
                        os.chown(os.path.join(dst_dir, t + ext), owner.st_uid, owner.st_gid)
            p.stdin.write("UNLOCK TABLES;\n")
        finally:
            p.stdin.close()  # ends the session (and its lock) whatever happened
            rc = p.wait()
            err = p.stderr.read()
        if rc != 0:
            raise CmdError(f"the FOR EXPORT session on {src} exited {rc}: {err[-2000:]}")
        self.run_script(name, ["SET SESSION foreign_key_checks = 0;"] +
                        [f"ALTER TABLE `{t}` IMPORT TABLESPACE;" for t in tables] +
                        ["ANALYZE TABLE " + ", ".join(f"`{t}`" for t in tables) + ";"])
        for t in tables:
            cfg = os.path.join(dst_dir, t + ".cfg")
            if os.path.exists(cfg):
                os.remove(cfg)

    def maintain(self, h):
        self.admin("ANALYZE TABLE " + ", ".join(f"`{t}`" for t in self.tables(h)), db=h)

    def prepare(self, users):
        self.master = self.fill(users, "src")
        self.maintain(self.master)

    def copy(self, master=None):
        return self.clone(master or self.master)

    def url(self, copy):
        return f"{MY_ADMIN}/{copy}"

    def drop(self, copy):
        self.admin(f"DROP DATABASE IF EXISTS {copy}")
        CREATED_MY.discard(copy)

    def query(self, copy, sql):
        return self.admin(sql, db=copy)

    def eligible(self, copy, cutoff=CUTOFF_DT):
        return int(self.query(copy, f"SELECT count(*) FROM ({elig_my(cutoff)}) e").strip())

    def anonymous(self, copy):
        return int(self.query(copy, "SELECT count(*) FROM users WHERE is_anonymous = 1").strip())

    def state(self, copy):
        ids = sh(MARIADB + [copy, "-e", "SELECT id FROM users ORDER BY id"])
        counts = self.query(copy, "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM accounts)").split()
        return state_tuple(ids, counts)

    def baseline(self, copy, cutoff=CUTOFF_DT):
        script = write_script("baseline-mysql.sql", f"""START TRANSACTION;
CREATE TEMPORARY TABLE elig (PRIMARY KEY (id)) AS {elig_my(cutoff)};
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


BACKENDS = {"postgres": Postgres, "sqlite": Sqlite, "mysql": Mysql}
COPY_METHODS = {
    "tablespace": "copies the InnoDB files (FLUSH TABLES … FOR EXPORT, ALTER TABLE … IMPORT TABLESPACE), then ANALYZE TABLE",
    "insert": "re-creates the tables from SHOW CREATE TABLE and copies the rows with INSERT … SELECT, then ANALYZE TABLE",
}


# ---------------------------------------------------------------------------------------------
# Masters: the datasets the copies are made from, built once per backend and dropped at its end
# ---------------------------------------------------------------------------------------------

class Masters:
    """(dataset, indexes) -> a master database and what is known about it.

    backlog/without  the demo fill, then VACUUM ANALYZE / ANALYZE
    backlog/with     a copy of backlog/without, `anonsweep migrate run`, VACUUM ANALYZE / ANALYZE
    daily/without    a copy of backlog/without, the set-based SQL at cutoff − 1 day (the backlog
                     the job removed yesterday), VACUUM ANALYZE / ANALYZE
    daily/with       a copy of daily/without, `anonsweep migrate run`, VACUUM ANALYZE / ANALYZE
                     (the indexes applied after the first cleanup, as docs recommend)
    """

    def __init__(self, be, users, out):
        self.be = be
        self.users = users
        self.cache = {}
        self.handles = []
        self.out = out

    def get(self, dataset, indexes):
        key = (dataset, indexes)
        if key in self.cache:
            return self.cache[key]
        be = self.be
        tag = f"{dataset}_{indexes}"
        info = dict(backend=be.name, dataset=dataset, indexes=indexes)
        t0 = time.perf_counter()
        if key == ("backlog", "without"):
            log(f"== {be.name}: master {tag}: demo fill of {self.users:,} users")
            h = be.fill(self.users, tag)
            self.handles.append(h)
            info["fill_s"] = time.perf_counter() - t0
        elif indexes == "with":
            base = self.get(dataset, "without")
            log(f"== {be.name}: master {tag}: copy of {base['handle']} + anonsweep migrate run")
            t0 = time.perf_counter()
            h = be.clone(base["handle"], tag)
            self.handles.append(h)
            info["copy_s"] = time.perf_counter() - t0
            m = run_measured([BIN, "migrate", "run", "--database-url", be.url(h)])
            info["migrate_run_s"] = m["wall"]
            log(f"{be.name}: migrate run on {tag}: {m['wall']:.2f}s\n{m['stdout'].rstrip()}")
        else:  # daily, without
            base = self.get("backlog", "without")
            log(f"== {be.name}: master {tag}: copy of {base['handle']} + set-based SQL at "
                f"{plain_ts(DAILY_PRIOR_DT)} (the backlog as of one day earlier)")
            t0 = time.perf_counter()
            h = be.clone(base["handle"], tag)
            self.handles.append(h)
            info["copy_s"] = time.perf_counter() - t0
            r = be.baseline(h, DAILY_PRIOR_DT)
            info["backlog_removed_s"] = r["wall"]
            info["backlog_removed_users"] = base["users"] - be.state(h)["users"]
        info["handle"] = h
        t1 = time.perf_counter()
        be.maintain(h)
        info["maintain_s"] = time.perf_counter() - t1
        info["build_s"] = time.perf_counter() - t0
        st = be.state(h)
        info.update(state=st, users=st["users"], anonymous=be.anonymous(h), eligible=be.eligible(h))
        if dataset == "daily":
            info["prior_eligible"] = be.eligible(h, DAILY_PRIOR_DT)
            if info["prior_eligible"] != 0:
                FAILURES.append(f"{be.name}: daily master {tag} still has {info['prior_eligible']} users "
                                f"eligible at {plain_ts(DAILY_PRIOR_DT)} after the backlog removal")
        log(f"{be.name}: master {tag}: {info['users']:,} users, {info['anonymous']:,} anonymous, "
            f"{info['eligible']:,} eligible at {plain_ts(CUTOFF_DT)} "
            f"({pct(info['eligible'], info['users'])} of the users); built in {info['build_s']:.1f}s")
        self.out.setdefault("masters", []).append({k: v for k, v in info.items() if k != "handle"})
        self.cache[key] = info
        return info

    def drop_all(self):
        for h in self.handles:
            self.be.drop(h)
        self.handles.clear()
        self.cache.clear()


def pct(part, whole):
    return f"{100.0 * part / whole:.2f} %" if whole else "–"


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


# anonsweep's default --batch-size per backend (src/sql/dialect.rs, default_batch_size). On
# PostgreSQL the default run sizes batches toward 100 ms (--target-batch-ms), up to that size.
DEFAULT_BATCH = {"postgres": 5000, "mysql": 2000, "sqlite": 1000}


def default_label(name):
    if name == "postgres":
        return f"anonsweep (defaults: batches toward 100 ms, up to {DEFAULT_BATCH[name]})"
    return f"anonsweep (default batch {DEFAULT_BATCH[name]})"


def fixed_batch_args(name, batch_size):
    """Flags for fixed batches of batch_size (PostgreSQL's time target off)."""
    return ["--batch-size", str(batch_size)] + (["--target-batch-ms", "0"] if name == "postgres" else [])


def anonsweep_run(url, batch_size=None, extra=(), binary=None):
    argv = [binary or BIN, "run", "--as-of", AS_OF, "--format", "json", "--database-url", url]
    if batch_size:
        argv += ["--batch-size", str(batch_size)]
    argv += list(extra)
    r = run_measured(argv, env={"ANONSWEEP_LOG": "info"})
    summary = json.loads(r["stdout"].strip().splitlines()[-1])
    # run's "run <id>: N eligible …, cutoff …, batches of …" line: the counts are done
    batches_start = parse_log_epoch(r["stderr"], ", batches of ")
    counting = (batches_start - r["start_epoch"]) if batches_start else None
    return dict(wall=r["wall"], rss_kib=r["rss_kib"], deleted_users=summary["deleted_users"],
                eligible=summary["eligible"], batches=summary["batches"],
                max_batch_ms=summary["max_batch_ms"], p99_batch_ms=summary["p99_batch_ms"],
                duration_seconds=summary["duration_seconds"], workers=summary.get("workers"),
                counting_s=counting, failed=len(summary["failed"]), kept_changed=summary["kept_changed"],
                argv=" ".join(["anonsweep"] + argv[1:]))


def anonsweep_plan(url):
    argv = [BIN, "plan", "--as-of", AS_OF, "--format", "json", "--database-url", url]
    r = run_measured(argv)
    summary = json.loads(r["stdout"])
    return dict(wall=r["wall"], rss_kib=r["rss_kib"], eligible=summary.get("eligible"),
                duration_seconds=summary.get("duration_seconds"))


def run_contender(be, master, label, fn, reference, expected_eligible, results):
    """Runs fn on a fresh copy of master, then compares what is left with reference (the first
    contender's result when reference has no state yet) and anonsweep's counts with the rule."""
    copy = be.clone(master)
    # The copy's pages would otherwise still be on their way to disk while the contender runs,
    # and whichever statement syncs the file first would pay for writing the whole copy.
    os.sync()
    try:
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
        if "eligible" in res and res["eligible"] != expected_eligible:
            ok = False
        if not ok:
            msg = (f"MISMATCH on {be.name}: {label} left {after} (eligible {res.get('eligible')}, deleted "
                   f"{res.get('deleted_users')}), but {reference['by']} left {reference['state']} "
                   f"(expected eligible {expected_eligible})")
            print("!" * 100 + "\n" + msg + "\n" + "!" * 100, file=sys.stderr, flush=True)
            MISMATCHES.append(msg)
            res["void"] = True
        extra = ""
        if "p99_batch_ms" in res:
            extra = (f" p99 {res['p99_batch_ms']:.0f} ms max {res['max_batch_ms']:.0f} ms "
                     f"batches {res['batches']} rss {res['rss_kib']/1024:.1f} MiB "
                     f"counting {res['counting_s'] or 0:.2f}s")
        elif "eligible" in res:
            extra = f" eligible {res['eligible']} rss {res['rss_kib']/1024:.1f} MiB"
        log(f"{be.name}: {label}: {res['wall']:.2f}s{extra} remaining users {after['users']}")
        results.append(res)
        return res
    except (CmdError, ValueError, KeyError, IndexError) as e:
        msg = f"FAILED on {be.name}: {label}: {e}"
        print(msg, file=sys.stderr, flush=True)
        FAILURES.append(msg)
        return None
    finally:
        be.drop(copy)


def rotated(xs, k):
    """The contenders in a different order each repeat, so that a drift in the machine's load
    does not always favour the same one."""
    k %= max(1, len(xs))
    return xs[k:] + xs[:k]


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(be, contenders, per_rep, base_label):
    """Per contender: median wall, the walls, and the median of the per-repeat ratios to base."""
    summary = []
    for label in contenders:
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
        if "p99_batch_ms" in rs[0]:
            s["p99_batch_ms"] = median([r["p99_batch_ms"] for r in rs])
            s["max_batch_ms"] = max(r["max_batch_ms"] for r in rs)
            s["batches"] = median([r["batches"] for r in rs])
            s["counting_s"] = median([r["counting_s"] for r in rs])
            s["deleted_users"] = rs[0]["deleted_users"]
            s["command"] = rs[0].get("argv")
        if label.startswith(("anonsweep", "run")) or label == "plan":
            s["rss_mib"] = max(r["rss_kib"] for r in rs) / 1024
        summary.append(s)
    return summary


# ---------------------------------------------------------------------------------------------
# Scenario: the backlog (first cleanup)
# ---------------------------------------------------------------------------------------------

BASE_LABEL = "set-based SQL baseline"
OTHER_LABEL = "run (--other-binary)"


def bench_backlog(be, masters, indexes, repeat, batch_sizes, best_batch, out, other=None):
    m = masters.get("backlog", indexes)
    expected = m["eligible"]
    master = m["handle"]
    log(f"== {be.name}: backlog, {indexes} the shipped indexes: {expected} eligible of {m['users']} users")
    runs = []
    reference = {"state": None}
    sweep = {}
    if batch_sizes:
        for bs in batch_sizes:
            r = run_contender(be, master, f"anonsweep --batch-size {bs}",
                              lambda c, bs=bs: anonsweep_run(be.url(c), extra=fixed_batch_args(be.name, bs)),
                              reference, expected, runs)
            if r and not r.get("void"):
                sweep[bs] = r
        if sweep:
            # fastest batch size whose p99 batch time stays within the 250 ms target
            within = [b for b in sweep if sweep[b]["p99_batch_ms"] <= 250] or list(sweep)
            best_batch = min(within, key=lambda b: sweep[b]["wall"])
            log(f"{be.name}: best batch size of the sweep (fastest with p99 <= 250 ms): {best_batch}")
    default = DEFAULT_BATCH[be.name]
    contenders = [(default_label(be.name), lambda c: anonsweep_run(be.url(c)))]
    if best_batch and (best_batch != default or be.name == "postgres"):
        contenders.append((f"anonsweep (fixed batch {best_batch})",
                           lambda c: anonsweep_run(be.url(c), extra=fixed_batch_args(be.name, best_batch))))
    if other:
        contenders.append((OTHER_LABEL, lambda c: anonsweep_run(be.url(c), binary=other)))
    contenders.append((BASE_LABEL, be.baseline))
    if be.name == "mysql":
        contenders.append(("pt-archiver", be.pt_archiver))
    per_rep = []
    for rep in range(repeat):
        row = {}
        for label, fn in rotated(contenders, rep):
            r = run_contender(be, master, label, fn, reference, expected, runs)
            if r:
                r["repeat"] = rep
                if not r.get("void"):
                    row[label] = r
        per_rep.append(row)
    summary = summarize(be, [c for c, _ in contenders], per_rep, BASE_LABEL)
    for s in summary:
        if be.name == "mysql" and "pt-archiver" in [c for c, _ in contenders]:
            pr = [row["pt-archiver"]["wall"] / row[s["contender"]]["wall"] for row in per_rep
                  if s["contender"] in row and "pt-archiver" in row]
            s["pt_archiver_over_this"] = median(pr)
    out.setdefault("backlog", []).append(dict(
        backend=be.name, indexes=indexes, users=m["users"], eligible=expected, pristine=m["state"],
        runs=strip_runs(runs), summary=summary,
        sweep={str(k): dict(wall=v["wall"], p99_batch_ms=v["p99_batch_ms"], max_batch_ms=v["max_batch_ms"],
                            rss_mib=v["rss_kib"] / 1024, counting_s=v["counting_s"], batches=v["batches"])
               for k, v in sweep.items()},
        best_batch=best_batch, other=sh([other, "--version"]).strip() if other else None))
    return best_batch


def strip_runs(runs):
    return [{k: v for k, v in r.items() if k not in ("steps",)} for r in runs]


def bench_plan(be, masters, out, reps=3):
    """`anonsweep plan` on the backlog master, without and with the shipped indexes."""
    res = dict(backend=be.name, dataset="backlog")
    for ix in ("without", "with"):
        m = masters.get("backlog", ix)
        res["users"] = m["users"]
        res["eligible"] = m["eligible"]
        if ix == "with":
            res["migrate_run_s"] = m.get("migrate_run_s")
        log(f"== {be.name}: plan timing, backlog, {ix} the shipped indexes ({reps} runs on one copy)")
        copy = be.clone(m["handle"])
        os.sync()
        try:
            walls, rss, eligible = [], 0, None
            for _ in range(reps):
                r = anonsweep_plan(be.url(copy))
                walls.append(r["wall"])
                rss = max(rss, r["rss_kib"])
                eligible = r["eligible"]
                if eligible != m["eligible"]:
                    msg = f"MISMATCH on {be.name}: plan ({ix} indexes) counted {eligible} eligible, the rule {m['eligible']}"
                    print("!" * 100 + "\n" + msg + "\n" + "!" * 100, file=sys.stderr, flush=True)
                    MISMATCHES.append(msg)
            if be.state(copy) != m["state"]:
                MISMATCHES.append(f"MISMATCH on {be.name}: plan ({ix} indexes) changed the users")
            res[ix] = dict(walls=[round(w, 3) for w in walls], median=median(walls), eligible=eligible,
                           rss_mib=rss / 1024, n=len(walls))
            log(f"{be.name}: plan {ix} indexes: {', '.join(f'{w:.2f}s' for w in walls)} (eligible {eligible})")
        except (CmdError, ValueError) as e:
            FAILURES.append(f"FAILED plan timing on {be.name} ({ix} indexes): {e}")
            print(FAILURES[-1], file=sys.stderr)
        finally:
            be.drop(copy)
    out.setdefault("plan", []).append(res)


# ---------------------------------------------------------------------------------------------
# Scenario: the daily run (backlog gone, one more day eligible)
# ---------------------------------------------------------------------------------------------

def bench_daily(be, masters, indexes, repeat, out, variants=(), other=None):
    """plan, run and the set-based SQL on the daily master; with variants (argument lists) also
    `run ARGS` for each, and with other (a path) that binary's `run`, in the same repeats (their
    ratios are taken against the same baseline)."""
    m = masters.get("daily", indexes)
    expected = m["eligible"]
    master = m["handle"]
    log(f"== {be.name}: daily run, {indexes} the shipped indexes: {expected} eligible of {m['users']} users "
        f"({pct(expected, m['users'])})")
    runs = []
    reference = {"state": None}
    untouched = {"state": m["state"], "by": "the master (plan must change nothing)"}
    contenders = [
        ("plan", lambda c: anonsweep_plan(be.url(c)), untouched),
        ("run", lambda c: anonsweep_run(be.url(c)), reference),
        (BASE_LABEL, be.baseline, reference),
    ]
    for args in variants:
        contenders.append(("run " + shlex.join(args),
                           lambda c, args=args: anonsweep_run(be.url(c), extra=args), reference))
    if other:
        contenders.append((OTHER_LABEL, lambda c: anonsweep_run(be.url(c), binary=other), reference))
    per_rep = []
    for rep in range(repeat):
        row = {}
        for label, fn, ref in rotated(contenders, rep):
            r = run_contender(be, master, label, fn, ref, expected, runs)
            if r:
                r["repeat"] = rep
                if not r.get("void"):
                    row[label] = r
        per_rep.append(row)
    if reference.get("state") and reference["state"]["users"] != m["users"] - expected:
        MISMATCHES.append(f"MISMATCH on {be.name}: daily ({indexes} indexes): {reference['by']} left "
                          f"{reference['state']['users']} users, expected {m['users'] - expected}")
    summary = summarize(be, [c for c, _, _ in contenders], per_rep, BASE_LABEL)
    out.setdefault("daily", []).append(dict(
        backend=be.name, indexes=indexes, users=m["users"], anonymous=m["anonymous"], eligible=expected,
        eligible_pct=100.0 * expected / max(1, m["users"]),
        backlog_removed_users=masters.get("daily", "without").get("backlog_removed_users"),
        migrate_run_s=m.get("migrate_run_s"), runs=strip_runs(runs), summary=summary,
        variants=[shlex.join(a) for a in variants] + ([OTHER_LABEL] if other else []),
        other=sh([other, "--version"]).strip() if other else None))


# ---------------------------------------------------------------------------------------------
# Scenario: the worker sweep (backlog, PostgreSQL and MariaDB)
# ---------------------------------------------------------------------------------------------

def binary_has_workers():
    try:
        return "--workers" in sh([BIN, "run", "--help"])
    except CmdError:
        return False


def bench_workers(be, masters, indexes, workers, repeat, out, supported):
    m = masters.get("backlog", indexes)
    expected = m["eligible"]
    master = m["handle"]
    log(f"== {be.name}: worker sweep {workers}, backlog, {indexes} the shipped indexes")
    runs = []
    reference = {"state": None}
    contenders = [(BASE_LABEL, be.baseline)]
    for w in workers:
        if w > 1 and not supported:
            msg = f"FAILED on {be.name}: workers {w}: this binary's `run` has no --workers flag"
            print(msg, file=sys.stderr, flush=True)
            FAILURES.append(msg)
            continue
        extra = [] if w == 1 else ["--workers", str(w)]
        contenders.append((f"workers {w}", lambda c, extra=extra: anonsweep_run(be.url(c), extra=extra)))
    per_rep = []
    for rep in range(repeat):
        row = {}
        for label, fn in rotated(contenders, rep):
            r = run_contender(be, master, label, fn, reference, expected, runs)
            if r:
                r["repeat"] = rep
                if not r.get("void"):
                    row[label] = r
        per_rep.append(row)
    summary = summarize(be, [c for c, _ in contenders], per_rep, BASE_LABEL)
    for s in summary:
        if s["contender"].startswith("workers "):
            s["workers"] = int(s["contender"].split()[1])
            s["rss_mib"] = max(row[s["contender"]]["rss_kib"] for row in per_rep if s["contender"] in row) / 1024
    out.setdefault("workers", []).append(dict(
        backend=be.name, indexes=indexes, users=m["users"], eligible=expected, runs=strip_runs(runs),
        summary=summary))


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
            script = write_script("scale.sql", scaling_fill_sql(eligible))
            g = run_measured(PSQL + ["-d", name, "-f", script])
            log(f"scaling: generated in {g['wall']:.1f}s")
            expected = pg.eligible(name)
            total = int(pg.query(name, "SELECT count(*) FROM users").strip())
            r = anonsweep_run(pg.url(name), extra=fixed_batch_args("postgres", batch_size) if batch_size else ())
            remaining = int(pg.query(name, "SELECT count(*) FROM users").strip())
            again = pg.eligible(name)
            row = dict(eligible=expected, users=total, generate_s=g["wall"], wall=r["wall"],
                       deleted_users=r["deleted_users"], us_per_user=r["wall"] / max(1, r["deleted_users"]) * 1e6,
                       batch_us_per_user=(r["wall"] - (r["counting_s"] or 0)) / max(1, r["deleted_users"]) * 1e6,
                       counting_s=r["counting_s"], p99_batch_ms=r["p99_batch_ms"],
                       max_batch_ms=r["max_batch_ms"], rss_mib=r["rss_kib"] / 1024,
                       batches=r["batches"],
                       batch_size=(f"fixed {batch_size}" if batch_size else default_label("postgres")))
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


def ratio_cell(s):
    r = s.get("ratio_vs_baseline")
    if r is None:
        return "–"
    per = s.get("ratios") or []
    return f"{r:.2f}×" + (f" ({', '.join(f'{x:.2f}' for x in per)})" if len(per) > 1 else "")


def provenance(out):
    """The line above every table: the command that produced it and the binary it measured."""
    return (f"`{out['command']}` · `{out['version']}` · {out['cores']} cores · "
            f"started {out['started'][:16].replace('T', ' ')} UTC")


def markdown(out):
    lines = []
    prov = provenance(out)
    titles = {n: c.title for n, c in BACKENDS.items()}
    for b in out.get("backlog", []):
        name = b["backend"]
        lines.append(f"\n### Backlog, {titles[name]}: {b['users']:,} users, {b['eligible']:,} eligible, "
                     f"{b['indexes']} the shipped indexes\n")
        lines.append(prov + "\n")
        lines.append("| contender | n | wall median (s) | walls (s) | ratio vs baseline (per repeat) | "
                     "pt-archiver ÷ this | p99 batch (ms) | max batch (ms) | batches | counting (s) | peak RSS (MiB) |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for s in b["summary"]:
            lines.append(
                f"| {s['contender']} | {s['n']} | {fmt(s['wall_median'])} | {', '.join(map(str, s['walls']))} | "
                f"{ratio_cell(s)} | {fmt(s.get('pt_archiver_over_this'), '.2f', '×')} | "
                f"{fmt(s.get('p99_batch_ms'), '.0f')} | {fmt(s.get('max_batch_ms'), '.0f')} | "
                f"{fmt(s.get('batches'), '.0f')} | {fmt(s.get('counting_s'))} | {fmt(s.get('rss_mib'), '.1f')} |")
        if b.get("other"):
            lines.append(f"\n`{OTHER_LABEL}`: {b['other']}, with its defaults.")
        if b.get("sweep"):
            lines.append(f"\nBatch-size sweep ({titles[name]}, fixed batches, one run each):\n")
            lines.append(prov + "\n")
            lines.append("| batch size | wall (s) | p99 batch (ms) | max batch (ms) | batches | counting (s) | peak RSS (MiB) |")
            lines.append("|---|---|---|---|---|---|---|")
            for k, v in b["sweep"].items():
                lines.append(f"| {k} | {v['wall']:.2f} | {v['p99_batch_ms']:.0f} | {v['max_batch_ms']:.0f} | "
                             f"{v['batches']} | {fmt(v['counting_s'])} | {v['rss_mib']:.1f} |")
    plan_rows = list(out.get("plan", []))
    # the daily run's plan timings, one row per backend, with and without the indexes side by side
    by_backend = {}
    for d in out.get("daily", []):
        p = next((s for s in d["summary"] if s["contender"] == "plan"), None)
        row = by_backend.setdefault(d["backend"], dict(backend=d["backend"], dataset="daily", users=d["users"],
                                                       eligible=d["eligible"]))
        if d["indexes"] == "with":
            row["migrate_run_s"] = d.get("migrate_run_s")
        if p:
            row[d["indexes"]] = dict(median=p["wall_median"], n=p["n"], rss_mib=p.get("rss_mib"))
    plan_rows += list(by_backend.values())
    if plan_rows:
        lines.append("\n### `anonsweep plan` wall time (median of n)\n")
        lines.append(prov + "\n")
        lines.append("| backend | dataset | users | eligible | without the shipped indexes (s) | "
                     "with the shipped indexes (s) | n | `migrate run` (s) | plan peak RSS (MiB) |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for p in plan_rows:
            rss = max([(p.get(k) or {}).get("rss_mib") or 0 for k in INDEX_VARIANTS])
            n = max([(p.get(k) or {}).get("n") or 0 for k in INDEX_VARIANTS])
            lines.append(f"| {titles[p['backend']]} | {p['dataset']} | {p['users']:,} | {p['eligible']:,} | "
                         f"{fmt((p.get('without') or {}).get('median'))} | {fmt((p.get('with') or {}).get('median'))} | "
                         f"{n or '–'} | {fmt(p.get('migrate_run_s'))} | {fmt(rss or None, '.1f')} |")
    if out.get("daily"):
        lines.append("\n### Daily run: the backlog as of one day earlier already removed, one more day eligible\n")
        lines.append(prov + "\n")
        lines.append("Medians of n repeats, each contender on its own fresh copy; the ratios are taken within each "
                     "repeat (per-repeat values in parentheses). `run` and `plan` with their defaults; \"before 1st "
                     "batch\" is from spawn to run's `run …: N eligible …, batches of …` log line (connect, checks, the count).\n")
        lines.append("| backend | indexes | users | eligible (% of users) | n | plan (s) | run (s) | set-based SQL (s) | "
                     "run ÷ set-based | plan ÷ set-based | run: before 1st batch (s) | run batches | "
                     "run p99 / max batch (ms) | run peak RSS (MiB) |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for d in out["daily"]:
            s = {x["contender"]: x for x in d["summary"]}
            p, r, b = s.get("plan", {}), s.get("run", {}), s.get(BASE_LABEL, {})
            lines.append(
                f"| {titles[d['backend']]} | {d['indexes']} | {d['users']:,} | {d['eligible']:,} ({d['eligible_pct']:.2f} %) | "
                f"{max(p.get('n', 0), r.get('n', 0), b.get('n', 0))} | {fmt(p.get('wall_median'))} | "
                f"{fmt(r.get('wall_median'))} | {fmt(b.get('wall_median'))} | {ratio_cell(r)} | {ratio_cell(p)} | "
                f"{fmt(r.get('counting_s'))} | {fmt(r.get('batches'), '.0f')} | {fmt(r.get('p99_batch_ms'), '.0f')} / {fmt(r.get('max_batch_ms'), '.0f')} | "
                f"{fmt(r.get('rss_mib'), '.1f')} |")
    swept = [d for d in out.get("daily", []) if d.get("variants")]
    if swept:
        lines.append("\n### Daily run: `anonsweep run` with other arguments, in the same repeats\n")
        lines.append(prov + "\n")
        lines.append("Each `run` on its own fresh copy, in the daily table's repeats; ratios to that repeat's "
                     "set-based SQL. The longest batch is how long one transaction holds its locks (on SQLite "
                     "the database's write lock).\n")
        lines.append("| backend | indexes | eligible | `run` arguments | n | wall median (s) | walls (s) | "
                     "ratio vs set-based (per repeat) | batches | p99 / max batch (ms) | peak RSS (MiB) |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for d in swept:
            s = {x["contender"]: x for x in d["summary"]}
            for label, bs in [("run", "(defaults)")] + [
                    (v, f"(defaults), {d.get('other')}") if v == OTHER_LABEL else ("run " + v, f"`{v}`")
                    for v in d["variants"]]:
                r = s.get(label)
                if not r:
                    continue
                lines.append(
                    f"| {titles[d['backend']]} | {d['indexes']} | {d['eligible']:,} | {bs} | {r['n']} | "
                    f"{fmt(r['wall_median'])} | {', '.join(map(str, r['walls']))} | {ratio_cell(r)} | "
                    f"{fmt(r.get('batches'), '.0f')} | {fmt(r.get('p99_batch_ms'), '.0f')} / "
                    f"{fmt(r.get('max_batch_ms'), '.0f')} | {fmt(r.get('rss_mib'), '.1f')} |")
    if out.get("workers"):
        lines.append("\n### Worker sweep: backlog, `anonsweep run --workers W` (no flag for W = 1)\n")
        lines.append(prov + "\n")
        lines.append("| backend | indexes | users | eligible | workers | n | wall median (s) | walls (s) | "
                     "ratio vs set-based (per repeat) | p99 batch (ms) | max batch (ms) | batches | peak RSS (MiB) |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for wsec in out["workers"]:
            for s in wsec["summary"]:
                lines.append(
                    f"| {titles[wsec['backend']]} | {wsec['indexes']} | {wsec['users']:,} | {wsec['eligible']:,} | "
                    f"{s.get('workers', 'set-based SQL')} | {s['n']} | {fmt(s['wall_median'])} | "
                    f"{', '.join(map(str, s['walls']))} | {ratio_cell(s)} | {fmt(s.get('p99_batch_ms'), '.0f')} | "
                    f"{fmt(s.get('max_batch_ms'), '.0f')} | {fmt(s.get('batches'), '.0f')} | {fmt(s.get('rss_mib'), '.1f')} |")
    if out.get("scaling"):
        lines.append("\n### Scaling (PostgreSQL, generated dataset)\n")
        lines.append(prov + "\n")
        lines.append("| eligible | users | batch sizing | batches | wall (s) | µs per deleted user | counting (s) | "
                     "p99 batch (ms) | max batch (ms) | peak RSS (MiB) |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in out["scaling"]:
            lines.append(f"| {r['eligible']:,} | {r['users']:,} | {r['batch_size']} | {r['batches']} | {r['wall']:.1f} | "
                         f"{r['us_per_user']:.1f} | {fmt(r['counting_s'])} | {r['p99_batch_ms']:.0f} | "
                         f"{r['max_batch_ms']:.0f} | {r['rss_mib']:.1f} |")
    if out.get("masters"):
        lines.append("\n### Datasets (masters the copies were made from)\n")
        lines.append(prov + "\n")
        lines.append("| backend | dataset | indexes | users | anonymous | eligible | built in (s) | how |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for m in out["masters"]:
            if m["dataset"] == "backlog" and m["indexes"] == "without":
                how = "demo --fill-only" if out.get("dataset", "demo") == "demo" else f"{out['dataset']} population (bench.py)"
            elif m["indexes"] == "with":
                how = f"copy + `migrate run` ({fmt(m.get('migrate_run_s'))} s)"
            else:
                how = (f"copy + set-based SQL at cutoff − 1 day ({m.get('backlog_removed_users', 0):,} users, "
                       f"{fmt(m.get('backlog_removed_s'))} s)")
            lines.append(f"| {titles[m['backend']]} | {m['dataset']} | {m['indexes']} | {m['users']:,} | "
                         f"{m['anonymous']:,} | {m['eligible']:,} | {m['build_s']:.1f} | {how} |")
        if out.get("copy_methods"):
            lines.append("\nEvery contender runs on its own copy of the master: " + "; ".join(
                f"{titles[k]} {COPY_METHODS.get(v, v)}" for k, v in out["copy_methods"].items()) + ".")
    if out.get("timings"):
        lines.append("\nHarness time per part: " + ", ".join(
            f"{t['backend']} {t['part']} {t['seconds']:.0f} s" for t in out["timings"]) +
            f"; total {out.get('total_s', 0):.0f} s.")
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


def parse_list(text, what, allowed=None, conv=str):
    items = [x.strip() for x in (text or "").split(",") if x.strip()]
    try:
        items = [conv(x) for x in items]
    except ValueError:
        sys.exit(f"{what}: cannot read {text!r}")
    if allowed is not None and any(x not in allowed for x in items):
        sys.exit(f"{what} takes a comma-separated list of {', '.join(map(str, allowed))}, got {text!r}")
    return items


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=None, help="users in the dataset (default 1,000,000)")
    ap.add_argument("--dataset", choices=("demo", "ordered"), default="demo",
                    help="demo: `anonsweep demo --fill-only` (ids not in creation order, 20 %% eligible on the "
                         "first cleanup); ordered: ids and rows in creation order, mostly one-visit guests "
                         "(62 %% eligible on the first cleanup), see ordered_sql()")
    ap.add_argument("--repeat", type=int, default=None, help="repeats per contender (default 3)")
    ap.add_argument("--backends", default="postgres,mysql,sqlite")
    ap.add_argument("--quick", action="store_true",
                    help="100k users, 1 repeat, no batch-size sweep, 1 plan run per index variant")
    ap.add_argument("--backlog", action="store_true",
                    help="the backlog scenario (and its plan timing); with no scenario flag: backlog + daily")
    ap.add_argument("--daily", action="store_true",
                    help="the daily-run scenario; with no scenario flag: backlog + daily")
    ap.add_argument("--workers-sweep", default=None, metavar="W,W,...",
                    help="`run --workers W` for each W on the PostgreSQL and MariaDB backlog (e.g. 1,2,4)")
    ap.add_argument("--indexes", default=None, metavar="with,without",
                    help="run each scenario on masters with and/or without the shipped indexes (anonsweep "
                         "migrate run); default: without for the backlog and the worker sweep, with,without for "
                         "the daily run. The plan timing always measures both.")
    ap.add_argument("--scaling", action="store_true", help="only the PostgreSQL scaling series")
    ap.add_argument("--scaling-sizes", default="100000,1000000,4000000")
    ap.add_argument("--batch-sizes", default=None,
                    help="batch-size sweep with fixed batches on the first backend's backlog (default "
                         "1000,2000,3000,5000,10000; none with --quick; '' to skip)")
    ap.add_argument("--daily-run", action="append", default=[], metavar="ARGS",
                    help="in the daily run, also `anonsweep run ARGS` (e.g. '--batch-size 6000'), in the same "
                         "repeats as plan, run and the set-based SQL; repeat the flag for more variants")
    ap.add_argument("--other-binary", default=None, metavar="PATH",
                    help="in the backlog and the daily run, also that anonsweep binary's `run` with its defaults "
                         "(e.g. an earlier build), in the same repeats")
    ap.add_argument("--best-batch", type=int, default=None,
                    help="batch size for the second anonsweep contender when no sweep runs")
    ap.add_argument("--no-plan", action="store_true", help="skip the backlog's `anonsweep plan` timing")
    ap.add_argument("--plan-repeat", type=int, default=None,
                    help="`plan` runs per index variant in the backlog's plan timing (default 3, 1 with --quick)")
    ap.add_argument("--out", default=None, help="write the JSON results here")
    ap.add_argument("--mysql-copy", choices=("auto", "tablespace", "insert"), default="auto",
                    help="how MariaDB copies are made: the InnoDB files (tablespace: a local server whose data "
                         "directory this user can write), INSERT … SELECT per table, or auto: tablespace when "
                         "possible (default)")
    ap.add_argument("--no-build", action="store_true",
                    help="measure target/release/anonsweep as it is (default: cargo build --release first)")
    a = ap.parse_args()
    users = a.users or (100_000 if a.quick else 1_000_000)
    repeat = a.repeat or (1 if a.quick else 3)
    backends = parse_list(a.backends, "--backends", list(BACKENDS))
    workers = parse_list(a.workers_sweep, "--workers-sweep", conv=int) if a.workers_sweep is not None else []
    if a.workers_sweep is not None and (not workers or min(workers) < 1):
        sys.exit("--workers-sweep takes worker counts of at least 1, e.g. 1,2,4")
    indexes = parse_list(a.indexes, "--indexes", INDEX_VARIANTS) if a.indexes else None
    Mysql.copy_mode = a.mysql_copy
    global DATASET
    DATASET = a.dataset
    full = not (a.backlog or a.daily or workers)
    do_backlog = full or a.backlog
    do_daily = full or a.daily
    ix_backlog = indexes or ["without"]
    ix_daily = indexes or ["with", "without"]

    if "mysql" in backends and do_backlog and not a.scaling and shutil.which("pt-archiver") is None:
        # The contender MariaDB is compared with: Debian's percona-toolkit.
        log("installing pt-archiver: apt-get install -y percona-toolkit")
        subprocess.run(["apt-get", "install", "-y", "-q", "percona-toolkit"],
                       stdout=subprocess.DEVNULL, check=False)
    if not a.no_build or not os.path.exists(BIN):
        log("building: cargo build --release -q")
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=REPO, check=True)
    version = sh([BIN, "--version"]).strip()
    command = "python3 bench/bench.py" + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
    out = dict(command=command, version=version, dataset=DATASET, users=users, repeat=repeat, as_of=AS_OF,
               cutoff=CUTOFF_DT.isoformat(), daily_prior_cutoff=DAILY_PRIOR_DT.isoformat(),
               cores=os.cpu_count(), started=datetime.now(timezone.utc).isoformat(), timings=[])
    t_start = time.perf_counter()

    def timed(backend, part, fn):
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            out["timings"].append(dict(backend=backend, part=part, seconds=time.perf_counter() - t0))

    try:
        if a.scaling:
            timed("postgres", "scaling",
                  lambda: bench_scaling([int(x) for x in a.scaling_sizes.split(",") if x], a.best_batch, out))
        else:
            order = [b for b in ("postgres", "sqlite", "mysql") if b in backends]
            best = a.best_batch
            batch_sizes = a.batch_sizes if a.batch_sizes is not None else ("" if a.quick else "1000,2000,3000,5000,10000")
            sweep = parse_list(batch_sizes, "--batch-sizes", conv=int)
            if a.other_binary and not os.access(a.other_binary, os.X_OK):
                sys.exit(f"--other-binary {a.other_binary}: not an executable file; give the path of an anonsweep binary")
            other_binary = os.path.abspath(a.other_binary) if a.other_binary else None
            daily_variants = [shlex.split(v) for v in a.daily_run]
            if any(not v for v in daily_variants):
                sys.exit("--daily-run takes the arguments of one `anonsweep run`, e.g. --daily-run '--batch-size 6000'")
            plan_reps = a.plan_repeat or (1 if a.quick else 3)
            has_workers = binary_has_workers() if workers else False
            if workers and not has_workers:
                log(f"note: {version} has no `run --workers`; only W = 1 can run")
            for name in order:
                be = BACKENDS[name]()
                masters = Masters(be, users, out)
                try:
                    if do_backlog:
                        for i, ix in enumerate(ix_backlog):
                            # the sweep runs once: on the first backend (PostgreSQL when selected)
                            do_sweep = sweep if (name == order[0] and i == 0 and a.best_batch is None) else []
                            best = timed(name, f"backlog ({ix} indexes)",
                                         lambda: bench_backlog(be, masters, ix, repeat, do_sweep, best, out,
                                                               other_binary)) or best
                        if not a.no_plan:
                            timed(name, "plan", lambda: bench_plan(be, masters, out, plan_reps))
                    if do_daily:
                        for ix in ix_daily:
                            timed(name, f"daily ({ix} indexes)", lambda: bench_daily(be, masters, ix, repeat, out, daily_variants,
                                                             other_binary))
                    if workers and name in ("postgres", "mysql"):
                        for ix in ix_backlog:
                            timed(name, f"workers ({ix} indexes)",
                                  lambda: bench_workers(be, masters, ix, workers, repeat, out, has_workers))
                except CmdError as e:
                    FAILURES.append(f"FAILED {name}: {e}")
                    print(FAILURES[-1], file=sys.stderr)
                finally:
                    masters.drop_all()
                    if be.copy_method:
                        out.setdefault("copy_methods", {})[name] = be.copy_method
    finally:
        cleanup()
    out["total_s"] = time.perf_counter() - t_start
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
