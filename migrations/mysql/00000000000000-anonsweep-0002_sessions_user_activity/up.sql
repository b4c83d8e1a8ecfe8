-- anonsweep index: the "no recent session" probe: sessions by user_id with its activity columns
CREATE INDEX `anonsweep_sessions_user_id_created_at_updated_at`
  ON `sessions` (`user_id`, `created_at`, `updated_at`)
  ALGORITHM=INPLACE LOCK=NONE;
