{%- if online -%}
DROP INDEX {{ name }} ON {{ table }};
{%- else -%}
DROP INDEX {% if concurrently %}CONCURRENTLY {% endif %}IF EXISTS {{ qualified_name }};
{%- endif %}
