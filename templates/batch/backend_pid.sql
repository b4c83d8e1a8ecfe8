SELECT CAST(pg_backend_pid() AS TEXT) AS t
