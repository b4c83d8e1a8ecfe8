-- anonsweep: every statement `anonsweep run` executes for preset "supabase" on mysql.
-- Each statement is marked with when it runs. Parameters are bound per statement (see "binds").
-- Timestamp storage (assumed; `anonsweep plan` detects it from the database):
--   auth.users.created_at: timestamp (UTC assumed)
--   auth.sessions.created_at: timestamp (UTC assumed)
--   auth.sessions.updated_at: timestamp (UTC assumed)
--   auth.sessions.refreshed_at: timestamp (UTC assumed)
--   auth.users.last_sign_in_at: timestamp (UTC assumed)

-- == When a connection opens, before any other statement on it
-- [run, plan and doctor: every connection (the run's, each worker's, the pooler probe's)] a setting of this connection only
SET time_zone = '+00:00';
-- [run, plan and doctor: every connection (the run's, each worker's, the pooler probe's)] a setting of this connection only
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;

-- == Before the first batch: counts, in one read-only snapshot
-- [plan and run --dry-run; run when max_fraction is set] anonymous users (the max_fraction cap divides by them)
SELECT COUNT(*) AS n FROM `auth`.`users` AS u
WHERE u.`is_anonymous` = 1;
-- [run with one worker, instead of the count below] every eligible user's id, streamed into the run's list (in memory up to 50000, then a temporary file of the run's): the batches take these users, by id, and no others
--   binds: ?#1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#5 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed)
SELECT CAST(u.`id` AS CHAR) AS id FROM `auth`.`users` AS u
WHERE u.`is_anonymous` = 1
  AND u.`created_at` < ?
  AND u.`created_at` >= TIMESTAMP '1990-01-01 00:00:00'
  AND NOT EXISTS (
    SELECT 1 FROM `auth`.`sessions` AS s
    WHERE s.`user_id` = u.`id`
      AND (s.`created_at` >= ? OR s.`created_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`updated_at` >= ? OR s.`updated_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`refreshed_at` >= ? OR s.`refreshed_at` < TIMESTAMP '1990-01-01 00:00:00')
  )
  AND (u.`last_sign_in_at` IS NULL OR (u.`last_sign_in_at` < ? AND u.`last_sign_in_at` >= TIMESTAMP '1990-01-01 00:00:00'));
-- [plan; run with --workers] eligible users: anonymous, created before the cutoff, no session activity at or after it
--   binds: ?#1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#5 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed)
SELECT COUNT(*) AS n FROM `auth`.`users` AS u
WHERE u.`is_anonymous` = 1
  AND u.`created_at` < ?
  AND u.`created_at` >= TIMESTAMP '1990-01-01 00:00:00'
  AND NOT EXISTS (
    SELECT 1 FROM `auth`.`sessions` AS s
    WHERE s.`user_id` = u.`id`
      AND (s.`created_at` >= ? OR s.`created_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`updated_at` >= ? OR s.`updated_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`refreshed_at` >= ? OR s.`refreshed_at` < TIMESTAMP '1990-01-01 00:00:00')
  )
  AND (u.`last_sign_in_at` IS NULL OR (u.`last_sign_in_at` < ? AND u.`last_sign_in_at` >= TIMESTAMP '1990-01-01 00:00:00'));
-- [plan only] eligible users and the rows auth.sessions, auth.refresh_tokens, auth.flow_state would lose, in one pass
--   binds: ?#1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#5 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed)
SELECT CAST(concat_ws('|', CAST(COUNT(*) AS CHAR),
  CAST(COALESCE(SUM((SELECT COUNT(*) FROM `auth`.`sessions` AS x WHERE x.`user_id` = u.`id`)), 0) AS CHAR),
  CAST(COALESCE(SUM((SELECT COUNT(*) FROM `auth`.`refresh_tokens` AS x WHERE x.`user_id` = CAST(u.`id` AS CHAR))), 0) AS CHAR),
  CAST(COALESCE(SUM((SELECT COUNT(*) FROM `auth`.`flow_state` AS x WHERE x.`user_id` = u.`id`)), 0) AS CHAR)) AS CHAR) AS t
FROM `auth`.`users` AS u
WHERE u.`is_anonymous` = 1
  AND u.`created_at` < ?
  AND u.`created_at` >= TIMESTAMP '1990-01-01 00:00:00'
  AND NOT EXISTS (
    SELECT 1 FROM `auth`.`sessions` AS s
    WHERE s.`user_id` = u.`id`
      AND (s.`created_at` >= ? OR s.`created_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`updated_at` >= ? OR s.`updated_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`refreshed_at` >= ? OR s.`refreshed_at` < TIMESTAMP '1990-01-01 00:00:00')
  )
  AND (u.`last_sign_in_at` IS NULL OR (u.`last_sign_in_at` < ? AND u.`last_sign_in_at` >= TIMESTAMP '1990-01-01 00:00:00'));
-- [plan only (--sample)] a sample of eligible ids
--   binds: ?#1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#5 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#6 = the --sample count
SELECT CAST(u.`id` AS CHAR) AS id FROM `auth`.`users` AS u
WHERE u.`is_anonymous` = 1
  AND u.`created_at` < ?
  AND u.`created_at` >= TIMESTAMP '1990-01-01 00:00:00'
  AND NOT EXISTS (
    SELECT 1 FROM `auth`.`sessions` AS s
    WHERE s.`user_id` = u.`id`
      AND (s.`created_at` >= ? OR s.`created_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`updated_at` >= ? OR s.`updated_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`refreshed_at` >= ? OR s.`refreshed_at` < TIMESTAMP '1990-01-01 00:00:00')
  )
  AND (u.`last_sign_in_at` IS NULL OR (u.`last_sign_in_at` < ? AND u.`last_sign_in_at` >= TIMESTAMP '1990-01-01 00:00:00'))
ORDER BY u.`id`
LIMIT ?;
-- [plan only (--list)] the eligible users for --list, with their latest activity and rows per table: the first page
--   binds: ?#1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#5 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#6 = the batch size (users per page)
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
  SELECT u.`id` AS k, CAST(u.`id` AS CHAR) AS id,
    DATE_FORMAT(u.`created_at`, '%Y-%m-%dT%H:%i:%s.%fZ') AS created_at,
    (SELECT MAX(DATE_FORMAT(s.`created_at`, '%Y-%m-%dT%H:%i:%s.%fZ')) FROM `auth`.`sessions` AS s
     WHERE s.`user_id` = u.`id`) AS a1,
    (SELECT MAX(DATE_FORMAT(s.`updated_at`, '%Y-%m-%dT%H:%i:%s.%fZ')) FROM `auth`.`sessions` AS s
     WHERE s.`user_id` = u.`id`) AS a2,
    (SELECT MAX(DATE_FORMAT(s.`refreshed_at`, '%Y-%m-%dT%H:%i:%s.%fZ')) FROM `auth`.`sessions` AS s
     WHERE s.`user_id` = u.`id`) AS a3,
    (SELECT MAX(DATE_FORMAT(s.`last_sign_in_at`, '%Y-%m-%dT%H:%i:%s.%fZ')) FROM `auth`.`users` AS s
     WHERE s.`id` = u.`id`) AS a4,
    (SELECT COUNT(*) FROM `auth`.`sessions` AS x WHERE x.`user_id` = u.`id`) AS n1,
    (SELECT COUNT(*) FROM `auth`.`refresh_tokens` AS x WHERE x.`user_id` = CAST(u.`id` AS CHAR)) AS n2,
    (SELECT COUNT(*) FROM `auth`.`flow_state` AS x WHERE x.`user_id` = u.`id`) AS n3
  FROM `auth`.`users` AS u
  WHERE u.`is_anonymous` = 1
    AND u.`created_at` < ?
    AND u.`created_at` >= TIMESTAMP '1990-01-01 00:00:00'
    AND NOT EXISTS (
      SELECT 1 FROM `auth`.`sessions` AS s
      WHERE s.`user_id` = u.`id`
        AND (s.`created_at` >= ? OR s.`created_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`updated_at` >= ? OR s.`updated_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`refreshed_at` >= ? OR s.`refreshed_at` < TIMESTAMP '1990-01-01 00:00:00')
    )
    AND (u.`last_sign_in_at` IS NULL OR (u.`last_sign_in_at` < ? AND u.`last_sign_in_at` >= TIMESTAMP '1990-01-01 00:00:00'))
  ORDER BY u.`id`
  LIMIT ?
) AS p
ORDER BY p.k;
-- [plan only (--list)] the eligible users for --list: each page after the first, until one comes back short
--   binds: ?#1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#5 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#6 = the previous page's last id (as text), ?#7 = the batch size (users per page)
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
  SELECT u.`id` AS k, CAST(u.`id` AS CHAR) AS id,
    DATE_FORMAT(u.`created_at`, '%Y-%m-%dT%H:%i:%s.%fZ') AS created_at,
    (SELECT MAX(DATE_FORMAT(s.`created_at`, '%Y-%m-%dT%H:%i:%s.%fZ')) FROM `auth`.`sessions` AS s
     WHERE s.`user_id` = u.`id`) AS a1,
    (SELECT MAX(DATE_FORMAT(s.`updated_at`, '%Y-%m-%dT%H:%i:%s.%fZ')) FROM `auth`.`sessions` AS s
     WHERE s.`user_id` = u.`id`) AS a2,
    (SELECT MAX(DATE_FORMAT(s.`refreshed_at`, '%Y-%m-%dT%H:%i:%s.%fZ')) FROM `auth`.`sessions` AS s
     WHERE s.`user_id` = u.`id`) AS a3,
    (SELECT MAX(DATE_FORMAT(s.`last_sign_in_at`, '%Y-%m-%dT%H:%i:%s.%fZ')) FROM `auth`.`users` AS s
     WHERE s.`id` = u.`id`) AS a4,
    (SELECT COUNT(*) FROM `auth`.`sessions` AS x WHERE x.`user_id` = u.`id`) AS n1,
    (SELECT COUNT(*) FROM `auth`.`refresh_tokens` AS x WHERE x.`user_id` = CAST(u.`id` AS CHAR)) AS n2,
    (SELECT COUNT(*) FROM `auth`.`flow_state` AS x WHERE x.`user_id` = u.`id`) AS n3
  FROM `auth`.`users` AS u
  WHERE u.`is_anonymous` = 1
    AND u.`created_at` < ?
    AND u.`created_at` >= TIMESTAMP '1990-01-01 00:00:00'
    AND NOT EXISTS (
      SELECT 1 FROM `auth`.`sessions` AS s
      WHERE s.`user_id` = u.`id`
        AND (s.`created_at` >= ? OR s.`created_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`updated_at` >= ? OR s.`updated_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`refreshed_at` >= ? OR s.`refreshed_at` < TIMESTAMP '1990-01-01 00:00:00')
    )
    AND (u.`last_sign_in_at` IS NULL OR (u.`last_sign_in_at` < ? AND u.`last_sign_in_at` >= TIMESTAMP '1990-01-01 00:00:00'))
    AND u.`id` > ?
  ORDER BY u.`id`
  LIMIT ?
) AS p
ORDER BY p.k;

-- == Once per run, on the run's own connection, before the first batch
-- [once per run] how long a batch waits for a lock
SET SESSION innodb_lock_wait_timeout = 5;

-- == Each batch: one transaction
-- [every batch] a batch table an earlier run left in this server session, if any (a pooler hands sessions from client to client)
DROP TEMPORARY TABLE IF EXISTS anonsweep_batch;
-- [every batch] the batch table, for this transaction only (nothing stays in the session for the next batch)
CREATE TEMPORARY TABLE anonsweep_batch AS
SELECT u.`id` AS id FROM `auth`.`users` AS u LIMIT 0;
-- [first batch] pick and lock the first users (no cursor yet)
--   binds: ?#1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#5 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#6 = the batch size
INSERT INTO anonsweep_batch (id)
SELECT u.`id`
FROM `auth`.`users` AS u
WHERE u.`is_anonymous` = 1
  AND u.`created_at` < ?
  AND u.`created_at` >= TIMESTAMP '1990-01-01 00:00:00'
  AND NOT EXISTS (
    SELECT 1 FROM `auth`.`sessions` AS s
    WHERE s.`user_id` = u.`id`
      AND (s.`created_at` >= ? OR s.`created_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`updated_at` >= ? OR s.`updated_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`refreshed_at` >= ? OR s.`refreshed_at` < TIMESTAMP '1990-01-01 00:00:00')
  )
  AND (u.`last_sign_in_at` IS NULL OR (u.`last_sign_in_at` < ? AND u.`last_sign_in_at` >= TIMESTAMP '1990-01-01 00:00:00'))
ORDER BY u.`id`
LIMIT ?
FOR UPDATE;
-- [batches after the first] pick and lock the next users after the cursor
--   binds: ?#1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#5 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#6 = the keyset cursor: the previous batch's last id (as text), ?#7 = the batch size
INSERT INTO anonsweep_batch (id)
SELECT u.`id`
FROM `auth`.`users` AS u
WHERE u.`is_anonymous` = 1
  AND u.`created_at` < ?
  AND u.`created_at` >= TIMESTAMP '1990-01-01 00:00:00'
  AND NOT EXISTS (
    SELECT 1 FROM `auth`.`sessions` AS s
    WHERE s.`user_id` = u.`id`
      AND (s.`created_at` >= ? OR s.`created_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`updated_at` >= ? OR s.`updated_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`refreshed_at` >= ? OR s.`refreshed_at` < TIMESTAMP '1990-01-01 00:00:00')
  )
  AND (u.`last_sign_in_at` IS NULL OR (u.`last_sign_in_at` < ? AND u.`last_sign_in_at` >= TIMESTAMP '1990-01-01 00:00:00'))
  AND u.`id` > ?
ORDER BY u.`id`
LIMIT ?
FOR UPDATE;
-- [every batch of a run whose count listed its users, instead of the two picks above] pick and lock the next listed users still there; the re-check below, after their sessions are locked, keeps those no longer eligible
--   binds: ?#1 = the next listed users' ids after the previous batch's, at most the batch size, as a JSON array of text, ?#2 = the batch size
INSERT INTO anonsweep_batch (id)
SELECT u.`id`
FROM `auth`.`users` AS u
WHERE u.`id` IN (SELECT CAST(j.v AS BINARY) FROM JSON_TABLE(?, '$[*]' COLUMNS (v VARCHAR(1024) PATH '$')) AS j)
ORDER BY u.`id`
LIMIT ?
FOR UPDATE;
-- [every batch] the batch's last id: the keyset cursor the next batch binds
SELECT CAST(b.id AS CHAR) AS t FROM anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1;
-- [every batch] lock the picked users' sessions, so their activity cannot change under us
SELECT COUNT(*) AS n FROM `auth`.`sessions` AS x
WHERE x.`user_id` IN (SELECT b.id FROM anonsweep_batch AS b)
FOR UPDATE;
-- [every batch] re-check the rule; drop users that changed since they were picked
--   binds: ?#1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#5 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed)
DELETE FROM anonsweep_batch
WHERE NOT EXISTS (
  SELECT 1 FROM `auth`.`users` AS u
  WHERE u.`id` = anonsweep_batch.id
    AND u.`is_anonymous` = 1
    AND u.`created_at` < ?
    AND u.`created_at` >= TIMESTAMP '1990-01-01 00:00:00'
    AND NOT EXISTS (
      SELECT 1 FROM `auth`.`sessions` AS s
      WHERE s.`user_id` = u.`id`
        AND (s.`created_at` >= ? OR s.`created_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`updated_at` >= ? OR s.`updated_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`refreshed_at` >= ? OR s.`refreshed_at` < TIMESTAMP '1990-01-01 00:00:00')
    )
    AND (u.`last_sign_in_at` IS NULL OR (u.`last_sign_in_at` < ? AND u.`last_sign_in_at` >= TIMESTAMP '1990-01-01 00:00:00'))
);
-- [only with --audit-log] the batch's users, for the audit log
SELECT CAST(u.`id` AS CHAR) AS id, CAST(u.`created_at` AS CHAR) AS created_at
FROM `auth`.`users` AS u
WHERE u.`id` IN (SELECT b.id FROM anonsweep_batch AS b)
ORDER BY u.`id`;
-- [only with --audit-log] each user's rows in auth.sessions, for the audit log
SELECT CAST(b.id AS CHAR) AS id, COUNT(*) AS n
FROM `auth`.`sessions` AS x
JOIN anonsweep_batch AS b ON x.`user_id` = b.id
GROUP BY b.id;
-- [only with --audit-log] each user's rows in auth.refresh_tokens, for the audit log
SELECT CAST(b.id AS CHAR) AS id, COUNT(*) AS n
FROM `auth`.`refresh_tokens` AS x
JOIN anonsweep_batch AS b ON x.`user_id` = CAST(b.id AS CHAR)
GROUP BY b.id;
-- [only with --audit-log] each user's rows in auth.flow_state, for the audit log
SELECT CAST(b.id AS CHAR) AS id, COUNT(*) AS n
FROM `auth`.`flow_state` AS x
JOIN anonsweep_batch AS b ON x.`user_id` = b.id
GROUP BY b.id;
-- [only with --archive-dir or --archive-to-table] read and lock the rows of auth.sessions the batch deletes, for the archive
SELECT CAST(b.id AS CHAR) AS id, JSON_OBJECT() AS t
FROM `auth`.`sessions` AS x
JOIN anonsweep_batch AS b ON x.`user_id` = b.id
FOR UPDATE;
-- [only with --archive-dir or --archive-to-table] read and lock the rows of auth.refresh_tokens the batch deletes, for the archive
SELECT CAST(b.id AS CHAR) AS id, JSON_OBJECT() AS t
FROM `auth`.`refresh_tokens` AS x
JOIN anonsweep_batch AS b ON x.`user_id` = CAST(b.id AS CHAR)
FOR UPDATE;
-- [only with --archive-dir or --archive-to-table] read and lock the rows of auth.flow_state the batch deletes, for the archive
SELECT CAST(b.id AS CHAR) AS id, JSON_OBJECT() AS t
FROM `auth`.`flow_state` AS x
JOIN anonsweep_batch AS b ON x.`user_id` = b.id
FOR UPDATE;
-- [only with --archive-dir or --archive-to-table] read and lock the rows of auth.users the batch deletes, for the archive
SELECT CAST(b.id AS CHAR) AS id, JSON_OBJECT() AS t
FROM `auth`.`users` AS x
JOIN anonsweep_batch AS b ON x.`id` = b.id
FOR UPDATE;
-- [every batch] delete from auth.sessions, in foreign-key order
DELETE x FROM `auth`.`sessions` AS x
JOIN anonsweep_batch AS b ON x.`user_id` = b.id;
-- [every batch] delete from auth.refresh_tokens, in foreign-key order
DELETE x FROM `auth`.`refresh_tokens` AS x
JOIN anonsweep_batch AS b ON x.`user_id` = CAST(b.id AS CHAR);
-- [every batch] delete from auth.flow_state, in foreign-key order
DELETE x FROM `auth`.`flow_state` AS x
JOIN anonsweep_batch AS b ON x.`user_id` = b.id;
-- [every batch] delete from auth.users, in foreign-key order
DELETE x FROM `auth`.`users` AS x
JOIN anonsweep_batch AS b ON x.`id` = b.id;
-- [every batch] last in the transaction: drop the batch table
DROP TEMPORARY TABLE anonsweep_batch;

-- == After a batch that was rolled back
-- [after a batch that failed] drop the batch table (a temporary table outlives a rollback here)
DROP TEMPORARY TABLE IF EXISTS anonsweep_batch;

-- == Only when a batch of one user fails: move the cursor past that user (it is kept and reported)
-- [every batch] a batch table an earlier run left in this server session, if any (a pooler hands sessions from client to client)
DROP TEMPORARY TABLE IF EXISTS anonsweep_batch;
-- [every batch] the batch table, for this transaction only
CREATE TEMPORARY TABLE anonsweep_batch AS
SELECT u.`id` AS id FROM `auth`.`users` AS u LIMIT 0;
-- [when the user fails in the first batch] take the failing user (no lock)
--   binds: ?#1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#5 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#6 = the batch size
INSERT INTO anonsweep_batch (id)
SELECT u.`id`
FROM `auth`.`users` AS u
WHERE u.`is_anonymous` = 1
  AND u.`created_at` < ?
  AND u.`created_at` >= TIMESTAMP '1990-01-01 00:00:00'
  AND NOT EXISTS (
    SELECT 1 FROM `auth`.`sessions` AS s
    WHERE s.`user_id` = u.`id`
      AND (s.`created_at` >= ? OR s.`created_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`updated_at` >= ? OR s.`updated_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`refreshed_at` >= ? OR s.`refreshed_at` < TIMESTAMP '1990-01-01 00:00:00')
  )
  AND (u.`last_sign_in_at` IS NULL OR (u.`last_sign_in_at` < ? AND u.`last_sign_in_at` >= TIMESTAMP '1990-01-01 00:00:00'))
ORDER BY u.`id`
LIMIT ?;
-- [when the user fails in a later batch] take the failing user (no lock)
--   binds: ?#1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#5 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#6 = the keyset cursor: the previous batch's last id (as text), ?#7 = the batch size
INSERT INTO anonsweep_batch (id)
SELECT u.`id`
FROM `auth`.`users` AS u
WHERE u.`is_anonymous` = 1
  AND u.`created_at` < ?
  AND u.`created_at` >= TIMESTAMP '1990-01-01 00:00:00'
  AND NOT EXISTS (
    SELECT 1 FROM `auth`.`sessions` AS s
    WHERE s.`user_id` = u.`id`
      AND (s.`created_at` >= ? OR s.`created_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`updated_at` >= ? OR s.`updated_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`refreshed_at` >= ? OR s.`refreshed_at` < TIMESTAMP '1990-01-01 00:00:00')
  )
  AND (u.`last_sign_in_at` IS NULL OR (u.`last_sign_in_at` < ? AND u.`last_sign_in_at` >= TIMESTAMP '1990-01-01 00:00:00'))
  AND u.`id` > ?
ORDER BY u.`id`
LIMIT ?;
-- [when the run's count listed its users, instead of the two above] take the failing user: the next listed user still eligible (no lock)
--   binds: ?#1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#5 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#6 = the next listed users' ids after the previous batch's, at most the batch size, as a JSON array of text, ?#7 = the batch size
INSERT INTO anonsweep_batch (id)
SELECT u.`id`
FROM `auth`.`users` AS u
WHERE u.`is_anonymous` = 1
  AND u.`created_at` < ?
  AND u.`created_at` >= TIMESTAMP '1990-01-01 00:00:00'
  AND NOT EXISTS (
    SELECT 1 FROM `auth`.`sessions` AS s
    WHERE s.`user_id` = u.`id`
      AND (s.`created_at` >= ? OR s.`created_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`updated_at` >= ? OR s.`updated_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`refreshed_at` >= ? OR s.`refreshed_at` < TIMESTAMP '1990-01-01 00:00:00')
  )
  AND (u.`last_sign_in_at` IS NULL OR (u.`last_sign_in_at` < ? AND u.`last_sign_in_at` >= TIMESTAMP '1990-01-01 00:00:00'))
  AND u.`id` IN (SELECT CAST(j.v AS BINARY) FROM JSON_TABLE(?, '$[*]' COLUMNS (v VARCHAR(1024) PATH '$')) AS j)
ORDER BY u.`id`
LIMIT ?;
-- [every batch] its id: the keyset cursor, past it
SELECT CAST(b.id AS CHAR) AS t FROM anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1;
-- [every batch] its id, for the report
SELECT CAST(u.`id` AS CHAR) AS id, CAST(u.`created_at` AS CHAR) AS created_at
FROM `auth`.`users` AS u
WHERE u.`id` IN (SELECT b.id FROM anonsweep_batch AS b)
ORDER BY u.`id`;
-- [every batch] last in the transaction: drop the batch table
DROP TEMPORARY TABLE anonsweep_batch;

-- == After the batches
-- [run, when its count listed its users and its batches did not delete them all] how many of the listed users are still there, and how many of those still eligible: the summary's kept, failed, not reached and gone before their batch
--   binds: ?#1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#5 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed), ?#6 = the listed users' ids, as a JSON array of text, 10000 at a time (the counts are added up)
SELECT CAST(concat_ws('|', CAST(COUNT(*) AS CHAR),
  CAST(COALESCE(SUM(CASE WHEN u.`is_anonymous` = 1
      AND u.`created_at` < ?
      AND u.`created_at` >= TIMESTAMP '1990-01-01 00:00:00'
      AND NOT EXISTS (
        SELECT 1 FROM `auth`.`sessions` AS s
        WHERE s.`user_id` = u.`id`
          AND (s.`created_at` >= ? OR s.`created_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`updated_at` >= ? OR s.`updated_at` < TIMESTAMP '1990-01-01 00:00:00' OR s.`refreshed_at` >= ? OR s.`refreshed_at` < TIMESTAMP '1990-01-01 00:00:00')
      )
      AND (u.`last_sign_in_at` IS NULL OR (u.`last_sign_in_at` < ? AND u.`last_sign_in_at` >= TIMESTAMP '1990-01-01 00:00:00'))
  THEN 1 ELSE 0 END), 0) AS CHAR)) AS CHAR) AS t
FROM `auth`.`users` AS u
WHERE u.`id` IN (SELECT CAST(j.v AS BINARY) FROM JSON_TABLE(?, '$[*]' COLUMNS (v VARCHAR(1024) PATH '$')) AS j);

-- == Only with --max-replica-lag (run, and once in run --dry-run): the replicas' lag before each batch, on a connection of its own to the primary or on each --replica (no application table is read)
-- [on each --replica] the replica's Seconds_Behind_Source (Seconds_Behind_Master)
SHOW REPLICA STATUS;
-- [on each --replica that does not know SHOW REPLICA STATUS (MySQL before 8.0.22, MariaDB before 10.5.1)] the replica's Seconds_Behind_Source (Seconds_Behind_Master)
SHOW SLAVE STATUS;
