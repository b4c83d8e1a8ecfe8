{#- The list of eligible users: dropped after the run's closing count (`if_exists`: before it is
    created, a list an earlier run on this connection left). -#}
DROP TABLE {% if if_exists %}IF EXISTS {% endif %}temp.anonsweep_listed
