{#- After the batches of a run that listed its users: how many of them still exist, and how
    many of those are still eligible, as one text `existing|eligible` (SQLite: the listed users
    of the list table, each one primary-key probe). -#}
SELECT {% if text == "CHAR" %}CAST({% endif %}concat_ws('|', CAST(COUNT(*) AS {{ text }}),
  CAST(COALESCE(SUM(CASE WHEN {{ eligible }}
  THEN 1 ELSE 0 END), 0) AS {{ text }})){% if text == "CHAR" %} AS CHAR){% endif %} AS t
{%- if listed_table %}
FROM temp.anonsweep_listed AS l CROSS JOIN {{ users }} AS u
WHERE u.{{ user_id }} = l.id
{%- else %}
FROM {{ users }} AS u
WHERE {{ in_ids }}
{%- endif %}
