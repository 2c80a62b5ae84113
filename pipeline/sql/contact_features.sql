-- model: contact_features
-- grain: customer_id
-- depends: contacts
-- description: Contacts and work orders over 12 months: volume by type and channel, repeats, service quality.
WITH c AS (
    SELECT *, date_diff('day', CAST(contacted_at AS DATE), $as_of) AS age
    FROM contacts
    WHERE contacted_at >= $as_of - INTERVAL 364 DAY AND contacted_at < $as_of + INTERVAL 1 DAY
),
chan AS (
    SELECT customer_id, channel AS top_channel,
           row_number() OVER (PARTITION BY customer_id ORDER BY count(*) DESC, max(contacted_at) DESC) AS rk
    FROM c GROUP BY customer_id, channel
)
SELECT
    c.customer_id,
    count(*) AS contacts_12m,
    count(*) FILTER (WHERE age < 90) AS contacts_3m,
    count(*) FILTER (WHERE business_type IN ('投诉', '举报')) AS complaints_12m,
    count(*) FILTER (WHERE business_type IN ('投诉', '举报') AND age < 90) AS complaints_3m,
    count(*) FILTER (WHERE business_type = '故障报修') AS repairs_12m,
    count(*) FILTER (WHERE business_type = '催办') AS chases_12m,
    count(*) FILTER (WHERE business_type = '表扬') AS praises_12m,
    count(*) FILTER (WHERE business_type = '咨询') AS inquiries_12m,
    count(*) FILTER (WHERE business_type = '意见') AS suggestions_12m,
    count(*) FILTER (WHERE channel = '95598电话') AS calls_95598_12m,
    count(*) FILTER (WHERE repeated) AS repeated_contacts_12m,
    count(*) FILTER (WHERE overdue) AS overdue_orders_12m,
    max(transfers) AS max_transfers_12m,
    count(*) FILTER (WHERE transfers >= $gap_transfers) AS multi_transfer_orders_12m,
    count(*) FILTER (WHERE satisfaction = '不满意') AS dissatisfied_12m,
    count(*) FILTER (WHERE satisfaction IN ('满意', '基本满意', '不满意')) AS followups_12m,
    arg_max(satisfaction, contacted_at) AS last_satisfaction,
    arg_max(business_type, contacted_at) AS last_business_type,
    max(contacted_at) AS last_contact_at,
    min(age) AS days_since_last_contact,
    avg(call_seconds) FILTER (WHERE channel = '95598电话') AS call_seconds_mean,
    avg(handle_hours) AS handle_hours_mean,
    avg(CASE WHEN c.channel IN ('网上国网', '公众号') THEN 1.0 ELSE 0.0 END) AS online_contact_share,
    any_value(chan.top_channel) AS top_contact_channel
FROM c LEFT JOIN chan ON chan.customer_id = c.customer_id AND chan.rk = 1
GROUP BY c.customer_id
