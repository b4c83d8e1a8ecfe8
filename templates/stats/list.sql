{#- A time value as ISO-8601 UTC text, fixed width per backend (so the texts order as the times). -#}
{%- macro iso(backend, kind, e) -%}
{%- if backend == "sqlite" -%}
{%- if kind == "epoch-ms" -%}
strftime('%Y-%m-%dT%H:%M:%fZ', {{ e }} / 1000.0, 'unixepoch')
{%- else if kind == "epoch-s" -%}
strftime('%Y-%m-%dT%H:%M:%fZ', {{ e }}, 'unixepoch')
{%- else -%}
{{ e }}
{%- endif -%}
{%- else if backend == "postgres" -%}
{%- if kind == "epoch-ms" -%}
to_char(to_timestamp({{ e }} / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
{%- else if kind == "epoch-s" -%}
to_char(to_timestamp({{ e }}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
{%- else if kind == "timestamp" -%}
to_char({{ e }}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
{%- else -%}
to_char({{ e }} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
{%- endif -%}
{%- else -%}
{%- if kind == "epoch-ms" -%}
DATE_FORMAT(FROM_UNIXTIME({{ e }} / 1000), '%Y-%m-%dT%H:%i:%s.%fZ')
{%- else if kind == "epoch-s" -%}
DATE_FORMAT(FROM_UNIXTIME({{ e }}), '%Y-%m-%dT%H:%i:%s.%fZ')
{%- else -%}
DATE_FORMAT({{ e }}, '%Y-%m-%dT%H:%i:%s.%fZ')
{%- endif -%}
{%- endif -%}
{%- endmacro -%}
{#- The latest activity: the first candidate that is at least every later one. -#}
{%- macro latest(activity, then_label) -%}
CASE
{%- for a in activity %}
    WHEN p.a{{ a.n }} IS NOT NULL{% for j in a.later %} AND (p.a{{ j }} IS NULL OR p.a{{ a.n }} >= p.a{{ j }}){% endfor %} THEN {% if then_label %}{{ a.label }}{% else %}p.a{{ a.n }}{% endif %}
{%- endfor %}
  END
{%- endmacro -%}
SELECT p.id, p.created_at,
{%- if activity.is_empty() %}
  {{ no_text }} AS latest_at,
  {{ no_text }} AS latest_column
{%- else %}
  {% call latest(activity, false) %}{% endcall %} AS latest_at,
  {% call latest(activity, true) %}{% endcall %} AS latest_column
{%- endif %}
{%- for c in counts %},
  p.n{{ c.n }}
{%- endfor %}
FROM (
  SELECT u.{{ user_id }} AS k, {{ id_text }} AS id,
    {% call iso(backend, created_kind, created_expr) %}{% endcall %} AS created_at
{%- for a in activity %},
    (SELECT MAX({% call iso(backend, a.kind, a.expr) %}{% endcall %}) FROM {{ a.table }} AS s
     WHERE s.{{ a.user_column }} = u.{{ user_id }}) AS a{{ a.n }}
{%- endfor %}
{%- for c in counts %},
    (SELECT COUNT(*) FROM {{ c.table }} AS x WHERE {{ c.filter }}) AS n{{ c.n }}
{%- endfor %}
  FROM {{ users }} AS u
  WHERE {{ eligible }}
{%- if after_cursor %}
    AND u.{{ user_id }} > {{ cursor }}
{%- endif %}
  ORDER BY u.{{ user_id }}
  LIMIT {{ limit }}
) AS p
ORDER BY p.k
