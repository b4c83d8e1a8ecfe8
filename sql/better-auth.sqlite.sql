-- anonsweep: every statement `anonsweep run` executes for preset "better-auth" on sqlite.
-- Each statement is marked with when it runs. Parameters are bound per statement (see "binds").
-- Timestamp storage (assumed; `anonsweep plan` detects it from the database):
--   user.createdAt: iso-text
--   session.createdAt: iso-text
--   session.updatedAt: iso-text

-- == When a connection opens, before any other statement on it
-- [run, plan and doctor: every connection (the run's, each worker's, the pooler probe's)] a setting of this connection only
PRAGMA foreign_keys = ON;

-- == Before the first batch: counts, in one snapshot; a run (not --dry-run) writes in it its list of eligible users, a temporary table of its own connection, and nothing else
-- [plan and run --dry-run; run when max_fraction is set] anonymous users (the max_fraction cap divides by them)
SELECT COUNT(*) AS n FROM "user" AS u
WHERE u."isAnonymous" IN (1, 'true');
-- [run (not --dry-run)] the run's list of eligible users: a temporary table on its own connection (a list an earlier run on it left is dropped first)
DROP TABLE IF EXISTS temp.anonsweep_listed;
-- [run (not --dry-run)] the run's list of eligible users: a temporary table on its own connection (a list an earlier run on it left is dropped first)
CREATE TEMPORARY TABLE anonsweep_listed AS
SELECT u."id" AS id FROM "user" AS u LIMIT 0;
-- [run (not --dry-run)] the run's list of eligible users: a temporary table on its own connection (a list an earlier run on it left is dropped first)
CREATE UNIQUE INDEX temp.anonsweep_listed_id ON anonsweep_listed (id);
-- [run (not --dry-run), instead of the count below] every eligible user's id into the list: the rows it inserts are the eligible count, and the batches take these users, by id, and no others
--   binds: ?1 = cutoff (as-of minus retention, UTC) as iso-text, ?2 = cutoff plus 15 hours (the largest zone offset) as iso-text, for the quick text test
INSERT INTO temp.anonsweep_listed (id)
SELECT u."id" FROM "user" AS u
WHERE u."isAnonymous" IN (1, 'true')
  AND u."createdAt" < ?2
  AND CASE WHEN EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= ?2 OR s."updatedAt" >= ?2)
  ) THEN 0 ELSE 1
  AND julianday(u."createdAt") < (SELECT julianday(?1))
  AND julianday(u."createdAt") >= (SELECT julianday('1990-01-01T00:00:00.000Z'))
  AND typeof(u."createdAt") = 'text' AND substr(u."createdAt", 5, 1) = '-'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND ((s."createdAt" IS NOT NULL AND NOT IFNULL(typeof(s."createdAt") = 'text' AND substr(s."createdAt", 5, 1) = '-' AND julianday(s."createdAt") < (SELECT julianday(?1)), 0)) OR (s."updatedAt" IS NOT NULL AND NOT IFNULL(typeof(s."updatedAt") = 'text' AND substr(s."updatedAt", 5, 1) = '-' AND julianday(s."updatedAt") < (SELECT julianday(?1)), 0)))
  )
  END;
-- [run (not --dry-run)] the database's change counter in the count's snapshot (it changes when another connection commits, never for the run's own commits)
SELECT data_version AS n FROM pragma_data_version();
-- [plan and run --dry-run (a run counts by listing them, above)] eligible users: anonymous, created before the cutoff, no session activity at or after it
--   binds: ?1 = cutoff (as-of minus retention, UTC) as iso-text, ?2 = cutoff plus 15 hours (the largest zone offset) as iso-text, for the quick text test
SELECT COUNT(*) AS n FROM "user" AS u
WHERE u."isAnonymous" IN (1, 'true')
  AND u."createdAt" < ?2
  AND CASE WHEN EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= ?2 OR s."updatedAt" >= ?2)
  ) THEN 0 ELSE 1
  AND julianday(u."createdAt") < (SELECT julianday(?1))
  AND julianday(u."createdAt") >= (SELECT julianday('1990-01-01T00:00:00.000Z'))
  AND typeof(u."createdAt") = 'text' AND substr(u."createdAt", 5, 1) = '-'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND ((s."createdAt" IS NOT NULL AND NOT IFNULL(typeof(s."createdAt") = 'text' AND substr(s."createdAt", 5, 1) = '-' AND julianday(s."createdAt") < (SELECT julianday(?1)), 0)) OR (s."updatedAt" IS NOT NULL AND NOT IFNULL(typeof(s."updatedAt") = 'text' AND substr(s."updatedAt", 5, 1) = '-' AND julianday(s."updatedAt") < (SELECT julianday(?1)), 0)))
  )
  END;
