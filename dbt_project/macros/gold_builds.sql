{#-
  The build ledger `audit.gold_builds` (declared in pipelines/core/tables.yaml): what each dbt
  invocation built, from which Silver version, into which Gold versions.

  Recorded by dbt itself, from the project's hooks, so a plain `dbt build` (scheduled CI, an
  operator) records it exactly like `medallion build`:
  * on-run-start (`pin_silver_version`): the version V and table id of silver.events this build
    reads, kept for the models in a global temporary view named after the invocation (visible to
    every connection of the Spark application, Thrift Server sessions included; no commit).
    Every model reads silver.events as of V (`silver_as_of_build`), so V is exactly what the
    build read, however many commits a running stream adds meanwhile.
  * on-run-end (`record_build_results`): one row per model, seed and snapshot dbt ran (status,
    timing, build mode, checksums, V, the Delta version of the table it committed), and one
    `invocation` row with the outcome, in one commit. An invocation that dies before on-run-end
    leaves no row (its Gold commits still name it in their userMetadata); the next build of each
    incremental mart then starts from the last recorded success, recomputing a superset.
  Incremental marts read it back (macros/incremental_plan.sql): the Silver version of the last
  build in which they succeeded is where their next build's changes start.

  Only commands that write tables record anything (build, run, seed, snapshot, retry); compile,
  docs, test and source freshness leave the ledger alone and read Silver unpinned. The table is
  created here by DDL when it is missing (append-only; the registry declaration and this DDL are
  compared by tests/integration/test_gold_build.py).
-#}

