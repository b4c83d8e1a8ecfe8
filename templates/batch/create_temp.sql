{#- The batch table, created first in each batch transaction and gone when it ends (PostgreSQL:
    ON COMMIT DROP; elsewhere `drop_batch.sql` before the commit). -#}
CREATE TEMPORARY TABLE anonsweep_batch{% if on_commit_drop %} ON COMMIT DROP{% endif %} AS
SELECT u.{{ user_id }} AS id FROM {{ users }} AS u LIMIT 0
