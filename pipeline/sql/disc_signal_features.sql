-- model: disc_signal_features
-- grain: customer_id
-- depends: contacts
-- description: Communication-style (DISC) signals in the contacts of the 730 days to the as-of date: a style
--   is a stable trait and most customers contact rarely, so the window is two years. Per customer: contacts
--   by channel and business type, call length, and contacts whose text shows a fast pace (要求马上、只要结果),
--   a slow pace (不着急、理解、愿意等), a task focus (明细、依据、书面、条款) or a people focus (邻居、家人、
--   聊家常、拜托). Cue words are agent summaries' and customers' own wording, not the classifier's lexicon:
--   these cues describe how someone talks, not what they feel.
WITH c AS (
    SELECT
        customer_id,
        channel,
        business_type,
        call_seconds,
        COALESCE(repeated, FALSE) AS repeated,
        COALESCE(content, '') AS txt
    FROM contacts
    WHERE contacted_at >= $as_of - INTERVAL 729 DAY AND contacted_at < $as_of + INTERVAL 1 DAY
),
cues AS (
    SELECT
        *,
        regexp_matches(txt, '马上|立即|立刻|今天之内|今天必须|尽快|赶紧|抓紧|没时间|直接说|只要结果|只要结论|不想听|别讲|打断|急促|不耐烦|催促|准话|简短|一再催') AS fast_cue,
        regexp_matches(txt, '不着急|不急|有空|慢慢|理解|辛苦|添麻烦|打扰|礼貌|温和|平和|愿意等|按[^，。！]{0,6}安排|按规定办就行|提前告知|提前说|方便的时候|没关系|不好意思') AS slow_cue,
        regexp_matches(txt, '明细|依据|文件|书面|公式|条款|规定|构成|计价|分档|标准|逐项|对比|具体|清单|凭证|计算') AS task_cue,
        regexp_matches(txt, '邻居|孩子|老伴|一家人|一大家子|住了|群里|心里|讲述|聊|前因后果|人特别好|人真好|夸奖|拜托|真心|帮帮忙|情绪起伏|楼上楼下|过年|难受|街坊|大家都') AS people_cue,
        -- "希望领导表扬他们" in a praise ticket is not a demand to see a leader
        business_type <> '表扬' AND regexp_matches(txt, '领导|上级|曝光|媒体|记者|12398|12345|能源局|监管|法院|起诉|法律途径|发帖|发到网上') AS escalation_cue
    FROM c
)
SELECT
    customer_id,
    count(*) AS disc_contacts,
    count(*) FILTER (WHERE fast_cue) AS disc_fast_cues,
    count(*) FILTER (WHERE slow_cue) AS disc_slow_cues,
    count(*) FILTER (WHERE task_cue) AS disc_task_cues,
    count(*) FILTER (WHERE people_cue) AS disc_people_cues,
    count(*) FILTER (WHERE escalation_cue) AS disc_escalations,
    count(*) FILTER (WHERE business_type = '催办') AS disc_chases,
    count(*) FILTER (WHERE business_type IN ('投诉', '举报')) AS disc_complaints,
    count(*) FILTER (WHERE business_type = '表扬') AS disc_praises,
    count(*) FILTER (WHERE business_type IN ('咨询', '业务申请')) AS disc_inquiries,
    count(*) FILTER (WHERE repeated) AS disc_repeats,
    count(*) FILTER (WHERE channel = '95598电话') AS disc_phone_contacts,
    count(*) FILTER (WHERE channel = '网上国网') AS disc_app_contacts,
    count(*) FILTER (WHERE channel = '营业厅') AS disc_hall_contacts,
    count(*) FILTER (WHERE channel IN ('公众号', '上门')) AS disc_community_contacts,
    count(call_seconds) FILTER (WHERE call_seconds > 0) AS disc_calls,
    round(avg(call_seconds) FILTER (WHERE call_seconds > 0), 3) AS disc_call_seconds_mean
FROM cues
GROUP BY customer_id
