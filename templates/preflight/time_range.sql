{#- The range of each compared time column as its storage format reads it, in one scan of the
    table, as one text `f1|f2|…` (each field a number or empty; preflight/plausible.rs decodes
    them). Per column, by shape:
      sqlite: numbers (count, min, max), text (count, not ISO-8601, min, max as epoch seconds),
              blobs (count), reals (count) — whatever the format, so a format that does not
              fit is named. The text minimum and maximum are taken on the stored text (ISO-8601
              dates sort as text; a zone offset can shift them by hours, nothing that matters
              against the 1990 / as-of-plus-a-day bounds), and decoded once. With the format
              detected, this same read (made once) is what detection recognises it from
              (preflight/introspect.rs): the storage types, the text that is not ISO-8601, the
              greatest integer for the epoch unit;
      time:   min and max as epoch seconds (PostgreSQL timestamps, MySQL DATETIME/TIMESTAMP);
      text:   PostgreSQL text, min and max of the ISO-8601 values as epoch seconds (the others
              are counted first, by preflight/not_iso_text.sql: one cast of such a value would
              stop the whole statement);
      epoch:  min and max as stored. -#}
SELECT {% if backend == "mysql" %}CAST({% endif %}concat_ws('|'
{%- for c in columns -%}
{%- if c.shape == "sqlite" -%}
,
  CAST(COUNT(CASE WHEN typeof({{ c.column }}) IN ('integer', 'real') THEN 1 END) AS TEXT),
  COALESCE(CAST(MIN(CASE WHEN typeof({{ c.column }}) IN ('integer', 'real') THEN {{ c.column }} END) AS TEXT), ''),
  COALESCE(CAST(MAX(CASE WHEN typeof({{ c.column }}) IN ('integer', 'real') THEN {{ c.column }} END) AS TEXT), ''),
  CAST(COUNT(CASE WHEN typeof({{ c.column }}) = 'text' THEN 1 END) AS TEXT),
  CAST(COUNT(CASE WHEN typeof({{ c.column }}) = 'text' AND (substr({{ c.column }}, 5, 1) <> '-' OR julianday({{ c.column }}) IS NULL OR substr({{ c.column }}, 1, 4) NOT GLOB '[0-9][0-9][0-9][0-9]') THEN 1 END) AS TEXT),
  COALESCE(strftime('%s', MIN(CASE WHEN typeof({{ c.column }}) = 'text' THEN {{ c.column }} END)), ''),
  COALESCE(strftime('%s', MAX(CASE WHEN typeof({{ c.column }}) = 'text' THEN {{ c.column }} END)), ''),
  CAST(COUNT(CASE WHEN typeof({{ c.column }}) = 'blob' THEN 1 END) AS TEXT),
  CAST(COUNT(CASE WHEN typeof({{ c.column }}) = 'real' THEN 1 END) AS TEXT)
{%- else if c.shape == "time" && backend == "postgres" -%}
,
  COALESCE(CAST(EXTRACT(EPOCH FROM MIN({{ c.column }})) AS TEXT), ''),
  COALESCE(CAST(EXTRACT(EPOCH FROM MAX({{ c.column }})) AS TEXT), '')
{%- else if c.shape == "time" -%}
,
  COALESCE(CAST(TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', MIN({{ c.column }})) AS CHAR), ''),
  COALESCE(CAST(TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', MAX({{ c.column }})) AS CHAR), '')
{%- else if c.shape == "text" -%}
,
  COALESCE(CAST(EXTRACT(EPOCH FROM MIN(CASE WHEN {{ c.column }} ~ '{{ iso_pattern }}' THEN CAST({{ c.column }} AS TIMESTAMPTZ) END)) AS TEXT), ''),
  COALESCE(CAST(EXTRACT(EPOCH FROM MAX(CASE WHEN {{ c.column }} ~ '{{ iso_pattern }}' THEN CAST({{ c.column }} AS TIMESTAMPTZ) END)) AS TEXT), '')
{%- else -%}
,
  COALESCE(CAST(MIN({{ c.column }}) AS {% if backend == "mysql" %}CHAR{% else %}TEXT{% endif %}), ''),
  COALESCE(CAST(MAX({{ c.column }}) AS {% if backend == "mysql" %}CHAR{% else %}TEXT{% endif %}), '')
{%- endif -%}
{%- endfor %}){% if backend == "mysql" %} AS CHAR){% endif %} AS t FROM {{ table }}
