{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='user_id',
        on_schema_change='fail',
    )
}}

{#- Incremental builds recompute (over their whole history) exactly the customers that Silver's
    changes since this model's last build touch (macros/incremental_plan.sql): the users of
    changed purchases and of changed clicks (a click can change the attribution of their first
    purchase); a user id that no longer has any purchase (e.g. erased) is deleted. -#}
{%- set plan = silver_changes_plan() -%}
{%- if plan.mode == 'changes' -%}
    {%- set changed_customers_sql -%}
        select user_id from {{ silver_changes(plan) }}
        where event_type in ('purchase', 'click')
    {%- endset -%}
    {%- set purchasing_customers_sql -%}
        select user_id from {{ ref('int_purchases__attributed') }}
    {%- endset -%}
    {%- set plan = plan_changed_keys(plan, changed_customers_sql, purchasing_customers_sql, 'user_id') -%}
{%- endif %}
{{ incremental_plan_marker(plan) }}

with attributed_purchases as (
    select * from {{ ref('int_purchases__attributed') }}
    where user_id is not null {{ 'and false' if plan.mode == 'unchanged' else '' }}
),

{% if plan.mode == 'changes' -%}
changed_customers as (
    select distinct user_id from ({{ changed_customers_sql }}) as changes
    where user_id is not null
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
