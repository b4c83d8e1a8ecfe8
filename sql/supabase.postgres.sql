-- anonsweep: every statement `anonsweep run` executes for preset "supabase" on postgres.
-- Each statement is marked with when it runs. Parameters are bound per statement (see "binds").
-- Timestamp storage (assumed; `anonsweep plan` detects it from the database):
--   auth.users.created_at: timestamptz
--   auth.sessions.created_at: timestamptz
--   auth.sessions.updated_at: timestamptz
--   auth.sessions.refreshed_at: timestamptz
--   auth.users.last_sign_in_at: timestamptz

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
SELECT COUNT(*) AS n FROM "auth"."users" AS u
WHERE u."is_anonymous";
-- [run with one worker, instead of the count below] the eligible users' ids, at most 50001 of them: when 50000 or fewer are eligible, the run keeps this list and its batches take these users, by id, and no others
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = 50001 (one more than a run lists)
SELECT CAST(u."id" AS TEXT) AS id FROM "auth"."users" AS u
WHERE u."is_anonymous"
  AND u."created_at" < $1
  AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "auth"."sessions" AS s
    WHERE s."user_id" = u."id"
      AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'))
LIMIT $2;
-- [plan; run with --workers, or when more than 50000 are eligible (then also after its batches)] eligible users: anonymous, created before the cutoff, no session activity at or after it
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz
SELECT COUNT(*) AS n FROM "auth"."users" AS u
WHERE u."is_anonymous"
  AND u."created_at" < $1
  AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "auth"."sessions" AS s
    WHERE s."user_id" = u."id"
      AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'));
-- [plan only] eligible users and the rows auth.sessions, auth.refresh_tokens, auth.flow_state would lose, in one pass
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz
SELECT concat_ws('|', CAST(COUNT(*) AS TEXT),
  CAST(COALESCE(SUM((SELECT COUNT(*) FROM "auth"."sessions" AS x WHERE x."user_id" = u."id")), 0) AS TEXT),
  CAST(COALESCE(SUM((SELECT COUNT(*) FROM "auth"."refresh_tokens" AS x WHERE x."user_id" = CAST(u."id" AS TEXT))), 0) AS TEXT),
  CAST(COALESCE(SUM((SELECT COUNT(*) FROM "auth"."flow_state" AS x WHERE x."user_id" = u."id")), 0) AS TEXT)) AS t
FROM "auth"."users" AS u
WHERE u."is_anonymous"
  AND u."created_at" < $1
  AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "auth"."sessions" AS s
    WHERE s."user_id" = u."id"
      AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'));
-- [plan only (--sample)] a sample of eligible ids
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the --sample count
SELECT CAST(u."id" AS TEXT) AS id FROM "auth"."users" AS u
WHERE u."is_anonymous"
  AND u."created_at" < $1
  AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "auth"."sessions" AS s
    WHERE s."user_id" = u."id"
      AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'))
ORDER BY u."id"
LIMIT $2;
-- [plan only (--list)] the eligible users for --list, with their latest activity and rows per table: the first page
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the batch size (users per page)
SELECT p.id, p.created_at,
  CASE
    WHEN p.a1 IS NOT NULL AND (p.a2 IS NULL OR p.a1 >= p.a2) AND (p.a3 IS NULL OR p.a1 >= p.a3) AND (p.a4 IS NULL OR p.a1 >= p.a4) THEN p.a1
    WHEN p.a2 IS NOT NULL AND (p.a3 IS NULL OR p.a2 >= p.a3) AND (p.a4 IS NULL OR p.a2 >= p.a4) THEN p.a2
    WHEN p.a3 IS NOT NULL AND (p.a4 IS NULL OR p.a3 >= p.a4) THEN p.a3
    WHEN p.a4 IS NOT NULL THEN p.a4
  END AS latest_at,
  CASE
    WHEN p.a1 IS NOT NULL AND (p.a2 IS NULL OR p.a1 >= p.a2) AND (p.a3 IS NULL OR p.a1 >= p.a3) AND (p.a4 IS NULL OR p.a1 >= p.a4) THEN 'auth.sessions.created_at'
    WHEN p.a2 IS NOT NULL AND (p.a3 IS NULL OR p.a2 >= p.a3) AND (p.a4 IS NULL OR p.a2 >= p.a4) THEN 'auth.sessions.updated_at'
    WHEN p.a3 IS NOT NULL AND (p.a4 IS NULL OR p.a3 >= p.a4) THEN 'auth.sessions.refreshed_at'
    WHEN p.a4 IS NOT NULL THEN 'auth.users.last_sign_in_at'
  END AS latest_column,
  p.n1,
  p.n2,
  p.n3
