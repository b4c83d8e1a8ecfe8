-- anonsweep index: {{ purpose }}
{%- if online %}
CREATE INDEX {{ name }}
  ON {{ table }} ({{ columns }})
  ALGORITHM=INPLACE LOCK=NONE;
{%- else %}
CREATE INDEX {% if concurrently %}CONCURRENTLY {% endif %}IF NOT EXISTS {{ name }}
  ON {{ table }} ({{ columns }}){% if !predicate.is_empty() %}
  WHERE {{ predicate }}{% endif %};
{%- endif %}