-- [plan only] eligible users and the rows session, account would lose, in one pass
--   binds: ?1 = cutoff (as-of minus retention, UTC) as iso-text, ?2 = cutoff plus 15 hours (the largest zone offset) as iso-text, for the quick text test
SELECT concat_ws('|', CAST(COUNT(*) AS TEXT),
  CAST(COALESCE(SUM((SELECT COUNT(*) FROM "session" AS x WHERE x."userId" = u."id")), 0) AS TEXT),
  CAST(COALESCE(SUM((SELECT COUNT(*) FROM "account" AS x WHERE x."userId" = u."id")), 0) AS TEXT)) AS t
FROM "user" AS u
WHERE u."isAnonymous" IN (1, 'true')
  AND u."createdAt" < ?2
  AND CASE WHEN EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= ?2 OR s."updatedAt" >= ?2)
  ) THEN 0 ELSE 1
  AND julianday(u."createdAt") < (SELECT julianday(?1))
  AND julianday(u."createdAt") >= (SELECT julianday('1990-01-01T00:00:00.000Z'))
  AND typeof(u."createdAt") = 'text' AND substr(u."createdAt", 5, 1) = '-'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND ((s."createdAt" IS NOT NULL AND NOT IFNULL(typeof(s."createdAt") = 'text' AND substr(s."createdAt", 5, 1) = '-' AND julianday(s."createdAt") < (SELECT julianday(?1)), 0)) OR (s."updatedAt" IS NOT NULL AND NOT IFNULL(typeof(s."updatedAt") = 'text' AND substr(s."updatedAt", 5, 1) = '-' AND julianday(s."updatedAt") < (SELECT julianday(?1)), 0)))
  )
  END;
-- [plan only (--sample)] a sample of eligible ids
--   binds: ?1 = cutoff (as-of minus retention, UTC) as iso-text, ?2 = cutoff plus 15 hours (the largest zone offset) as iso-text, for the quick text test, ?3 = the --sample count
SELECT CAST(u."id" AS TEXT) AS id FROM "user" AS u
WHERE u."isAnonymous" IN (1, 'true')
  AND +u."createdAt" < ?2
  AND CASE WHEN EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= ?2 OR s."updatedAt" >= ?2)
  ) THEN 0 ELSE 1
  AND +julianday(u."createdAt") < (SELECT julianday(?1))
  AND +julianday(u."createdAt") >= (SELECT julianday('1990-01-01T00:00:00.000Z'))
  AND typeof(u."createdAt") = 'text' AND substr(u."createdAt", 5, 1) = '-'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND ((s."createdAt" IS NOT NULL AND NOT IFNULL(typeof(s."createdAt") = 'text' AND substr(s."createdAt", 5, 1) = '-' AND julianday(s."createdAt") < (SELECT julianday(?1)), 0)) OR (s."updatedAt" IS NOT NULL AND NOT IFNULL(typeof(s."updatedAt") = 'text' AND substr(s."updatedAt", 5, 1) = '-' AND julianday(s."updatedAt") < (SELECT julianday(?1)), 0)))
  )
  END
