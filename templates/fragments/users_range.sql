{#- The shipped users index's range, as the access-path reads (MySQL, PostgreSQL) write it:
    anonymous users created before the cutoff (and not before the earliest plausible time). -#}
{{ anonymous }}
      AND {{ created_expr }} < {{ created_cutoff }}
      AND {{ created_expr }} >= {{ created_earliest }}
