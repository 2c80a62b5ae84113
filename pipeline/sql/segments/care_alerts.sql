-- model: care_alerts
-- grain: customer_id, alert_type, start_date
-- depends: customers, readings, segment_features
-- description: Care alerts (关怀预警) for vulnerable customers: the archive's special-group flags (独居老人, 低保,
--   残疾, 聋哑), a special need found in their contact texts, or a residential account holder aged $elderly_age
--   or more (from the resident ID). Two kinds:
--   用电停止: at least $care_stop_days consecutive days under $care_stop_daily_kwh kWh, starting in the last
--   90 days (ended or still going on), after 28 stable days (readings on 21 or more, at most one near-zero day,
--   a mean of at least three times the stop level): a home that never had a steady pattern is vacant or
--   travelling, not a person who stopped. Runs are monthly, so an older stop was raised by an earlier run.
--   用电骤降: the last 14 days average under $abnormal_drop_ratio of the 28 stable days before them, without
--   stopping (a fridge still runs while its owner is in hospital).
WITH holders AS (
    SELECT
        c.customer_id,
        c.district_id,
        CASE WHEN regexp_full_match(COALESCE(c.id_number, ''), '[1-9][0-9]{5}(19|20)[0-9]{9}[0-9Xx]')
                  AND try_strptime(substr(c.id_number, 7, 8), '%Y%m%d') IS NOT NULL
             THEN date_sub('year', CAST(try_strptime(substr(c.id_number, 7, 8), '%Y%m%d') AS DATE), $as_of)
        END AS holder_age,
        COALESCE(c.elderly_alone, FALSE) AS elderly_alone,
        COALESCE(c.low_income, FALSE) AS low_income,
        COALESCE(c.disabled, FALSE) AS disabled,
        COALESCE(c.hearing_impaired, FALSE) AS hearing_impaired,
        COALESCE(f.special_need, '') AS special_need,
        COALESCE(f.is_residential, TRUE) AS is_residential
    FROM customers c LEFT JOIN segment_features f USING (customer_id)
),
vulnerable AS (
    SELECT customer_id, district_id,
           concat_ws('、',
               CASE WHEN elderly_alone THEN '独居老人' END,
               CASE WHEN NOT elderly_alone AND special_need LIKE '%elderly_alone%' THEN '工单提及独居' END,
               CASE WHEN low_income THEN '低保户' END,
               CASE WHEN disabled THEN '残疾人' END,
               CASE WHEN hearing_impaired OR special_need LIKE '%hearing%' THEN '聋哑人' END,
               CASE WHEN is_residential AND holder_age >= $elderly_age THEN holder_age || ' 岁' END) AS vulnerable_reason
    FROM holders
    WHERE elderly_alone OR low_income OR disabled OR hearing_impaired
       OR special_need LIKE '%elderly_alone%' OR special_need LIKE '%hearing%'
       OR (is_residential AND holder_age >= $elderly_age)
),
candidates AS (
    -- The features stage already found each customer's longest near-zero run of the last 90 days; only
    -- those with a long enough one need their daily readings read again (everyone, without that feature).
    -- A home that is near-zero most of the year is vacant (空置), not a stop: it never had a steady pattern.
    SELECT v.customer_id FROM vulnerable v JOIN segment_features f USING (customer_id)
    WHERE COALESCE(f.low_run_max_90d, $care_stop_days) >= $care_stop_days
      AND NOT COALESCE(f.kwh_daily_mean_12m < $vacant_daily_kwh
                       OR f.low_days_12m >= $vacant_low_day_share * f.reading_days_12m, FALSE)
),
around AS MATERIALIZED (
    SELECT r.customer_id, r.reading_date, r.kwh
    FROM readings r SEMI JOIN candidates k ON k.customer_id = r.customer_id
    WHERE r.reading_date > $as_of - INTERVAL 120 DAY AND r.reading_date <= $as_of
),
islands AS (
    SELECT customer_id, reading_date, kwh,
           reading_date - CAST(row_number() OVER (PARTITION BY customer_id ORDER BY reading_date) AS INTEGER) AS island
    FROM around WHERE kwh < $care_stop_daily_kwh
),
runs AS (
    -- the run is its own low days, so their mean is the use during the stop
    SELECT customer_id, min(reading_date) AS start_date, max(reading_date) AS last_low, count(*) AS days,
           avg(kwh) AS during_kwh_daily
    FROM islands GROUP BY customer_id, island
    HAVING count(*) >= $care_stop_days AND min(reading_date) > $as_of - INTERVAL 90 DAY
),
last_day AS (
    SELECT customer_id, max(reading_date) AS last_reading FROM around GROUP BY customer_id
),
stops AS (
    SELECT runs.customer_id, '用电停止' AS alert_type, runs.start_date,
           CASE WHEN any_value(runs.last_low) < any_value(l.last_reading) THEN any_value(runs.last_low) + 1 END AS end_date,
           any_value(runs.days) AS days,
           avg(a.kwh) AS baseline_kwh_daily,
           count(a.kwh) AS baseline_days,
           count(*) FILTER (WHERE a.kwh < $care_stop_daily_kwh) AS baseline_low_days,
           any_value(runs.during_kwh_daily) AS during_kwh_daily
    FROM runs
    JOIN last_day l USING (customer_id)
    JOIN around a ON a.customer_id = runs.customer_id
               AND a.reading_date >= runs.start_date - INTERVAL 28 DAY AND a.reading_date < runs.start_date
    GROUP BY runs.customer_id, runs.start_date
),
windows AS (
    SELECT r.customer_id,
           avg(kwh) FILTER (WHERE reading_date > $as_of - INTERVAL 14 DAY) AS recent_kwh_daily,
           count(*) FILTER (WHERE reading_date > $as_of - INTERVAL 14 DAY) AS recent_days,
           count(*) FILTER (WHERE reading_date > $as_of - INTERVAL 14 DAY AND kwh < $care_stop_daily_kwh) AS recent_low_days,
           avg(kwh) FILTER (WHERE reading_date <= $as_of - INTERVAL 14 DAY) AS baseline_kwh_daily,
           count(*) FILTER (WHERE reading_date <= $as_of - INTERVAL 14 DAY) AS baseline_days,
           count(*) FILTER (WHERE reading_date <= $as_of - INTERVAL 14 DAY AND kwh < $care_stop_daily_kwh) AS baseline_low_days
    FROM readings r SEMI JOIN vulnerable v ON v.customer_id = r.customer_id
    WHERE r.reading_date > $as_of - INTERVAL 42 DAY AND r.reading_date <= $as_of
    GROUP BY r.customer_id
),
drops AS (
    SELECT customer_id, '用电骤降' AS alert_type, CAST($as_of - INTERVAL 13 DAY AS DATE) AS start_date,
           CAST(NULL AS DATE) AS end_date, recent_days AS days, baseline_kwh_daily, baseline_days, baseline_low_days,
           recent_kwh_daily AS during_kwh_daily
    FROM windows
    WHERE recent_days >= 10 AND recent_low_days < $care_stop_days
      AND recent_kwh_daily < $abnormal_drop_ratio * baseline_kwh_daily
),
alerts AS (
    SELECT * FROM stops
    UNION ALL
    SELECT * FROM drops
),
stable AS (
    SELECT a.*, v.district_id, v.vulnerable_reason
    FROM alerts a JOIN vulnerable v USING (customer_id)
    WHERE a.baseline_days >= 21 AND a.baseline_low_days <= 1
      AND a.baseline_kwh_daily >= 3 * $care_stop_daily_kwh
)
SELECT
    customer_id,
    district_id,
    alert_type,
    vulnerable_reason,
    start_date,
    end_date,
    end_date IS NULL AS ongoing,
    CAST(days AS INTEGER) AS days,
    round(baseline_kwh_daily, 2) AS baseline_kwh_daily,
    round(during_kwh_daily, 2) AS during_kwh_daily,
    CASE WHEN alert_type = '用电停止' AND end_date IS NULL THEN '紧急' ELSE '关注' END AS severity,
    vulnerable_reason || '；此前 28 天日均 ' || round(baseline_kwh_daily, 1) || ' kWh、用电平稳；'
        || CASE WHEN alert_type = '用电停止'
                THEN '自 ' || strftime(start_date, '%Y-%m-%d') || ' 起连续 ' || days || ' 天日用电低于 ' || $care_stop_daily_kwh || ' kWh'
                     || CASE WHEN end_date IS NULL THEN '，至今未恢复' ELSE '，' || strftime(end_date, '%m-%d') || ' 恢复' END
                ELSE '近 14 天日均 ' || round(during_kwh_daily, 1) || ' kWh，仅为此前的 '
                     || round(100 * during_kwh_daily / baseline_kwh_daily) || '%' END AS evidence,
    CASE WHEN alert_type = '用电停止' AND end_date IS NULL THEN '立即电话联系或上门探望，确认人身安全，必要时联系家属或社区'
         WHEN alert_type = '用电停止' THEN '回访关怀，了解停用原因（住院、外出或其他），登记紧急联系人'
         ELSE '电话问候，了解生活和用电是否有变化，必要时上门检查' END AS suggested_action
FROM stable
ORDER BY CASE severity WHEN '紧急' THEN 0 ELSE 1 END, district_id, customer_id, start_date
