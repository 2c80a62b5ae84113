-- model: power_access
-- grain: district_id, app_type, customer_group
-- depends: applications, customers
-- description: 获得电力: days from application to power-on for the applications that connect supply (新装, 增容,
--   光伏并网, 充电桩), completed in the 365 days to the as-of date, per 台区 and for the whole city ('全部'),
--   by application type and customer group, against the targets in the run config: PV connections
--   $power_access_target_days_pv days, other residential $power_access_target_days_residential, other
--   business $power_access_target_days_business. Open applications older than their target are counted too.
WITH a AS (
    SELECT a.application_id, a.app_type, a.applied_at, a.completed_at, cu.district_id,
           CASE WHEN cu.category = '城乡居民生活用电' THEN '居民' ELSE '非居民' END AS customer_group,
           CASE WHEN a.app_type = '光伏并网' THEN $power_access_target_days_pv
                WHEN cu.category = '城乡居民生活用电' THEN $power_access_target_days_residential
                ELSE $power_access_target_days_business END AS target_days,
           date_diff('day', CAST(a.applied_at AS DATE), CAST(a.completed_at AS DATE)) AS days,
           a.completed_at IS NOT NULL AND a.completed_at < $as_of + INTERVAL 1 DAY AS done,
           date_diff('day', CAST(a.applied_at AS DATE), $as_of) AS open_days
    FROM applications a JOIN customers cu USING (customer_id)
    WHERE a.app_type IN ('新装', '增容', '光伏并网', '充电桩') AND a.applied_at < $as_of + INTERVAL 1 DAY
),
scoped AS (
    SELECT district_id AS scope_id, * EXCLUDE (district_id) FROM a
    UNION ALL
    SELECT '全部', * EXCLUDE (district_id) FROM a
)
SELECT
    scope_id AS district_id,
    app_type,
    customer_group,
    any_value(target_days) AS target_days,
    count(*) FILTER (WHERE done AND completed_at >= $as_of - INTERVAL 364 DAY) AS completed_12m,
    round(avg(days) FILTER (WHERE done AND completed_at >= $as_of - INTERVAL 364 DAY), 1) AS days_mean,
    quantile_cont(days, 0.5) FILTER (WHERE done AND completed_at >= $as_of - INTERVAL 364 DAY) AS days_median,
    quantile_cont(days, 0.9) FILTER (WHERE done AND completed_at >= $as_of - INTERVAL 364 DAY) AS days_p90,
    max(days) FILTER (WHERE done AND completed_at >= $as_of - INTERVAL 364 DAY) AS days_max,
    round(avg(CASE WHEN days <= target_days THEN 1.0 ELSE 0.0 END)
          FILTER (WHERE done AND completed_at >= $as_of - INTERVAL 364 DAY), 4) AS within_target_share,
    count(*) FILTER (WHERE NOT done) AS open_now,
    count(*) FILTER (WHERE NOT done AND open_days > target_days) AS open_over_target,
    CASE WHEN count(*) FILTER (WHERE done AND completed_at >= $as_of - INTERVAL 364 DAY) = 0
              AND count(*) FILTER (WHERE NOT done) = 0 THEN '无业务'
         WHEN avg(days) FILTER (WHERE done AND completed_at >= $as_of - INTERVAL 364 DAY) > any_value(target_days)
              OR count(*) FILTER (WHERE NOT done AND open_days > target_days) > 0 THEN '未达标'
         ELSE '达标' END AS status
FROM scoped
GROUP BY ALL
HAVING count(*) FILTER (WHERE done AND completed_at >= $as_of - INTERVAL 364 DAY) > 0 OR count(*) FILTER (WHERE NOT done) > 0
ORDER BY district_id, app_type, customer_group
