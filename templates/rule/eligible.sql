{{ anonymous }}
  AND {{ created_expr }} < {{ created_cutoff }}
{%- if sessions_show_activity %}
  AND NOT EXISTS (
    SELECT 1 FROM {{ sessions }} AS s
    WHERE s.{{ session_user }} = u.{{ user_id }}
{%- if !session_after.is_empty() %}
      AND s.{{ session_user }} > {{ session_after }}
{%- endif %}
      AND ({% for a in activity %}{% if !loop.first %} OR {% endif %}{{ a.expr }} >= {{ a.cutoff }}{% endfor %})
  )
{%- endif %}
{%- for a in users_activity %}
  AND (u.{{ a.column }} IS NULL OR {{ a.expr }} < {{ a.cutoff }})
{%- endfor %}
{%- for g in guards %}
  AND NOT EXISTS (
    {{ g }}
  )
{%- endfor %}
