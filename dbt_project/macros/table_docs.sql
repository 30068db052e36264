{#-
  What a Gold table tells its readers (DESCRIBE, SHOW TBLPROPERTIES, DESCRIBE TABLE EXTENDED, any
  BI tool): its column docs and when it was last built. Dispatch overrides of dbt-spark's macros.

  * Column comments (`persist_docs: {columns: true}`; the YAML column descriptions) are written
    by the statement that creates the table: `create or replace table ... as select * from <a
    temporary view declaring the comments>` (a Replace Table As Select may not declare a schema,
    but it keeps the comments its query's columns carry). dbt-spark would run one ALTER (one
    Delta commit) per column after it. A MERGE keeps the table's comments; when the YAML changed
    since, all the columns that differ are rewritten in one `alter table ... alter column a
    comment '...', b comment '...'` (one commit).
  * The build stamp, table properties `medallion.last_built_at` (UTC), `medallion.dbt_invocation_id`,
    `medallion.run_id` and `medallion.silver_version` (the silver.events version the build read):
    in the create statement's TBLPROPERTIES for a created or replaced table (tables, seeds, a new
    or fully refreshed incremental mart), in one `alter table ... set tblproperties` (one commit)
    after a MERGE. A build that leaves an incremental mart unchanged commits nothing, so its stamp
    stays that of the build that last wrote it (the ledger audit.gold_builds has every build).
-#}

