-- anonsweep index: deleting accounts rows by user_id
CREATE INDEX `anonsweep_accounts_user_id`
  ON `accounts` (`user_id`)
  ALGORITHM=INPLACE LOCK=NONE;
