{#- The run's count (SQLite): every eligible user's id, into the list; the rows inserted are the
    eligible count. The batches take these users, still eligible, and no others. -#}
INSERT INTO temp.anonsweep_listed (id)
SELECT u.{{ user_id }} FROM {{ users }} AS u{{ hint }}
WHERE {{ eligible }}
