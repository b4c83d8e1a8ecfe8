{#- The users the run listed for a batch: the ids the count read, bound as one JSON array of
    text and each compared in the id column's own type (MySQL text ids as bytes: the ids are
    the column's own values, and a byte comparison never mixes collations). -#}
{%- if backend == "postgres" -%}
{{ id }} IN (SELECT {{ typed }} FROM json_array_elements_text(CAST({{ placeholder }} AS json)) AS j(v))
{%- else if backend == "mysql" -%}
{{ id }} IN (SELECT {{ typed }} FROM JSON_TABLE({{ placeholder }}, '$[*]' COLUMNS (v VARCHAR(1024) PATH '$')) AS j)
{%- else -%}
{{ id }} IN (SELECT j.value FROM json_each({{ placeholder }}) AS j)
{%- endif -%}
