DROP INDEX IF EXISTS "anonsweep_users_created_at_anon";
