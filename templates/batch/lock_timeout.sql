SET LOCAL lock_timeout = '{{ lock_timeout_ms }}ms'
