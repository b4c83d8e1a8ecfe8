INSERT INTO {{ temp }}anonsweep_batch (id)
SELECT u.{{ user_id }}
FROM {{ users }} AS u
WHERE {% if eligible.is_empty() %}{{ in_ids }}{% else %}{{ eligible }}{% endif %}
{%- if after_cursor %}
  AND u.{{ user_id }} > {{ cursor }}
{%- endif %}
{%- if !upto.is_empty() %}
  AND u.{{ user_id }} <= {{ upto }}
{%- endif %}
{%- if !in_ids.is_empty() && !eligible.is_empty() %}
  AND {{ in_ids }}
{%- endif %}
ORDER BY u.{{ user_id }}
{%- if !limit.is_empty() %}
LIMIT {{ limit }}
{%- endif %}
{%- if !lock.is_empty() %}
{{ lock }}
{%- endif %}
