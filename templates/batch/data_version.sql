{#- SQLite: the database's change counter as this connection sees it. It changes when another
    connection commits a change to the database, never for this connection's own commits: the
    same value as when the run listed its users means nobody else has written since. -#}
SELECT data_version AS n FROM pragma_data_version()
