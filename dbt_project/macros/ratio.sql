{#- numerator / denominator; NULL when the denominator is 0 or NULL (never an ANSI error). -#}
{% macro ratio(numerator, denominator) -%}
    try_divide({{ numerator }}, nullif({{ denominator }}, 0))
{%- endmacro %}
