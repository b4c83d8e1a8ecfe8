{#- SQLite: the run's list of its eligible users, a temporary table of ids (on the run's
    connection only; created empty, with the id column's affinity, like the batch table). -#}
CREATE TEMPORARY TABLE anonsweep_listed AS
SELECT u.{{ user_id }} AS id FROM {{ users }} AS u LIMIT 0
