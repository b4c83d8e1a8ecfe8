{%- if derived -%}
SELECT COUNT(*) AS n FROM (
  SELECT 1 FROM {{ table }} AS x
  WHERE x.{{ user_column }} IN ({{ keys }})
  {{ lock }}
) AS locked
{%- else -%}
SELECT COUNT(*) AS n FROM {{ table }} AS x
WHERE x.{{ user_column }} IN ({{ keys }})
{{ lock }}
{%- endif %}
