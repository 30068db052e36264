with events as (
    select * from {{ source('silver', 'events') }}{{ silver_as_of_build() }}
),

final as (
    select
        event_id as impression_id,
        event_ts as impression_ts,
        event_date as impression_date,
        campaign_id,
        channel,
        user_id,
        _bronze_id,
        _processed_at
    from events
    where event_type = 'impression'
)

select * from final
