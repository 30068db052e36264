{#- The channels of the event contract (canonical set, plus 'unknown' for an unmapped raw
    channel), from the `channels` seed: the one written copy of the list. -#}
with channels as (
    select * from {{ ref('channels') }}
),

final as (
    select
        cast(channel as string) as channel,
        cast(channel_name as string) as channel_name,
        cast(channel_group as string) as channel_group,
        cast(is_paid as boolean) as is_paid
    from channels
)

select * from final
