-- anonsweep index: the eligibility scan: anonymous users of users by created_at (only anonymous users are indexed)
CREATE INDEX CONCURRENTLY IF NOT EXISTS "anonsweep_users_created_at_anon"
  ON "users" ("created_at")
  WHERE "is_anonymous";
