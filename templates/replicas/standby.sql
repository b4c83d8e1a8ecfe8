SELECT CAST(pg_is_in_recovery() AS TEXT) AS in_recovery,
       CAST(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() AS TEXT) AS caught_up,
       CAST(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) AS TEXT) AS replay_age,
       CAST(CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS TEXT) AS paused,
       CAST(EXISTS (SELECT 1 FROM pg_stat_wal_receiver) AS TEXT) AS streaming
