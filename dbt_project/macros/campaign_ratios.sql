{#- The campaign metric definitions (DESIGN.md), written once for every grain that has
    impressions, clicks, spend_usd, conversions and revenue_usd: ratios of the grain's totals. -#}
{% macro campaign_ratios() -%}
        cast({{ ratio('clicks', 'impressions') }} as double) as ctr,
        -- cost ratios are undefined (NULL) without spend, and NULL when their denominator is 0
        cast(case when spend_usd > 0 then {{ ratio('spend_usd', 'clicks') }} end as decimal(18, 4)) as cpc_usd,
        cast(case when spend_usd > 0 then {{ ratio('spend_usd', 'conversions') }} end as decimal(18, 4)) as cpa_usd,
        cast({{ ratio('revenue_usd', 'spend_usd') }} as double) as roas,
        cast({{ ratio('revenue_usd - spend_usd', 'spend_usd') }} as double) as roi
{%- endmacro %}
