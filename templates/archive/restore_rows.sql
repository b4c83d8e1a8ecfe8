{#- Archived rows of one table back in, bound as one JSON array of row objects, in
    the array's order, into the columns they have (values as the archive holds them: PostgreSQL
    reads each object as a row of the table; SQLite and MySQL extract each key). -#}
{#- MySQL: a key's value, NULL for JSON null; bytes were archived as {"b64": …}. -#}
{%- macro mysql_value(c) -%}
{%- if c.binary -%}
CASE WHEN JSON_TYPE(JSON_EXTRACT(x.r, '$."{{ c.key }}"."b64"')) = 'NULL' THEN NULL ELSE FROM_BASE64(JSON_UNQUOTE(JSON_EXTRACT(x.r, '$."{{ c.key }}"."b64"'))) END
{%- else -%}
CASE WHEN JSON_TYPE(JSON_EXTRACT(x.r, '$."{{ c.key }}"')) = 'NULL' THEN NULL ELSE JSON_UNQUOTE(JSON_EXTRACT(x.r, '$."{{ c.key }}"')) END
{%- endif -%}
{%- endmacro -%}
INSERT INTO {{ table }} ({% for c in columns %}{% if !loop.first %}, {% endif %}{{ c.name }}{% endfor %})
{%- if backend == "postgres" %}
OVERRIDING SYSTEM VALUE
SELECT {% for c in columns %}{% if !loop.first %}, {% endif %}r.{{ c.name }}{% endfor %}
FROM json_populate_recordset(NULL::{{ table }}, CAST({{ rows }} AS json)) AS r
{%- else if backend == "sqlite" %}
SELECT {% for c in columns %}{% if !loop.first %}, {% endif %}json_extract(j.value, '$."{{ c.key }}"'){% endfor %}
FROM json_each({{ rows }}) AS j
ORDER BY j.key
{%- else %}
SELECT {% for c in columns %}{% if !loop.first %}, {% endif %}{% call mysql_value(c) %}{% endcall %}{% endfor %}
FROM JSON_TABLE({{ rows }}, '$[*]' COLUMNS (n FOR ORDINALITY, r JSON PATH '$')) AS x
ORDER BY x.n
{%- endif %}
