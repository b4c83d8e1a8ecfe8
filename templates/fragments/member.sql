{%- if eq -%}
{{ column }} = {{ keys }}
{%- else if any_array -%}
{{ column }} = ANY(ARRAY({{ keys }}))
{%- else -%}
{{ column }} IN ({{ keys }})
{%- endif -%}
