-- anonsweep index: {{ purpose }}
CREATE INDEX {% if concurrently %}CONCURRENTLY {% endif %}IF NOT EXISTS {{ name }}
  ON {{ table }} ({{ columns }}){% if !predicate.is_empty() %}
  WHERE {{ predicate }}{% endif %};
