{#- PostgreSQL: how many values of each text time column are not ISO-8601 timestamps (counted
    before the range read casts the others), as one text `n1|n2|…`. -#}
SELECT concat_ws('|'{% for c in columns %}, CAST(COUNT(CASE WHEN {{ c }} !~ '{{ iso_pattern }}' THEN 1 END) AS TEXT){% endfor %}) AS t FROM {{ table }}
