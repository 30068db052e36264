{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key=['campaign_id', 'date_day'],
        on_schema_change='fail',
        meta={'reprocess_window_column': 'date_day'},
    )
}}

{#- Incremental runs recompute every date from `reprocess_from` on (late events) and merge. -#}
{%- set cutoff = reprocess_from('date_day') if is_incremental() else none -%}

with impressions as (
    select * from {{ ref('stg_silver__impressions') }}
    where campaign_id is not null {{ reprocess_filter('impression_date', cutoff) }}
),

clicks as (
    select * from {{ ref('stg_silver__clicks') }}
    where campaign_id is not null {{ reprocess_filter('click_date', cutoff) }}
),

ad_spend as (
    select * from {{ ref('stg_silver__ad_spend') }}
    where campaign_id is not null {{ reprocess_filter('spend_date', cutoff) }}
),

attributed_purchases as (
    select * from {{ ref('int_purchases__attributed') }}
    where campaign_id is not null {{ reprocess_filter('purchase_date', cutoff) }}
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
