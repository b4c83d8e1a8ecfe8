DROP INDEX `anonsweep_sessions_user_id_created_at_updated_at` ON `sessions`;
