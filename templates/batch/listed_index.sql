{#- The list's ids in key order: each pick reads the next of them after the keyset cursor. -#}
CREATE UNIQUE INDEX temp.anonsweep_listed_id ON anonsweep_listed (id)
