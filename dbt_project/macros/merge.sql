{#-
  dbt-spark's Delta MERGE, extended for the Gold marts (dispatch override of spark__get_merge_sql):

  * `when matched` only updates rows whose values changed;
  * a model that plans its incremental build (macros/incremental_plan.sql) carries the plan in
    its compiled SQL, and the MERGE follows it:
      - unchanged: no MERGE at all, so a build without Silver changes commits nothing;
      - changes:   the plan's literal key predicate (e.g. `date_day in (date'...', ...)`) joins the
                   ON clause, letting Delta skip files of other keys, and keys it covers that the
                   recomputation no longer produces are deleted (`when not matched by source and
                   <predicate> then delete`), e.g. a conversion that moved to another campaign;
                   keys that are personal data (an erased user id) are never literals: the plan's
                   `vanished_sql` selects their rows from the target as tombstones in the MERGE's
                   source, which `when matched` deletes (a MERGE's predicates stay in the Delta log);
      - full:      inside an existing table, every key the recomputation no longer produces is
                   deleted, so the table ends up as a full refresh would leave it.
-#}
{% macro spark__get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) %}
    {%- set plan = incremental_plan_from_sql(sql) -%}
    {%- if plan is not none and plan.mode == 'unchanged' -%}
        {{ return("select 'medallion: " ~ plan.reason | replace("'", "") ~ "; nothing to merge' as no_op") }}
    {%- endif -%}
    {%- set predicates = [] if incremental_predicates is none else [] + incremental_predicates -%}
    {%- set dest_columns = adapter.get_columns_in_relation(target) -%}
    {%- set merge_update_columns = config.get('merge_update_columns') -%}
    {%- set merge_exclude_columns = config.get('merge_exclude_columns') -%}
    {%- set update_columns = get_merge_update_columns(merge_update_columns, merge_exclude_columns, dest_columns) -%}
    {%- if update_columns is none -%}  {#- dbt-spark's "all columns" (it would write `update set *`) -#}
        {%- set update_columns = dest_columns | map(attribute='quoted') | list -%}
    {%- endif -%}
    {%- set delete_when = plan.delete_when if plan is not none else none -%}

    {%- if unique_key -%}
        {%- set keys = unique_key if (unique_key is sequence and unique_key is not string) else [unique_key] -%}
        {%- for key in keys -%}
            {%- do predicates.append('DBT_INTERNAL_SOURCE.' ~ key ~ ' = DBT_INTERNAL_DEST.' ~ key) -%}
        {%- endfor -%}
    {%- else -%}
        {%- do predicates.append('FALSE') -%}
    {%- endif -%}
    {%- if plan is not none and plan.merge_on -%}
        {%- do predicates.append(plan.merge_on) -%}
    {%- endif -%}

    {%- set vanished_sql = plan.vanished_sql if plan is not none else none -%}
    {%- set all_columns = dest_columns | map(attribute='quoted') | list -%}

    {{ sql_header if sql_header is not none }}

    merge into {{ target }} as DBT_INTERNAL_DEST
        {%- if vanished_sql %}
        using (
            select {{ all_columns | join(', ') }}, false as _medallion_vanished from {{ source }}
            union all
            select {{ all_columns | join(', ') }}, true as _medallion_vanished from {{ target }}
            where {{ plan.vanished_key }} in (select {{ plan.vanished_key }} from ({{ vanished_sql }}) as vanished)
        ) as DBT_INTERNAL_SOURCE
        {%- else %}
        using {{ source }} as DBT_INTERNAL_SOURCE
        {%- endif %}
        on {{ predicates | join(' and ') }}
        {%- if vanished_sql %}

        when matched and DBT_INTERNAL_SOURCE._medallion_vanished then delete
        {%- endif %}

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

        {%- if vanished_sql %}
        when not matched and not DBT_INTERNAL_SOURCE._medallion_vanished then insert ({{ all_columns | join(', ') }})
            values ({% for c in all_columns %}DBT_INTERNAL_SOURCE.{{ c }}{% if not loop.last %}, {% endif %}{% endfor %})
        {%- else %}
        when not matched then insert *
        {%- endif %}
        {%- if delete_when == 'true' %}

        when not matched by source then delete
        {%- elif delete_when %}

        when not matched by source and {{ delete_when }} then delete
        {%- endif %}
{% endmacro %}
