-- model: payment_features
-- grain: customer_id
-- depends: payments, bills
-- description: Payment behaviour over 12 months: channels, timing in the month, and late or missing payments
--   against each bill's due date.
WITH p AS (
    SELECT * FROM payments
    WHERE paid_at >= $as_of - INTERVAL 364 DAY AND paid_at < $as_of + INTERVAL 1 DAY
),
chan AS (
    SELECT customer_id, channel AS top_channel, count(*) AS n,
           row_number() OVER (PARTITION BY customer_id ORDER BY count(*) DESC, max(paid_at) DESC) AS rk
    FROM p GROUP BY customer_id, channel
),
due AS (
    -- Each bill due by the as-of date, and when it was first paid (a payment names its 账期).
    SELECT b.customer_id, b.period, b.due_date, b.receivable, min(pp.paid_at) AS first_paid_at
    FROM bills b LEFT JOIN payments pp
      ON pp.customer_id = b.customer_id AND pp.period = b.period AND pp.paid_at <= $as_of + INTERVAL 1 DAY
    WHERE b.due_date IS NOT NULL AND b.due_date <= $as_of AND b.due_date > $as_of - INTERVAL 365 DAY
    GROUP BY ALL
),
late AS (
    SELECT customer_id,
           count(*) AS bills_due_12m,
           count(*) FILTER (WHERE first_paid_at > due_date + INTERVAL 1 DAY) AS late_payments_12m,
           count(*) FILTER (WHERE first_paid_at IS NULL AND COALESCE(receivable, 1) > 0) AS unpaid_bills_12m,
           avg(date_diff('day', first_paid_at, due_date)) AS days_before_due_mean
    FROM due GROUP BY customer_id
),
agg AS (
    SELECT customer_id,
           count(*) AS payments_12m,
           sum(amount) AS paid_amount_12m,
           avg(day(paid_at)) AS pay_day_of_month_mean,
           avg(CASE WHEN channel IN ('网上国网', '微信', '支付宝', '银行代扣') THEN 1.0 ELSE 0.0 END) AS online_payment_share,
           avg(CASE WHEN channel = '银行代扣' THEN 1.0 ELSE 0.0 END) AS autodebit_share,
           max(paid_at) AS last_paid_at
    FROM p GROUP BY customer_id
)
SELECT
    COALESCE(agg.customer_id, late.customer_id) AS customer_id,
    COALESCE(agg.payments_12m, 0) AS payments_12m,
    agg.paid_amount_12m,
    agg.pay_day_of_month_mean,
    agg.online_payment_share,
    agg.autodebit_share,
    agg.last_paid_at,
    chan.top_channel AS top_payment_channel,
    late.bills_due_12m,
    late.late_payments_12m,
    late.unpaid_bills_12m,
    late.days_before_due_mean
FROM agg
FULL JOIN late USING (customer_id)
LEFT JOIN chan ON chan.customer_id = COALESCE(agg.customer_id, late.customer_id) AND chan.rk = 1