ORDER BY u."id"
LIMIT ?3;
-- [plan only (--list)] the eligible users for --list, with their latest activity and rows per table: the first page
--   binds: ?1 = cutoff (as-of minus retention, UTC) as iso-text, ?2 = cutoff plus 15 hours (the largest zone offset) as iso-text, for the quick text test, ?3 = the batch size (users per page)
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
    strftime('%Y-%m-%dT%H:%M:%fZ', u."createdAt") AS created_at,
    (SELECT MAX(strftime('%Y-%m-%dT%H:%M:%fZ', s."createdAt")) FROM "session" AS s
     WHERE s."userId" = u."id") AS a1,
    (SELECT MAX(strftime('%Y-%m-%dT%H:%M:%fZ', s."updatedAt")) FROM "session" AS s
     WHERE s."userId" = u."id") AS a2,
    (SELECT COUNT(*) FROM "session" AS x WHERE x."userId" = u."id") AS n1,
    (SELECT COUNT(*) FROM "account" AS x WHERE x."userId" = u."id") AS n2
  FROM "user" AS u
  WHERE u."isAnonymous" IN (1, 'true')
    AND +u."createdAt" < ?2
    AND CASE WHEN EXISTS (
      SELECT 1 FROM "session" AS s
      WHERE s."userId" = u."id"
        AND (s."createdAt" >= ?2 OR s."updatedAt" >= ?2)
    ) THEN 0 ELSE 1
    AND +julianday(u."createdAt") < (SELECT julianday(?1))
    AND +julianday(u."createdAt") >= (SELECT julianday('1990-01-01T00:00:00.000Z'))
    AND typeof(u."createdAt") = 'text' AND substr(u."createdAt", 5, 1) = '-'
    AND NOT EXISTS (
      SELECT 1 FROM "session" AS s
      WHERE s."userId" = u."id"
        AND ((s."createdAt" IS NOT NULL AND NOT IFNULL(typeof(s."createdAt") = 'text' AND substr(s."createdAt", 5, 1) = '-' AND julianday(s."createdAt") < (SELECT julianday(?1)), 0)) OR (s."updatedAt" IS NOT NULL AND NOT IFNULL(typeof(s."updatedAt") = 'text' AND substr(s."updatedAt", 5, 1) = '-' AND julianday(s."updatedAt") < (SELECT julianday(?1)), 0)))
    )
    END
  ORDER BY u."id"
  LIMIT ?3
) AS p
ORDER BY p.k;
-- [plan only (--list)] the eligible users for --list: each page after the first, until one comes back short
--   binds: ?1 = cutoff (as-of minus retention, UTC) as iso-text, ?2 = the previous page's last id (as text), ?3 = cutoff plus 15 hours (the largest zone offset) as iso-text, for the quick text test, ?4 = the batch size (users per page)
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
    strftime('%Y-%m-%dT%H:%M:%fZ', u."createdAt") AS created_at,
    (SELECT MAX(strftime('%Y-%m-%dT%H:%M:%fZ', s."createdAt")) FROM "session" AS s
     WHERE s."userId" = u."id") AS a1,
    (SELECT MAX(strftime('%Y-%m-%dT%H:%M:%fZ', s."updatedAt")) FROM "session" AS s
     WHERE s."userId" = u."id") AS a2,
    (SELECT COUNT(*) FROM "session" AS x WHERE x."userId" = u."id") AS n1,
    (SELECT COUNT(*) FROM "account" AS x WHERE x."userId" = u."id") AS n2
  FROM "user" AS u
  WHERE u."isAnonymous" IN (1, 'true')
    AND +u."createdAt" < ?3
    AND CASE WHEN EXISTS (
      SELECT 1 FROM "session" AS s
      WHERE s."userId" = u."id"
        AND s."userId" > ?2
        AND (s."createdAt" >= ?3 OR s."updatedAt" >= ?3)
    ) THEN 0 ELSE 1
    AND +julianday(u."createdAt") < (SELECT julianday(?1))
    AND +julianday(u."createdAt") >= (SELECT julianday('1990-01-01T00:00:00.000Z'))
    AND typeof(u."createdAt") = 'text' AND substr(u."createdAt", 5, 1) = '-'
    AND NOT EXISTS (
      SELECT 1 FROM "session" AS s
      WHERE s."userId" = u."id"
        AND s."userId" > ?2
        AND ((s."createdAt" IS NOT NULL AND NOT IFNULL(typeof(s."createdAt") = 'text' AND substr(s."createdAt", 5, 1) = '-' AND julianday(s."createdAt") < (SELECT julianday(?1)), 0)) OR (s."updatedAt" IS NOT NULL AND NOT IFNULL(typeof(s."updatedAt") = 'text' AND substr(s."updatedAt", 5, 1) = '-' AND julianday(s."updatedAt") < (SELECT julianday(?1)), 0)))
    )
    END
    AND u."id" > ?2
  ORDER BY u."id"
  LIMIT ?4
) AS p
ORDER BY p.k;

-- == Once per run, on the run's own connection, before the first batch
-- [once per run] how long a batch waits for a lock
PRAGMA busy_timeout = 5000;

