-- anonsweep: the SQL `anonsweep run` executes for preset "supabase" on sqlite.
-- Parameters:
--   ?1 = cutoff (as-of minus retention, UTC) as iso-text
--   ?2 = batch size
-- Timestamp storage (assumed; `anonsweep plan` detects it from the database):
--   auth.users.created_at: iso-text
--   auth.sessions.created_at: iso-text
--   auth.sessions.updated_at: iso-text
--   auth.sessions.refreshed_at: iso-text

-- 1. Eligibility: anonymous, created before the cutoff, no session activity at or after it.
SELECT COUNT(*) AS n FROM "auth"."users" AS u
WHERE u."is_anonymous" IN (1, 'true')
  AND strftime('%Y-%m-%dT%H:%M:%fZ', u."created_at") < ?1
  AND NOT EXISTS (
    SELECT 1 FROM "auth"."sessions" AS s
    WHERE s."user_id" = u."id"
      AND (strftime('%Y-%m-%dT%H:%M:%fZ', s."created_at") >= ?1 OR strftime('%Y-%m-%dT%H:%M:%fZ', s."updated_at") >= ?1 OR strftime('%Y-%m-%dT%H:%M:%fZ', s."refreshed_at") >= ?1)
  );

-- 2. Once per run, on the run's own connection: temporary tables for the batch and the keyset cursor.
CREATE TEMPORARY TABLE anonsweep_batch AS
SELECT u."id" AS id FROM "auth"."users" AS u LIMIT 0;
CREATE TEMPORARY TABLE anonsweep_cursor AS
SELECT u."id" AS last_id FROM "auth"."users" AS u LIMIT 0;

-- 3. Each batch is one transaction:
BEGIN IMMEDIATE;
-- 3a. empty the batch table
DELETE FROM temp.anonsweep_batch;
-- 3b. pick and lock the next users (the first batch omits the cursor condition)
INSERT INTO temp.anonsweep_batch (id)
SELECT u."id"
FROM "auth"."users" AS u
WHERE u."is_anonymous" IN (1, 'true')
  AND strftime('%Y-%m-%dT%H:%M:%fZ', u."created_at") < ?1
  AND NOT EXISTS (
    SELECT 1 FROM "auth"."sessions" AS s
    WHERE s."user_id" = u."id"
      AND s."user_id" > (SELECT c.last_id FROM temp.anonsweep_cursor AS c)
      AND (strftime('%Y-%m-%dT%H:%M:%fZ', s."created_at") >= ?1 OR strftime('%Y-%m-%dT%H:%M:%fZ', s."updated_at") >= ?1 OR strftime('%Y-%m-%dT%H:%M:%fZ', s."refreshed_at") >= ?1)
  )
  AND u."id" > (SELECT c.last_id FROM temp.anonsweep_cursor AS c)
ORDER BY u."id"
LIMIT ?2;
-- 3c. move the keyset cursor past this batch
DELETE FROM temp.anonsweep_cursor;
INSERT INTO temp.anonsweep_cursor (last_id) SELECT b.id FROM temp.anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1;
-- 3f. with --audit-log: read the batch for the log
SELECT CAST(u."id" AS TEXT) AS id, CAST(u."created_at" AS TEXT) AS created_at
FROM "auth"."users" AS u
WHERE u."id" IN (SELECT b.id FROM temp.anonsweep_batch AS b)
ORDER BY u."id";
-- 3g. delete in foreign-key order
DELETE FROM "auth"."sessions"
WHERE "user_id" IN (SELECT b.id FROM temp.anonsweep_batch AS b);
DELETE FROM "auth"."refresh_tokens"
WHERE "user_id" IN (SELECT CAST(b.id AS TEXT) FROM temp.anonsweep_batch AS b);
DELETE FROM "auth"."flow_state"
WHERE "user_id" IN (SELECT b.id FROM temp.anonsweep_batch AS b);
DELETE FROM "auth"."users"
WHERE "id" IN (SELECT b.id FROM temp.anonsweep_batch AS b);
COMMIT;

-- 4. After the last batch.
DROP TABLE temp.anonsweep_batch;
DROP TABLE temp.anonsweep_cursor;
