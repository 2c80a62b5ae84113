-- model: overdue_bill_features
-- grain: customer_id
-- depends: bills, payments
-- description: Bills that fell due in the 12 months up to the as-of date, each judged against its own due date:
--   not fully paid by then (paid late, partly, or not at all), and what is still owed now. A bill that is
--   not yet due is never overdue. Where payments name no 账期, a 违约金 or remaining arrears is the evidence.
WITH due AS (
    SELECT b.customer_id, b.period, b.due_date,
           COALESCE(b.receivable, b.amount) AS owed,
           COALESCE(b.arrears, 0) AS arrears,
           COALESCE(b.penalty, 0) AS penalty,
           sum(p.amount) FILTER (WHERE p.paid_at < b.due_date + INTERVAL 1 DAY) AS paid_by_due,
           count(p.period) AS matched_payments
    FROM bills b
    LEFT JOIN payments p
      ON p.customer_id = b.customer_id AND p.period = b.period AND p.paid_at < $as_of + INTERVAL 1 DAY
    WHERE b.due_date IS NOT NULL AND b.due_date <= $as_of AND b.due_date > $as_of - INTERVAL 12 MONTH
    GROUP BY ALL
),
payers AS (
    SELECT customer_id, count(period) > 0 AS names_periods FROM payments GROUP BY customer_id
)
SELECT
    due.customer_id,
    count(*) AS bills_fell_due_12m,
    count(*) FILTER (WHERE owed > 0 AND (
        penalty > 0 OR arrears > 0
        OR (COALESCE(payers.names_periods, FALSE) AND COALESCE(paid_by_due, 0) < owed - penalty - 0.005)
    )) AS late_or_unpaid_bills_12m,
    count(*) FILTER (WHERE arrears > 0) AS outstanding_bills_now,
    COALESCE(sum(arrears) FILTER (WHERE arrears > 0), 0) AS outstanding_arrears_now,
    max(date_diff('day', due_date, $as_of)) FILTER (WHERE arrears > 0) AS oldest_arrears_days
FROM due
LEFT JOIN payers USING (customer_id)
GROUP BY due.customer_id
