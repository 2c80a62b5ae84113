-- model: billing_features
-- grain: customer_id
-- depends: bills
-- description: Bills of the 12 billing months up to the as-of month: amounts, overdue arrears, penalties, bill shock.
WITH b AS (
    -- A bill is only in arrears once its due date has passed; without a due date, assume the
    -- 25th of the following month.
    SELECT *, date_diff('month', period, date_trunc('month', $as_of)) AS months_ago,
           COALESCE(due_date, CAST(period + INTERVAL 1 MONTH + INTERVAL 24 DAY AS DATE)) < $as_of AS is_due
    FROM bills
    WHERE period <= $as_of AND period > $as_of - INTERVAL 12 MONTH
)
SELECT
    customer_id,
    count(*) AS bills_12m,
    sum(amount) AS bill_amount_12m,
    avg(amount) AS bill_amount_mean_12m,
    sum(kwh) AS bill_kwh_12m,
    arg_max(amount, period) AS bill_amount_last,
    max(period) AS bill_period_last,
    avg(amount) FILTER (WHERE months_ago BETWEEN 1 AND 11) AS bill_amount_mean_prior,
    arg_max(amount, period) / NULLIF(avg(amount) FILTER (WHERE months_ago BETWEEN 1 AND 11), 0) AS bill_shock_ratio,
    sum(amount) FILTER (WHERE months_ago < 6) AS bill_amount_6m,
    sum(amount) FILTER (WHERE months_ago >= 6) AS bill_amount_prev_6m,
    COALESCE(sum(arrears) FILTER (WHERE is_due), 0) AS arrears_now,
    count(*) FILTER (WHERE is_due AND arrears > 0) AS arrears_months_12m,
    max(arrears) FILTER (WHERE is_due) AS arrears_max_12m,
    COALESCE(sum(penalty), 0) AS penalty_12m,
    count(*) FILTER (WHERE penalty > 0) AS penalty_months_12m
FROM b
GROUP BY customer_id
