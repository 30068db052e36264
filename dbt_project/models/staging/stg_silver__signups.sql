with events as (
    select * from {{ source('silver', 'events') }}{{ silver_as_of_build() }}
),

final as (
    select
        event_id as signup_id,
        event_ts as signup_ts,
        event_date as signup_date,
        user_id,
        email_hash,
        campaign_id,
        channel,
        _bronze_id,
        _processed_at
    from events
    where event_type = 'signup'
)

select * from final
