{%- if backend == "postgres" %}
\set ON_ERROR_STOP on
{%- else if backend == "sqlite" %}
.bail on
PRAGMA foreign_keys = ON;
{%- else %}
{#- The `mariadb`/`mysql` client stops at the first error when reading a file. #}
SET time_zone = '+00:00';
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;
{%- endif %}
-- anonsweep {{ version }}: standalone cleanup script
-- as-of:      {{ as_of }}
-- retention:  {{ retention_days }} days
-- cutoff:     {{ cutoff }}
-- preset:     {{ preset }}
-- backend:    {{ backend }}
-- database:   {{ database }}
-- eligible at planning time: {{ eligible }} users
-- Deletes, in one transaction, exactly the users `anonsweep run` deletes at this cutoff.
{{ begin }}
{%- for s in setup %}
{{ s }};
{%- endfor %}
{{ pick }};
{%- for s in lock_children %}
{{ s }};
{%- endfor %}
{%- if !recheck.is_empty() %}
{{ recheck }};
{%- endif %}
{%- for s in deletes %}
{{ s }};
{%- endfor %}
{%- for s in teardown %}
{{ s }};
{%- endfor %}
COMMIT;