-- == Each batch: one transaction
-- [every batch] the batch table, for this transaction only (nothing stays in the session for the next batch)
CREATE TEMPORARY TABLE anonsweep_batch AS
SELECT u."id" AS id FROM "user" AS u LIMIT 0;
-- [every batch] the database's change counter, inside the batch's write lock: the count's value means nobody else has written since the users were listed
SELECT data_version AS n FROM pragma_data_version();
-- [first batch, when the counter is the count's] pick the first listed users still there (no cursor yet): nothing has changed since the count found them eligible, so the rule is not read again
--   binds: ?1 = the batch size
INSERT INTO temp.anonsweep_batch (id)
SELECT u."id"
FROM temp.anonsweep_listed AS l CROSS JOIN "user" AS u
WHERE u."id" = l.id
ORDER BY l.id
LIMIT ?1;
-- [batches after the first, when the counter is the count's] pick the next listed users still there, after the cursor: nothing has changed since the count found them eligible, so the rule is not read again
--   binds: ?1 = the keyset cursor: the previous batch's last id (as text), ?2 = the batch size
INSERT INTO temp.anonsweep_batch (id)
SELECT u."id"
FROM temp.anonsweep_listed AS l CROSS JOIN "user" AS u
WHERE u."id" = l.id
  AND l.id > ?1
ORDER BY l.id
LIMIT ?2;
-- [first batch, when the counter moved] pick the first listed users still eligible (no cursor yet)
--   binds: ?1 = cutoff (as-of minus retention, UTC) as iso-text, ?2 = cutoff plus 15 hours (the largest zone offset) as iso-text, for the quick text test, ?3 = the batch size
INSERT INTO temp.anonsweep_batch (id)
SELECT u."id"
FROM temp.anonsweep_listed AS l CROSS JOIN "user" AS u
WHERE u."id" = l.id
  AND u."isAnonymous" IN (1, 'true')
  AND u."createdAt" < ?2
  AND CASE WHEN EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= ?2 OR s."updatedAt" >= ?2)
  ) THEN 0 ELSE 1
  AND julianday(u."createdAt") < (SELECT julianday(?1))
  AND julianday(u."createdAt") >= (SELECT julianday('1990-01-01T00:00:00.000Z'))
  AND typeof(u."createdAt") = 'text' AND substr(u."createdAt", 5, 1) = '-'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND ((s."createdAt" IS NOT NULL AND NOT IFNULL(typeof(s."createdAt") = 'text' AND substr(s."createdAt", 5, 1) = '-' AND julianday(s."createdAt") < (SELECT julianday(?1)), 0)) OR (s."updatedAt" IS NOT NULL AND NOT IFNULL(typeof(s."updatedAt") = 'text' AND substr(s."updatedAt", 5, 1) = '-' AND julianday(s."updatedAt") < (SELECT julianday(?1)), 0)))
  )
  END
ORDER BY l.id
LIMIT ?3;
-- [batches after the first, when the counter moved] pick the next listed users still eligible, after the cursor
--   binds: ?1 = cutoff (as-of minus retention, UTC) as iso-text, ?2 = cutoff plus 15 hours (the largest zone offset) as iso-text, for the quick text test, ?3 = the keyset cursor: the previous batch's last id (as text), ?4 = the batch size
INSERT INTO temp.anonsweep_batch (id)
SELECT u."id"
FROM temp.anonsweep_listed AS l CROSS JOIN "user" AS u
WHERE u."id" = l.id
  AND l.id > ?3
  AND u."isAnonymous" IN (1, 'true')
  AND u."createdAt" < ?2
  AND CASE WHEN EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= ?2 OR s."updatedAt" >= ?2)
  ) THEN 0 ELSE 1
  AND julianday(u."createdAt") < (SELECT julianday(?1))
  AND julianday(u."createdAt") >= (SELECT julianday('1990-01-01T00:00:00.000Z'))
  AND typeof(u."createdAt") = 'text' AND substr(u."createdAt", 5, 1) = '-'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND ((s."createdAt" IS NOT NULL AND NOT IFNULL(typeof(s."createdAt") = 'text' AND substr(s."createdAt", 5, 1) = '-' AND julianday(s."createdAt") < (SELECT julianday(?1)), 0)) OR (s."updatedAt" IS NOT NULL AND NOT IFNULL(typeof(s."updatedAt") = 'text' AND substr(s."updatedAt", 5, 1) = '-' AND julianday(s."updatedAt") < (SELECT julianday(?1)), 0)))
  )
  END
