{#- Small (channels x months) and needs every user's first-ever purchase: rebuilt in full each
    run with an atomic `create or replace table`. -#}
with ad_spend as (
    select * from {{ ref('stg_silver__ad_spend') }}
),

attributed_purchases as (
    select * from {{ ref('int_purchases__attributed') }}
    where user_id is not null
),

spend_monthly as (
    select
        coalesce(channel, 'unknown') as channel,
        trunc(spend_date, 'MM') as month_start,
        sum(spend_usd) as spend_usd
    from ad_spend
    group by coalesce(channel, 'unknown'), trunc(spend_date, 'MM')
),

ranked_purchases as (
    select
        user_id,
        channel,
        purchase_date,
        row_number() over (partition by user_id order by purchase_ts, purchase_id) as purchase_rank
    from attributed_purchases
),

first_purchases as (
    select * from ranked_purchases
    where purchase_rank = 1
),

new_customers_monthly as (
    select
        channel,
        trunc(purchase_date, 'MM') as month_start,
        count(*) as new_customers
    from first_purchases
    group by channel, trunc(purchase_date, 'MM')
),

channel_months as (
    select channel, month_start from spend_monthly
    union
    select channel, month_start from new_customers_monthly
),

monthly as (
    select
        channel_months.month_start,
        channel_months.channel,
        cast(coalesce(spend_monthly.spend_usd, 0) as decimal(18, 4)) as spend_usd,
        cast(coalesce(new_customers_monthly.new_customers, 0) as bigint) as new_customers
    from channel_months
    left join spend_monthly
        on spend_monthly.channel = channel_months.channel
        and spend_monthly.month_start = channel_months.month_start
    left join new_customers_monthly
        on new_customers_monthly.channel = channel_months.channel
        and new_customers_monthly.month_start = channel_months.month_start
),

final as (
    select
        month_start,
        channel,
        spend_usd,
        new_customers,
        cast({{ ratio('spend_usd', 'new_customers') }} as decimal(18, 4)) as cac_usd
    from monthly
)

select * from final
