-- model: segments
-- grain: customer_id
-- depends: segment_features, disc_types, disc_advice, load_shapes, customer_values, care_alerts
-- description: One row per customer: communication type with advice, value tier, load shape, and the
--   key-user score (重点用户) with its reasons, rank within the 台区 and a suggested action. The score is
--   100 x the weighted sum of five parts, each from 0 to 1 (weights $w_value, $w_sensitive, $w_vulnerable,
--   $w_risk, $w_opportunity):
--   value: the value score; sensitive: complaints (full at $repeat_complaints_12m), escalation or abuse,
--   a bad peak-end experience, a dissatisfied follow-up; vulnerable: 1 with an ongoing care alert, 0.8
--   with any care alert, 0.5 for a special group; risk: overdue unpaid bills, $late_payments_risk+ late
--   payments, a sustained drop in use (用电异常), a bill shock; opportunity: EV-like night charging,
--   electric heating, e-bill, auto-debit, a smart socket for an elderly person living alone.
--   An ongoing stop of a vulnerable customer's use scores at least 95, any other care alert at least 80.
--   is_key_user: a score of $key_user_min_score or more.
WITH care AS (
    SELECT customer_id, bool_or(ongoing AND alert_type = '用电停止') AS care_urgent,
           arg_min(evidence, (CASE severity WHEN '紧急' THEN 0 ELSE 1 END, start_date, alert_type)) AS care_evidence
    FROM care_alerts GROUP BY customer_id
),
parts AS (
    SELECT
        f.customer_id,
        f.district_id,
        f.district_name,
        COALESCE(v.value_score, 0) AS p_value,
        least(1.0,
              0.4 * least(1.0, COALESCE(f.complaints_12m, 0) / greatest($repeat_complaints_12m, 1))
            + 0.2 * (COALESCE(f.escalation_cnt_12m, 0) + COALESCE(f.abuse_cnt_12m, 0) > 0)::INT
            + 0.2 * (COALESCE(f.peak_end_score, 0) <= -0.5)::INT
            + 0.2 * (COALESCE(f.dissatisfied_12m, 0) > 0)::INT) AS p_sensitive,
        CASE WHEN care.care_urgent THEN 1.0 WHEN care.customer_id IS NOT NULL THEN 0.8
             WHEN f.elderly_alone OR f.low_income OR f.disabled OR f.hearing_impaired OR f.foreign_language
                  OR COALESCE(f.special_need, '') <> '' THEN 0.5
             ELSE 0.0 END AS p_vulnerable,
        COALESCE(f.unpaid_bills_12m, 0) > 0 AS overdue_unpaid,
        COALESCE(f.late_payments_12m, 0) >= $late_payments_risk AS late_payer,
        -- a drop in a vulnerable customer's use is a care matter, not suspected tampering
        COALESCE(f.step_drop_ratio < $abnormal_drop_ratio AND f.step_drop_kwh_daily >= $abnormal_min_daily_kwh, FALSE)
            AND care.customer_id IS NULL AS abnormal_use,
        COALESCE(f.bill_shock_ratio >= $bill_shock_ratio AND f.bill_amount_last >= $bill_shock_min_amount, FALSE) AS bill_shock,
        COALESCE(f.valley_kwh_daily_mean_recent >= $ev_valley_kwh AND f.valley_share_swing_recent >= $ev_valley_swing
                 AND NOT COALESCE(f.has_charger_connection, FALSE), FALSE) AS opp_ev,
        COALESCE(f.is_residential AND f.kwh_daily_mean_winter >= $electric_heating_ratio * f.kwh_daily_mean_shoulder
                 AND COALESCE(f.tariff_type, '') NOT LIKE '%分时%', FALSE) AS opp_heating,
        COALESCE(NOT f.ebill AND f.has_phone, FALSE) AS opp_ebill,
        COALESCE(f.autodebit_share = 0 AND f.online_payment_share < $digital_low_share, FALSE) AS opp_autodebit,
        COALESCE(f.elderly_alone, FALSE) AS opp_smart_socket,
        f.bill_amount_12m, v.revenue_pct, v.value_tier, v.value_score, v.credit_level,
        f.complaints_12m, f.escalation_cnt_12m, f.abuse_cnt_12m, f.dissatisfied_12m, f.peak_end_score,
        COALESCE(f.top_motive, '') AS top_motive,
        f.unpaid_bills_12m, f.late_payments_12m, f.step_drop_ratio, f.bill_shock_ratio,
        care.care_urgent, care.care_evidence,
        concat_ws('、',
            CASE WHEN f.elderly_alone THEN '独居老人' END, CASE WHEN f.low_income THEN '低保户' END,
            CASE WHEN f.disabled THEN '残疾人' END, CASE WHEN f.hearing_impaired THEN '聋哑人' END,
            CASE WHEN f.foreign_language THEN '外籍' END,
            CASE WHEN NOT COALESCE(f.elderly_alone, FALSE) AND COALESCE(f.special_need, '') LIKE '%elderly_alone%' THEN '工单提及独居' END) AS special_groups
    FROM segment_features f
    LEFT JOIN customer_values v USING (customer_id)
    LEFT JOIN care USING (customer_id)
),
scored AS (
    SELECT *,
        least(1.0, 0.5 * overdue_unpaid::INT + 0.3 * late_payer::INT + 0.5 * abnormal_use::INT + 0.2 * bill_shock::INT) AS p_risk,
        -- no sales pitch while someone's use has stopped
        CASE WHEN care_evidence IS NOT NULL THEN 0.0 ELSE
            least(1.0, 0.4 * opp_ev::INT + 0.3 * opp_heating::INT + 0.2 * opp_ebill::INT + 0.2 * opp_autodebit::INT
                       + 0.3 * opp_smart_socket::INT) END AS p_opportunity
    FROM parts
),
keyed AS (
    SELECT *,
        -- safety first: a vulnerable customer whose use stopped heads the list whatever else they score
        greatest(round(100 * ($w_value * p_value + $w_sensitive * p_sensitive + $w_vulnerable * p_vulnerable
                              + $w_risk * p_risk + $w_opportunity * p_opportunity), 1),
                 CASE WHEN care_urgent THEN 95.0 WHEN care_evidence IS NOT NULL THEN 80.0 ELSE 0.0 END) AS key_user_score,
        concat_ws('；',
            CASE WHEN p_value >= $value_high_pct THEN '高价值：近12月电费 ' || CAST(round(bill_amount_12m) AS BIGINT) || ' 元，全市前 '
                 || greatest(1, CAST(ceil(100 * (1 - revenue_pct)) AS INTEGER)) || '%' END,
            CASE WHEN p_sensitive >= 0.4 THEN '敏感：' || concat_ws('，',
                 CASE WHEN complaints_12m > 0 THEN '近12月投诉 ' || complaints_12m || ' 次' END,
                 CASE WHEN COALESCE(escalation_cnt_12m, 0) > 0 THEN '扬言升级 ' || escalation_cnt_12m || ' 次' END,
                 CASE WHEN COALESCE(abuse_cnt_12m, 0) > 0 THEN '有辱骂' END,
                 CASE WHEN dissatisfied_12m > 0 THEN '回访不满意 ' || dissatisfied_12m || ' 次' END,
                 CASE WHEN peak_end_score <= -0.5 THEN '最近体验差' END,
                 CASE WHEN top_motive <> '' THEN '诉求' || top_motive END) END,
            CASE WHEN care_evidence IS NOT NULL THEN '关怀：' || care_evidence
                 WHEN p_vulnerable > 0 THEN '关怀：' || COALESCE(NULLIF(special_groups, ''), '特殊群体') END,
            CASE WHEN p_risk > 0 THEN '风险：' || concat_ws('，',
                 CASE WHEN overdue_unpaid THEN '逾期未缴 ' || unpaid_bills_12m || ' 期' END,
                 CASE WHEN late_payer THEN '近12月逾期缴费 ' || late_payments_12m || ' 次' END,
                 CASE WHEN abnormal_use THEN '用电骤降至 ' || CAST(round(100 * step_drop_ratio) AS INTEGER) || '%' END,
                 CASE WHEN bill_shock THEN '账单突增 ' || round(bill_shock_ratio, 1) || ' 倍' END) END,
            CASE WHEN p_opportunity >= 0.3 THEN '机会：' || concat_ws('、',
                 CASE WHEN opp_ev THEN '疑似电动汽车夜间充电' END,
                 CASE WHEN opp_heating THEN '冬季电采暖' END,
                 CASE WHEN opp_smart_socket THEN '独居老人智能插座看护' END,
                 CASE WHEN opp_ebill THEN '电子账单' END,
                 CASE WHEN opp_autodebit THEN '银行代扣' END) END) AS key_user_reasons,
        CASE
            WHEN care_urgent THEN '立即电话联系或上门探望，确认人身安全，必要时联系家属或社区'
            WHEN care_evidence IS NOT NULL THEN '回访关怀，了解近期用电变化的原因，登记紧急联系人'
            WHEN p_sensitive >= 0.6 THEN '台区经理主动回访，先安抚情绪再解决问题；' || CASE top_motive
                WHEN '求发泄' THEN '耐心倾听，让客户把话说完'
                WHEN '求尊重' THEN '诚恳致歉，由负责人出面回应'
                WHEN '求建议' THEN '给出专业、可行的解决方案'
                WHEN '求补偿' THEN '说明赔偿规定，依规合理补偿'
                WHEN '求公平' THEN '出示政策依据，一视同仁'
                WHEN '求高效' THEN '明确办理时限并全程跟踪反馈'
                ELSE '了解诉求，跟踪到问题解决' END
            WHEN abnormal_use THEN '安排用电检查，核实计量装置和用电情况'
            WHEN overdue_unpaid OR late_payer THEN '提醒缴费，推荐银行代扣或网上国网自动缴费'
            WHEN p_vulnerable > 0 THEN '定期关怀走访，优先保障供电和抢修'
            WHEN p_value >= $value_high_pct THEN '定期走访，提供用能分析和电价方案建议'
            WHEN opp_ev THEN '推荐充电桩报装和峰谷分时电价'
            WHEN opp_heating THEN '推荐电采暖峰谷分时电价'
            WHEN opp_autodebit THEN '推荐银行代扣或网上国网自动缴费'
            WHEN opp_ebill THEN '推荐开通电子账单'
            ELSE '常规服务' END AS suggested_action
    FROM scored
),
ranks AS (
    -- ranked on a narrow projection: a window over the wide rows would sort every string with them
    SELECT customer_id,
           CAST(row_number() OVER (PARTITION BY district_id ORDER BY key_user_score DESC, customer_id) AS INTEGER) AS key_user_rank
    FROM keyed
)
SELECT
    k.customer_id,
    k.district_id,
    k.district_name,
    d.disc_type, d.disc_code, d.disc_cluster, d.disc_score_d, d.disc_score_i, d.disc_score_s, d.disc_score_c,
    d.disc_confidence, d.disc_contacts, d.disc_evidence, a.disc_advice_do, a.disc_advice_avoid, a.disc_opening,
    k.value_tier, round(k.value_score, 4) AS value_score, k.credit_level,
    l.load_shape, l.load_shape_cluster,
    k.key_user_score,
    k.key_user_score >= $key_user_min_score AS is_key_user,
    r.key_user_rank,
    k.key_user_reasons,
    k.suggested_action,
    round(k.p_value, 3) AS key_part_value,
    round(k.p_sensitive, 3) AS key_part_sensitive,
    round(k.p_vulnerable, 3) AS key_part_vulnerable,
    round(k.p_risk, 3) AS key_part_risk,
    round(k.p_opportunity, 3) AS key_part_opportunity
FROM keyed k
JOIN ranks r USING (customer_id)
LEFT JOIN disc_types d USING (customer_id)
LEFT JOIN disc_advice a ON a.code = COALESCE(d.disc_code, '')
LEFT JOIN load_shapes l USING (customer_id)
