{#- on-run-start: make the warehouse tables addressable, pin the silver.events version this build
    reads (macros/gold_builds.sql), and tag this build's Delta commits.

    Sessions. With the session method every dbt connection is the one SparkSession of the process,
    so what on-run-start sets holds for the whole build. Through a Thrift server (`thrift` method,
    e.g. `medallion serve`) each dbt connection is a server session of its own, opened per node
    and per hook and closed after it: the settings are set again in each session that writes
    (models' and seeds' pre-hook `medallion_session()`, on-run-end). -#}
{% macro medallion_on_run_start() %}
    {%- if execute -%}
        {%- if on_thrift_server() -%}
            {#- `medallion serve` starts client sessions with reads by path off; the pipeline role
                may turn them on for its own session (the warehouse listing of
                register_warehouse_tables, with register_tables=true, reads by path) -#}
            {%- do run_query('set spark.sql.runSQLOnFiles=true') -%}
        {%- endif -%}
        {%- if _register_tables() -%}
            {%- do register_warehouse_tables() -%}
        {%- endif -%}
        {#- Every Delta commit of this build carries the run id and the Silver version it read
            (DESCRIBE HISTORY -> run, build, Silver version). -#}
        {%- do _set_commit_metadata(none) -%}
        {%- set silver = pin_silver_version() -%}
        {%- if silver is not none -%}
            {%- do _set_commit_metadata(silver.version) -%}
        {%- endif -%}
    {%- endif -%}
    select 1
{% endmacro %}


{#- dbt-spark's `thrift` method (a Spark Thrift Server), as opposed to `session` (`target` does not
    carry the method: it is in the adapter's credentials). -#}
{% macro on_thrift_server() %}
    {{ return((adapter.config.credentials.method | string | lower) in ('thrift', 'sparkconnectionmethod.thrift')) }}
{% endmacro %}


{#- Var `register_tables`: true/false, or `auto` (default): register with the session method (a
    fresh process knows no tables), not through a Thrift server, which serves the warehouse's
    tables by name itself (`medallion serve` registers them at start and as they appear; dbt's
    relation cache then sees the existing Gold tables, so incremental marts merge). -#}
{% macro _register_tables() %}
    {%- set value = var('register_tables', 'auto') | string | lower -%}
    {%- if value == 'auto' -%}
        {{ return(not on_thrift_server()) }}
    {%- endif -%}
    {{ return(value not in ('false', '0', 'no')) }}
{% endmacro %}


{#- Tag this session's Delta commits with the run, the invocation and (once pinned) the Silver
    version. -#}
{% macro _set_commit_metadata(silver_version) %}
    {%- set metadata = {'run_id': var('run_id', '') or invocation_id, 'stage': 'gold',
                        'dbt_invocation_id': invocation_id} -%}
    {%- if silver_version is not none -%}
        {%- do metadata.update({'silver_version': silver_version}) -%}
    {%- endif -%}
    {%- do run_query("set spark.databricks.delta.commitInfo.userMetadata = " ~ tojson(metadata)) -%}
{% endmacro %}


{#- Pre-hook of models and seeds (dbt_project.yml): through a Thrift server, the node's own
    session gets what on-run-start set in its. Nothing with the session method (already set), for
    views (they commit nothing) or outside commands that write. -#}
{% macro medallion_session() %}
    {%- if execute and on_thrift_server() and config.get('materialized') != 'view' -%}
        {%- do _thrift_session() -%}
    {%- endif -%}
{% endmacro %}


{#- A Thrift server session of a writing command: reads by path on, commit metadata with the
    pinned Silver version. -#}
{% macro _thrift_session() %}
    {%- if writes_tables() -%}
        {%- do run_query('set spark.sql.runSQLOnFiles=true') -%}
        {%- set pin = build_pin() -%}
        {%- do _set_commit_metadata(pin.version if pin is not none else none) -%}
    {%- endif -%}
{% endmacro %}


{#- on-run-end: the outcome of every model and seed in the build ledger. -#}
{% macro medallion_on_run_end(results) %}
    {%- if execute -%}
        {%- if on_thrift_server() -%}
            {%- do _thrift_session() -%}  {#- a new server session: the ledger's commit is tagged too -#}
        {%- endif -%}
        {%- do record_build_results(results) -%}
    {%- endif -%}
    select 1
{% endmacro %}
