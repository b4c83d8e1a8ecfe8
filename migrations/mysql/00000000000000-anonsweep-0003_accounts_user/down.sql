DROP INDEX `anonsweep_accounts_user_id` ON `accounts`;