{#- The build stamp of a table this invocation writes now. -#}
{% macro medallion_build_stamp() %}
    {%- set stamp = {'medallion.last_built_at': _now().strftime('%Y-%m-%dT%H:%M:%SZ'),
                     'medallion.dbt_invocation_id': invocation_id,
                     'medallion.run_id': var('run_id', '') or invocation_id} -%}
    {%- set pin = build_pin() -%}
    {%- if pin is not none -%}
        {%- do stamp.update({'medallion.silver_version': pin.version | string}) -%}
    {%- endif -%}
    {{ return(stamp) }}
{% endmacro %}


{#- The node's `tblproperties` config plus the build stamp (only statements that create a table
    call it: dbt-spark's create_table_as, macros/seeds.sql). -#}
{% macro spark__tblproperties_clause() -%}
    {%- set properties = dict(config.get('tblproperties') or {}) -%}
    {%- if execute and writes_tables() -%}
        {%- do properties.update(medallion_build_stamp()) -%}
    {%- endif -%}
    {%- if properties %}
    tblproperties (
        {%- for key, value in properties.items() %}
        {{ sql_value(key | string) }} = {{ sql_value(value | string) }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    )
    {%- endif %}
{%- endmacro %}


{% macro _docs_view_name(relation) %}
    {{ return(relation.identifier ~ '__medallion_docs') }}
{% endmacro %}


{#- Create the temporary view whose columns carry the node's column descriptions as comments:
    `sql`'s columns in its order (`columns`, else asked from Spark), renamed to themselves.
    Returns its name. -#}
{% macro column_docs_view(relation, sql, columns=none) %}
    {%- set columns = columns or get_columns_in_query(sql) -%}
    {%- set described = {} -%}
    {%- for name, column in model.columns.items() if column.description -%}
        {%- do described.update({name | lower: column.description}) -%}
    {%- endfor -%}
    {%- set view = _docs_view_name(relation) -%}
    {%- call statement('column_docs_view') -%}
        create or replace temporary view {{ view }} (
        {%- for name in columns %}
            {{ adapter.quote(name) }}{% if (name | lower) in described %} comment {{ sql_value(described[name | lower]) }}{% endif %}{% if not loop.last %},{% endif %}
        {%- endfor %}
        ) as
        {{ sql }}
    {%- endcall -%}
    {{ return(view) }}
{% endmacro %}


{#- dbt-spark's create_table_as, with the column docs in the statement (see the top). -#}
{%- macro spark__create_table_as(temporary, relation, compiled_code, language='sql') -%}
  {%- if language == 'sql' -%}
    {%- if temporary -%}
      {{ create_temporary_view(relation, compiled_code) }}
    {%- else -%}
      {%- set contract_config = config.get('contract') -%}
      {%- if contract_config.enforced -%}
        {{ get_assert_columns_equivalent(compiled_code) }}
        {%- set compiled_code = get_select_subquery(compiled_code) -%}
      {%- endif -%}
      {%- if execute and config.persist_column_docs() and model.columns -%}
        {%- set names = model.columns.keys() | list if contract_config.enforced else none -%}
        {%- set compiled_code = 'select * from ' ~ column_docs_view(relation, compiled_code, names) -%}
      {%- endif -%}
      {% if config.get('file_format', validator=validation.any[basestring]) in ['delta', 'iceberg'] %}
        create or replace table {{ relation }}
      {% else %}
        create table {{ relation }}
      {% endif %}
      {{ file_format_clause() }}
      {{ options_clause() }}
      {{ tblproperties_clause() }}
      {{ partition_cols(label="partitioned by") }}
      {{ clustered_cols(label="clustered by") }}
      {{ location_clause() }}
      {{ comment_clause() }}
      as
      {{ compiled_code }}
    {%- endif -%}
  {%- elif language == 'python' -%}
    {{ py_write_table(compiled_code=compiled_code, target_relation=relation) }}
  {%- endif -%}
{%- endmacro -%}


{#- After the table's statement (dbt's table, incremental and seed materializations call it):
    drop the docs view; after a MERGE, the column comments that differ from the YAML and the build
    stamp. The table comment is the create statement's (comment_clause); views write their column
    docs themselves (spark__create_view_as). -#}
{% macro spark__persist_docs(relation, model, for_relation, for_columns) -%}
    {%- set columns = for_columns and config.persist_column_docs() and model.columns -%}
    {%- set merged = config.get('materialized') == 'incremental' and is_incremental() -%}
    {%- if columns and not merged and config.get('materialized') in ('table', 'incremental', 'seed') -%}
        {%- do run_query('drop view if exists ' ~ _docs_view_name(relation)) -%}
    {%- endif -%}
    {%- if merged -%}
        {%- set plan = incremental_plan_from_sql(sql) -%}
        {%- if plan is none or plan.mode != 'unchanged' -%}
            {%- if columns -%}
                {%- do _sync_column_comments(relation, model.columns) -%}
            {%- endif -%}
            {%- set properties = [] -%}
            {%- for key, value in medallion_build_stamp().items() -%}
                {%- do properties.append(sql_value(key) ~ ' = ' ~ sql_value(value)) -%}
            {%- endfor -%}
            {%- do run_query('alter table ' ~ relation ~ ' set tblproperties (' ~ (properties | join(', ')) ~ ')') -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- Rewrite, in one statement, the comments of the table's columns that differ from `columns`'
    descriptions. -#}
{% macro _sync_column_comments(relation, columns) %}
    {%- set current = {} -%}
    {%- set section = {'columns': true} -%}  {#- the column rows come first, then '# ...' sections -#}
    {%- for row in run_query('describe table ' ~ relation).rows -%}
        {%- if not row[0] or row[0].startswith('#') -%}
            {%- do section.update({'columns': false}) -%}
        {%- elif section.columns -%}
            {%- do current.update({row[0] | lower: row[2] or ''}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set changes = [] -%}
    {%- for name, column in columns.items() if column.description and (name | lower) in current
                                                and current[name | lower] != column.description -%}
        {%- do changes.append(adapter.quote(name) ~ ' comment ' ~ sql_value(column.description)) -%}
    {%- endfor -%}
    {%- if changes -%}
        {%- do run_query('alter table ' ~ relation ~ ' alter column ' ~ (changes | join(', '))) -%}
    {%- endif -%}
{% endmacro %}
