-- model: customer_values
-- grain: customer_id
-- depends: segment_features
-- description: Value tier (价值分层) from revenue, growth and payment credit. Revenue is the percentile of the
--   12-month bill amount among all customers (the 电费贡献分位 tag); growth moves it up or down by 0.1 when
--   the last 6 months' bills differ from the 6 before by more than $usage_trend_ratio; a poor payment record
--   takes 0.2 off (0.05 for a fair one). Tiers cut the score at $value_high_pct and $value_mid_pct.
WITH billed AS (
    SELECT customer_id, percent_rank() OVER (ORDER BY bill_amount_12m) AS revenue_pct
    FROM segment_features
    WHERE bill_amount_12m IS NOT NULL
),
v AS (
    SELECT
        f.customer_id,
        f.bill_amount_12m,
        b.revenue_pct,
        f.bill_amount_6m / NULLIF(f.bill_amount_prev_6m, 0) - 1 AS bill_growth,
        CASE WHEN COALESCE(f.unpaid_bills_12m, 0) > 0 OR COALESCE(f.late_payments_12m, 0) >= $late_payments_risk THEN '较差'
             WHEN COALESCE(f.late_payments_12m, 0) > 0 THEN '一般'
             ELSE '良好' END AS credit_level
    FROM segment_features f LEFT JOIN billed b USING (customer_id)
),
scored AS (
    SELECT *,
        CASE WHEN revenue_pct IS NULL THEN NULL ELSE
            greatest(0.0, least(1.0, revenue_pct
                + CASE WHEN bill_growth >= $usage_trend_ratio THEN 0.1 WHEN bill_growth <= -$usage_trend_ratio THEN -0.1 ELSE 0 END
                + CASE credit_level WHEN '较差' THEN -0.2 WHEN '一般' THEN -0.05 ELSE 0 END)) END AS value_score
    FROM v
)
SELECT
    customer_id,
    round(revenue_pct, 4) AS revenue_pct,
    round(bill_growth, 4) AS bill_growth,
    credit_level,
    round(value_score, 4) AS value_score,
    CASE WHEN value_score IS NULL THEN '无账单'
         WHEN value_score >= $value_high_pct THEN '高价值'
         WHEN value_score >= $value_mid_pct THEN '中价值'
         ELSE '低价值' END AS value_tier
FROM scored
