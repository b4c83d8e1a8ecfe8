{#- Of the users rows bound as one JSON array, the 0-based position (as `t`) of each
    whose id exists in the users table again. -#}
{%- if backend == "postgres" %}
SELECT CAST(x.n - 1 AS TEXT) AS t
FROM json_array_elements(CAST({{ rows }} AS json)) WITH ORDINALITY AS x(v, n)
WHERE EXISTS (SELECT 1 FROM {{ users }} AS u WHERE u.{{ id }} = (json_populate_record(NULL::{{ users }}, x.v)).{{ id }})
{%- else if backend == "sqlite" %}
SELECT CAST(j.key AS TEXT) AS t
FROM json_each({{ rows }}) AS j
WHERE EXISTS (SELECT 1 FROM {{ users }} AS u WHERE u.{{ id }} = json_extract(j.value, '$."{{ id_key }}"'))
{%- else %}
SELECT CAST(x.n - 1 AS CHAR) AS t
FROM JSON_TABLE({{ rows }}, '$[*]' COLUMNS (n FOR ORDINALITY, r JSON PATH '$')) AS x
WHERE EXISTS (SELECT 1 FROM {{ users }} AS u WHERE u.{{ id }} = JSON_UNQUOTE(JSON_EXTRACT(x.r, '$."{{ id_key }}"')))
{%- endif %}
