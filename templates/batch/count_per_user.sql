SELECT {{ id_text }} AS id, COUNT(*) AS n
FROM {{ table }} AS x
WHERE x.{{ user_column }} IN (SELECT b.id FROM {{ temp }}anonsweep_batch AS b)
GROUP BY x.{{ user_column }}
