SELECT {{ id_text }} AS id FROM {{ users }} AS u
WHERE {{ eligible }}
ORDER BY u.{{ user_id }}
LIMIT {{ limit }}
