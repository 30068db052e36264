{#-
  Jinja twin of `pipelines.catalog.register_tables`, for plain `dbt build` runs.

  The default catalog is in-memory (no Derby metastore, so a dbt process never fights the
  streams for a lock), which means a fresh dbt process knows no tables. This macro finds every
  Delta table of the warehouse layout `<warehouse>/<layer>/<table>` (one file listing: each Delta
  table has `_delta_log/00000000000000000000.json` or, once old commits are cleaned up,
  `_delta_log/_last_checkpoint`), registers it by location, and tells dbt's relation cache about
  the Gold ones: dbt fills its cache *before* on-run-start hooks run, so without this an
  incremental model would not see its existing table and would be rebuilt from scratch.

  Idempotent (`create table if not exists`), so it is also harmless against a shared metastore
  (`spark.catalog: hive`, Thrift Server). Skipped when the caller has registered the tables
  already (`medallion build` passes `register_tables: false`).
-#}
{% macro register_warehouse_tables(layers=('bronze', 'silver', 'audit', 'gold')) %}
    {%- set warehouse = var('warehouse', env_var('MEDALLION_WAREHOUSE', '../lakehouse/warehouse')).rstrip('/') -%}
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
    {%- for row in found.rows if row['layer'] in layers -%}
        {%- do run_query('create schema if not exists ' ~ row['layer']) -%}
        {%- do run_query("create table if not exists " ~ row['layer'] ~ "." ~ row['table_name']
                         ~ " using delta location '" ~ (row['location'] | replace("'", "\\'")) ~ "'") -%}
        {%- if row['layer'] == 'gold' -%}
            {%- do adapter.cache_added(api.Relation.create(
                    schema=row['layer'], identifier=row['table_name'], type='table', is_delta=true)) -%}
        {%- endif -%}
        {%- do registered.append(row['layer'] ~ '.' ~ row['table_name']) -%}
    {%- endfor -%}
    {{ log('medallion: registered ' ~ (registered | length) ~ ' warehouse tables from ' ~ warehouse ~ ': ' ~ (registered | join(', ')), info=true) }}
{% endmacro %}
