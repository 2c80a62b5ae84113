-- model: contact_topic_features
-- grain: customer_id
-- depends: contact_text
-- description: Topics of the contacts of the 365 days to the as-of date, as the text stage classified them:
--   the busiest topic, the most contacts on one topic inside any $gap_repeat_window_days-day window (the
--   需求认知 gap), complaints about staff attitude (服务沟通) and calls to restore prepaid supply (费控停电).
WITH c AS (
    SELECT customer_id, ticket_id, contacted_at, business_type, topic
    FROM contact_text
    WHERE contacted_at >= $as_of - INTERVAL 364 DAY AND contacted_at < $as_of + INTERVAL 1 DAY
),
repeats AS (
    SELECT customer_id,
           count(*) OVER (PARTITION BY customer_id, topic ORDER BY contacted_at
                          RANGE BETWEEN INTERVAL ($gap_repeat_window_days) DAY PRECEDING AND CURRENT ROW) AS n_in_window
    FROM c
    WHERE business_type <> '表扬' AND topic IS NOT NULL AND topic <> '其他'
),
topics AS (
    SELECT customer_id, topic,
           row_number() OVER (PARTITION BY customer_id ORDER BY count(*) DESC, max(contacted_at) DESC) AS rk
    FROM c WHERE topic IS NOT NULL
    GROUP BY customer_id, topic
)
SELECT
    c.customer_id,
    any_value(t.topic) AS top_topic_12m,
    COALESCE(any_value(r.same_topic_max_window), 0) AS same_topic_max_window,
    count(*) FILTER (WHERE c.topic = '服务态度') AS attitude_contacts_12m,
    count(*) FILTER (WHERE c.topic = '费控复电') AS prepaid_restore_contacts_12m
FROM c
LEFT JOIN topics t ON t.customer_id = c.customer_id AND t.rk = 1
LEFT JOIN (SELECT customer_id, max(n_in_window) AS same_topic_max_window FROM repeats GROUP BY customer_id) r
       ON r.customer_id = c.customer_id
GROUP BY c.customer_id
