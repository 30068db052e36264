{#-
  Last-click attribution (DESIGN.md): a purchase belongs to the campaign, and that click's channel,
  of the same user's most recent click at or before the purchase and at most
  `attribution_window_days` (30) days before it. No such click -> unattributed:
  campaign_id NULL, channel 'direct'. Clicks with the same timestamp: the highest click_id wins,
  so the result is deterministic.
-#}
{%- set window_days = var('attribution_window_days', 30) | int -%}

with purchases as (
    select * from {{ ref('stg_silver__purchases') }}
),

clicks as (
    select * from {{ ref('stg_silver__clicks') }}
    where user_id is not null
),

candidate_clicks as (
    select
        purchases.purchase_id,
        purchases.purchase_date,
        clicks.click_id,
        clicks.click_ts,
        clicks.campaign_id,
        clicks.channel,
        row_number() over (
            -- purchase_date depends on purchase_id; listing it lets date filters of the
            -- incremental marts push down below this window
            partition by purchases.purchase_id, purchases.purchase_date
            order by clicks.click_ts desc, clicks.click_id desc
        ) as click_rank
    from purchases
    inner join clicks
        on clicks.user_id = purchases.user_id
        and clicks.click_ts <= purchases.purchase_ts
        and clicks.click_ts >= purchases.purchase_ts - interval {{ window_days }} days
),

last_click as (
    select * from candidate_clicks
    where click_rank = 1
),

final as (
    select
        purchases.purchase_id,
        purchases.order_id,
        purchases.user_id,
        purchases.purchase_ts,
        purchases.purchase_date,
        purchases.revenue_usd,
        last_click.click_id as attributed_click_id,
        last_click.click_ts as attributed_click_ts,
        last_click.campaign_id,
        case
            when last_click.click_id is null then 'direct'
            else coalesce(last_click.channel, 'unknown')
        end as channel,
        last_click.click_id is not null as is_attributed,
        purchases._bronze_id
    from purchases
    left join last_click
        on last_click.purchase_id = purchases.purchase_id
        and last_click.purchase_date = purchases.purchase_date
)

select * from final
