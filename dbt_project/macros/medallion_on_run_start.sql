{#- on-run-start: tag this build's Delta commits and make the warehouse tables addressable. -#}
{% macro medallion_on_run_start() %}
    {%- if execute -%}
        {%- set run_id = var('run_id', '') or invocation_id -%}
        {#- Every Delta commit of this build carries the run id (DESCRIBE HISTORY -> run). -#}
        {%- set metadata = tojson({'run_id': run_id, 'stage': 'gold', 'dbt_invocation_id': invocation_id}) -%}
        {%- do run_query("set spark.databricks.delta.commitInfo.userMetadata = " ~ metadata) -%}
        {%- if var('register_tables', true) | string | lower not in ('false', '0', 'no') -%}
            {%- do register_warehouse_tables() -%}
        {%- endif -%}
    {%- endif -%}
    select 1
{% endmacro %}
