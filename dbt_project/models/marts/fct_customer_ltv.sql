{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='user_id',
        on_schema_change='fail',
    )
}}

{#- Incremental runs recompute the customers who purchased on or after `reprocess_from`
    (over their whole history) and merge them on user_id. -#}
{%- set cutoff = reprocess_from('last_purchase_date') if is_incremental() else none -%}

with attributed_purchases as (
    select * from {{ ref('int_purchases__attributed') }}
    where user_id is not null
),

{% if cutoff is not none -%}
changed_customers as (
    select distinct user_id from attributed_purchases
    where true {{ reprocess_filter('purchase_date', cutoff) }}
),

customer_purchases as (
    select attributed_purchases.*
    from attributed_purchases
    left semi join changed_customers
        on changed_customers.user_id = attributed_purchases.user_id
),
{%- else -%}
customer_purchases as (
    select * from attributed_purchases
),
{%- endif %}

ranked_purchases as (
    select
        *,
        row_number() over (partition by user_id order by purchase_ts, purchase_id) as purchase_rank
    from customer_purchases
),

acquisition as (
    select
        user_id,
        channel as acquisition_channel,
        campaign_id as acquisition_campaign_id
    from ranked_purchases
    where purchase_rank = 1
),

lifetime as (
    select
        user_id,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        count(*) as orders,
        sum(revenue_usd) as lifetime_revenue_usd
    from customer_purchases
    group by user_id
),

final as (
    select
        lifetime.user_id,
        lifetime.first_purchase_date,
        lifetime.last_purchase_date,
        cast(lifetime.orders as bigint) as orders,
        cast(lifetime.lifetime_revenue_usd as decimal(18, 4)) as lifetime_revenue_usd,
        cast({{ ratio('lifetime.lifetime_revenue_usd', 'lifetime.orders') }} as decimal(18, 4)) as average_order_value_usd,
        acquisition.acquisition_channel,
        acquisition.acquisition_campaign_id
    from lifetime
    inner join acquisition
        on acquisition.user_id = lifetime.user_id
)

select * from final
