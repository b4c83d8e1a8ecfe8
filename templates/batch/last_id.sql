{#- The keyset cursor the client keeps for the next batch: the batch's last id, as text (MySQL
    binary ids as hex, so the bytes come back exactly). -#}
SELECT {% if hex %}HEX(b.id){% else %}{{ id_text }}{% endif %} AS t FROM {{ temp }}anonsweep_batch AS b ORDER BY b.id DESC LIMIT 1
