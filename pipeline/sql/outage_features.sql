-- model: outage_features
-- grain: customer_id
-- depends: outages, customers
-- description: Outages of the customer's 台区 over 12 months: count, faults, hours, and planned outages
--   that were not announced in advance.
SELECT
    cu.customer_id,
    count(o.start_at) AS outages_12m,
    count(o.start_at) FILTER (WHERE o.kind = '故障') AS fault_outages_12m,
    count(o.start_at) FILTER (WHERE o.kind = '计划' AND NOT COALESCE(o.notified, FALSE)) AS unnotified_outages_12m,
    COALESCE(sum(date_diff('minute', o.start_at, o.end_at)) / 60.0, 0) AS outage_hours_12m,
    max(o.start_at) AS last_outage_at
FROM customers cu
JOIN outages o
  ON o.district_id = cu.district_id
 AND o.start_at >= $as_of - INTERVAL 364 DAY AND o.start_at < $as_of + INTERVAL 1 DAY
GROUP BY cu.customer_id
