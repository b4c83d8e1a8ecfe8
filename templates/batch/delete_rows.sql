{%- if join_delete -%}
DELETE x FROM {{ table }} AS x
JOIN anonsweep_batch AS b ON x.{{ user_column }} = b.id
{%- else -%}
DELETE FROM {{ table }}
WHERE {{ user_column }} IN (SELECT b.id FROM {{ temp }}anonsweep_batch AS b)
{%- endif %}
