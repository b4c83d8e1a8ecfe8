{#- `--workers`: the boundaries of the workers' key ranges, read once after the counts: every
    `every`-th eligible id in key order (as the keyset cursor carries it), so each range holds
    about as many eligible users whatever the ids look like. -#}
SELECT p.id FROM (
  SELECT {{ id_text }} AS id, ROW_NUMBER() OVER (ORDER BY u.{{ user_id }}) AS r
  FROM {{ users }} AS u
  WHERE {{ eligible }}
) AS p
WHERE MOD(p.r, {{ every }}) = 0
ORDER BY p.r
