SET @anonsweep_after = (SELECT c.last_id FROM anonsweep_cursor AS c)
