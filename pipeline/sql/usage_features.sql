-- model: usage_features
-- grain: customer_id
-- depends: readings
-- description: Daily-consumption features over the 365 days ending at the as-of date: level, trend,
--   seasonality, weekday/weekend, time-of-use shares, near-zero runs and year-to-date kWh for the ladder;
--   and the shape of consumption: the 谷 share of the last 90 days (days without a 峰/谷 split, such as
--   those of wide per-day exports, are skipped), EV-like valley load, PV-like days with night use but no
--   daytime import, exact-zero days, volatility and missing days. One aggregate over the year of readings
--   gives them all: each such scan costs about 0.3 s per 100,000 customers on 2 cores.
--   Conditional aggregates are written agg(CASE WHEN … THEN x END), not agg(x) FILTER (WHERE …): the
--   same values, but DuckDB 2.0 evaluates the FILTER form 1.6x slower here (125k customers: 4.85 s
--   against 2.94 s without the quantiles).
WITH r AS NOT MATERIALIZED (
    SELECT customer_id, reading_date, kwh, kwh_peak, kwh_flat, kwh_valley,
           date_diff('day', reading_date, $as_of) AS age,
           month(reading_date) AS m,
           -- calendar months back, as date_diff('month', reading_date, $as_of) counts them, in plain
           -- arithmetic: date_diff's calendar logic costs 0.2 s per 45M readings
           (year($as_of) - year(reading_date)) * 12 + month($as_of) - month(reading_date) AS months_ago,
           isodow(reading_date) >= 6 AS weekend,
           kwh_peak + COALESCE(kwh_flat, 0) + kwh_valley AS split_total  -- NULL without a 峰/谷 split
    FROM readings
    WHERE reading_date > $as_of - INTERVAL 365 DAY AND reading_date <= $as_of
),
runs AS (
    -- Gaps and islands: consecutive near-zero days, for vacancy and care alerts.
    SELECT customer_id, min(reading_date) AS run_start, max(reading_date) AS run_end, count(*) AS run_days
    FROM (
        SELECT customer_id, reading_date,
               reading_date - CAST(row_number() OVER (PARTITION BY customer_id ORDER BY reading_date) AS INTEGER) AS grp
        FROM r WHERE kwh < $care_stop_daily_kwh AND age < 90
    ) GROUP BY customer_id, grp
),
run_feats AS (
    -- The current run is the latest one; it counts only if it reaches the last reading (joined below).
    SELECT customer_id,
           max(run_end) AS last_run_end,
           arg_max(run_days, run_end) AS last_run_days,
           arg_max(run_start, run_end) AS last_run_start,
           max(run_days) AS low_run_max_90d
    FROM runs GROUP BY customer_id
),
agg AS (
    SELECT
        customer_id,
        count(*) AS reading_days_12m,
        min(reading_date) AS first_reading_date,
        max(reading_date) AS last_reading_date,
        sum(kwh) AS kwh_12m,
        avg(kwh) AS kwh_daily_mean_12m,
        stddev_pop(kwh) AS kwh_daily_std_12m,
        max(kwh) AS kwh_daily_max_12m,
        count(CASE WHEN kwh < $vacant_daily_kwh THEN 1 END) AS low_days_12m,
        avg(CASE WHEN age < 30 THEN kwh END) AS kwh_daily_mean_30d,
        avg(CASE WHEN age < 7 THEN kwh END) AS kwh_daily_mean_7d,
        avg(CASE WHEN age < 90 THEN kwh END) AS kwh_daily_mean_3m,
        avg(CASE WHEN age >= 90 AND age < 180 THEN kwh END) AS kwh_daily_mean_prev_3m,
        avg(CASE WHEN age >= 30 AND age < 120 THEN kwh END) AS kwh_daily_mean_prior_90d,
        avg(CASE WHEN age < 180 THEN kwh END) AS kwh_daily_mean_6m,
        avg(CASE WHEN age >= 180 THEN kwh END) AS kwh_daily_mean_prev_6m,
        avg(CASE WHEN m IN (6, 7, 8) THEN kwh END) AS kwh_daily_mean_summer,
        avg(CASE WHEN m IN (12, 1, 2) THEN kwh END) AS kwh_daily_mean_winter,
        avg(CASE WHEN m IN (3, 4, 5, 9, 10, 11) THEN kwh END) AS kwh_daily_mean_shoulder,
        avg(CASE WHEN weekend THEN kwh END) AS kwh_daily_mean_weekend,
        avg(CASE WHEN NOT weekend THEN kwh END) AS kwh_daily_mean_weekday,
        sum(kwh_peak) AS kwh_peak_12m,
        sum(kwh_flat) AS kwh_flat_12m,
        sum(kwh_valley) AS kwh_valley_12m,
        count(kwh_valley) AS tou_days_12m,
        sum(kwh_valley) / NULLIF(sum(kwh_peak) + sum(COALESCE(kwh_flat, 0)) + sum(kwh_valley), 0) AS valley_share_12m,
        sum(kwh_peak) / NULLIF(sum(kwh_peak) + sum(COALESCE(kwh_flat, 0)) + sum(kwh_valley), 0) AS peak_share_12m,
        quantile_cont(kwh_valley, 0.1) AS night_base_kwh,
        quantile_cont(kwh, 0.1) AS kwh_daily_p10_12m,
        sum(CASE WHEN year(reading_date) = year($as_of) THEN kwh END) AS kwh_ytd,
        count(CASE WHEN year(reading_date) = year($as_of) THEN 1 END) AS reading_days_ytd,
        count(CASE WHEN kwh = 0 THEN 1 END) AS zero_days_12m,
        bit_count(bit_or(CAST(1 AS BIGINT) << months_ago)) AS months_with_readings_12m,
        -- calendar months between the first reading and the as-of month that have no reading at all
        max(months_ago) + 1 - bit_count(bit_or(CAST(1 AS BIGINT) << months_ago)) AS empty_months_12m,
        count(CASE WHEN age < 90 THEN split_total END) AS tou_days_recent,
        sum(CASE WHEN age < 90 AND split_total IS NOT NULL THEN kwh_valley END)
            / NULLIF(sum(CASE WHEN age < 90 THEN split_total END), 0) AS valley_share_recent,
        avg(CASE WHEN age < 90 AND split_total IS NOT NULL THEN kwh_valley END) AS valley_kwh_daily_mean_recent,
        -- Rooftop PV nets out daytime import first: days with normal night use and (almost) no 峰 import.
        count(CASE WHEN kwh_peak < 0.05 AND kwh_valley >= 0.5 THEN 1 END) AS peak_zero_days_12m,
        -- EV charging is intermittent: the 谷 share of a day swings between charging and other nights,
        -- while a household's own load keeps it steady whatever the weather.
        stddev_pop(CASE WHEN age < 90 THEN kwh_valley / NULLIF(split_total, 0) END) AS valley_share_swing_recent
    FROM r
    GROUP BY customer_id
)
-- The near-zero runs join onto one row per customer, not onto every reading.
SELECT agg.*,
       agg.kwh_daily_std_12m / NULLIF(agg.kwh_daily_mean_12m, 0) AS kwh_daily_cv_12m,
       -- days from the first reading in the window to the as-of date, inclusive: what "full" coverage is
       date_diff('day', agg.first_reading_date, $as_of) + 1 AS reading_span_days_12m,
       date_diff('day', agg.first_reading_date, $as_of) + 1 - agg.reading_days_12m AS missing_days_12m,
       CASE WHEN rf.last_run_end = agg.last_reading_date THEN rf.last_run_days END AS low_run_current_days,
       CASE WHEN rf.last_run_end = agg.last_reading_date THEN rf.last_run_start END AS low_run_current_start,
       rf.low_run_max_90d
FROM agg LEFT JOIN run_feats rf USING (customer_id)
