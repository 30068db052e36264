{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['campaign_id', 'date_day'],
        on_schema_change='fail',
    )
}}

{#- Incremental builds recompute exactly the dates that Silver's changes since this model's last
    build touch (macros/incremental_plan.sql): the dates of the changed events, and the purchase
    dates of the same user's purchases up to `attribution_window_days` after a changed click
    (their last click may have changed, moving them between campaigns); the MERGE deletes the
    rows of those dates that are no longer produced. -#}
{%- set window_days = var('attribution_window_days', 30) | int -%}
{%- set plan = silver_changes_plan() -%}
{%- if plan.mode == 'changes' -%}
    {%- set changed_dates -%}
        with changes as (
            select event_type, event_date, event_ts, user_id
            from {{ silver_changes(plan) }}
            where event_type in ('impression', 'click', 'ad_spend', 'purchase')
        ),

        changed_clicks as (
            select user_id, event_ts as click_ts
            from changes
            where event_type = 'click' and user_id is not null
        ),

        reattributable_purchases as (
            select purchases.purchase_date
            from {{ ref('int_purchases__attributed') }} as purchases
            inner join changed_clicks
                on changed_clicks.user_id = purchases.user_id
                and purchases.purchase_ts >= changed_clicks.click_ts
                and purchases.purchase_ts <= changed_clicks.click_ts + interval {{ window_days }} days
        )

        select event_date as date_day from changes
        union
        select purchase_date as date_day from reattributable_purchases
    {%- endset -%}
    {%- set plan = plan_dates(plan, changed_dates, 'date_day') -%}
{%- endif %}
{{ incremental_plan_marker(plan) }}

with impressions as (
    select * from {{ ref('stg_silver__impressions') }}
    where campaign_id is not null {{ plan_filter(plan, 'impression_date') }}
),

clicks as (
    select * from {{ ref('stg_silver__clicks') }}
    where campaign_id is not null {{ plan_filter(plan, 'click_date') }}
),

ad_spend as (
    select * from {{ ref('stg_silver__ad_spend') }}
    where campaign_id is not null {{ plan_filter(plan, 'spend_date') }}
),

attributed_purchases as (
    select * from {{ ref('int_purchases__attributed') }}
    where campaign_id is not null {{ plan_filter(plan, 'purchase_date') }}
),

impressions_daily as (
    select campaign_id, impression_date as date_day, count(*) as impressions
    from impressions
    group by campaign_id, impression_date
),

clicks_daily as (
    select campaign_id, click_date as date_day, count(*) as clicks
    from clicks
    group by campaign_id, click_date
),

spend_daily as (
    select campaign_id, spend_date as date_day, sum(spend_usd) as spend_usd
    from ad_spend
    group by campaign_id, spend_date
),

conversions_daily as (
    select
        campaign_id,
        purchase_date as date_day,
        count(*) as conversions,
        sum(revenue_usd) as revenue_usd
    from attributed_purchases
    group by campaign_id, purchase_date
),

campaign_days as (
    select campaign_id, date_day from impressions_daily
    union
    select campaign_id, date_day from clicks_daily
    union
    select campaign_id, date_day from spend_daily
    union
    select campaign_id, date_day from conversions_daily
),

daily as (
    select
        campaign_days.date_day,
        campaign_days.campaign_id,
        coalesce(impressions_daily.impressions, 0) as impressions,
        coalesce(clicks_daily.clicks, 0) as clicks,
        cast(coalesce(spend_daily.spend_usd, 0) as decimal(18, 4)) as spend_usd,
        coalesce(conversions_daily.conversions, 0) as conversions,
        cast(coalesce(conversions_daily.revenue_usd, 0) as decimal(18, 4)) as revenue_usd
    from campaign_days
    left join impressions_daily
        on impressions_daily.campaign_id = campaign_days.campaign_id
        and impressions_daily.date_day = campaign_days.date_day
    left join clicks_daily
        on clicks_daily.campaign_id = campaign_days.campaign_id
        and clicks_daily.date_day = campaign_days.date_day
    left join spend_daily
        on spend_daily.campaign_id = campaign_days.campaign_id
        and spend_daily.date_day = campaign_days.date_day
    left join conversions_daily
        on conversions_daily.campaign_id = campaign_days.campaign_id
        and conversions_daily.date_day = campaign_days.date_day
),

final as (
    select
        date_day,
        campaign_id,
        cast(impressions as bigint) as impressions,
        cast(clicks as bigint) as clicks,
        spend_usd,
        cast(conversions as bigint) as conversions,
        revenue_usd,
        {{ campaign_ratios() }}
    from daily
)

select * from final
