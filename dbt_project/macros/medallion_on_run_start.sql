{#- on-run-start: make the warehouse tables addressable, pin the silver.events version this build
    reads (macros/gold_builds.sql), and tag this build's Delta commits. -#}
{% macro medallion_on_run_start() %}
    {%- if execute -%}
        {%- set run_id = var('run_id', '') or invocation_id -%}
        {%- if var('register_tables', true) | string | lower not in ('false', '0', 'no') -%}
            {%- do register_warehouse_tables() -%}
        {%- endif -%}
        {#- Every Delta commit of this build carries the run id and the Silver version it read
            (DESCRIBE HISTORY -> run, build, Silver version). -#}
        {%- set metadata = {'run_id': run_id, 'stage': 'gold', 'dbt_invocation_id': invocation_id} -%}
        {%- do run_query("set spark.databricks.delta.commitInfo.userMetadata = " ~ tojson(metadata)) -%}
        {%- set silver = pin_silver_version() -%}
        {%- if silver is not none -%}
            {%- do metadata.update({'silver_version': silver.version}) -%}
            {%- do run_query("set spark.databricks.delta.commitInfo.userMetadata = " ~ tojson(metadata)) -%}
        {%- endif -%}
    {%- endif -%}
    select 1
{% endmacro %}


{#- on-run-end: the outcome of every model and seed in the build ledger. -#}
{% macro medallion_on_run_end(results) %}
    {%- if execute -%}
        {%- do record_build_results(results) -%}
    {%- endif -%}
    select 1
{% endmacro %}
