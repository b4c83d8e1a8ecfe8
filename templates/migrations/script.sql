-- anonsweep {{ version }}: index migrations for preset "{{ preset }}" on {{ backend }}
-- Run with {% if backend == "postgres" %}`psql -f FILE` (autocommit: CREATE INDEX CONCURRENTLY cannot run in a transaction){% else if backend == "mysql" %}`mariadb DATABASE < FILE` or `mysql DATABASE < FILE` (online DDL: ALGORITHM=INPLACE, LOCK=NONE){% else %}`sqlite3 DATABASE < FILE`{% endif %}.
-- Each index is recorded in diesel's __diesel_schema_migrations, as `anonsweep migrate run` does.
{%- for m in meta %}
{{ m }}
{%- endfor %}
{%- if statements.is_empty() %}
-- Nothing to do: every anonsweep index migration is applied.
{%- endif %}
{%- for s in statements %}
{{ s }}
{%- endfor %}
