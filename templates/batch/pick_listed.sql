{#- SQLite: the pick of the next listed users still eligible, after the keyset cursor, in key
    order. The list drives the join (CROSS JOIN keeps that order): each listed user is one
    primary-key probe, and the pick stops at the limit. -#}
INSERT INTO temp.anonsweep_batch (id)
SELECT u.{{ user_id }}
FROM temp.anonsweep_listed AS l CROSS JOIN {{ users }} AS u
WHERE u.{{ user_id }} = l.id
{%- if after_cursor %}
  AND l.id > {{ cursor }}
{%- endif %}
  AND {{ eligible }}
ORDER BY l.id
LIMIT {{ limit }}
