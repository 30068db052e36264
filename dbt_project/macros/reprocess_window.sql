{#-
  Incremental reprocessing window.

  An incremental mart recomputes every key whose date is on or after
      max(<date column> already in the mart) - var('lookback_days')
  so events that arrive late (up to `lookback_days` behind the newest built date) are counted,
  and merges the recomputed rows on the mart's unique key. Events older than the window need
  `--full-refresh` (or a larger `lookback_days`). Returns an ISO date string, or none when the
  mart is empty (then everything is recomputed).
-#}
{% macro reprocess_from(date_column, relation=none) %}
    {%- if not execute -%}
        {{ return('1970-01-01') }}
    {%- endif -%}
    {%- set relation = relation or this -%}
    {%- set lookback = var('lookback_days', 3) | int -%}
    {%- set query -%}
        select cast(date_sub(max({{ date_column }}), {{ lookback }}) as string) as reprocess_from
        from {{ relation }}
    {%- endset -%}
    {%- set value = run_query(query).columns[0].values()[0] -%}
    {{ return(value) }}
{% endmacro %}


{#- `and <column> >= date'<cutoff>'` when an incremental run has a cutoff, else nothing. -#}
{% macro reprocess_filter(column, cutoff, days_before=0) %}
    {%- if cutoff is not none -%}
        and {{ column }} >= date_sub(date'{{ cutoff }}', {{ days_before }})
    {%- endif -%}
{% endmacro %}
