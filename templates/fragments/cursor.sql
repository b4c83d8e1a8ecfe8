{#- The keyset cursor as a pick reads it: the previous batch's last id, bound as text and
    compared in the id column's own type. -#}
{%- if hex -%}
UNHEX({{ placeholder }})
{%- else -%}
{{ typed }}
{%- endif -%}
