{#- The eligibility rule. On SQLite text times it opens with the quick text test (`quick`,
    `created_quick`: see `Eligible`), inside a CASE because SQLite evaluates a row's plain terms
    before its subqueries: as separate AND terms, every anonymous user's times would be parsed
    before the quick session probe could keep the user. `quick` is empty where sessions show no
    activity. -#}
{{ anonymous }}
{%- match created_quick %}{% when Some with (q) %}
  AND {{ q.column }} < {{ q.cutoff }}
{%- when None %}{% endmatch %}
{%- if !quick.is_empty() %}
  AND CASE WHEN EXISTS (
    SELECT 1 FROM {{ sessions }} AS s
    WHERE s.{{ session_user }} = u.{{ user_id }}
{%- if !session_after.is_empty() %}
      AND s.{{ session_user }} > {{ session_after }}
{%- endif %}
      AND ({% for q in quick %}{% if !loop.first %} OR {% endif %}{{ q.column }} >= {{ q.cutoff }}{% endfor %})
  ) THEN 0 ELSE 1
{%- endif %}
  AND {{ created_expr }} < {{ created_cutoff }}
  AND {{ created_expr }} >= {{ created_earliest }}
{%- match created_text %}{% when Some with (col) %}
  AND typeof({{ col }}) = 'text' AND substr({{ col }}, 5, 1) = '-'
{%- when None %}{% endmatch %}
{%- if sessions_show_activity %}
  AND NOT EXISTS (
    SELECT 1 FROM {{ sessions }} AS s
    WHERE s.{{ session_user }} = u.{{ user_id }}
{%- if !session_after.is_empty() %}
      AND s.{{ session_user }} > {{ session_after }}
{%- endif %}
      AND ({% for a in activity %}{% if !loop.first %} OR {% endif %}{% match a.unreadable %}{% when Some with (col) %}({{ col }} IS NOT NULL AND NOT IFNULL(typeof({{ col }}) = 'text' AND substr({{ col }}, 5, 1) = '-' AND {{ a.expr }} < {{ a.cutoff }}, 0)){% when None %}{{ a.expr }} >= {{ a.cutoff }}{% endmatch %}{% match a.earliest %}{% when Some with (e) %} OR {{ a.expr }} < {{ e }}{% when None %}{% endmatch %}{% endfor %})
{%- if probe_each %}
    OFFSET 0
{%- endif %}
  )
{%- endif %}
{%- if !quick.is_empty() %}
  END
{%- endif %}
{%- for a in users_activity %}
  AND (u.{{ a.column }} IS NULL OR ({{ a.expr }} < {{ a.cutoff }} AND {{ a.expr }} >= {{ a.earliest }}))
{%- endfor %}
{%- for g in guards %}
  AND NOT EXISTS (
    {{ g }}
  )
{%- endfor %}
