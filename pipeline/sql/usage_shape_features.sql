-- model: usage_shape_features
-- grain: customer_id
-- depends: readings
-- description: The shape of daily consumption over the 365 days to the as-of date: the 谷 share of the last
--   90 days (days without a 峰/谷 split, such as those of wide per-day exports, are skipped), EV-like
--   valley load, PV-like days with night use but no daytime import, exact-zero days, volatility and
--   missing days. One pass of plain aggregates, and only those tags read: each aggregate over a year of
--   readings costs about 0.3 s per 100,000 customers on 2 cores.
WITH r AS (
    SELECT customer_id, reading_date, kwh, kwh_peak, kwh_valley,
           kwh_peak + COALESCE(kwh_flat, 0) + kwh_valley AS split_total,  -- NULL without a 峰/谷 split
           date_diff('day', reading_date, $as_of) < 90 AS recent,
           date_diff('month', reading_date, $as_of) AS months_ago
    FROM readings
    WHERE reading_date > $as_of - INTERVAL 365 DAY AND reading_date <= $as_of
)
SELECT
    customer_id,
    count(*) FILTER (WHERE kwh = 0) AS zero_days_12m,
    bit_count(bit_or(CAST(1 AS BIGINT) << months_ago)) AS months_with_readings_12m,
    stddev_pop(kwh) / NULLIF(avg(kwh), 0) AS kwh_daily_cv_12m,
    -- days from the first reading in the window to the as-of date, inclusive: what "full" coverage is
    date_diff('day', min(reading_date), $as_of) + 1 AS reading_span_days_12m,
    date_diff('day', min(reading_date), $as_of) + 1 - count(*) AS missing_days_12m,
    -- calendar months between the first reading and the as-of month that have no reading at all
    max(months_ago) + 1 - bit_count(bit_or(CAST(1 AS BIGINT) << months_ago)) AS empty_months_12m,
    count(split_total) FILTER (WHERE recent) AS tou_days_recent,
    sum(kwh_valley) FILTER (WHERE recent AND split_total IS NOT NULL)
        / NULLIF(sum(split_total) FILTER (WHERE recent), 0) AS valley_share_recent,
    avg(kwh_valley) FILTER (WHERE recent AND split_total IS NOT NULL) AS valley_kwh_daily_mean_recent,
    -- Rooftop PV nets out daytime import first: days with normal night use and (almost) no 峰 import.
    count(*) FILTER (WHERE kwh_peak < 0.05 AND kwh_valley >= 0.5) AS peak_zero_days_12m,
    -- EV charging is intermittent: the 谷 share of a day swings between charging and other nights,
    -- while a household's own load keeps it steady whatever the weather.
    stddev_pop(kwh_valley / NULLIF(split_total, 0)) FILTER (WHERE recent) AS valley_share_swing_recent
FROM r
GROUP BY customer_id
