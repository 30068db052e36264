{#-
  Seeds as one atomic Delta commit (dispatch overrides of dbt-spark's seed macros).

  dbt-spark loads a seed with `drop table` + `create table (...) location ...` + `insert into`.
  With an external location (our `location_root`) that is wrong twice over: dropping an external
  table keeps its files, so the `create` re-attaches the old rows and the `insert` appends a
  second copy; and in between, readers see no table or an empty one. Here a seed is written like
  the table marts: `create or replace table ... using delta location ... as select <typed values>`
  (the seed's `column_types`, else dbt's inferred types), one commit that replaces the whole
  table, with its column comments and build stamp (macros/table_docs.sql). Nothing is dropped
  first; a full refresh is the same statement.
-#}

{#- A CSV cell as a Spark SQL string literal (NULL for an empty cell); the select casts it. -#}
{% macro seed_literal(value) -%}
    {%- if value is none -%}
        null
    {%- else -%}
        '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}


{% macro spark__create_csv_table(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set quote_seed_column = model['config'].get('quote_columns', None) -%}
    {%- set columns = [] -%}
    {%- for col_name in agate_table.column_names -%}
        {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
        {%- do columns.append({
                'name': adapter.quote_seed_column(col_name | string, quote_seed_column),
                'type': column_override.get(col_name, inferred_type),
                'value': 'c' ~ loop.index}) -%}
    {%- endfor -%}

    {%- set select_sql -%}
        select
        {%- for column in columns %}
            cast({{ column.value }} as {{ column.type }}) as {{ column.name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
        {%- if agate_table.rows | length > 0 %}
        from values
        {%- for row in agate_table.rows %}
            ({% for value in row %}{{ seed_literal(value) }}{% if not loop.last %}, {% endif %}{% endfor %}){% if not loop.last %},{% endif %}
        {%- endfor %}
            as seed_rows ({{ columns | map(attribute='value') | join(', ') }})
        {%- else %}
        from (select {% for column in columns %}null as {{ column.value }}{% if not loop.last %}, {% endif %}{% endfor %})
        where false
        {%- endif %}
    {%- endset -%}
    {%- if config.persist_column_docs() and model.columns -%}  {#- column comments: macros/table_docs.sql -#}
        {%- set select_sql = 'select * from ' ~ column_docs_view(this, select_sql, agate_table.column_names | list) -%}
    {%- endif %}

    {% set sql %}
        create or replace table {{ this.render() }}
        {{ file_format_clause() }}
        {{ tblproperties_clause() }}
        {{ partition_cols(label="partitioned by") }}
        {{ clustered_cols(label="clustered by") }}
        {{ location_clause() }}
        {{ comment_clause() }}
        as
        {{ select_sql }}
    {% endset %}

    {% call statement('_') -%}
        {{ sql }}
    {%- endcall %}

    {{ return(sql) }}
{% endmacro %}


{#- An existing seed table is replaced by the same statement (no drop): only a non-Delta table
    in the way is dropped first, as dbt-spark would. -#}
{% macro spark__reset_csv_table(model, full_refresh, old_relation, agate_table) %}
    {%- if old_relation and not old_relation.is_delta -%}
        {{ adapter.drop_relation(old_relation) }}
    {%- endif -%}
    {{ return(create_csv_table(model, agate_table)) }}
{% endmacro %}


{#- The rows went in with the create statement above: nothing left to insert. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {{ return('-- rows loaded by the create or replace table ... as select above') }}
{% endmacro %}
