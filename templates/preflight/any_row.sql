{#- Is there a row of `table` (with any of `at_or_after` at or after the cutoff)? With `newest`,
    only among its newest rows (see `Newest`): a quick first look, asked before the whole table. -#}
SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM {% match newest %}{% when Some with (t) %}(SELECT {{ t.columns }} FROM {{ table }} ORDER BY {{ t.order }} DESC LIMIT {{ t.rows }}){% when None %}{{ table }}{% endmatch %} AS {{ alias }}
{%- if !at_or_after.is_empty() %} WHERE {% for c in at_or_after %}{% if !loop.first %} OR {% endif %}{{ c.expr }} >= {{ c.cutoff }}{% endfor %}{% endif %} LIMIT 1) AS x
