{#- The access-path estimate (MySQL): the users in the shipped users index's range (anonymous,
    created before the cutoff), read from that index alone, at most `limit` of them. -#}
SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM {{ users }} AS u FORCE INDEX ({{ index }})
WHERE {{ range }}
LIMIT {{ limit }}) AS x
