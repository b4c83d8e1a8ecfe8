{%- if mysql -%}
DROP TEMPORARY TABLE {% if if_exists %}IF EXISTS {% endif %}anonsweep_batch
{%- else -%}
DROP TABLE {% if if_exists %}IF EXISTS {% endif %}{{ temp }}anonsweep_batch
{%- endif -%}
