{%- if backend == "sqlite" -%}
PRAGMA busy_timeout = {{ lock_timeout_ms }}
{%- else -%}
SET SESSION innodb_lock_wait_timeout = {{ lock_wait_secs }}
{%- endif %}
