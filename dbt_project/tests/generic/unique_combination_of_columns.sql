{#- The combination of `combination_of_columns` is unique in the model (composite keys);
    dbt_utils' test of the same name, written here because hub packages can't be installed. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- set columns = combination_of_columns | join(', ') -%}
    with keys as (
        select {{ columns }}, count(*) as n_rows
        from {{ model }}
        group by {{ columns }}
    ),

    final as (
        select * from keys where n_rows > 1
    )

    select * from final
{% endtest %}
