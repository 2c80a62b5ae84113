-- model: contact_signal_features
-- grain: customer_id
-- depends: contacts
-- description: Service signals in the contacts of the 365 days to the as-of date (the same window as the text
--   roll-up): complaints plus 催办 chasers, and, read from the ticket text, demands to see a leader and threats
--   to go to the media, the regulator (12398 / 12345) or court. Praise tickets are skipped: "希望领导表扬他们"
--   is not a demand.
WITH c AS (
    SELECT customer_id, business_type, contacted_at, COALESCE(content, '') AS content
    FROM contacts
    WHERE contacted_at >= $as_of - INTERVAL 364 DAY AND contacted_at < $as_of + INTERVAL 1 DAY
)
SELECT
    customer_id,
    count(*) FILTER (WHERE business_type IN ('投诉', '催办')) AS complaints_chases_12m,
    count(*) FILTER (WHERE business_type <> '表扬' AND regexp_matches(content, '领导|上级')) AS leader_demands_12m,
    count(*) FILTER (WHERE business_type <> '表扬'
                       AND regexp_matches(content, '曝光|媒体|记者|电视台|发帖|发到网上|12398|12345|市长热线|能源局|监管部门|法院|起诉|法律途径'))
        AS exposure_threats_12m,
    max(contacted_at) FILTER (WHERE business_type IN ('投诉', '举报')) AS last_complaint_at
FROM c
GROUP BY customer_id
