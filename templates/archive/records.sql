{#- The archived users' records: of one run (in batch order), or of every run (oldest first). -#}
SELECT record AS t
FROM {{ table }}
{%- if !run.is_empty() %}
WHERE run_id = {{ run }}
ORDER BY batch, user_id
{%- else %}
ORDER BY archived_at, batch, user_id
{%- endif %}