ORDER BY l.id
LIMIT ?4;
-- [every batch] the batch's last id: the keyset cursor the next batch binds
SELECT CAST(b.id AS TEXT) AS t FROM temp.anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1;
-- [only with --audit-log] the batch's users, for the audit log
SELECT CAST(u."id" AS TEXT) AS id, CAST(u."createdAt" AS TEXT) AS created_at
FROM "user" AS u
WHERE u."id" IN (SELECT b.id FROM temp.anonsweep_batch AS b)
ORDER BY u."id";
-- [only with --audit-log] each user's rows in session, for the audit log
SELECT CAST(b.id AS TEXT) AS id, COUNT(*) AS n
FROM "session" AS x
JOIN temp.anonsweep_batch AS b ON x."userId" = b.id
GROUP BY b.id;
-- [only with --audit-log] each user's rows in account, for the audit log
SELECT CAST(b.id AS TEXT) AS id, COUNT(*) AS n
FROM "account" AS x
JOIN temp.anonsweep_batch AS b ON x."userId" = b.id
GROUP BY b.id;
-- [only with --archive-dir or --archive-to-table] read the rows of session the batch deletes, for the archive
SELECT CAST(b.id AS TEXT) AS id, '{}' AS t
FROM "session" AS x
JOIN temp.anonsweep_batch AS b ON x."userId" = b.id;
-- [only with --archive-dir or --archive-to-table] read the rows of account the batch deletes, for the archive
SELECT CAST(b.id AS TEXT) AS id, '{}' AS t
FROM "account" AS x
JOIN temp.anonsweep_batch AS b ON x."userId" = b.id;
-- [only with --archive-dir or --archive-to-table] read the rows of user the batch deletes, for the archive
SELECT CAST(b.id AS TEXT) AS id, '{}' AS t
FROM "user" AS x
JOIN temp.anonsweep_batch AS b ON x."id" = b.id;
-- [every batch] delete from session, in foreign-key order
DELETE FROM "session"
WHERE "userId" IN (SELECT b.id FROM temp.anonsweep_batch AS b);
-- [every batch] delete from account, in foreign-key order
DELETE FROM "account"
WHERE "userId" IN (SELECT b.id FROM temp.anonsweep_batch AS b);
-- [every batch] delete from user, in foreign-key order
DELETE FROM "user"
WHERE "id" IN (SELECT b.id FROM temp.anonsweep_batch AS b);
-- [every batch] last in the transaction: drop the batch table
DROP TABLE temp.anonsweep_batch;

-- == Only when a batch of one user fails: move the cursor past that user (it is kept and reported)
-- [every batch] the batch table, for this transaction only
CREATE TEMPORARY TABLE anonsweep_batch AS
SELECT u."id" AS id FROM "user" AS u LIMIT 0;
-- [when the user fails in the first batch] take the failing user: the next listed user still eligible
--   binds: ?1 = cutoff (as-of minus retention, UTC) as iso-text, ?2 = cutoff plus 15 hours (the largest zone offset) as iso-text, for the quick text test, ?3 = the batch size
INSERT INTO temp.anonsweep_batch (id)
SELECT u."id"
FROM temp.anonsweep_listed AS l CROSS JOIN "user" AS u
WHERE u."id" = l.id
  AND u."isAnonymous" IN (1, 'true')
  AND u."createdAt" < ?2
  AND CASE WHEN EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= ?2 OR s."updatedAt" >= ?2)
  ) THEN 0 ELSE 1
  AND julianday(u."createdAt") < (SELECT julianday(?1))
  AND julianday(u."createdAt") >= (SELECT julianday('1990-01-01T00:00:00.000Z'))
  AND typeof(u."createdAt") = 'text' AND substr(u."createdAt", 5, 1) = '-'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND ((s."createdAt" IS NOT NULL AND NOT IFNULL(typeof(s."createdAt") = 'text' AND substr(s."createdAt", 5, 1) = '-' AND julianday(s."createdAt") < (SELECT julianday(?1)), 0)) OR (s."updatedAt" IS NOT NULL AND NOT IFNULL(typeof(s."updatedAt") = 'text' AND substr(s."updatedAt", 5, 1) = '-' AND julianday(s."updatedAt") < (SELECT julianday(?1)), 0)))
  )
  END
