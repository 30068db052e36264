{#- Channel totals over all months. A user is a new customer once (in the month of their
    first-ever purchase), so the months' new_customers add up to the channel's; CAC is the ratio
    of the totals, with the monthly mart's definition. Rebuilt in full each run (atomic
    `create or replace table`). -#}
with channel_months as (
    select * from {{ ref('fct_channel_cac_monthly') }}
),

totals as (
    select
        channel,
        cast(sum(spend_usd) as decimal(18, 4)) as spend_usd,
        cast(sum(new_customers) as bigint) as new_customers
    from channel_months
    group by channel
),

final as (
    select
        channel,
        spend_usd,
        new_customers,
        cast({{ ratio('spend_usd', 'new_customers') }} as decimal(18, 4)) as cac_usd
    from totals
)

select * from final
