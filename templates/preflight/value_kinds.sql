{#- SQLite: in one read of the sample, how many values of a time column are stored as each type
    (integer|real|text|blob) and how many of its text values are not ISO-8601 timestamps: a date
    first (`YYYY-`: not `now`, a time or a Julian day number), then one SQLite's date functions
    parse (`julianday` is the cheapest of them; they share one parser). -#}
SELECT CAST(COUNT(CASE WHEN typeof({{ column }}) = 'integer' THEN 1 END) AS TEXT) || '|' ||
  CAST(COUNT(CASE WHEN typeof({{ column }}) = 'real' THEN 1 END) AS TEXT) || '|' ||
  CAST(COUNT(CASE WHEN typeof({{ column }}) = 'text' THEN 1 END) AS TEXT) || '|' ||
  CAST(COUNT(CASE WHEN typeof({{ column }}) = 'blob' THEN 1 END) AS TEXT) || '|' ||
  CAST(COUNT(CASE WHEN typeof({{ column }}) = 'text' AND (substr({{ column }}, 5, 1) <> '-' OR julianday({{ column }}) IS NULL OR substr({{ column }}, 1, 4) NOT GLOB '[0-9][0-9][0-9][0-9]') THEN 1 END) AS TEXT) AS t FROM {{ table }}
