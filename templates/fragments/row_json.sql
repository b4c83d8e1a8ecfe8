{%- if backend == "postgres" -%}
CAST(row_to_json({{ alias }}) AS TEXT)
{%- else if backend == "sqlite" -%}
{%- if columns.is_empty() -%}
'{}'
{%- else -%}
'{' || {% for c in columns %}{% if !loop.first %} || {% endif %}{{ c.key }} || CASE typeof({{ alias }}.{{ c.name }}) WHEN 'real' THEN printf('%!.17g', {{ alias }}.{{ c.name }}) ELSE json_quote({{ alias }}.{{ c.name }}) END{% endfor %} || '}'
{%- endif -%}
{%- else -%}
JSON_OBJECT({% for c in columns %}{% if !loop.first %}, {% endif %}{{ c.key }}, {% if c.binary %}JSON_OBJECT('b64', TO_BASE64({{ alias }}.{{ c.name }})){% else %}{{ alias }}.{{ c.name }}{% endif %}{% endfor %})
{%- endif -%}
