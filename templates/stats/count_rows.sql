SELECT COUNT(*) AS n FROM {{ table }} AS x
WHERE x.{{ user_column }} IN (
  {{ keys }}
)
