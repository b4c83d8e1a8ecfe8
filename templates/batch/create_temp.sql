CREATE TEMPORARY TABLE {{ temp_table }} AS
SELECT u.{{ user_id }} AS {{ temp_column }} FROM {{ users }} AS u LIMIT 0
