-- model: usage_shape_features
-- grain: customer_id
-- depends: readings
-- description: The shape of daily consumption over the 365 days to the as-of date: the 峰/谷 split of the
--   latest 60 days that carry one (wide per-day exports have none), EV-like valley load, PV-like days
--   with night use but no daytime import, exact-zero days, volatility and gaps in the data.
WITH r AS (
    SELECT customer_id, reading_date, kwh, kwh_peak, kwh_flat, kwh_valley,
           month(reading_date) AS m
    FROM readings
    WHERE reading_date > $as_of - INTERVAL 365 DAY AND reading_date <= $as_of
),
tou AS (
    SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY reading_date DESC) AS tou_rank
    FROM r
    WHERE kwh_valley IS NOT NULL AND kwh_peak IS NOT NULL
),
tou_agg AS (
    SELECT
        customer_id,
        count(*) FILTER (WHERE tou_rank <= 60) AS tou_days_recent,
        max(reading_date) AS tou_last_date,
        sum(kwh_valley) FILTER (WHERE tou_rank <= 60)
            / NULLIF(sum(kwh_peak + COALESCE(kwh_flat, 0) + kwh_valley) FILTER (WHERE tou_rank <= 60), 0) AS valley_share_recent,
        sum(kwh_peak) FILTER (WHERE tou_rank <= 60)
            / NULLIF(sum(kwh_peak + COALESCE(kwh_flat, 0) + kwh_valley) FILTER (WHERE tou_rank <= 60), 0) AS peak_share_recent,
        avg(kwh_valley) FILTER (WHERE tou_rank <= 60) AS valley_kwh_daily_mean_recent,
        avg(kwh_peak) FILTER (WHERE tou_rank <= 60) AS peak_kwh_daily_mean_recent,
        avg(kwh_valley) AS valley_kwh_daily_mean_12m,
        sum(kwh_peak) FILTER (WHERE m IN (6, 7, 8))
            / NULLIF(sum(kwh_peak + COALESCE(kwh_flat, 0) + kwh_valley) FILTER (WHERE m IN (6, 7, 8)), 0) AS peak_share_summer,
        sum(kwh_peak) FILTER (WHERE m IN (12, 1, 2))
            / NULLIF(sum(kwh_peak + COALESCE(kwh_flat, 0) + kwh_valley) FILTER (WHERE m IN (12, 1, 2)), 0) AS peak_share_winter,
        -- Rooftop PV nets out daytime import first: days with normal night use and (almost) no 峰 import.
        count(*) FILTER (WHERE kwh_peak < 0.05 AND kwh_valley >= 0.5) AS peak_zero_days_12m,
        -- EV charging is intermittent: the 谷 share of a day swings between charging and other nights,
        -- while a household's own load keeps it steady whatever the weather.
        stddev_pop(kwh_valley / NULLIF(kwh_peak + COALESCE(kwh_flat, 0) + kwh_valley, 0))
            FILTER (WHERE tou_rank <= 60) AS valley_share_swing_recent
    FROM tou
    GROUP BY customer_id
),
gaps AS (
    SELECT customer_id,
           max(date_diff('day', prev_date, reading_date) - 1) AS max_gap_days_12m
    FROM (
        SELECT customer_id, reading_date,
               lag(reading_date) OVER (PARTITION BY customer_id ORDER BY reading_date) AS prev_date
        FROM r
    )
    WHERE prev_date IS NOT NULL
    GROUP BY customer_id
),
base AS (
    SELECT
        customer_id,
        count(*) FILTER (WHERE kwh = 0) AS zero_days_12m,
        count(DISTINCT date_trunc('month', reading_date)) AS months_with_readings_12m,
        stddev_pop(kwh) / NULLIF(avg(kwh), 0) AS kwh_daily_cv_12m,
        quantile_cont(kwh, 0.9) AS kwh_daily_p90_12m,
        -- days from the first reading in the window to the as-of date, inclusive: what "full" coverage is
        date_diff('day', min(reading_date), $as_of) + 1 AS reading_span_days_12m
    FROM r
    GROUP BY customer_id
)
SELECT
    base.customer_id,
    base.zero_days_12m,
    base.months_with_readings_12m,
    base.kwh_daily_cv_12m,
    base.kwh_daily_p90_12m,
    base.reading_span_days_12m,
    COALESCE(gaps.max_gap_days_12m, 0) AS max_gap_days_12m,
    tou_agg.tou_days_recent,
    tou_agg.tou_last_date,
    tou_agg.valley_share_recent,
    tou_agg.peak_share_recent,
    tou_agg.valley_kwh_daily_mean_recent,
    tou_agg.peak_kwh_daily_mean_recent,
    tou_agg.valley_kwh_daily_mean_12m,
    tou_agg.peak_share_summer,
    tou_agg.peak_share_winter,
    COALESCE(tou_agg.peak_zero_days_12m, 0) AS peak_zero_days_12m,
    tou_agg.valley_share_swing_recent
FROM base
LEFT JOIN gaps USING (customer_id)
LEFT JOIN tou_agg USING (customer_id)
