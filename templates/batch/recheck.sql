DELETE FROM {{ temp }}anonsweep_batch
WHERE NOT EXISTS (
  SELECT 1 FROM {{ users }} AS u
  WHERE u.{{ user_id }} = anonsweep_batch.id
    AND {{ eligible }}
)
