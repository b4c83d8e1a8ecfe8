SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM {{ table }} AS {{ alias }}
{%- if !at_or_after.is_empty() %} WHERE {% for c in at_or_after %}{% if !loop.first %} OR {% endif %}{{ c.expr }} >= {{ c.cutoff }}{% endfor %}{% endif %} LIMIT 1) AS x
