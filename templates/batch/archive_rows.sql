SELECT {{ id }} AS id, {{ json }} AS t
FROM {{ table }} AS x
{%- if !joins.is_empty() %}
{{ joins }}
{%- endif %}
{%- if !condition.is_empty() %}
WHERE {{ condition }}
{%- endif %}
{%- if !lock.is_empty() %}
{{ lock }}
{%- endif %}
