SELECT {{ id_text }} AS id, COUNT(*) AS n
FROM {{ table }} AS x
{{ joins }}
GROUP BY b.id
