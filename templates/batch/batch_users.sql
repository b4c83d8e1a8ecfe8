SELECT {{ id_text }} AS id, {{ created_text }} AS created_at
FROM {{ users }} AS u
WHERE {{ member }}
ORDER BY u.{{ user_id }}
