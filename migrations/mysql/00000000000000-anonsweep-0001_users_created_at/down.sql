DROP INDEX `anonsweep_users_created_at_anon` ON `users`;
