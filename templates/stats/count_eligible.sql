SELECT COUNT(*) AS n FROM {{ users }} AS u{{ hint }}
WHERE {{ eligible }}
