DROP INDEX IF EXISTS "anonsweep_sessions_user_id_created_at_updated_at";
