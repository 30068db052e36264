{#- The canonical channel set of the event contract, plus 'unknown' (unmapped raw channel). -#}
with canonical as (
    select * from values
        ('paid_search', 'Paid search', 'paid', true),
        ('paid_social', 'Paid social', 'paid', true),
        ('display', 'Display', 'paid', true),
        ('affiliate', 'Affiliate', 'paid', true),
        ('email', 'E-mail', 'owned', false),
        ('organic', 'Organic search', 'earned', false),
        ('referral', 'Referral', 'earned', false),
        ('direct', 'Direct / unattributed', 'none', false),
        ('unknown', 'Unknown (unmapped raw value)', 'unknown', false)
        as channels (channel, channel_name, channel_group, is_paid)
),

final as (
    select
        cast(channel as string) as channel,
        cast(channel_name as string) as channel_name,
        cast(channel_group as string) as channel_group,
        cast(is_paid as boolean) as is_paid
    from canonical
)

select * from final
