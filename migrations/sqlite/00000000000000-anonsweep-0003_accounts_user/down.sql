DROP INDEX IF EXISTS "anonsweep_accounts_user_id";
