-- anonsweep index: the eligibility scan: anonymous users of users by created_at (only anonymous users are indexed)
CREATE INDEX IF NOT EXISTS "anonsweep_users_created_at_anon"
  ON "users" (strftime('%Y-%m-%dT%H:%M:%fZ', "created_at"))
  WHERE "is_anonymous" IN (1, 'true');
