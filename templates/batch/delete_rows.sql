{%- if join_delete -%}
DELETE x FROM {{ table }} AS x
{{ joins }}
{%- else -%}
DELETE FROM {{ table }}
WHERE {{ user_column }} IN ({{ keys }})
{%- endif %}
