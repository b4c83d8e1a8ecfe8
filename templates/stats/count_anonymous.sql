SELECT COUNT(*) AS n FROM {{ users }} AS u
WHERE {{ anonymous }}
