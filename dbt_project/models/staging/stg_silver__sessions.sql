with events as (
    select * from {{ source('silver', 'events') }}{{ silver_as_of_build() }}
),

final as (
    select
        event_id as session_id,
        event_ts as session_start_ts,
        event_date as session_date,
        user_id,
        campaign_id,
        channel,
        utm_source,
        utm_medium,
        utm_campaign,
        _bronze_id,
        _processed_at
    from events
    where event_type = 'session_start'
)

select * from final
