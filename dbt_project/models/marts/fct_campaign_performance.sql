{#- Campaign totals over all dates. Sums the daily mart's counts and amounts (each already
    computed there from Silver) and derives the ratios from the sums, with the same definitions
    as the daily mart: a ratio of totals, never an average of daily ratios. Small (one row per
    campaign): rebuilt in full each run with an atomic `create or replace table`. -#}
with campaign_days as (
    select * from {{ ref('fct_campaign_performance_daily') }}
),

totals as (
    select
        campaign_id,
        cast(sum(impressions) as bigint) as impressions,
        cast(sum(clicks) as bigint) as clicks,
        cast(sum(spend_usd) as decimal(18, 4)) as spend_usd,
        cast(sum(conversions) as bigint) as conversions,
        cast(sum(revenue_usd) as decimal(18, 4)) as revenue_usd
    from campaign_days
    group by campaign_id
),

final as (
    select
        campaign_id,
        impressions,
        clicks,
        spend_usd,
        conversions,
        revenue_usd,
        {{ campaign_ratios() }}
    from totals
)

select * from final
