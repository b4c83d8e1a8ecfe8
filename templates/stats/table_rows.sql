{#- The optimizer's estimate of a table's rows (MySQL: InnoDB's statistics, no scan). -#}
SELECT CAST(COALESCE(MAX(table_rows), 0) AS SIGNED) AS n FROM information_schema.tables
WHERE table_schema = {{ schema }}
  AND (table_name = {{ table }} OR (@@lower_case_table_names <> 0 AND LOWER(table_name) = LOWER({{ table }})))
