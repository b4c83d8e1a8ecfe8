{%- if kind == "none" -%}
SELECT NULL WHERE 1 = 0
{%- else if kind == "batch" -%}
SELECT {{ value }} FROM {{ temp }}anonsweep_batch AS b
{%- else -%}
SELECT {{ value }} FROM {{ table }} AS {{ alias }} WHERE {{ filter }}
{%- endif -%}
