DROP INDEX CONCURRENTLY IF EXISTS "anonsweep_accounts_user_id";
