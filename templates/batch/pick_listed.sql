{#- SQLite: the pick of the next listed users, after the keyset cursor, in key order. The list
    drives the join (CROSS JOIN keeps that order): each listed user is one primary-key probe,
    and the pick stops at the limit. With `recheck` it takes only those still eligible; without
    it (nobody else has written since the run listed them, and the write lock is held) those
    still there. -#}
INSERT INTO temp.anonsweep_batch (id)
SELECT u.{{ user_id }}
FROM temp.anonsweep_listed AS l CROSS JOIN {{ users }} AS u
WHERE u.{{ user_id }} = l.id
{%- if after_cursor %}
  AND l.id > {{ cursor }}
{%- endif %}
{%- if recheck %}
  AND {{ eligible }}
{%- endif %}
ORDER BY l.id
LIMIT {{ limit }}
