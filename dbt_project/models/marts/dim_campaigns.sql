with impressions as (
    select campaign_id, channel, impression_date as activity_date
    from {{ ref('stg_silver__impressions') }}
),

clicks as (
    select campaign_id, channel, click_date as activity_date
    from {{ ref('stg_silver__clicks') }}
),

ad_spend as (
    select campaign_id, channel, spend_date as activity_date
    from {{ ref('stg_silver__ad_spend') }}
),

activity as (
    select * from impressions
    union all
    select * from clicks
    union all
    select * from ad_spend
),

campaign_activity as (
    select * from activity
    where campaign_id is not null
),

channel_votes as (
    select
        campaign_id,
        channel,
        count(*) as n_events
    from campaign_activity
    where channel is not null
    group by campaign_id, channel
),

campaign_channel as (
    select
        campaign_id,
        channel,
        row_number() over (partition by campaign_id order by n_events desc, channel) as channel_rank
    from channel_votes
),

campaign_dates as (
    select
        campaign_id,
        min(activity_date) as first_seen_date,
        max(activity_date) as last_seen_date
    from campaign_activity
    group by campaign_id
),

final as (
    select
        campaign_dates.campaign_id,
        coalesce(campaign_channel.channel, 'unknown') as channel,
        campaign_dates.first_seen_date,
        campaign_dates.last_seen_date
    from campaign_dates
    left join campaign_channel
        on campaign_channel.campaign_id = campaign_dates.campaign_id
        and campaign_channel.channel_rank = 1
)

select * from final
