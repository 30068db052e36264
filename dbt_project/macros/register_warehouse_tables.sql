{#-
  Jinja twin of `pipelines.core.catalog.register_tables`, for plain `dbt build` runs.

  The default catalog is in-memory (no Derby metastore, so a dbt process never fights the
  streams for a lock), which means a fresh dbt process knows no tables. This macro finds every
  Delta table of the warehouse layout `<warehouse>/<schema>/<table>` (layer = folder = schema;
  one file listing: each Delta table has `_delta_log/00000000000000000000.json` or, once old
  commits are cleaned up, `_delta_log/_last_checkpoint`) and registers it by location under the
  schema named after its folder. No list of layers: whatever folders the warehouse holds (bronze,
  silver, audit, gold, gold_intermediate, gold_reference, ...) are registered.

  It also tells dbt's relation cache about the tables in the schemas this project writes (the
  schemas of its models and seeds: gold, gold_intermediate, gold_reference): dbt fills that cache
  *before* on-run-start hooks run, so without this an incremental model would not see its
  existing table and would be rebuilt from scratch.

  Idempotent (`create table if not exists`), so it is also harmless against a shared metastore
  (`spark.catalog: hive`). Skipped when the caller has registered the tables already (`medallion
  build` passes `register_tables: false`) and, by default, through a Thrift server, which serves
  the warehouse's tables itself (`medallion serve`, whose guard would also refuse registering
  Bronze: macros/medallion_on_run_start.sql).

  `layers`: register only these schemas (a list, or one name); none (default) = all of them.
-#}
{% macro register_warehouse_tables(layers=none) %}
    {%- set warehouse = var('warehouse', env_var('MEDALLION_WAREHOUSE', '../lakehouse/warehouse')).rstrip('/') -%}
    {%- set only = none if layers is none else ([layers] if layers is string else (layers | list)) -%}
    {#- The schemas dbt writes tables to: those of this project's models, seeds and snapshots. -#}
    {%- set dbt_schemas = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type in ('model', 'seed', 'snapshot') -%}
        {%- if node.schema not in dbt_schemas -%}
            {%- do dbt_schemas.append(node.schema) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set pattern = '^(.*)/([^/]+)/([^/]+)/_delta_log/[^/]+$' -%}
    {%- set listing -%}
        select distinct
            regexp_extract(path, '{{ pattern }}', 2) as layer,
            regexp_extract(path, '{{ pattern }}', 3) as table_name,
            regexp_extract(path, '^(.*)/_delta_log/[^/]+$', 1) as location
        from binaryFile.`{{ warehouse }}/*/*/_delta_log/{00000000000000000000.json,_last_checkpoint}`
        order by layer, table_name
    {%- endset -%}
    {%- set found = run_query(listing) -%}
    {%- set registered = [] -%}
    {%- set schemas_created = [] -%}
    {%- for row in found.rows if only is none or row['layer'] in only -%}
        {%- set schema = row['layer'] -%}
        {%- if schema not in schemas_created -%}
            {%- do run_query('create schema if not exists `' ~ schema ~ '`') -%}
            {%- do schemas_created.append(schema) -%}
        {%- endif -%}
        {%- do run_query("create table if not exists `" ~ schema ~ "`.`" ~ row['table_name']
                         ~ "` using delta location '" ~ (row['location'] | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'") -%}
        {%- if schema in dbt_schemas -%}
            {%- do adapter.cache_added(api.Relation.create(
                    schema=schema, identifier=row['table_name'], type='table', is_delta=true)) -%}
        {%- endif -%}
        {%- do registered.append(schema ~ '.' ~ row['table_name']) -%}
    {%- endfor -%}
    {{ log('medallion: registered ' ~ (registered | length) ~ ' warehouse tables from ' ~ warehouse ~ ': ' ~ (registered | join(', ')), info=true) }}
{% endmacro %}
