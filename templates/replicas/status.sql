SHOW {{ word }} STATUS
