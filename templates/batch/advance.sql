{%- if mysql -%}
UPDATE anonsweep_cursor SET last_id = (SELECT b.id FROM anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1)
{%- else -%}
INSERT INTO {{ temp }}anonsweep_cursor (last_id) SELECT b.id FROM {{ temp }}anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1
{%- endif -%}
