-- anonsweep: the SQL `anonsweep run` executes for preset "better-auth" on postgres.
-- Parameters:
--   $1 = cutoff (as-of minus retention, UTC) as timestamptz
--   $2 = batch size
-- Timestamp storage (assumed; `anonsweep plan` detects it from the database):
--   user.createdAt: timestamptz
--   session.createdAt: timestamptz
--   session.updatedAt: timestamptz

-- 1. Eligibility: anonymous, created before the cutoff, no session activity at or after it.
SELECT COUNT(*) AS n FROM "user" AS u
WHERE u."isAnonymous"
  AND u."createdAt" < $1
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= $1 OR s."updatedAt" >= $1)
  );

-- 2. Once per run, on the run's own connection: temporary tables for the batch and the keyset cursor.
CREATE TEMPORARY TABLE anonsweep_batch AS
SELECT u."id" AS id FROM "user" AS u LIMIT 0;
CREATE TEMPORARY TABLE anonsweep_cursor AS
SELECT u."id" AS last_id FROM "user" AS u LIMIT 0;

-- 3. Each batch is one transaction:
BEGIN;
-- 3a. empty the batch table
TRUNCATE pg_temp.anonsweep_batch;
-- 3b. pick and lock the next users (the first batch omits the cursor condition)
INSERT INTO pg_temp.anonsweep_batch (id)
SELECT u."id"
FROM "user" AS u
WHERE u."isAnonymous"
  AND u."createdAt" < $1
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND s."userId" > (SELECT c.last_id FROM pg_temp.anonsweep_cursor AS c)
      AND (s."createdAt" >= $1 OR s."updatedAt" >= $1)
  )
  AND u."id" > (SELECT c.last_id FROM pg_temp.anonsweep_cursor AS c)
ORDER BY u."id"
LIMIT $2
FOR UPDATE OF u;
-- 3c. move the keyset cursor past this batch
TRUNCATE pg_temp.anonsweep_cursor;
INSERT INTO pg_temp.anonsweep_cursor (last_id) SELECT b.id FROM pg_temp.anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1;
-- 3c'. statistics for the freshly filled batch table, so the planner drives the re-check and
--      the joins to it (archive reads of tables below a configured parent) from the batch
ANALYZE pg_temp.anonsweep_batch;
-- 3d. lock the sessions of the picked users, so activity cannot change under us, and count
--     those (as they are now) with activity at or after the cutoff
SELECT COUNT(*) FILTER (WHERE s."createdAt" >= $1 OR s."updatedAt" >= $1) AS n FROM (
  SELECT x.* FROM "session" AS x
  WHERE x."userId" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
  FOR UPDATE OF x
) AS s;
-- 3e. only when 3d counted any: re-check the rule inside the transaction; drop users that
--     changed since they were picked (each user's own row was re-checked when 3b locked it)
DELETE FROM pg_temp.anonsweep_batch
WHERE NOT EXISTS (
  SELECT 1 FROM "user" AS u
  WHERE u."id" = anonsweep_batch.id
    AND u."isAnonymous"
    AND u."createdAt" < $1
    AND NOT EXISTS (
      SELECT 1 FROM "session" AS s
      WHERE s."userId" = u."id"
        AND (s."createdAt" >= $1 OR s."updatedAt" >= $1)
    )
);
-- 3f. with --audit-log: read the batch for the log
SELECT CAST(u."id" AS TEXT) AS id, CAST(u."createdAt" AS TEXT) AS created_at
FROM "user" AS u
WHERE u."id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b))
ORDER BY u."id";
-- 3g. delete in foreign-key order
DELETE FROM "session"
WHERE "userId" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b));
DELETE FROM "account"
WHERE "userId" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b));
DELETE FROM "user"
WHERE "id" = ANY(ARRAY(SELECT b.id FROM pg_temp.anonsweep_batch AS b));
COMMIT;

-- 4. After the last batch.
DROP TABLE pg_temp.anonsweep_batch;
DROP TABLE pg_temp.anonsweep_cursor;
