{%- if any_array -%}
{{ column }} = ANY(ARRAY({{ keys }}))
{%- else -%}
{{ column }} IN ({{ keys }})
{%- endif -%}
