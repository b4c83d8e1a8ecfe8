{%- if missing -%}
JOIN (SELECT NULL AS k) AS none ON 1 = 0
{%- else -%}
JOIN {{ table }} AS {{ alias }} ON {{ from }}.{{ column }} = {{ value }}
{%- endif -%}
