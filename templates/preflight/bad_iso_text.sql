{#- A date first (`YYYY-`: not `now`, a time or a Julian day number), then one SQLite's date
    functions parse. `julianday` is the cheapest of them; they share one parser. -#}
SELECT CAST(COUNT(*) AS TEXT) AS t FROM {{ table }} WHERE {{ column }} IS NOT NULL AND (substr({{ column }}, 5, 1) <> '-' OR julianday({{ column }}) IS NULL OR substr({{ column }}, 1, 4) NOT GLOB '[0-9][0-9][0-9][0-9]')
