-- anonsweep: every statement `anonsweep run` executes for preset "{{ preset }}" on {{ backend }}.
-- Each statement is marked with when it runs. Parameters are bound per statement (see "binds").
-- Timestamp storage{% if assumed %} (assumed; `anonsweep plan` detects it from the database){% endif %}:
{%- for f in formats %}
--   {{ f }}
{%- endfor %}
{%- for s in statements %}
{%- if !s.section.is_empty() %}

-- == {{ s.section }}
{%- endif %}
-- [{{ s.when }}] {{ s.what }}
{%- if !s.binds.is_empty() %}
--   binds: {{ s.binds }}
{%- endif %}
{{ s.sql }};
{%- endfor %}
