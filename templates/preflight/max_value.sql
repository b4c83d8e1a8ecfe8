SELECT {{ max_text }} AS t FROM {{ table }}
