SELECT CAST(pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS TEXT) AS primary_lsn,
       CAST(r.pid AS TEXT) AS pid,
       COALESCE(NULLIF(r.application_name, ''), 'standby') || ' (' || COALESCE(host(r.client_addr), 'local socket') || ')' AS replica,
       r.state AS state,
       CAST(pg_wal_lsn_diff(r.replay_lsn, '0/0') AS TEXT) AS replay_lsn,
       CAST(EXTRACT(EPOCH FROM r.replay_lag) AS TEXT) AS replay_lag,
       CAST(EXTRACT(EPOCH FROM clock_timestamp() - r.reply_time) AS TEXT) AS report_age
FROM (SELECT 1) AS one
LEFT JOIN (pg_stat_replication AS r JOIN pg_stat_activity AS a ON a.pid = r.pid AND a.datname IS NULL)
  ON r.state IS DISTINCT FROM 'backup'
ORDER BY r.pid
