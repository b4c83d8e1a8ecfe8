-- anonsweep: the SQL `anonsweep run` executes for preset "supabase" on mysql.
-- Parameters:
--   ? #1 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed)
--   ? #2 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed)
--   ? #3 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed)
--   ? #4 = cutoff (as-of minus retention, UTC) as timestamp (UTC assumed)
--   ? #5 = batch size
-- Timestamp storage (assumed; `anonsweep plan` detects it from the database):
--   auth.users.created_at: timestamp (UTC assumed)
--   auth.sessions.created_at: timestamp (UTC assumed)
--   auth.sessions.updated_at: timestamp (UTC assumed)
--   auth.sessions.refreshed_at: timestamp (UTC assumed)

-- 1. Eligibility: anonymous, created before the cutoff, no session activity at or after it.
SELECT COUNT(*) AS n FROM `auth`.`users` AS u
WHERE u.`is_anonymous` = 1
  AND u.`created_at` < ?
  AND NOT EXISTS (
    SELECT 1 FROM `auth`.`sessions` AS s
    WHERE s.`user_id` = u.`id`
      AND (s.`created_at` >= ? OR s.`updated_at` >= ? OR s.`refreshed_at` >= ?)
  );

-- 2. Once per run, on the run's own connection: temporary tables for the batch and the keyset cursor.
CREATE TEMPORARY TABLE anonsweep_batch AS
SELECT u.`id` AS id FROM `auth`.`users` AS u LIMIT 0;
CREATE TEMPORARY TABLE anonsweep_cursor AS
SELECT u.`id` AS last_id FROM `auth`.`users` AS u LIMIT 0;
INSERT INTO anonsweep_cursor (last_id) SELECT u.`id` FROM `auth`.`users` AS u ORDER BY u.`id` LIMIT 1;

-- 3. Each batch is one transaction:
-- 3a. empty the batch table (before the transaction: TRUNCATE commits implicitly)
TRUNCATE TABLE anonsweep_batch;
START TRANSACTION;
-- 3a'. batches after the first: load the keyset cursor
SET @anonsweep_after = (SELECT c.last_id FROM anonsweep_cursor AS c);
-- 3b. pick and lock the next users (the first batch omits the cursor condition)
INSERT INTO anonsweep_batch (id)
SELECT u.`id`
FROM `auth`.`users` AS u
WHERE u.`is_anonymous` = 1
  AND u.`created_at` < ?
  AND NOT EXISTS (
    SELECT 1 FROM `auth`.`sessions` AS s
    WHERE s.`user_id` = u.`id`
      AND (s.`created_at` >= ? OR s.`updated_at` >= ? OR s.`refreshed_at` >= ?)
  )
  AND u.`id` > @anonsweep_after
ORDER BY u.`id`
LIMIT ?
FOR UPDATE;
-- 3c. move the keyset cursor past this batch
UPDATE anonsweep_cursor SET last_id = (SELECT b.id FROM anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1);
-- 3d. lock the sessions of the picked users, so activity cannot change under us
SELECT COUNT(*) AS n FROM `auth`.`sessions` AS x
WHERE x.`user_id` IN (SELECT b.id FROM anonsweep_batch AS b)
FOR UPDATE;
-- 3e. re-check the rule inside the transaction; drop users that changed since they were picked
DELETE FROM anonsweep_batch
WHERE NOT EXISTS (
  SELECT 1 FROM `auth`.`users` AS u
  WHERE u.`id` = anonsweep_batch.id
    AND u.`is_anonymous` = 1
    AND u.`created_at` < ?
    AND NOT EXISTS (
      SELECT 1 FROM `auth`.`sessions` AS s
      WHERE s.`user_id` = u.`id`
        AND (s.`created_at` >= ? OR s.`updated_at` >= ? OR s.`refreshed_at` >= ?)
    )
);
-- 3f. with --audit-log: read the batch for the log
SELECT CAST(u.`id` AS CHAR) AS id, CAST(u.`created_at` AS CHAR) AS created_at
FROM `auth`.`users` AS u
WHERE u.`id` IN (SELECT b.id FROM anonsweep_batch AS b)
ORDER BY u.`id`;
-- 3g. delete in foreign-key order
DELETE x FROM `auth`.`sessions` AS x
JOIN anonsweep_batch AS b ON x.`user_id` = b.id;
DELETE x FROM `auth`.`refresh_tokens` AS x
JOIN anonsweep_batch AS b ON x.`user_id` = CAST(b.id AS CHAR);
DELETE x FROM `auth`.`flow_state` AS x
JOIN anonsweep_batch AS b ON x.`user_id` = b.id;
DELETE x FROM `auth`.`users` AS x
JOIN anonsweep_batch AS b ON x.`id` = b.id;
COMMIT;

-- 4. After the last batch.
DROP TEMPORARY TABLE anonsweep_batch;
DROP TEMPORARY TABLE anonsweep_cursor;
