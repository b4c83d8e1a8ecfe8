{%- if backend == "postgres" && !is_int -%}
{{ column }}
{%- else if backend == "sqlite" -%}
{{ column }} IN (1, 'true')
{%- else -%}
{{ column }} = 1
{%- endif %}
