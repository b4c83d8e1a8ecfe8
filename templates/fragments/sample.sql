{#- The rows the pre-flight checks read from a table: the first ones the database returns, at
    most `rows`. The rule itself reads every value fail-safe (a value it cannot read, or one
    before 1990 in an epoch column, keeps the user), so these checks only have to catch a
    column whose format was detected or set wrong as a whole. -#}
(SELECT * FROM {{ table }} LIMIT {{ rows }}) AS sampled
