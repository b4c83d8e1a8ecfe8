{#- Archived users of one batch into the archive table, inside the batch's transaction; every
    value is bound as text, the batch number cast back to an integer. -#}
INSERT INTO {{ table }} (run_id, batch, user_id, archived_at, record) VALUES
{%- for r in records %}{% if !loop.first %},{% endif %}
  ({{ r.run_id }}, CAST({{ r.batch }} AS {% if backend == "mysql" %}SIGNED{% else %}BIGINT{% endif %}), {{ r.user_id }}, {{ r.archived_at }}, {{ r.record }})
{%- endfor %}
