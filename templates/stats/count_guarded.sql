SELECT COUNT(*) AS n FROM {{ users }} AS u
WHERE {{ eligible }}
  AND EXISTS (
    {{ guard }}
  )
