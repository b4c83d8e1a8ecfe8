{#- `plan`'s counts in one pass over the eligible users: how many, then the rows each table
    would lose (its rows belonging to each eligible user, counted by index probes), as one text
    `n|n1|n2|…`. -#}
SELECT {% if text == "CHAR" %}CAST({% endif %}concat_ws('|', CAST(COUNT(*) AS {{ text }})
{%- for c in children %},
  CAST(COALESCE(SUM((SELECT COUNT(*) FROM {{ c.table }} AS x WHERE {{ c.member }})), 0) AS {{ text }})
{%- endfor %}){% if text == "CHAR" %} AS CHAR){% endif %} AS t
FROM {{ users }} AS u{{ hint }}
WHERE {{ eligible }}
