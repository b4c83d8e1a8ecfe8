ANALYZE {{ temp }}anonsweep_batch
