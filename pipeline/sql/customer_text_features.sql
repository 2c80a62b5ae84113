-- model: customer_text_features
-- grain: customer_id
-- depends: contact_text
-- description: Per-customer roll-up of contact-text signals over the 12 months up to the as-of date:
--   counts by motive, last and worst sentiment, peak-end score and trend.
--   columns (
--     customer_id VARCHAR,             -- 户号
--     n_texts_12m BIGINT,              -- contacts in the window (an empty content counts as a neutral text)
--     n_negative_12m BIGINT,
--     n_positive_12m BIGINT,
--     mean_sentiment_12m DOUBLE,       -- mean sentiment_score, -1..1
--     last_sentiment VARCHAR,          -- label of the latest contact (ties: highest ticket_id)
--     last_sentiment_score DOUBLE,
--     last_contact_at TIMESTAMP,
--     worst_sentiment_score DOUBLE,    -- lowest score in the window
--     worst_contact_at TIMESTAMP,      -- when it happened (ties: the most recent)
--     peak_end_score DOUBLE,           -- (worst + last) / 2: Kahneman's peak-end rule
--     sentiment_trend DOUBLE,          -- least-squares slope of score per 30 days; NULL with < 2 distinct times
--     n_motive_venting_12m BIGINT,
--     n_motive_respect_12m BIGINT,
--     n_motive_advice_12m BIGINT,
--     n_motive_compensation_12m BIGINT,
--     n_motive_fairness_12m BIGINT,
--     n_motive_efficiency_12m BIGINT,
--     escalation_cnt_12m BIGINT,
--     abuse_cnt_12m BIGINT,
--     chasing_cnt_12m BIGINT,
--     mean_urgency_12m DOUBLE,
--     special_need VARCHAR,            -- most recent non-empty special need, '' if none
--     top_motive VARCHAR               -- Chinese name of the most frequent motive; '' if none (ties: listed order)
--   )
-- );
-- Window: contact days in (as_of - 365 days, as_of], i.e. from as_of - 364 through the whole as_of day.
WITH windowed AS (
    SELECT *
    FROM contact_text
    WHERE contacted_at >= CAST($as_of AS DATE) - INTERVAL 364 DAY
      AND contacted_at < CAST($as_of AS DATE) + INTERVAL 1 DAY
),
ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY customer_id ORDER BY contacted_at DESC, ticket_id DESC) AS recency_rank,
        row_number() OVER (PARTITION BY customer_id ORDER BY sentiment_score ASC, contacted_at DESC, ticket_id DESC) AS worst_rank
    FROM windowed
),
rolled AS (
    SELECT
        customer_id,
        count(*) AS n_texts_12m,
        count(*) FILTER (WHERE sentiment = 'negative') AS n_negative_12m,
        count(*) FILTER (WHERE sentiment = 'positive') AS n_positive_12m,
        avg(sentiment_score) AS mean_sentiment_12m,
        max(sentiment) FILTER (WHERE recency_rank = 1) AS last_sentiment,
        max(sentiment_score) FILTER (WHERE recency_rank = 1) AS last_sentiment_score,
        max(contacted_at) AS last_contact_at,
        min(sentiment_score) AS worst_sentiment_score,
        max(contacted_at) FILTER (WHERE worst_rank = 1) AS worst_contact_at,
        -- epoch days keep the slope readable; x 30 turns it into change per month.
        -- One point in time has no slope (DuckDB would give NaN), so it is NULL.
        CASE WHEN count(DISTINCT contacted_at) > 1
            THEN regr_slope(sentiment_score, epoch(contacted_at) / 86400.0) * 30
        END AS sentiment_trend,
        sum(motive_venting) AS n_motive_venting_12m,
        sum(motive_respect) AS n_motive_respect_12m,
        sum(motive_advice) AS n_motive_advice_12m,
        sum(motive_compensation) AS n_motive_compensation_12m,
        sum(motive_fairness) AS n_motive_fairness_12m,
        sum(motive_efficiency) AS n_motive_efficiency_12m,
        sum(escalation) AS escalation_cnt_12m,
        sum(abuse) AS abuse_cnt_12m,
        sum(chasing) AS chasing_cnt_12m,
        avg(urgency) AS mean_urgency_12m,
        coalesce(arg_max(special_need, contacted_at) FILTER (WHERE special_need <> ''), '') AS special_need
    FROM ranked
    GROUP BY customer_id
)
SELECT
    customer_id,
    n_texts_12m,
    n_negative_12m,
    n_positive_12m,
    mean_sentiment_12m,
    last_sentiment,
    last_sentiment_score,
    last_contact_at,
    worst_sentiment_score,
    worst_contact_at,
    (worst_sentiment_score + last_sentiment_score) / 2 AS peak_end_score,
    sentiment_trend,
    CAST(n_motive_venting_12m AS BIGINT) AS n_motive_venting_12m,
    CAST(n_motive_respect_12m AS BIGINT) AS n_motive_respect_12m,
    CAST(n_motive_advice_12m AS BIGINT) AS n_motive_advice_12m,
    CAST(n_motive_compensation_12m AS BIGINT) AS n_motive_compensation_12m,
    CAST(n_motive_fairness_12m AS BIGINT) AS n_motive_fairness_12m,
    CAST(n_motive_efficiency_12m AS BIGINT) AS n_motive_efficiency_12m,
    CAST(escalation_cnt_12m AS BIGINT) AS escalation_cnt_12m,
    CAST(abuse_cnt_12m AS BIGINT) AS abuse_cnt_12m,
    CAST(chasing_cnt_12m AS BIGINT) AS chasing_cnt_12m,
    mean_urgency_12m,
    special_need,
    CASE greatest(n_motive_venting_12m, n_motive_respect_12m, n_motive_advice_12m,
                  n_motive_compensation_12m, n_motive_fairness_12m, n_motive_efficiency_12m)
        WHEN 0 THEN ''
        WHEN n_motive_venting_12m THEN '求发泄'
        WHEN n_motive_respect_12m THEN '求尊重'
        WHEN n_motive_advice_12m THEN '求建议'
        WHEN n_motive_compensation_12m THEN '求补偿'
        WHEN n_motive_fairness_12m THEN '求公平'
        ELSE '求高效'
    END AS top_motive
FROM rolled
ORDER BY customer_id
