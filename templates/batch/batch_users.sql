SELECT {{ id_text }} AS id, {{ created_text }} AS created_at
FROM {{ users }} AS u
WHERE u.{{ user_id }} IN (SELECT b.id FROM {{ temp }}anonsweep_batch AS b)
ORDER BY u.{{ user_id }}
