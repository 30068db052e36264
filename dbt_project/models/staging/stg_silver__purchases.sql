with events as (
    select * from {{ source('silver', 'events') }}{{ silver_as_of_build() }}
),

final as (
    select
        event_id as purchase_id,
        order_id,
        event_ts as purchase_ts,
        event_date as purchase_date,
        user_id,
        revenue,
        currency,
        fx_rate_usd,
        revenue_usd,
        _bronze_id,
        _processed_at
    from events
    where event_type = 'purchase'
)

select * from final
