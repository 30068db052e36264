with events as (
    select * from {{ source('silver', 'events') }}{{ silver_as_of_build() }}
),

final as (
    select
        event_id as click_id,
        event_ts as click_ts,
        event_date as click_date,
        campaign_id,
        channel,
        user_id,
        utm_source,
        utm_medium,
        utm_campaign,
        _bronze_id,
        _processed_at
    from events
    where event_type = 'click'
)

select * from final