FROM (
  SELECT u."id" AS k, CAST(u."id" AS TEXT) AS id,
    to_char(u."created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
    (SELECT MAX(to_char(s."created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM "auth"."sessions" AS s
     WHERE s."user_id" = u."id") AS a1,
    (SELECT MAX(to_char(s."updated_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM "auth"."sessions" AS s
     WHERE s."user_id" = u."id") AS a2,
    (SELECT MAX(to_char(s."refreshed_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM "auth"."sessions" AS s
     WHERE s."user_id" = u."id") AS a3,
    (SELECT MAX(to_char(s."last_sign_in_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM "auth"."users" AS s
     WHERE s."id" = u."id") AS a4,
    (SELECT COUNT(*) FROM "auth"."sessions" AS x WHERE x."user_id" = u."id") AS n1,
    (SELECT COUNT(*) FROM "auth"."refresh_tokens" AS x WHERE x."user_id" = CAST(u."id" AS TEXT)) AS n2,
    (SELECT COUNT(*) FROM "auth"."flow_state" AS x WHERE x."user_id" = u."id") AS n3
  FROM "auth"."users" AS u
  WHERE u."is_anonymous"
    AND u."created_at" < $1
    AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
    AND NOT EXISTS (
      SELECT 1 FROM "auth"."sessions" AS s
      WHERE s."user_id" = u."id"
        AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
    )
    AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'))
  ORDER BY u."id"
  LIMIT $2
) AS p
ORDER BY p.k;
-- [plan only (--list)] the eligible users for --list: each page after the first, until one comes back short
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the previous page's last id (as text), $3 = the batch size (users per page)
SELECT p.id, p.created_at,
  CASE
    WHEN p.a1 IS NOT NULL AND (p.a2 IS NULL OR p.a1 >= p.a2) AND (p.a3 IS NULL OR p.a1 >= p.a3) AND (p.a4 IS NULL OR p.a1 >= p.a4) THEN p.a1
    WHEN p.a2 IS NOT NULL AND (p.a3 IS NULL OR p.a2 >= p.a3) AND (p.a4 IS NULL OR p.a2 >= p.a4) THEN p.a2
    WHEN p.a3 IS NOT NULL AND (p.a4 IS NULL OR p.a3 >= p.a4) THEN p.a3
    WHEN p.a4 IS NOT NULL THEN p.a4
  END AS latest_at,
  CASE
    WHEN p.a1 IS NOT NULL AND (p.a2 IS NULL OR p.a1 >= p.a2) AND (p.a3 IS NULL OR p.a1 >= p.a3) AND (p.a4 IS NULL OR p.a1 >= p.a4) THEN 'auth.sessions.created_at'
    WHEN p.a2 IS NOT NULL AND (p.a3 IS NULL OR p.a2 >= p.a3) AND (p.a4 IS NULL OR p.a2 >= p.a4) THEN 'auth.sessions.updated_at'
    WHEN p.a3 IS NOT NULL AND (p.a4 IS NULL OR p.a3 >= p.a4) THEN 'auth.sessions.refreshed_at'
    WHEN p.a4 IS NOT NULL THEN 'auth.users.last_sign_in_at'
  END AS latest_column,
  p.n1,
  p.n2,
  p.n3
FROM (
  SELECT u."id" AS k, CAST(u."id" AS TEXT) AS id,
    to_char(u."created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
    (SELECT MAX(to_char(s."created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM "auth"."sessions" AS s
     WHERE s."user_id" = u."id") AS a1,
    (SELECT MAX(to_char(s."updated_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM "auth"."sessions" AS s
     WHERE s."user_id" = u."id") AS a2,
    (SELECT MAX(to_char(s."refreshed_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM "auth"."sessions" AS s
     WHERE s."user_id" = u."id") AS a3,
    (SELECT MAX(to_char(s."last_sign_in_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM "auth"."users" AS s
     WHERE s."id" = u."id") AS a4,
    (SELECT COUNT(*) FROM "auth"."sessions" AS x WHERE x."user_id" = u."id") AS n1,
    (SELECT COUNT(*) FROM "auth"."refresh_tokens" AS x WHERE x."user_id" = CAST(u."id" AS TEXT)) AS n2,
    (SELECT COUNT(*) FROM "auth"."flow_state" AS x WHERE x."user_id" = u."id") AS n3
  FROM "auth"."users" AS u
  WHERE u."is_anonymous"
    AND u."created_at" < $1
    AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
    AND NOT EXISTS (
      SELECT 1 FROM "auth"."sessions" AS s
      WHERE s."user_id" = u."id"
        AND s."user_id" > CAST($2 AS TEXT)
        AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
    )
    AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'))
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
SELECT u."id" AS id FROM "auth"."users" AS u LIMIT 0;
-- [first batch] pick and lock the first users (no cursor yet)
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the batch size
INSERT INTO pg_temp.anonsweep_batch (id)
SELECT u."id"
FROM "auth"."users" AS u
WHERE u."is_anonymous"
  AND u."created_at" < $1
  AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "auth"."sessions" AS s
    WHERE s."user_id" = u."id"
      AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'))
ORDER BY u."id"
LIMIT $2
FOR UPDATE OF u;
-- [batches after the first] pick and lock the next users after the cursor
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the keyset cursor: the previous batch's last id (as text), $3 = the batch size
INSERT INTO pg_temp.anonsweep_batch (id)
SELECT u."id"
FROM "auth"."users" AS u
WHERE u."is_anonymous"
  AND u."created_at" < $1
  AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "auth"."sessions" AS s
    WHERE s."user_id" = u."id"
      AND s."user_id" > CAST($2 AS TEXT)
      AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'))
  AND u."id" > CAST($2 AS TEXT)
ORDER BY u."id"
LIMIT $3
FOR UPDATE OF u;
-- [every batch of a run whose count listed its users, instead of the two picks above] pick and lock the next listed users, those still eligible
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the next listed users' ids after the previous batch's, at most the batch size, as a JSON array of text, $3 = the batch size
INSERT INTO pg_temp.anonsweep_batch (id)
SELECT u."id"
FROM "auth"."users" AS u
WHERE u."is_anonymous"
  AND u."created_at" < $1
  AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "auth"."sessions" AS s
    WHERE s."user_id" = u."id"
      AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'))
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
SELECT COUNT(*) FILTER (WHERE s."created_at" >= $1 OR s."updated_at" >= $1 OR s."refreshed_at" >= $1) AS n FROM (
  SELECT x.* FROM "auth"."sessions" AS x
  WHERE x."user_id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
  FOR UPDATE OF x
) AS s;
-- [only when the lock count above is not zero] re-check the rule; drop users that changed since they were picked
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz
DELETE FROM pg_temp.anonsweep_batch
WHERE NOT EXISTS (
  SELECT 1 FROM "auth"."users" AS u
  WHERE u."id" = anonsweep_batch.id
    AND u."is_anonymous"
    AND u."created_at" < $1
    AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
    AND NOT EXISTS (
      SELECT 1 FROM "auth"."sessions" AS s
      WHERE s."user_id" = u."id"
        AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
    )
    AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'))
);
-- [only with --audit-log] the batch's users, for the audit log
SELECT CAST(u."id" AS TEXT) AS id, CAST(u."created_at" AS TEXT) AS created_at
FROM "auth"."users" AS u
WHERE u."id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
ORDER BY u."id";
-- [only with --audit-log] each user's rows in auth.sessions, for the audit log
SELECT CAST(b.id AS TEXT) AS id, COUNT(*) AS n
FROM "auth"."sessions" AS x
JOIN pg_temp.anonsweep_batch AS b ON x."user_id" = b.id
GROUP BY b.id;
-- [only with --audit-log] each user's rows in auth.refresh_tokens, for the audit log
SELECT CAST(b.id AS TEXT) AS id, COUNT(*) AS n
FROM "auth"."refresh_tokens" AS x
JOIN pg_temp.anonsweep_batch AS b ON x."user_id" = CAST(b.id AS TEXT)
GROUP BY b.id;
-- [only with --audit-log] each user's rows in auth.flow_state, for the audit log
SELECT CAST(b.id AS TEXT) AS id, COUNT(*) AS n
FROM "auth"."flow_state" AS x
JOIN pg_temp.anonsweep_batch AS b ON x."user_id" = b.id
GROUP BY b.id;
-- [only with --archive-dir or --archive-to-table] read and lock the rows of auth.sessions the batch deletes, for the archive
SELECT CAST(x."user_id" AS TEXT) AS id, CAST(row_to_json(x) AS TEXT) AS t
FROM "auth"."sessions" AS x
WHERE x."user_id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
FOR UPDATE OF x;
-- [only with --archive-dir or --archive-to-table] read and lock the rows of auth.refresh_tokens the batch deletes, for the archive
SELECT CAST(x."user_id" AS TEXT) AS id, CAST(row_to_json(x) AS TEXT) AS t
FROM "auth"."refresh_tokens" AS x
WHERE x."user_id" = ANY(ARRAY(SELECT CAST(b.id AS TEXT) FROM pg_temp.anonsweep_batch AS b))
FOR UPDATE OF x;
-- [only with --archive-dir or --archive-to-table] read and lock the rows of auth.flow_state the batch deletes, for the archive
SELECT CAST(x."user_id" AS TEXT) AS id, CAST(row_to_json(x) AS TEXT) AS t
FROM "auth"."flow_state" AS x
WHERE x."user_id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
FOR UPDATE OF x;
-- [only with --archive-dir or --archive-to-table] read and lock the rows of auth.users the batch deletes, for the archive
SELECT CAST(x."id" AS TEXT) AS id, CAST(row_to_json(x) AS TEXT) AS t
FROM "auth"."users" AS x
WHERE x."id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
FOR UPDATE OF x;
-- [every batch] delete from auth.sessions, in foreign-key order
DELETE FROM "auth"."sessions"
WHERE "user_id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b));
-- [every batch] delete from auth.refresh_tokens, in foreign-key order
DELETE FROM "auth"."refresh_tokens"
WHERE "user_id" = ANY(ARRAY(SELECT CAST(b.id AS TEXT) FROM pg_temp.anonsweep_batch AS b));
-- [every batch] delete from auth.flow_state, in foreign-key order
DELETE FROM "auth"."flow_state"
WHERE "user_id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b));
-- [every batch] delete from auth.users, in foreign-key order
DELETE FROM "auth"."users"
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
SELECT u."id" AS id FROM "auth"."users" AS u LIMIT 0;
-- [when the user fails in the first batch] take the failing user (no lock)
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the batch size
INSERT INTO pg_temp.anonsweep_batch (id)
SELECT u."id"
FROM "auth"."users" AS u
WHERE u."is_anonymous"
  AND u."created_at" < $1
  AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "auth"."sessions" AS s
    WHERE s."user_id" = u."id"
      AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'))
ORDER BY u."id"
LIMIT $2;
-- [when the user fails in a later batch] take the failing user (no lock)
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the keyset cursor: the previous batch's last id (as text), $3 = the batch size
INSERT INTO pg_temp.anonsweep_batch (id)
SELECT u."id"
FROM "auth"."users" AS u
WHERE u."is_anonymous"
  AND u."created_at" < $1
  AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "auth"."sessions" AS s
    WHERE s."user_id" = u."id"
      AND s."user_id" > CAST($2 AS TEXT)
      AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'))
  AND u."id" > CAST($2 AS TEXT)
ORDER BY u."id"
LIMIT $3;
-- [when the run's count listed its users, instead of the two above] take the failing user: the next listed user still eligible (no lock)
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the next listed users' ids after the previous batch's, at most the batch size, as a JSON array of text, $3 = the batch size
INSERT INTO pg_temp.anonsweep_batch (id)
SELECT u."id"
FROM "auth"."users" AS u
WHERE u."is_anonymous"
  AND u."created_at" < $1
  AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
  AND NOT EXISTS (
    SELECT 1 FROM "auth"."sessions" AS s
    WHERE s."user_id" = u."id"
      AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
  )
  AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'))
  AND u."id" IN (SELECT CAST(j.v AS TEXT) FROM json_array_elements_text(CAST($2 AS json)) AS j(v))
ORDER BY u."id"
LIMIT $3;
-- [every batch] its id: the keyset cursor, past it
SELECT CAST(b.id AS TEXT) AS t FROM pg_temp.anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1;
-- [every batch] its id, for the report
SELECT CAST(u."id" AS TEXT) AS id, CAST(u."created_at" AS TEXT) AS created_at
FROM "auth"."users" AS u
WHERE u."id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
ORDER BY u."id";

-- == After the batches
-- [run, when its count listed its users and its batches did not delete them all] how many of the listed users are still there, and how many of those still eligible: the summary's kept, failed, not reached and gone before their batch
--   binds: $1 = cutoff (as-of minus retention, UTC) as timestamptz, $2 = the listed users' ids, as a JSON array of text, 10000 at a time (the counts are added up)
SELECT concat_ws('|', CAST(COUNT(*) AS TEXT),
  CAST(COALESCE(SUM(CASE WHEN u."is_anonymous"
      AND u."created_at" < $1
      AND u."created_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'
      AND NOT EXISTS (
        SELECT 1 FROM "auth"."sessions" AS s
        WHERE s."user_id" = u."id"
          AND (s."created_at" >= $1 OR s."created_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."updated_at" >= $1 OR s."updated_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00' OR s."refreshed_at" >= $1 OR s."refreshed_at" < TIMESTAMPTZ '1990-01-01 00:00:00+00')
      )
      AND (u."last_sign_in_at" IS NULL OR (u."last_sign_in_at" < $1 AND u."last_sign_in_at" >= TIMESTAMPTZ '1990-01-01 00:00:00+00'))
  THEN 1 ELSE 0 END), 0) AS TEXT)) AS t
FROM "auth"."users" AS u
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
