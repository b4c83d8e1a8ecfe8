DROP INDEX CONCURRENTLY IF EXISTS "anonsweep_users_created_at_anon";
