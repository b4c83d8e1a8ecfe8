SELECT {{ id }} AS id, {{ json }} AS t
FROM {{ table }} AS x
{{ filter }}
{%- if !lock.is_empty() %}
{{ lock }}
{%- endif %}
