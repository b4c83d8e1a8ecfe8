-- anonsweep: every statement `anonsweep run` executes for preset "better-auth" on postgres.
-- Each statement is marked with when it runs. Parameters are bound per statement (see "binds").
-- Timestamp storage (assumed; `anonsweep plan` detects it from the database):
--   user.createdAt: timestamptz
--   session.createdAt: timestamptz
--   session.updatedAt: timestamptz

-- == When a connection opens, before any other statement on it
-- [run, plan and doctor: every connection (the run's, each worker's, the pooler probe's)] a setting of this connection only
SET TIME ZONE 'UTC';
-- [run, plan and doctor: every connection (the run's, each worker's, the pooler probe's)] a setting of this connection only
SET application_name = 'anonsweep';
-- [run, plan and doctor: every connection (the run's, each worker's, the pooler probe's)] a setting of this connection only
SET jit = off;

-- == Before the lock and anything else: is a transaction-mode connection pooler in between?
-- [run and plan: up to 20 rounds, each twice on one connection and once on a second one (between the two or after them, in turn)] the server process serving the connection: a pid that changes between transactions, or serves both connections, means a transaction-mode pooler
SELECT CAST(pg_backend_pid() AS TEXT) AS t;

-- == Before the first batch: counts, in one read-only snapshot
-- [plan and run --dry-run; run when max_fraction is set] anonymous users (the max_fraction cap divides by them)
SELECT COUNT(*) AS n FROM "user" AS u
WHERE u."isAnonymous";
-- [run with one worker, instead of the count below] the eligible users' ids, at most 50001 of them: when 50000 or fewer are eligible, the run keeps this list and its batches take these users, by id, and no others
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = 50001 (one more than a run lists)
SELECT CAST(u."id" AS TEXT) AS id FROM "user" AS u
WHERE u."isAnonymous"
  AND u."createdAt" < $1
  AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
LIMIT $2;
-- [plan; run with --workers, or when more than 50000 are eligible (then also after its batches)] eligible users: anonymous, created before the cutoff, no session activity at or after it
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz
SELECT COUNT(*) AS n FROM "user" AS u
WHERE u."isAnonymous"
  AND u."createdAt" < $1
  AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  );
-- [plan only] eligible users and the rows session, account would lose, in one pass
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz
SELECT concat_ws('|', CAST(COUNT(*) AS TEXT),
  CAST(COALESCE(SUM((SELECT COUNT(*) FROM "session" AS x WHERE x."userId" = u."id")), 0) AS TEXT),
  CAST(COALESCE(SUM((SELECT COUNT(*) FROM "account" AS x WHERE x."userId" = u."id")), 0) AS TEXT)) AS t
FROM "user" AS u
WHERE u."isAnonymous"
  AND u."createdAt" < $1
  AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  );
-- [plan only (--sample)] a sample of eligible ids
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the --sample count
SELECT CAST(u."id" AS TEXT) AS id FROM "user" AS u
WHERE u."isAnonymous"
  AND u."createdAt" < $1
  AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
ORDER BY u."id"
LIMIT $2;
-- [plan only (--list)] the eligible users for --list, with their latest activity and rows per table: the first page
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the batch size (users per page)
SELECT p.id, p.created_at,
  CASE
    WHEN p.a1 IS NOT NULL AND (p.a2 IS NULL OR p.a1 >= p.a2) THEN p.a1
    WHEN p.a2 IS NOT NULL THEN p.a2
  END AS latest_at,
  CASE
    WHEN p.a1 IS NOT NULL AND (p.a2 IS NULL OR p.a1 >= p.a2) THEN 'session.createdAt'
    WHEN p.a2 IS NOT NULL THEN 'session.updatedAt'
  END AS latest_column,
  p.n1,
  p.n2
FROM (
  SELECT u."id" AS k, CAST(u."id" AS TEXT) AS id,
    to_char(u."createdAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
    (SELECT MAX(to_char(s."createdAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM "session" AS s
     WHERE s."userId" = u."id") AS a1,
    (SELECT MAX(to_char(s."updatedAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM "session" AS s
     WHERE s."userId" = u."id") AS a2,
    (SELECT COUNT(*) FROM "session" AS x WHERE x."userId" = u."id") AS n1,
    (SELECT COUNT(*) FROM "account" AS x WHERE x."userId" = u."id") AS n2
  FROM "user" AS u
  WHERE u."isAnonymous"
    AND u."createdAt" < $1
    AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
    AND NOT EXISTS (
      SELECT 1 FROM "session" AS s
      WHERE s."userId" = u."id"
        AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
    )
  ORDER BY u."id"
  LIMIT $2
) AS p
ORDER BY p.k;
-- [plan only (--list)] the eligible users for --list: each page after the first, until one comes back short
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the previous page's last id (as text), $3 = the batch size (users per page)
SELECT p.id, p.created_at,
  CASE
    WHEN p.a1 IS NOT NULL AND (p.a2 IS NULL OR p.a1 >= p.a2) THEN p.a1
    WHEN p.a2 IS NOT NULL THEN p.a2
  END AS latest_at,
  CASE
    WHEN p.a1 IS NOT NULL AND (p.a2 IS NULL OR p.a1 >= p.a2) THEN 'session.createdAt'
    WHEN p.a2 IS NOT NULL THEN 'session.updatedAt'
  END AS latest_column,
  p.n1,
  p.n2
FROM (
  SELECT u."id" AS k, CAST(u."id" AS TEXT) AS id,
    to_char(u."createdAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
    (SELECT MAX(to_char(s."createdAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM "session" AS s
     WHERE s."userId" = u."id") AS a1,
    (SELECT MAX(to_char(s."updatedAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM "session" AS s
     WHERE s."userId" = u."id") AS a2,
    (SELECT COUNT(*) FROM "session" AS x WHERE x."userId" = u."id") AS n1,
    (SELECT COUNT(*) FROM "account" AS x WHERE x."userId" = u."id") AS n2
  FROM "user" AS u
  WHERE u."isAnonymous"
    AND u."createdAt" < $1
    AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
    AND NOT EXISTS (
      SELECT 1 FROM "session" AS s
      WHERE s."userId" = u."id"
        AND s."userId" > CAST($2 AS TEXT)
        AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
    )
    AND u."id" > CAST($2 AS TEXT)
  ORDER BY u."id"
  LIMIT $3
) AS p
ORDER BY p.k;

-- == Each batch: one transaction
-- [every batch] first in the transaction: how long to wait for a row lock
SET LOCAL lock_timeout = '5000ms';
-- [every batch] UTC for this transaction (times stored as text, the audit log's times)
SET LOCAL TIME ZONE 'UTC';
-- [every batch] a batch table an earlier run left in this server session, if any (a pooler hands sessions from client to client)
DROP TABLE IF EXISTS pg_temp.anonsweep_batch;
-- [every batch] the batch table, for this transaction only (nothing stays in the session for the next batch)
CREATE TEMPORARY TABLE anonsweep_batch ON COMMIT DROP AS
SELECT u."id" AS id FROM "user" AS u LIMIT 0;
-- [first batch] pick and lock the first users (no cursor yet)
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the batch size
INSERT INTO pg_temp.anonsweep_batch (id)
SELECT u."id"
FROM "user" AS u
WHERE u."isAnonymous"
  AND u."createdAt" < $1
  AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
ORDER BY u."id"
LIMIT $2
FOR UPDATE OF u;
-- [batches after the first] pick and lock the next users after the cursor
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the keyset cursor: the previous batch's last id (as text), $3 = the batch size
INSERT INTO pg_temp.anonsweep_batch (id)
SELECT u."id"
FROM "user" AS u
WHERE u."isAnonymous"
  AND u."createdAt" < $1
  AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND s."userId" > CAST($2 AS TEXT)
      AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND u."id" > CAST($2 AS TEXT)
ORDER BY u."id"
LIMIT $3
FOR UPDATE OF u;
-- [every batch of a run whose count listed its users, instead of the two picks above] pick and lock the next listed users, those still eligible
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the next listed users' ids after the previous batch's, at most the batch size, as a JSON array of text, $3 = the batch size
INSERT INTO pg_temp.anonsweep_batch (id)
SELECT u."id"
FROM "user" AS u
WHERE u."isAnonymous"
  AND u."createdAt" < $1
  AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND u."id" IN (SELECT CAST(j.v AS TEXT) FROM json_array_elements_text(CAST($2 AS json)) AS j(v))
ORDER BY u."id"
LIMIT $3
FOR UPDATE OF u;
-- [every batch] the batch's last id: the keyset cursor the next batch binds
SELECT CAST(b.id AS TEXT) AS t FROM pg_temp.anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1;
-- [every batch] statistics for the freshly filled batch table, so the planner drives the joins from it
ANALYZE pg_temp.anonsweep_batch;
-- [every batch] lock the picked users' sessions and count those with activity at or after the cutoff
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz
SELECT COUNT(*) FILTER (WHERE s."createdAt" >= $1 OR s."updatedAt" >= $1) AS n FROM (
  SELECT x.* FROM "session" AS x
  WHERE x."userId" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
  FOR UPDATE OF x
) AS s;
-- [only when the lock count above is not zero] re-check the rule; drop users that changed since they were picked
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz
DELETE FROM pg_temp.anonsweep_batch
WHERE NOT EXISTS (
  SELECT 1 FROM "user" AS u
  WHERE u."id" = anonsweep_batch.id
    AND u."isAnonymous"
    AND u."createdAt" < $1
    AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
    AND NOT EXISTS (
      SELECT 1 FROM "session" AS s
      WHERE s."userId" = u."id"
        AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
    )
);
-- [only with --audit-log] the batch's users, for the audit log
SELECT CAST(u."id" AS TEXT) AS id, CAST(u."createdAt" AS TEXT) AS created_at
FROM "user" AS u
WHERE u."id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
ORDER BY u."id";
-- [only with --audit-log] each user's rows in session, for the audit log
SELECT CAST(b.id AS TEXT) AS id, COUNT(*) AS n
FROM "session" AS x
JOIN pg_temp.anonsweep_batch AS b ON x."userId" = b.id
GROUP BY b.id;
-- [only with --audit-log] each user's rows in account, for the audit log
SELECT CAST(b.id AS TEXT) AS id, COUNT(*) AS n
FROM "account" AS x
JOIN pg_temp.anonsweep_batch AS b ON x."userId" = b.id
GROUP BY b.id;
-- [only with --archive-dir or --archive-to-table] read and lock the rows of session the batch deletes, for the archive
SELECT CAST(x."userId" AS TEXT) AS id, CAST(row_to_json(x) AS TEXT) AS t
FROM "session" AS x
WHERE x."userId" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
FOR UPDATE OF x;
-- [only with --archive-dir or --archive-to-table] read and lock the rows of account the batch deletes, for the archive
SELECT CAST(x."userId" AS TEXT) AS id, CAST(row_to_json(x) AS TEXT) AS t
FROM "account" AS x
WHERE x."userId" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
FOR UPDATE OF x;
-- [only with --archive-dir or --archive-to-table] read and lock the rows of user the batch deletes, for the archive
SELECT CAST(x."id" AS TEXT) AS id, CAST(row_to_json(x) AS TEXT) AS t
FROM "user" AS x
WHERE x."id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
FOR UPDATE OF x;
-- [every batch] delete from session, in foreign-key order
DELETE FROM "session"
WHERE "userId" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b));
-- [every batch] delete from account, in foreign-key order
DELETE FROM "account"
WHERE "userId" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b));
-- [every batch] delete from user, in foreign-key order
DELETE FROM "user"
WHERE "id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b));

-- == Only when a batch of one user fails: move the cursor past that user (it is kept and reported)
-- [every batch] first in the transaction: how long to wait for a row lock
SET LOCAL lock_timeout = '5000ms';
-- [every batch] UTC for this transaction (times stored as text, the audit log's times)
SET LOCAL TIME ZONE 'UTC';
-- [every batch] a batch table an earlier run left in this server session, if any (a pooler hands sessions from client to client)
DROP TABLE IF EXISTS pg_temp.anonsweep_batch;
-- [every batch] the batch table, for this transaction only
CREATE TEMPORARY TABLE anonsweep_batch ON COMMIT DROP AS
SELECT u."id" AS id FROM "user" AS u LIMIT 0;
-- [when the user fails in the first batch] take the failing user (no lock)
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the batch size
INSERT INTO pg_temp.anonsweep_batch (id)
SELECT u."id"
FROM "user" AS u
WHERE u."isAnonymous"
  AND u."createdAt" < $1
  AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
ORDER BY u."id"
LIMIT $2;
-- [when the user fails in a later batch] take the failing user (no lock)
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the keyset cursor: the previous batch's last id (as text), $3 = the batch size
INSERT INTO pg_temp.anonsweep_batch (id)
SELECT u."id"
FROM "user" AS u
WHERE u."isAnonymous"
  AND u."createdAt" < $1
  AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND s."userId" > CAST($2 AS TEXT)
      AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND u."id" > CAST($2 AS TEXT)
ORDER BY u."id"
LIMIT $3;
-- [when the run's count listed its users, instead of the two above] take the failing user: the next listed user still eligible (no lock)
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the next listed users' ids after the previous batch's, at most the batch size, as a JSON array of text, $3 = the batch size
INSERT INTO pg_temp.anonsweep_batch (id)
SELECT u."id"
FROM "user" AS u
WHERE u."isAnonymous"
  AND u."createdAt" < $1
  AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND u."id" IN (SELECT CAST(j.v AS TEXT) FROM json_array_elements_text(CAST($2 AS json)) AS j(v))
ORDER BY u."id"
LIMIT $3;
-- [every batch] its id: the keyset cursor, past it
SELECT CAST(b.id AS TEXT) AS t FROM pg_temp.anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1;
-- [every batch] its id, for the report
SELECT CAST(u."id" AS TEXT) AS id, CAST(u."createdAt" AS TEXT) AS created_at
FROM "user" AS u
WHERE u."id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
ORDER BY u."id";

-- == After the batches
-- [run, when its count listed its users and its batches did not delete them all] how many of the listed users are still there, and how many of those still eligible: the summary's kept, failed, not reached and gone before their batch
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the listed users' ids, as a JSON array of text, 10000 at a time (the counts are added up)
SELECT concat_ws('|', CAST(COUNT(*) AS TEXT),
  CAST(COALESCE(SUM(CASE WHEN u."isAnonymous"
      AND u."createdAt" < $1
      AND u."createdAt" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
      AND NOT EXISTS (
        SELECT 1 FROM "session" AS s
        WHERE s."userId" = u."id"
          AND (s."createdAt" >= $1 OR s."createdAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updatedAt" >= $1 OR s."updatedAt" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
      )
  THEN 1 ELSE 0 END), 0) AS TEXT)) AS t
FROM "user" AS u
WHERE u."id" IN (SELECT CAST(j.v AS TEXT) FROM json_array_elements_text(CAST($2 AS json)) AS j(v));

-- == Only with --max-replica-lag (run, and once in run --dry-run): the replicas' lag before each batch, on a connection of its own to the primary or on each --replica (no application table is read)
-- [on the primary, without --replica] the primary's WAL position and each physical standby's replay position and last report
SELECT CAST(pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS TEXT) AS primary_lsn,
       CAST(r.pid AS TEXT) AS pid,
       COALESCE(NULLIF(r.application_name, ''), 'standby') || ' (' || COALESCE(host(r.client_addr), 'local socket') || ')' AS replica,
       r.state AS state,
       CAST(pg_wal_lsn_diff(r.replay_lsn, '0/0') AS TEXT) AS replay_lsn,
       CAST(EXTRACT(EPOCH FROM r.replay_lag) AS TEXT) AS replay_lag,
       CAST(EXTRACT(EPOCH FROM clock_timestamp() - r.reply_time) AS TEXT) AS report_age
FROM (SELECT 1) AS one
LEFT JOIN (pg_stat_replication AS r JOIN pg_stat_activity AS a ON a.pid = r.pid AND a.datname IS NULL)
  ON r.state IS DISTINCT FROM 'backup'
ORDER BY r.pid;
-- [on each --replica] the standby's replay: caught up with what it received, or the age of the last transaction it replayed
SELECT CAST(pg_is_in_recovery() AS TEXT) AS in_recovery,
       CAST(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() AS TEXT) AS caught_up,
       CAST(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) AS TEXT) AS replay_age,
       CAST(CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS TEXT) AS paused,
       CAST(EXISTS (SELECT 1 FROM pg_stat_wal_receiver) AS TEXT) AS streaming;
