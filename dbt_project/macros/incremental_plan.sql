{#-
  Change-driven incremental builds: a mart recomputes exactly the keys that Silver's changes
  since its last successful build touch, whatever the age (or the future) of their event time.

  The changes are Delta's change data feed of silver.events, `table_changes(silver.events,
  P + 1, V)`: V is the version this build pinned at its start (macros/gold_builds.sql), P the
  version read by the last build in which this model succeeded (audit.gold_builds). Every change
  type counts (inserts, both images of updates, deletes), so an erasure that rewrites user ids
  reaches the rows of the old and the new id.

  `silver_changes_plan()` decides how the model runs:
  * full      - compute everything: a new table or --full-refresh (dbt replaces the table), or,
                inside an existing table (a MERGE that also deletes the keys no longer
                produced), no ledger row of a successful build of this model, silver.events
                replaced (another table id), a Silver version older than P, or a change feed
                that does not cover P+1..V (feed off, a commit that is not a plain data change,
                such as a property change, RESTORE or VACUUM, or commits gone from the log);
  * changes   - recompute the keys the changes touch (the model lists them: `plan_dates`,
                `plan_changed_keys`) and merge them;
  * unchanged - nothing this model reads changed since P: the build commits nothing.
  The model writes its plan into its compiled SQL (`incremental_plan_marker`), where the MERGE
  (macros/merge.sql) and the ledger (the build mode, P + 1, the number of keys) read it back.
-#}

{#- Delta operations whose commits only change data, which the change feed records. -#}
{% macro _data_change_operations() %}
    {{ return(['WRITE', 'STREAMING UPDATE', 'MERGE', 'UPDATE', 'DELETE', 'OPTIMIZE']) }}
{% endmacro %}


{% macro silver_changes_plan() %}
    {%- set plan = {'mode': 'full', 'reason': none, 'from_version': none, 'to_version': none,
                    'keys': none, 'merge_on': none, 'delete_when': none, 'dates': none} -%}
    {%- if not execute or model.resource_type != 'model' or not writes_tables() -%}
        {{ return(plan) }}  {#- parsing, unit tests, compile, docs: compute everything -#}
    {%- endif -%}
    {%- do _require_upstream_in_build() -%}
    {%- if not is_incremental() -%}
        {%- do plan.update({'reason': 'full refresh' if should_full_refresh() else 'new table'}) -%}
        {{ return(plan) }}
    {%- endif -%}
    {#- from here on the table exists: a full recomputation merges and deletes what it no longer produces -#}
    {%- do plan.update({'delete_when': 'true'}) -%}
    {%- set pin = build_pin() -%}
    {%- if pin is none -%}
        {%- do plan.update({'reason': 'no silver.events version pinned'}) -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- set query -%}
        select
            max_by(silver_version, finished_at) as prior_version,
            max_by(silver_table_id, finished_at) as prior_table_id
        from {{ gold_builds_relation() }}
        where node_id = {{ sql_value(model.unique_id) }} and status = 'success'
            and silver_version is not null
    {%- endset -%}
    {%- set prior = run_query(query).rows[0] -%}
    {%- set current = pin.version -%}
    {%- do plan.update({'to_version': current}) -%}
    {%- if prior['prior_version'] is none -%}
        {%- do plan.update({'reason': 'no successful build of this model in the ledger'}) -%}
    {%- elif prior['prior_table_id'] != pin.table_id -%}
        {%- do plan.update({'reason': 'silver.events was replaced (table id ' ~ prior['prior_table_id'] ~ ' -> ' ~ pin.table_id ~ ')'}) -%}
    {%- elif (prior['prior_version'] | int) > current -%}
        {%- do plan.update({'reason': 'silver.events is at version ' ~ current ~ ', older than the ' ~ prior['prior_version'] ~ ' the last build read'}) -%}
    {%- elif (prior['prior_version'] | int) == current -%}
        {%- do plan.update({'mode': 'unchanged', 'delete_when': none,
                            'reason': 'silver.events unchanged since version ' ~ current}) -%}
    {%- elif not pin.change_feed -%}
        {%- do plan.update({'reason': 'silver.events has no change data feed'}) -%}
    {%- else -%}
        {%- set gap = _change_feed_gap(prior['prior_version'] | int, current) -%}
        {%- if gap -%}
            {%- do plan.update({'reason': gap}) -%}
        {%- else -%}
            {%- do plan.update({'mode': 'changes', 'from_version': (prior['prior_version'] | int) + 1,
                                'delete_when': none,
                                'reason': 'changes of versions ' ~ ((prior['prior_version'] | int) + 1) ~ '..' ~ current}) -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(plan) }}
{% endmacro %}


{#- The models this one reads (directly or not) must be rebuilt in this invocation: a staging
    view left from an earlier build reads an older pinned Silver version, an attribution table
    an older state, and the ledger would credit this model with changes it never saw. -#}
{% macro _require_upstream_in_build() %}
    {%- set pending = [] + model.depends_on.nodes -%}
    {%- set seen = [] -%}
    {%- set missing = [] -%}
    {%- for _ in range((graph.nodes | length) * 10) if pending -%}
        {%- set uid = pending.pop() -%}
        {%- if uid not in seen and uid.startswith('model.') -%}
            {%- do seen.append(uid) -%}
            {%- if uid not in selected_resources -%}
                {%- do missing.append(uid) -%}
            {%- endif -%}
            {%- do pending.extend(graph.nodes[uid].depends_on.nodes) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if missing -%}
        {%- do exceptions.raise_compiler_error(
            model.name ~ ' reads models this build does not rebuild (' ~ (missing | sort | join(', ')) ~ '), which'
            ~ ' hold an older state of silver.events: select it with its parents, e.g. --select +' ~ model.name) -%}
    {%- endif -%}
{% endmacro %}


{#- Why the change feed cannot give the changes of versions after_version+1..to_version, or
    none when it can (every commit still in the log, each a plain data change). -#}
{% macro _change_feed_gap(after_version, to_version) %}
    {%- set relation = silver_events_relation() -%}
    {%- set wanted = to_version - after_version -%}
    {%- set rows = run_query('describe history ' ~ relation ~ ' limit ' ~ (wanted + 20)).rows -%}
    {%- if rows | length > 0 and (rows[0]['version'] | int) > to_version + 20 -%}
        {#- a stream committed many versions since the build started: reach back to after_version -#}
        {%- set rows = run_query('describe history ' ~ relation ~ ' limit ' ~ ((rows[0]['version'] | int) - after_version)).rows -%}
    {%- endif -%}
    {%- set seen = [] -%}
    {%- for row in rows if (row['version'] | int) > after_version and (row['version'] | int) <= to_version -%}
        {%- if row['operation'] not in _data_change_operations() -%}
            {{ return('version ' ~ row['version'] ~ ' of silver.events is a ' ~ row['operation'] ~ ', not a data change the change feed records') }}
        {%- endif -%}
        {%- do seen.append(row['version']) -%}
    {%- endfor -%}
    {%- if seen | length != wanted -%}
        {{ return('versions ' ~ (after_version + 1) ~ '..' ~ to_version ~ ' of silver.events are no longer all in its log') }}
    {%- endif -%}
    {{ return(none) }}
{% endmacro %}


{#- The plan's changes of silver.events, as a relation: every change type, with Delta's
    _change_type, _commit_version and _commit_timestamp columns. (Named through the graph, not
    `source()`: the models' dependency on silver.events stays with their staging views, which
    dbt unit tests replace by fixtures.) -#}
{% macro silver_changes(plan) -%}
    table_changes('{{ silver_events_relation() }}', {{ plan.from_version }}, {{ plan.to_version }})
{%- endmacro %}


{#- Complete a `changes` plan whose keys are dates: `dates_sql` selects them (column `column`).
    The dates become literals, so Silver partitions and Gold files outside them are skipped, and
    the MERGE deletes the keys of those dates the recomputation no longer produces. -#}
{% macro plan_dates(plan, dates_sql, column) %}
    {%- if plan.mode != 'changes' -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- set query -%}
        select array_join(array_sort(collect_set(cast({{ column }} as string))), ',') as dates
        from ({{ dates_sql }}) as changed
        where {{ column }} is not null
    {%- endset -%}
    {%- set joined = run_query(query).rows[0]['dates'] or '' -%}
    {%- set dates = joined.split(',') if joined else [] -%}
    {%- if dates | length == 0 -%}
        {%- do plan.update({'mode': 'unchanged', 'keys': 0,
                            'reason': 'no change of versions ' ~ plan.from_version ~ '..' ~ plan.to_version ~ ' touches this model'}) -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- set literals = [] -%}
    {%- for day in dates -%}
        {%- do literals.append("date'" ~ day ~ "'") -%}
    {%- endfor -%}
    {%- set scope = 'DBT_INTERNAL_DEST.' ~ column ~ ' in (' ~ (literals | join(', ')) ~ ')' -%}
    {%- do plan.update({'keys': dates | length, 'dates': dates, 'merge_on': scope, 'delete_when': scope}) -%}
    {{ return(plan) }}
{% endmacro %}


{#- `and <column> in (<the plan's dates>)` for a `changes` plan, `and false` when nothing
    changed, nothing for a full computation. -#}
{% macro plan_filter(plan, column) -%}
    {%- if plan.mode == 'unchanged' -%}
        and false
    {%- elif plan.mode == 'changes' and plan.dates -%}
        and {{ column }} in ({% for day in plan.dates %}date'{{ day }}'{% if not loop.last %}, {% endif %}{% endfor %})
    {%- endif -%}
{%- endmacro %}


{#- Complete a `changes` plan whose keys are too many to list (users): the model filters its
    inputs with a join on `keys_sql` itself; here they are counted, and the keys that no longer
    exist in `current_sql` (e.g. an erased user id) are deleted by the MERGE through `vanished_sql`
    (tombstone rows in its source, macros/merge.sql), never as literals: a MERGE's predicates are
    kept in the Delta log, and these keys are personal data. -#}
{% macro plan_changed_keys(plan, keys_sql, current_sql, column) %}
    {%- if plan.mode != 'changes' -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- set vanished_sql -%}
        select changed_keys.{{ column }}
        from (select distinct {{ column }} from ({{ keys_sql }}) as k where {{ column }} is not null) as changed_keys
        left anti join (select distinct {{ column }} from ({{ current_sql }}) as c) as current_keys
            on current_keys.{{ column }} = changed_keys.{{ column }}
    {%- endset -%}
    {%- set query -%}
        select
            (select count(distinct {{ column }}) from ({{ keys_sql }}) as changed_keys where {{ column }} is not null) as n_keys,
            (select count(*) from ({{ vanished_sql }}) as vanished) as n_vanished
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- if (row['n_keys'] | int) == 0 -%}
        {%- do plan.update({'mode': 'unchanged', 'keys': 0,
                            'reason': 'no change of versions ' ~ plan.from_version ~ '..' ~ plan.to_version ~ ' touches this model'}) -%}
        {{ return(plan) }}
    {%- endif -%}
    {%- do plan.update({'keys': row['n_keys'] | int, 'vanished_keys': row['n_vanished'] | int,
                        'vanished_sql': vanished_sql if (row['n_vanished'] | int) > 0 else none,
                        'vanished_key': column}) -%}
    {{ return(plan) }}
{% endmacro %}


{#- The plan as a comment at the top of the model's SQL (also documents target/run/). -#}
{% macro incremental_plan_marker(plan) -%}
    /* medallion_incremental_plan {{ tojson(plan) | replace('*', '\\u002a') }} */
{%- endmacro %}


{#- The plan a model's compiled SQL carries, or none. -#}
{% macro incremental_plan_from_sql(compiled_sql) %}
    {%- set found = modules.re.search('/\\* medallion_incremental_plan (.*?) \\*/', compiled_sql or '', modules.re.S) -%}
    {{ return(fromjson(found.group(1)) if found else none) }}
{% endmacro %}
