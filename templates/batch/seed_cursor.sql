INSERT INTO anonsweep_cursor (last_id) SELECT u.{{ user_id }} FROM {{ users }} AS u ORDER BY u.{{ user_id }} LIMIT 1
