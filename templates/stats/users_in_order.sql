{#- The access-path estimate (MySQL, PostgreSQL): do the users in the shipped users index's range come in
    id order? Of the `sample` created last before the cutoff, read from that index alone in
    creation order, 1 when at least nine in ten have a larger id than the one created before
    them (ids that grow with time: each user's probes of the child tables' indexes then follow
    the previous one's), else 0. -#}
SELECT COUNT(*) AS n FROM (SELECT 1 AS one
FROM (SELECT r.id, LAG(r.id) OVER (ORDER BY r.created, r.id) AS prev
  FROM (SELECT u.{{ id }} AS id, u.{{ created }} AS created FROM {{ users }} AS u{{ hint }}
    WHERE {{ range }}
    ORDER BY u.{{ created }} DESC
    LIMIT {{ sample }}) AS r) AS w
WHERE w.prev IS NOT NULL
HAVING COUNT(*) > 0 AND 10 * SUM(CASE WHEN w.prev < w.id THEN 1 ELSE 0 END) >= 9 * COUNT(*)) AS ordered
