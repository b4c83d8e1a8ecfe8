{#- The archive table `run --archive-to-table` writes to: one row per archived user, the whole
    record as JSON text. -#}
CREATE TABLE IF NOT EXISTS {{ table }} (
  run_id VARCHAR(36) NOT NULL,
  batch BIGINT NOT NULL,
  user_id {% if backend == "mysql" %}VARCHAR(255){% else %}TEXT{% endif %} NOT NULL,
  archived_at VARCHAR(32) NOT NULL,
  record {% if backend == "mysql" %}LONGTEXT{% else %}TEXT{% endif %} NOT NULL
)
