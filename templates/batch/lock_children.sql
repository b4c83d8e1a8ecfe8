{%- if derived -%}
SELECT COUNT(*) FILTER (WHERE {{ active }}) AS n FROM (
  SELECT x.* FROM {{ table }} AS x
  WHERE {{ member }}
  {{ lock }}
) AS s
{%- else -%}
SELECT COUNT(*) AS n FROM {{ table }} AS x
WHERE {{ member }}
{{ lock }}
{%- endif %}
