SELECT COUNT(*) AS n FROM {{ table }} AS x
WHERE x.{{ user_column }} IN (
  SELECT u.{{ user_id }} FROM {{ users }} AS u
  WHERE {{ eligible }}
)
