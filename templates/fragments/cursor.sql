{%- if mysql -%}
@anonsweep_after
{%- else -%}
(SELECT c.last_id FROM {{ temp }}anonsweep_cursor AS c)
{%- endif -%}
