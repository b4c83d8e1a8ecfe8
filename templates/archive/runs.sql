{#- The runs in the archive table, the most recent first. -#}
SELECT run_id, MAX(archived_at) AS last_at, COUNT(*) AS users
FROM {{ table }}
GROUP BY run_id
ORDER BY MAX(archived_at) DESC, run_id
