-- anonsweep index: the eligibility scan: users by (is_anonymous, created_at), anonymous users together (no partial indexes here)
CREATE INDEX `anonsweep_users_created_at_anon`
  ON `users` (`is_anonymous`, `created_at`)
  ALGORITHM=INPLACE LOCK=NONE;
