{#-
  dbt-spark's Delta MERGE, extended for the Gold marts (dispatch override of spark__get_merge_sql):

  * `when matched` only updates rows whose values changed, so a build without new data rewrites
    nothing;
  * a mart with `meta: {reprocess_window_column: <date column>}` recomputes a whole window of
    dates (see reprocess_from); keys inside the window that the recomputation no longer
    produces are deleted (`when not matched by source ... then delete`), so an incremental run
    ends up with exactly the rows a full refresh would produce. The window predicate also goes
    into the ON clause, letting Delta skip files outside it.
-#}
{% macro spark__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) %}
    {%- set predicates = [] if incremental_predicates is none else [] + incremental_predicates -%}
    {%- set dest_columns = adapter.get_columns_in_relation(target) -%}
    {%- set merge_update_columns = config.get('merge_update_columns') -%}
    {%- set merge_exclude_columns = config.get('merge_exclude_columns') -%}
    {%- set update_columns = get_merge_update_columns(merge_update_columns, merge_exclude_columns, dest_columns) -%}
    {%- if update_columns is none -%}  {#- dbt-spark's "all columns" (it would write `update set *`) -#}
        {%- set update_columns = dest_columns | map(attribute='quoted') | list -%}
    {%- endif -%}
    {%- set window_column = (config.get('meta') or {}).get('reprocess_window_column') -%}
    {%- set cutoff = reprocess_from(window_column, target) if window_column else none -%}
    {%- set window_predicate = ('DBT_INTERNAL_DEST.' ~ window_column ~ " >= date'" ~ cutoff ~ "'") if cutoff else none -%}

    {%- if unique_key -%}
        {%- set keys = unique_key if (unique_key is sequence and unique_key is not string) else [unique_key] -%}
        {%- for key in keys -%}
            {%- do predicates.append('DBT_INTERNAL_SOURCE.' ~ key ~ ' = DBT_INTERNAL_DEST.' ~ key) -%}
        {%- endfor -%}
    {%- else -%}
        {%- do predicates.append('FALSE') -%}
    {%- endif -%}
    {%- if window_predicate -%}
        {%- do predicates.append(window_predicate) -%}
    {%- endif -%}

    {{ sql_header if sql_header is not none }}

    merge into {{ target }} as DBT_INTERNAL_DEST
        using {{ source }} as DBT_INTERNAL_SOURCE
        on {{ predicates | join(' and ') }}

        when matched and not (
            {%- for column_name in update_columns %}
            DBT_INTERNAL_DEST.{{ column_name }} <=> DBT_INTERNAL_SOURCE.{{ column_name }}
            {%- if not loop.last %} and {% endif %}
            {%- endfor %}
        ) then update set
            {%- for column_name in update_columns %}
            {{ column_name }} = DBT_INTERNAL_SOURCE.{{ column_name }}
            {%- if not loop.last %}, {%- endif %}
            {%- endfor %}

        when not matched then insert *
        {%- if window_predicate %}

        when not matched by source and {{ window_predicate }} then delete
        {%- endif %}
{% endmacro %}