{#- The ledger table's name and location (`<warehouse>/audit/gold_builds`). -#}
{% macro gold_builds_relation() -%}
    audit.gold_builds
{%- endmacro %}


{#- Commands whose invocations write tables, hence record a ledger entry and pin Silver. -#}
{% macro writes_tables() %}
    {{ return(execute and (flags.WHICH or '') in ('build', 'run', 'seed', 'snapshot', 'retry')) }}
{% endmacro %}


{#- A Jinja value as a Spark SQL literal (NULL for none). -#}
{% macro sql_value(value) -%}
    {%- if value is none -%}
        null
    {%- elif value is sameas true or value is sameas false -%}
        {{ 'true' if value else 'false' }}
    {%- elif value is number -%}
        {{ value }}
    {%- else -%}
        '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}


{#- Create the ledger when it is missing (a new warehouse, or one built before it existed). -#}
{% macro create_gold_builds() %}
    {%- set warehouse = var('warehouse', env_var('MEDALLION_WAREHOUSE', '../lakehouse/warehouse')).rstrip('/') -%}
    {%- do run_query('create schema if not exists audit') -%}
    {%- call statement('create_gold_builds') -%}
        create table if not exists {{ gold_builds_relation() }} (
            invocation_id string not null comment 'dbt invocation id',
            run_id string not null comment 'pipeline run (var run_id), else the invocation id',
            resource_type string not null comment 'invocation | model | seed | snapshot',
            node_id string comment 'dbt unique id of the node; NULL on invocation rows',
            relation string comment 'schema.table the node builds; NULL on invocation rows',
            materialization string comment 'table | incremental | view | seed | snapshot',
            status string not null comment 'invocation rows: success | error; nodes: dbt\'s status (success, error, skipped)',
            message string comment 'dbt\'s result message',
            build_mode string comment 'full (rebuilt or recomputed whole) | incremental (changed keys merged) | unchanged (nothing to write) | view',
            build_mode_reason string comment 'why an incremental model ran in that mode',
            full_refresh boolean not null comment '--full-refresh (or the node\'s full_refresh config)',
            silver_table_id string comment 'Delta table id of silver.events as read',
            silver_version bigint comment 'silver.events version every model of the invocation read (time travel)',
            silver_change_feed boolean comment 'silver.events had its change data feed enabled at that version',
            silver_changes_from_version bigint comment 'incremental builds: first version whose changes were read (through silver_version)',
            changed_keys bigint comment 'incremental builds: keys recomputed (dates, users)',
            gold_version bigint comment 'Delta version of the node\'s table this invocation committed; NULL when it committed none',
            compiled_sql_md5 string comment 'MD5 of the SQL the node ran (compiled)',
            model_checksum string comment 'dbt\'s checksum of the node\'s source file',
            dbt_command string not null comment 'dbt command (build, run, seed, ...)',
            dbt_version string not null comment 'dbt-core version',
            target_name string not null comment 'dbt profile target',
            git_commit string comment 'commit of the project ($MEDALLION_GIT_COMMIT, else $GITHUB_SHA); NULL when unknown',
            started_at timestamp not null comment 'invocation or node start (UTC)',
            finished_at timestamp comment 'invocation or node end (UTC)',
            execution_seconds double comment 'dbt\'s execution time of the node'
        )
        using delta
        location '{{ (warehouse ~ '/audit/gold_builds') | replace("\\", "\\\\") | replace("'", "\\'") }}'
        comment 'Gold build ledger: one row per dbt invocation and per model/seed it ran'
        tblproperties (
            'delta.appendOnly' = 'true',
            'delta.autoOptimize.autoCompact' = 'true',
            'medallion.layer' = 'audit'
        )
    {%- endcall -%}
{% endmacro %}


{#- `schema.identifier` of the silver.events source (from the graph: usable in hooks too). -#}
{% macro silver_events_relation() %}
    {%- set source_node = graph.sources['source.' ~ project_name ~ '.silver.events'] -%}
    {{ return(source_node.schema ~ '.' ~ source_node.identifier) }}
{% endmacro %}


{#- silver.events as this invocation reads it: {'version', 'table_id', 'change_feed'}, or none
    when the table does not exist (yet). -#}
{% macro current_silver_events() %}
    {%- set schema, identifier = silver_events_relation().split('.') -%}
    {%- if run_query("show schemas like '" ~ schema ~ "'").rows | length == 0
           or run_query("show tables in `" ~ schema ~ "` like '" ~ identifier ~ "'").rows | length == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set relation = '`' ~ schema ~ '`.`' ~ identifier ~ '`' -%}
    {#- detail before history: a property change committed in between shows in the history that
        incremental_plan checks -#}
    {%- set detail = run_query('describe detail ' ~ relation).rows[0] -%}
    {%- set version = run_query('describe history ' ~ relation ~ ' limit 1').rows[0]['version'] -%}
    {%- set properties = detail['properties'] or {} -%}
    {%- if properties is string -%}  {#- dbt hands maps over as JSON text -#}
        {%- set properties = fromjson(properties, {}) -%}
    {%- endif -%}
    {{ return({'version': version | int, 'table_id': detail['id'],
               'change_feed': (properties.get('delta.enableChangeDataFeed', 'false') | lower) == 'true'}) }}
{% endmacro %}


{#- The columns every row of this invocation shares. -#}
{% macro _invocation_values() %}
    {%- set run_id = var('run_id', '') or invocation_id -%}
    {%- set commit = env_var('MEDALLION_GIT_COMMIT', '') or env_var('GITHUB_SHA', '') -%}
    {{ return({
        'invocation_id': invocation_id, 'run_id': run_id, 'full_refresh': true if flags.FULL_REFRESH else false,
        'dbt_command': flags.WHICH, 'dbt_version': dbt_version, 'target_name': target.name,
        'git_commit': commit or none}) }}
{% endmacro %}


{% macro _now() %}
    {{ return(modules.datetime.datetime.now(modules.pytz.utc)) }}
{% endmacro %}


{% macro _insert_ledger_rows(rows) %}
    {%- set columns = ['invocation_id', 'run_id', 'resource_type', 'node_id', 'relation', 'materialization',
                       'status', 'message', 'build_mode', 'build_mode_reason', 'full_refresh',
                       'silver_table_id', 'silver_version', 'silver_change_feed', 'silver_changes_from_version',
                       'changed_keys', 'gold_version', 'compiled_sql_md5', 'model_checksum', 'dbt_command',
                       'dbt_version', 'target_name', 'git_commit', 'started_at', 'finished_at',
                       'execution_seconds'] -%}
    {%- set timestamps = ['started_at', 'finished_at'] -%}
    {%- call statement('record_gold_builds') -%}
        insert into {{ gold_builds_relation() }} ({{ columns | join(', ') }})
        values
        {%- for row in rows %}
            ({% for column in columns -%}
                {%- set value = row.get(column) -%}
                {%- if column in timestamps and value is not none -%}
                    cast({{ sql_value(value.isoformat()) }} as timestamp)
                {%- else -%}
                    {{ sql_value(value) }}
                {%- endif -%}
                {%- if not loop.last %}, {% endif -%}
            {%- endfor %}){% if not loop.last %},{% endif %}
        {%- endfor %}
    {%- endcall -%}
{% endmacro %}


{#- The global temporary view holding this invocation's Silver pin. -#}
{% macro _pin_view() %}
    {{ return('global_temp.medallion_silver_pin_' ~ invocation_id.replace('-', '_')) }}
{% endmacro %}


{#- on-run-start: pin silver.events for this invocation (and make sure the ledger exists).
    Returns the pin (or none). -#}
{% macro pin_silver_version() %}
    {%- if not writes_tables() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set silver = current_silver_events() -%}
    {%- do create_gold_builds() -%}
    {%- call statement('pin_silver_version') -%}
        create or replace global temporary view {{ _pin_view().split('.')[1] }} as
        select
            cast({{ sql_value(silver.version if silver else none) }} as bigint) as silver_version,
            cast({{ sql_value(silver.table_id if silver else none) }} as string) as silver_table_id,
            cast({{ sql_value(silver.change_feed if silver else none) }} as boolean) as silver_change_feed
    {%- endcall -%}
    {{ return(silver) }}
{% endmacro %}


{#- The silver.events pin of this invocation: {'version', 'table_id', 'change_feed'}; none
    outside writing commands or without Silver. -#}
{% macro build_pin() %}
    {%- if not writes_tables() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set rows = run_query('select * from ' ~ _pin_view()).rows -%}
    {%- if rows | length == 0 or rows[0]['silver_version'] is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return({'version': rows[0]['silver_version'] | int, 'table_id': rows[0]['silver_table_id'],
               'change_feed': rows[0]['silver_change_feed']}) }}
{% endmacro %}


{#- ` version as of <V>` after `{{ source('silver', 'events') }}` in a model: the Silver version
    this build pinned at its start (nothing outside writing commands, or in unit tests, whose
    inputs are fixtures). -#}
{% macro silver_as_of_build() -%}
    {%- if execute and model.resource_type == 'model' -%}
        {%- set pin = build_pin() -%}
        {%- if pin is not none %} version as of {{ pin.version }}{% endif -%}
    {%- endif -%}
{%- endmacro %}


{#- The Delta version each of `relations` (schema.table at <warehouse>/<schema>/<table>) committed
    in this invocation: its newest commit whose userMetadata names this invocation. One query for
    all of them: the commit files (`_delta_log/<version>.json`, Delta's protocol) written since
    the invocation started, read for their commitInfo. -#}
{% macro _committed_versions(relations) %}
    {%- set found = {} -%}
    {%- if not relations -%}
        {{ return(found) }}
    {%- endif -%}
    {%- set warehouse = var('warehouse', env_var('MEDALLION_WAREHOUSE', '../lakehouse/warehouse')).rstrip('/') -%}
    {%- set folders = [] -%}
    {%- for relation in relations -%}
        {%- do folders.append(relation.replace('.', '/')) -%}
    {%- endfor -%}
    {%- set since = (run_started_at - modules.datetime.timedelta(minutes=5)).strftime('%Y-%m-%dT%H:%M:%S') -%}
    {%- set view = 'medallion_gold_commits_' ~ invocation_id.replace('-', '_') -%}
    {%- call statement('gold_commits_view') -%}
        create or replace temporary view {{ view }} (commitInfo struct<userMetadata: string>)
        using json
        options (path {{ sql_value(warehouse ~ '/{' ~ (folders | join(',')) ~ '}/_delta_log/*.json') }},
                 modifiedAfter '{{ since }}', timeZone 'UTC')
    {%- endcall -%}
    {%- set query -%}
        select
            regexp_extract(input_file_name(), '/([^/]+)/([^/]+)/_delta_log/[0-9]+[.]json$', 1) as schema_name,
            regexp_extract(input_file_name(), '/([^/]+)/([^/]+)/_delta_log/[0-9]+[.]json$', 2) as table_name,
            max(cast(regexp_extract(input_file_name(), '/([0-9]+)[.]json$', 1) as bigint)) as version
        from {{ view }}
        where commitInfo.userMetadata like '%{{ invocation_id }}%'
            and input_file_name() rlike '/_delta_log/[0-9]+[.]json$'
        group by 1, 2
    {%- endset -%}
    {%- for row in run_query(query).rows -%}
        {%- do found.update({row['schema_name'] ~ '.' ~ row['table_name']: row['version'] | int}) -%}
    {%- endfor -%}
    {%- do run_query('drop view if exists ' ~ view) -%}
    {{ return(found) }}
{% endmacro %}


{#- on-run-end: one row per model/seed/snapshot dbt ran, and the invocation's outcome. -#}
{% macro record_build_results(results) %}
    {%- if not writes_tables() -%}
        {{ return('') }}
    {%- endif -%}
    {%- set pin = build_pin() -%}
    {%- set shared = _invocation_values() -%}
    {%- do shared.update({'silver_table_id': pin.table_id if pin else none,
                          'silver_version': pin.version if pin else none,
                          'silver_change_feed': pin.change_feed if pin else none}) -%}
    {%- set written = [] -%}
    {%- for result in results if result.node.resource_type in ('model', 'seed', 'snapshot')
                                and (result.status | string) == 'success' and result.node.config.materialized != 'view' -%}
        {%- set plan = incremental_plan_from_sql(result.node.compiled_code) if result.node.compiled_code is defined else none -%}
        {%- if plan is none or plan.mode != 'unchanged' -%}
            {%- do written.append(result.node.schema ~ '.' ~ (result.node.alias or result.node.name)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set versions = _committed_versions(written) -%}
    {%- set rows = [] -%}
    {%- set failed = [] -%}
    {%- for result in results -%}
        {%- set node = result.node -%}
        {%- set status = result.status | string -%}
        {%- if status in ('error', 'fail', 'runtime error') -%}
            {%- do failed.append(node.unique_id) -%}
        {%- endif -%}
        {%- if node.resource_type in ('model', 'seed', 'snapshot') -%}
            {%- set materialization = node.config.materialized -%}
            {%- set compiled = node.compiled_code if node.compiled_code is defined else none -%}
            {%- set plan = incremental_plan_from_sql(compiled) if compiled else none -%}
            {%- set relation = node.schema ~ '.' ~ (node.alias or node.name) -%}
            {%- set mode = none -%}
            {%- if status == 'success' -%}
                {%- set mode = 'view' if materialization == 'view'
                                else (plan.mode if plan and plan.mode != 'changes' else ('incremental' if plan else 'full')) -%}
            {%- endif -%}
            {%- set gold_version = versions.get(relation) if mode in ('full', 'incremental') else none -%}
            {%- set timing = result.timing or [] -%}
            {%- set node_full_refresh = node.config.full_refresh -%}
            {%- set row = dict(shared) -%}
            {%- do row.update({
                'resource_type': node.resource_type | string, 'node_id': node.unique_id, 'relation': relation,
                'materialization': materialization, 'status': status, 'message': result.message,
                'build_mode': mode, 'build_mode_reason': plan.reason if plan and mode else none,
                'full_refresh': shared.full_refresh if node_full_refresh is none else node_full_refresh,
                'silver_changes_from_version': plan.from_version if plan and plan.mode == 'changes' else none,
                'changed_keys': (plan['keys'] or 0) if plan and mode in ('incremental', 'unchanged') else none,
                'gold_version': gold_version,
                'compiled_sql_md5': local_md5(compiled) if compiled else none,
                'model_checksum': node.checksum.checksum if node.checksum else none,
                'started_at': timing[0].started_at if timing else run_started_at,
                'finished_at': timing[-1].completed_at if timing else _now(),
                'execution_seconds': result.execution_time}) -%}
            {%- do rows.append(row) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set outcome = dict(shared) -%}
    {%- do outcome.update({'resource_type': 'invocation', 'status': 'error' if failed else 'success',
                           'message': (failed | length) ~ ' failed: ' ~ (failed | join(', ')) if failed else none,
                           'started_at': run_started_at, 'finished_at': _now()}) -%}
    {%- do rows.append(outcome) -%}
    {%- do _insert_ledger_rows(rows) -%}
    {%- do run_query('drop view if exists ' ~ _pin_view()) -%}
    {{ return('') }}
{% endmacro %}
