-- model: application_features
-- grain: customer_id
-- depends: applications
-- description: Service applications (业扩报装): in-flight requests, PV and charger connections, ownership
--   changes and 获得电力 days from application to power-on.
SELECT
    customer_id,
    count(*) FILTER (WHERE applied_at <= $as_of + INTERVAL 1 DAY) AS applications_total,
    count(*) FILTER (WHERE applied_at <= $as_of + INTERVAL 1 DAY AND (completed_at IS NULL OR completed_at > $as_of + INTERVAL 1 DAY)) AS applications_open,
    arg_max(app_type, applied_at) FILTER (WHERE completed_at IS NULL OR completed_at > $as_of + INTERVAL 1 DAY) AS open_application_type,
    max(date_diff('day', CAST(applied_at AS DATE), $as_of)) FILTER (WHERE completed_at IS NULL OR completed_at > $as_of + INTERVAL 1 DAY) AS open_application_days,
    bool_or(app_type = '光伏并网' AND completed_at <= $as_of + INTERVAL 1 DAY) AS has_pv_connection,
    bool_or(app_type = '充电桩' AND completed_at <= $as_of + INTERVAL 1 DAY) AS has_charger_connection,
    bool_or(app_type = '光伏并网') AS applied_pv,
    bool_or(app_type = '充电桩') AS applied_charger,
    bool_or(app_type IN ('过户', '更名') AND applied_at > $as_of - INTERVAL 365 DAY) AS ownership_change_12m,
    bool_or(app_type IN ('增容') AND applied_at > $as_of - INTERVAL 365 DAY) AS capacity_increase_12m,
    arg_max(date_diff('day', CAST(applied_at AS DATE), CAST(completed_at AS DATE)), completed_at)
        FILTER (WHERE completed_at <= $as_of + INTERVAL 1 DAY AND app_type IN ('新装', '增容', '光伏并网', '充电桩')) AS power_access_days_last,
    arg_max(app_type, completed_at)
        FILTER (WHERE completed_at <= $as_of + INTERVAL 1 DAY AND app_type IN ('新装', '增容', '光伏并网', '充电桩')) AS power_access_type_last
FROM applications
WHERE applied_at <= $as_of + INTERVAL 1 DAY
GROUP BY customer_id
