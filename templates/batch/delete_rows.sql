{%- if join_delete -%}
DELETE x FROM {{ table }} AS x
{{ joins }}
{%- else -%}
DELETE FROM {{ table }}
WHERE {{ member }}
{%- endif %}