ORDER BY l.id
LIMIT ?3;
-- [when the user fails in a later batch] take the failing user: the next listed user still eligible
--   binds: ?1 = cutoff (as-of minus retention, UTC) as iso-text, ?2 = cutoff plus 15 hours (the largest zone offset) as iso-text, for the quick text test, ?3 = the keyset cursor: the previous batch's last id (as text), ?4 = the batch size
INSERT INTO temp.anonsweep_batch (id)
SELECT u."id"
FROM temp.anonsweep_listed AS l CROSS JOIN "user" AS u
WHERE u."id" = l.id
  AND l.id > ?3
  AND u."isAnonymous" IN (1, 'true')
  AND u."createdAt" < ?2
  AND CASE WHEN EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND (s."createdAt" >= ?2 OR s."updatedAt" >= ?2)
  ) THEN 0 ELSE 1
  AND julianday(u."createdAt") < (SELECT julianday(?1))
  AND julianday(u."createdAt") >= (SELECT julianday('1990-01-01T00:00:00.000Z'))
  AND typeof(u."createdAt") = 'text' AND substr(u."createdAt", 5, 1) = '-'
  AND NOT EXISTS (
    SELECT 1 FROM "session" AS s
    WHERE s."userId" = u."id"
      AND ((s."createdAt" IS NOT NULL AND NOT IFNULL(typeof(s."createdAt") = 'text' AND substr(s."createdAt", 5, 1) = '-' AND julianday(s."createdAt") < (SELECT julianday(?1)), 0)) OR (s."updatedAt" IS NOT NULL AND NOT IFNULL(typeof(s."updatedAt") = 'text' AND substr(s."updatedAt", 5, 1) = '-' AND julianday(s."updatedAt") < (SELECT julianday(?1)), 0)))
  )
  END
ORDER BY l.id
LIMIT ?4;
-- [every batch] its id: the keyset cursor, past it
SELECT CAST(b.id AS TEXT) AS t FROM temp.anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1;
-- [every batch] its id, for the report
SELECT CAST(u."id" AS TEXT) AS id, CAST(u."createdAt" AS TEXT) AS created_at
FROM "user" AS u
WHERE u."id" IN (SELECT b.id FROM temp.anonsweep_batch AS b)
ORDER BY u."id";
-- [every batch] last in the transaction: drop the batch table
DROP TABLE temp.anonsweep_batch;

-- == After the batches
-- [run (not --dry-run), unless its batches deleted every listed user] how many of the listed users are still there, and how many of those still eligible: the summary's kept, failed, not reached and gone before their batch
--   binds: ?1 = cutoff (as-of minus retention, UTC) as iso-text, ?2 = cutoff plus 15 hours (the largest zone offset) as iso-text, for the quick text test
SELECT concat_ws('|', CAST(COUNT(*) AS TEXT),
  CAST(COALESCE(SUM(CASE WHEN u."isAnonymous" IN (1, 'true')
      AND u."createdAt" < ?2
      AND CASE WHEN EXISTS (
        SELECT 1 FROM "session" AS s
        WHERE s."userId" = u."id"
          AND (s."createdAt" >= ?2 OR s."updatedAt" >= ?2)
      ) THEN 0 ELSE 1
      AND julianday(u."createdAt") < (SELECT julianday(?1))
      AND julianday(u."createdAt") >= (SELECT julianday('1990-01-01T00:00:00.000Z'))
      AND typeof(u."createdAt") = 'text' AND substr(u."createdAt", 5, 1) = '-'
      AND NOT EXISTS (
        SELECT 1 FROM "session" AS s
        WHERE s."userId" = u."id"
          AND ((s."createdAt" IS NOT NULL AND NOT IFNULL(typeof(s."createdAt") = 'text' AND substr(s."createdAt", 5, 1) = '-' AND julianday(s."createdAt") < (SELECT julianday(?1)), 0)) OR (s."updatedAt" IS NOT NULL AND NOT IFNULL(typeof(s."updatedAt") = 'text' AND substr(s."updatedAt", 5, 1) = '-' AND julianday(s."updatedAt") < (SELECT julianday(?1)), 0)))
      )
      END
  THEN 1 ELSE 0 END), 0) AS TEXT)) AS t
FROM temp.anonsweep_listed AS l CROSS JOIN "user" AS u
WHERE u."id" = l.id;
-- [run (not --dry-run), last] drop the run's list of eligible users
DROP TABLE temp.anonsweep_listed;
