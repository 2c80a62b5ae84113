-- model: usage_change_features
-- grain: customer_id
-- depends: readings
-- description: Abrupt, sustained changes in daily consumption. Weeks are counted back from the as-of date;
--   the customer's own reference level is the lowest 4-week mean of the older half-year (weeks 26-51), so
--   a seasonal swing never looks like a drop. The step drop is the lowest ratio of "mean since week k"
--   (k = 1..25, at least 14 days) to that reference; among windows equally low to 9 decimals (so float summation order cannot pick), the longest.
WITH r AS (
    SELECT customer_id, kwh, date_diff('day', reading_date, $as_of) AS age
    FROM readings
    WHERE reading_date > $as_of - INTERVAL 364 DAY AND reading_date <= $as_of
),
weeks AS MATERIALIZED (  -- read twice below; computed once
    SELECT customer_id, age // 7 AS wk, sum(kwh) AS kwh, count(*) AS days
    FROM r GROUP BY customer_id, age // 7
),
reference AS (
    SELECT customer_id,
           min(kwh / days) FILTER (WHERE days >= 20) AS ref_kwh_daily_min_4w,
           count(*) FILTER (WHERE days >= 20) AS ref_blocks
    FROM (
        SELECT customer_id, (wk - 26) // 4 AS block, sum(kwh) AS kwh, sum(days) AS days
        FROM weeks WHERE wk BETWEEN 26 AND 51
        GROUP BY customer_id, (wk - 26) // 4
    )
    GROUP BY customer_id
),
suffix AS (
    -- "since week k": the weeks 0..k summed, for every k in the last half-year
    SELECT customer_id, wk,
           sum(kwh) OVER (PARTITION BY customer_id ORDER BY wk ROWS UNBOUNDED PRECEDING) AS kwh_since,
           sum(days) OVER (PARTITION BY customer_id ORDER BY wk ROWS UNBOUNDED PRECEDING) AS days_since
    FROM weeks WHERE wk <= 25
),
step AS (
    SELECT s.customer_id,
           min(s.kwh_since / s.days_since / ref.ref_kwh_daily_min_4w) AS step_drop_ratio,
           CAST(arg_min(s.days_since, (round(s.kwh_since / s.days_since / ref.ref_kwh_daily_min_4w, 9), -s.days_since)) AS INTEGER) AS step_drop_days,
           arg_min(s.kwh_since / s.days_since, (round(s.kwh_since / s.days_since / ref.ref_kwh_daily_min_4w, 9), -s.days_since)) AS step_drop_kwh_daily
    FROM suffix s JOIN reference ref USING (customer_id)
    WHERE s.days_since >= 14 AND ref.ref_kwh_daily_min_4w > 0 AND ref.ref_blocks >= 3
    GROUP BY s.customer_id
)
SELECT
    reference.customer_id,
    reference.ref_kwh_daily_min_4w,
    step.step_drop_ratio,
    step.step_drop_days,
    step.step_drop_kwh_daily
FROM reference
LEFT JOIN step USING (customer_id)
