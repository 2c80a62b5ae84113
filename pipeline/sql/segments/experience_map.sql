-- model: experience_map
-- grain: scope, scope_id, stage
-- depends: contacts, segment_contact_text, customers, segments, applications, outages, payments
-- description: Customer experience map (客户体验地图) over the 365 days to the as-of date, for the whole city,
--   each 台区, each communication type and each value tier. Every contact falls in one journey stage
--   (complaints and repairs by business type first, then by topic; damage claims after an outage belong to
--   停电, attitude to 投诉): 报装, 缴费, 停电, 抢修, 咨询, 投诉. Per
--   stage: volume, mean sentiment, the worst moment (peak) and the last one (end), their peak-end score, the
--   three worst contacts, and the stage's rank within its scope, worst first (the moments of truth).
WITH c AS (
    SELECT c.ticket_id, c.customer_id, cu.district_id, c.contacted_at, c.business_type, c.satisfaction,
           t.sentiment_score, COALESCE(t.topic, '其他') AS topic, COALESCE(t.evidence, '') AS evidence,
           s.disc_type, s.value_tier,
           CASE WHEN c.business_type IN ('投诉', '举报') THEN '投诉'
                WHEN c.business_type = '故障报修' THEN '抢修'
                WHEN t.topic = '服务态度' THEN '投诉'
                WHEN t.topic IN ('业扩', '过户更名') OR c.business_type = '业务申请' THEN '报装'
                WHEN t.topic IN ('缴费', '电费', '电价', '费控复电', '计量') THEN '缴费'
                WHEN t.topic IN ('停电', '赔偿') THEN '停电'
                WHEN t.topic IN ('抢修', '电压', '线路设施') THEN '抢修'
                ELSE '咨询' END AS stage,
           -- the line shown for a moment of truth, built once per contact rather than once per scope
           strftime(c.contacted_at, '%Y-%m-%d') || ' ' || c.business_type || '·' || COALESCE(t.topic, '其他')
               || '（' || CAST(round(t.sentiment_score, 2) AS VARCHAR) || '）'
               || CASE WHEN COALESCE(t.evidence, '') <> '' THEN '：' || left(t.evidence, 40) ELSE '' END AS moment
    FROM contacts c
    JOIN customers cu USING (customer_id)
    LEFT JOIN segment_contact_text t USING (ticket_id)
    LEFT JOIN segments s USING (customer_id)
    WHERE c.contacted_at >= $as_of - INTERVAL 364 DAY AND c.contacted_at < $as_of + INTERVAL 1 DAY
),
scoped AS (
    SELECT '全部' AS scope, '全部' AS scope_id, * FROM c
    UNION ALL SELECT '台区', district_id, * FROM c
    UNION ALL SELECT '沟通风格', disc_type, * FROM c WHERE disc_type IS NOT NULL
    UNION ALL SELECT '价值分层', value_tier, * FROM c WHERE value_tier IS NOT NULL
),
stats AS (
    SELECT scope, scope_id, stage,
           count(*) AS contacts,
           count(DISTINCT customer_id) AS customers,
           round(avg(sentiment_score), 4) AS mean_sentiment,
           round(avg(CASE WHEN sentiment_score <= -0.3 THEN 1.0 ELSE 0.0 END), 4) AS negative_share,
           count(*) FILTER (WHERE satisfaction = '不满意') AS dissatisfied,
           min(sentiment_score) AS peak_sentiment,
           arg_min(contacted_at, (sentiment_score, -epoch(contacted_at), ticket_id)) AS peak_at,
           arg_min(topic, (sentiment_score, -epoch(contacted_at), ticket_id)) AS peak_topic,
           arg_min(evidence, (sentiment_score, -epoch(contacted_at), ticket_id)) AS peak_evidence,
           arg_max(sentiment_score, (contacted_at, ticket_id)) AS end_sentiment,
           max(contacted_at) AS end_at,
           arg_max(topic, (contacted_at, ticket_id)) AS end_topic,
           arg_min(moment, (sentiment_score, -epoch(contacted_at), ticket_id), 3) AS worst3
    FROM scoped
    WHERE sentiment_score IS NOT NULL
    GROUP BY ALL
),
volume AS (
    SELECT scope, scope_id, stage, count(*) AS contacts_all FROM scoped GROUP BY ALL
),
scopes AS (SELECT DISTINCT scope, scope_id FROM scoped
           UNION SELECT '全部', '全部'
           UNION SELECT DISTINCT '台区', district_id FROM customers),
stages AS (
    SELECT * FROM (VALUES ('报装', 1), ('缴费', 2), ('停电', 3), ('抢修', 4), ('咨询', 5), ('投诉', 6)) s(stage, stage_order)
),
events AS (
    -- what happened besides contacts: applications (报装), outages (停电), payments (缴费)
    SELECT '台区' AS scope, cu.district_id AS scope_id, '报装' AS stage, count(*) AS events
    FROM applications a JOIN customers cu USING (customer_id)
    WHERE a.applied_at >= $as_of - INTERVAL 364 DAY AND a.applied_at < $as_of + INTERVAL 1 DAY GROUP BY ALL
    UNION ALL
    SELECT '台区', district_id, '停电', count(*) FROM outages
    WHERE start_at >= $as_of - INTERVAL 364 DAY AND start_at < $as_of + INTERVAL 1 DAY GROUP BY ALL
    UNION ALL
    SELECT '台区', cu.district_id, '缴费', count(*) FROM payments p JOIN customers cu USING (customer_id)
    WHERE p.paid_at >= $as_of - INTERVAL 364 DAY AND p.paid_at < $as_of + INTERVAL 1 DAY GROUP BY ALL
),
all_events AS (
    SELECT * FROM events
    UNION ALL SELECT '全部', '全部', stage, sum(events) FROM events GROUP BY stage
),
grid AS (
    SELECT sc.scope, sc.scope_id, st.stage, st.stage_order,
           COALESCE(v.contacts_all, 0) AS contacts, COALESCE(s.customers, 0) AS customers, e.events,
           s.mean_sentiment, s.negative_share, COALESCE(s.dissatisfied, 0) AS dissatisfied,
           s.peak_sentiment, s.peak_at, s.peak_topic, s.peak_evidence,
           s.end_sentiment, s.end_at, s.end_topic,
           round((s.peak_sentiment + s.end_sentiment) / 2, 4) AS peak_end_score,
           array_to_string(s.worst3, '；') AS moments
    FROM scopes sc CROSS JOIN stages st
    LEFT JOIN stats s ON s.scope = sc.scope AND s.scope_id = sc.scope_id AND s.stage = st.stage
    LEFT JOIN volume v ON v.scope = sc.scope AND v.scope_id = sc.scope_id AND v.stage = st.stage
    LEFT JOIN all_events e ON e.scope = sc.scope AND e.scope_id = sc.scope_id AND e.stage = st.stage
)
SELECT *,
       CASE WHEN peak_end_score IS NOT NULL THEN
           rank() OVER (PARTITION BY scope, scope_id ORDER BY peak_end_score ASC NULLS LAST, mean_sentiment ASC, stage_order)
       END AS moment_rank
FROM grid
ORDER BY scope, scope_id, stage_order
