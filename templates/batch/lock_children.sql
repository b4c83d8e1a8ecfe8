{%- if derived -%}
SELECT COUNT(*) AS n FROM (
  SELECT 1 FROM {{ table }} AS x
  WHERE {{ member }}
  {{ lock }}
) AS locked
{%- else -%}
SELECT COUNT(*) AS n FROM {{ table }} AS x
WHERE {{ member }}
{{ lock }}
{%- endif %}
