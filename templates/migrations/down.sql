DROP INDEX {% if concurrently %}CONCURRENTLY {% endif %}IF EXISTS {{ qualified_name }};
