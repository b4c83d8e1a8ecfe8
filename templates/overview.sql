-- anonsweep: the SQL `anonsweep run` executes for preset "{{ preset }}" on {{ backend }}.
-- Parameters:
{%- for p in params %}
--   {{ p }}
{%- endfor %}
-- Timestamp storage{% if assumed %} (assumed; `anonsweep plan` detects it from the database){% endif %}:
{%- for f in formats %}
--   {{ f }}
{%- endfor %}

-- 1. Eligibility: anonymous, created before the cutoff, no session activity at or after it.
{{ count_eligible }};

-- 2. Once per run, on the run's own connection: temporary tables for the batch and the keyset cursor.
{%- for s in setup %}
{{ s }};
{%- endfor %}

-- 3. Each batch is one transaction:
{%- if clear_before_begin %}
-- 3a. empty the batch table (before the transaction: TRUNCATE commits implicitly)
{{ clear }};
{{ begin }}
{%- else %}
{{ begin }}
-- 3a. empty the batch table
{{ clear }};
{%- endif %}
{%- if !load_cursor.is_empty() %}
-- 3a'. batches after the first: load the keyset cursor
{%- for s in load_cursor %}
{{ s }};
{%- endfor %}
{%- endif %}
-- 3b. pick and lock the next users (the first batch omits the cursor condition)
{{ pick }};
-- 3c. move the keyset cursor past this batch
{%- for s in advance %}
{{ s }};
{%- endfor %}
{%- if !analyze.is_empty() %}
-- 3c'. statistics for the freshly filled batch table, so the planner drives the re-check and
--      the joins to it (archive reads of tables below a configured parent) from the batch
{%- for s in analyze %}
{{ s }};
{%- endfor %}
{%- endif %}
{%- if !lock_children.is_empty() %}
{%- if lock_counts_active %}
-- 3d. lock the sessions of the picked users, so activity cannot change under us, and count
--     those (as they are now) with activity at or after the cutoff
{%- else %}
-- 3d. lock the sessions of the picked users, so activity cannot change under us
{%- endif %}
{%- for s in lock_children %}
{{ s }};
{%- endfor %}
{%- endif %}
{%- if !recheck.is_empty() %}
{%- if lock_counts_active %}
-- 3e. only when 3d counted any: re-check the rule inside the transaction; drop users that
--     changed since they were picked (each user's own row was re-checked when 3b locked it)
{%- else %}
-- 3e. re-check the rule inside the transaction; drop users that changed since they were picked
{%- endif %}
{{ recheck }};
{%- endif %}
-- 3f. with --audit-log: read the batch for the log
{{ batch_users }};
-- 3g. delete in foreign-key order
{%- for s in deletes %}
{{ s }};
{%- endfor %}
COMMIT;

-- 4. After the last batch.
{%- for s in teardown %}
{{ s }};
{%- endfor %}
