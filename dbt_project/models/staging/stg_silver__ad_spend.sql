with events as (
    select * from {{ source('silver', 'events') }}{{ silver_as_of_build() }}
),

final as (
    select
        event_id as ad_spend_id,
        event_ts as spend_ts,
        event_date as spend_date,
        campaign_id,
        channel,
        cost as spend,
        currency,
        fx_rate_usd,
        cost_usd as spend_usd,
        _bronze_id,
        _processed_at
    from events
    where event_type = 'ad_spend'
)

select * from final
