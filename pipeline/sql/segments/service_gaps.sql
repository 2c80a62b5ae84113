-- model: service_gaps
-- grain: level, district_id, customer_id, gap
-- depends: customers, contacts, segment_contact_text, outages
-- description: Service-gap warnings (服务风险预警) over the 365 days to the as-of date, per customer (only the
--   gaps that fired) and per 台区 (all five, with a warning level). The five gaps:
--   需求认知: $gap_repeat_contacts or more contacts on the same topic within $gap_repeat_window_days days;
--   服务能力: work orders over their time limit; 服务传递: orders transferred $gap_transfers times or more;
--   服务沟通: contacts about staff attitude, or a planned outage of the 台区 without advance notice;
--   客户体验: orders whose follow-up (回访) was 不满意.
--   A 台区 is 预警 when a gap has 2+ events at 1.5 times the city's rate per contact (any unannounced
--   planned outage is 预警: it breaks a service commitment), 关注 with any event, else 正常.
WITH c AS (
    SELECT c.ticket_id, c.customer_id, cu.district_id, c.contacted_at, c.business_type,
           COALESCE(c.overdue, FALSE) AS overdue, COALESCE(c.transfers, 0) AS transfers, c.satisfaction,
           COALESCE(t.topic, '其他') AS topic
    FROM contacts c
    JOIN customers cu USING (customer_id)
    LEFT JOIN segment_contact_text t USING (ticket_id)
    WHERE c.contacted_at >= $as_of - INTERVAL 364 DAY AND c.contacted_at < $as_of + INTERVAL 1 DAY
),
repeats AS (
    SELECT customer_id, district_id, topic, contacted_at, ticket_id,
           count(*) OVER (PARTITION BY customer_id, topic ORDER BY contacted_at
                          RANGE BETWEEN INTERVAL ($gap_repeat_window_days) DAY PRECEDING AND CURRENT ROW) AS in_window
    FROM c WHERE topic <> '其他' AND business_type <> '表扬'
),
unnotified AS (
    SELECT district_id, count(*) AS n, max(start_at) AS last_at,
           string_agg(strftime(start_at, '%Y-%m-%d'), '、' ORDER BY start_at) AS days
    FROM outages
    WHERE kind = '计划' AND NOT COALESCE(notified, FALSE)
      AND start_at >= $as_of - INTERVAL 364 DAY AND start_at < $as_of + INTERVAL 1 DAY
    GROUP BY district_id
),
per_customer AS (
    SELECT customer_id, any_value(district_id) AS district_id, '需求认知' AS gap, max(in_window) AS events,
           max(contacted_at) AS last_at,
           '「' || arg_max(topic, (in_window, contacted_at, topic)) || '」问题 ' || $gap_repeat_window_days || ' 天内接触 ' || max(in_window)
               || ' 次（预警线 ' || $gap_repeat_contacts || ' 次）' AS evidence
    FROM repeats GROUP BY customer_id HAVING max(in_window) >= $gap_repeat_contacts
    UNION ALL
    SELECT customer_id, any_value(district_id), '服务能力', count(*), max(contacted_at),
           count(*) || ' 张工单超过处理时限（最近一张 ' || strftime(max(contacted_at), '%Y-%m-%d') || ' ' || arg_max(business_type, (contacted_at, ticket_id)) || '）'
    FROM c WHERE overdue GROUP BY customer_id
    UNION ALL
    SELECT customer_id, any_value(district_id), '服务传递', count(*), max(contacted_at),
           count(*) || ' 张工单转派 ' || $gap_transfers || ' 次以上（最多 ' || max(transfers) || ' 次）'
    FROM c WHERE transfers >= $gap_transfers GROUP BY customer_id
    UNION ALL
    SELECT cu.customer_id, cu.district_id, '服务沟通', COALESCE(a.n, 0) + COALESCE(u.n, 0), greatest(a.last_at, u.last_at),
           concat_ws('；',
               CASE WHEN a.n > 0 THEN '反映服务态度问题 ' || a.n || ' 次' END,
               CASE WHEN u.n > 0 THEN '台区计划停电未提前通知 ' || u.n || ' 次（' || u.days || '）' END)
    FROM customers cu
    LEFT JOIN (SELECT customer_id, count(*) AS n, max(contacted_at) AS last_at FROM c
               WHERE topic = '服务态度' AND business_type <> '表扬' GROUP BY customer_id) a USING (customer_id)
    LEFT JOIN unnotified u ON u.district_id = cu.district_id
    WHERE a.n > 0 OR u.n > 0
    UNION ALL
    SELECT customer_id, any_value(district_id), '客户体验', count(*), max(contacted_at),
           count(*) || ' 张工单回访不满意（最近 ' || strftime(max(contacted_at), '%Y-%m-%d') || ' ' || arg_max(business_type, (contacted_at, ticket_id)) || '）'
    FROM c WHERE satisfaction = '不满意' GROUP BY customer_id
),
district_events AS (
    -- events per 台区: repeat episodes, overdue orders, multi-transfer orders, attitude contacts plus
    -- unannounced outages, dissatisfied follow-ups
    SELECT district_id, '需求认知' AS gap, count(*) AS events FROM per_customer WHERE gap = '需求认知' GROUP BY ALL
    UNION ALL SELECT district_id, '服务能力', count(*) FILTER (WHERE overdue) FROM c GROUP BY ALL
    UNION ALL SELECT district_id, '服务传递', count(*) FILTER (WHERE transfers >= $gap_transfers) FROM c GROUP BY ALL
    UNION ALL SELECT district_id, '服务沟通', count(*) FILTER (WHERE topic = '服务态度' AND business_type <> '表扬') FROM c GROUP BY ALL
    UNION ALL SELECT district_id, '服务沟通', n FROM unnotified
    UNION ALL SELECT district_id, '客户体验', count(*) FILTER (WHERE satisfaction = '不满意') FROM c GROUP BY ALL
),
gaps AS (
    SELECT * FROM (VALUES ('需求认知', 1), ('服务能力', 2), ('服务传递', 3), ('服务沟通', 4), ('客户体验', 5)) g(gap, gap_order)
),
districts AS (
    SELECT cu.district_id, count(*) AS customers, any_value(COALESCE(n.contacts, 0)) AS contacts
    FROM customers cu
    LEFT JOIN (SELECT district_id, count(*) AS contacts FROM c GROUP BY district_id) n USING (district_id)
    GROUP BY cu.district_id
),
affected AS (
    SELECT district_id, gap, count(DISTINCT customer_id) AS customers_affected, max(last_at) AS last_at
    FROM per_customer GROUP BY ALL
),
per_district AS (
    SELECT d.district_id, g.gap, g.gap_order, d.customers, d.contacts,
           COALESCE(e.events, 0) AS events,
           COALESCE(a.customers_affected, 0) AS customers_affected,
           a.last_at,
           COALESCE(u.n, 0) AS unnotified_outages
    FROM districts d
    CROSS JOIN gaps g
    LEFT JOIN (SELECT district_id, gap, sum(events) AS events FROM district_events GROUP BY ALL) e
           ON e.district_id = d.district_id AND e.gap = g.gap
    LEFT JOIN affected a ON a.district_id = d.district_id AND a.gap = g.gap
    LEFT JOIN unnotified u ON u.district_id = d.district_id
),
city AS (
    SELECT gap, sum(events) / greatest(sum(contacts), 1) AS city_rate FROM per_district GROUP BY gap
)
SELECT
    '客户' AS level, p.district_id, p.customer_id, p.gap, g.gap_order, CAST(p.events AS BIGINT) AS events,
    CAST(1 AS BIGINT) AS customers_affected, CAST(NULL AS BIGINT) AS contacts, CAST(NULL AS DOUBLE) AS rate_per_100_contacts,
    '预警' AS warning, p.evidence, CAST(p.last_at AS TIMESTAMP) AS last_at
FROM per_customer p JOIN gaps g USING (gap)
UNION ALL
SELECT
    '台区', pd.district_id, NULL, pd.gap, pd.gap_order, CAST(pd.events AS BIGINT), pd.customers_affected, pd.contacts,
    round(100.0 * pd.events / NULLIF(pd.contacts, 0), 2),
    CASE WHEN pd.gap = '服务沟通' AND pd.unnotified_outages > 0 THEN '预警'
         WHEN pd.events >= 2 AND pd.events >= 1.5 * city.city_rate * pd.contacts THEN '预警'
         WHEN pd.events >= 1 THEN '关注'
         ELSE '正常' END,
    '近12月 ' || pd.events || ' 件，涉及 ' || pd.customers_affected || ' 户；每百件工单 '
        || COALESCE(CAST(round(100.0 * pd.events / NULLIF(pd.contacts, 0), 1) AS VARCHAR), '—')
        || ' 件（全市 ' || round(100.0 * city.city_rate, 1) || '）',
    CAST(pd.last_at AS TIMESTAMP)
FROM per_district pd JOIN city USING (gap)
ORDER BY level, district_id, gap_order, customer_id
