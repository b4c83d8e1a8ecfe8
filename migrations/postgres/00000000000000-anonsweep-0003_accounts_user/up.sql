-- anonsweep index: deleting accounts rows by user_id
CREATE INDEX CONCURRENTLY IF NOT EXISTS "anonsweep_accounts_user_id"
  ON "accounts" ("user_id");
