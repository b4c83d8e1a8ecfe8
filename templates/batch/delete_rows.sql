DELETE FROM {{ table }}
WHERE {{ user_column }} IN (SELECT b.id FROM {{ temp }}anonsweep_batch AS b)
