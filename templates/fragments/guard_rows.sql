SELECT 1 FROM {{ table }} AS {{ alias }} WHERE {{ alias }}.{{ user_column }} = {{ user_id }}
{%- if !condition.is_empty() %} AND {{ alias }}.{{ condition }}{% endif -%}
