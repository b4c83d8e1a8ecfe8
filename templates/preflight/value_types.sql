SELECT DISTINCT typeof({{ column }}) AS t FROM {{ table }}
