{%- if derived -%}
SELECT COUNT(*) AS n FROM (
  SELECT 1 FROM {{ table }} AS x
  WHERE x.{{ user_column }} IN (SELECT b.id FROM {{ temp }}anonsweep_batch AS b)
  {{ lock }}
) AS locked
{%- else -%}
SELECT COUNT(*) AS n FROM {{ table }} AS x
WHERE x.{{ user_column }} IN (SELECT b.id FROM {{ temp }}anonsweep_batch AS b)
{{ lock }}
{%- endif %}
