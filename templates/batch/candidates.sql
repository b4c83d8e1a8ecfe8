{#- A run's count with one worker: the eligible users' ids, at most `limit` of them (one more
    than the run keeps; MySQL: no limit, every one of them). When they are that few, the
    batches take these users and no others. -#}
SELECT {{ id_text }} AS id FROM {{ users }} AS u{{ hint }}
WHERE {{ eligible }}
{%- if !limit.is_empty() %}
LIMIT {{ limit }}
{%- endif %}
