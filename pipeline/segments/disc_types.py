"""DISC-style communication types (沟通风格): signals → k-means → 支配型 / 表达型 / 耐心型 / 精确型.

Signals come from the `disc_signal_features` model (two years of contacts). Clusters are named by
where their centroid sits on two declared axes, pace (fast ↔ slow) and focus (task ↔ people); the
four clusters take the four types one each (an assignment problem), so a month with fewer fast
customers still names its fastest task-minded cluster 支配型.
"""
from __future__ import annotations

import duckdb
import numpy as np
from scipy.optimize import linear_sum_assignment

from pipeline.segments.clusters import (ClusterModel, assignment_sql, fit_sample, fitted_model,
                                        previous_model)

MODEL = "disc"
VERSION = 1
MIN_CONTACTS = 3  # fewer contacts than this in two years is 数据不足, not a guess
# ... and so is a customer none of whose texts shows any style cue: channel mix alone does not say how
# someone talks.
ELIGIBLE = (f"s.disc_contacts >= {MIN_CONTACTS} AND "
            "s.disc_fast_cues + s.disc_slow_cues + s.disc_task_cues + s.disc_people_cues > 0")
INSUFFICIENT = "数据不足"
SIGNALS = "disc_signal_features"

TYPE_NAMES = {"D": "支配型", "I": "表达型", "S": "耐心型", "C": "精确型"}
# Direction of each type on (pace, focus): pace > 0 is fast, focus > 0 is task.
TYPE_AXES = {"D": (1.0, 1.0), "I": (1.0, -1.0), "S": (-1.0, -1.0), "C": (-1.0, 1.0)}

_SHARE = "CAST(s.{col} AS DOUBLE) / s.disc_contacts"
# Model inputs: shares of contacts, so frequent and rare callers are comparable.
FEATURES: dict[str, str] = {
    "fast_cue_share": _SHARE.format(col="disc_fast_cues"),
    "slow_cue_share": _SHARE.format(col="disc_slow_cues"),
    "task_cue_share": _SHARE.format(col="disc_task_cues"),
    "people_cue_share": _SHARE.format(col="disc_people_cues"),
    "escalation_share": _SHARE.format(col="disc_escalations"),
    "chase_share": _SHARE.format(col="disc_chases"),
    "complaint_share": _SHARE.format(col="disc_complaints"),
    "praise_share": _SHARE.format(col="disc_praises"),
    "inquiry_share": _SHARE.format(col="disc_inquiries"),
    "repeat_share": _SHARE.format(col="disc_repeats"),
    "phone_share": _SHARE.format(col="disc_phone_contacts"),
    "app_share": _SHARE.format(col="disc_app_contacts"),
    "hall_share": _SHARE.format(col="disc_hall_contacts"),
    "community_share": _SHARE.format(col="disc_community_contacts"),
    # Call length is log-scaled: 1 vs 2 minutes matters more than 10 vs 11. No calls: NULL, imputed.
    "call_log_seconds": "ln(s.disc_call_seconds_mean)",
}

# Each signal is the behaviour of one type in the service-training material, so it loads on both axes in
# that type's direction: urgency, 催办 and escalation are D (fast, task: "只要结果"); narrative, praise and
# community channels are I (fast, people); patience and counter visits are S (slow, people); detail,
# documents and app self-service are C (slow, task). Long calls are people-minded (I and S alike).
# Loading every signal on one axis only would leave each type's cluster on an axis, half-way between
# two quadrants, and the naming would hinge on small differences.
SIGNAL_TYPES: dict[str, tuple[str, float]] = {
    "fast_cue_share": ("D", 1.0), "chase_share": ("D", 1.0), "escalation_share": ("D", 0.5),
    "repeat_share": ("D", 0.5), "phone_share": ("D", 0.5),
    "people_cue_share": ("I", 1.0), "praise_share": ("I", 0.5), "community_share": ("I", 1.0),
    "slow_cue_share": ("S", 1.0), "hall_share": ("S", 0.5),
    "task_cue_share": ("C", 1.0), "app_share": ("C", 1.0),
}
PACE = {f: w * TYPE_AXES[t][0] for f, (t, w) in SIGNAL_TYPES.items()}
FOCUS = {f: w * TYPE_AXES[t][1] for f, (t, w) in SIGNAL_TYPES.items()}
PACE.update({"inquiry_share": -0.5, "complaint_share": 0.5})  # both slow types ask; both fast types complain
FOCUS.update({"call_log_seconds": -1.0})

# Evidence: (plain-Chinese fact as SQL, the count that must be positive for the fact to be shown).
EVIDENCE: dict[str, tuple[str, str]] = {
    "fast_cue_share": ("s.disc_fast_cues || '/' || s.disc_contacts || ' 次接触要求马上处理、只要结果'", "s.disc_fast_cues"),
    "slow_cue_share": ("s.disc_slow_cues || '/' || s.disc_contacts || ' 次接触表示不着急、理解、愿意等'", "s.disc_slow_cues"),
    "task_cue_share": ("s.disc_task_cues || '/' || s.disc_contacts || ' 次接触要求明细、依据或书面答复'", "s.disc_task_cues"),
    "people_cue_share": ("s.disc_people_cues || '/' || s.disc_contacts || ' 次接触聊起家人、邻居等家常'", "s.disc_people_cues"),
    "escalation_share": ("'近两年 ' || s.disc_escalations || ' 次要求找领导或扬言投诉曝光'", "s.disc_escalations"),
    "chase_share": ("'近两年催办 ' || s.disc_chases || ' 次'", "s.disc_chases"),
    "complaint_share": ("'近两年投诉 ' || s.disc_complaints || ' 次'", "s.disc_complaints"),
    "praise_share": ("'近两年表扬 ' || s.disc_praises || ' 次'", "s.disc_praises"),
    "inquiry_share": ("'近两年咨询和业务办理 ' || s.disc_inquiries || ' 次'", "s.disc_inquiries"),
    "repeat_share": ("'近两年重复来电 ' || s.disc_repeats || ' 次'", "s.disc_repeats"),
    "phone_share": ("s.disc_phone_contacts || '/' || s.disc_contacts || ' 次接触打 95598 电话'", "s.disc_phone_contacts"),
    "app_share": ("s.disc_app_contacts || '/' || s.disc_contacts || ' 次接触通过网上国网自助办理'", "s.disc_app_contacts"),
    "hall_share": ("s.disc_hall_contacts || '/' || s.disc_contacts || ' 次接触到营业厅当面办理'", "s.disc_hall_contacts"),
    "community_share": ("s.disc_community_contacts || '/' || s.disc_contacts || ' 次接触通过公众号或上门沟通'",
                        "s.disc_community_contacts"),
    "call_log_seconds": ("'平均通话 ' || round(s.disc_call_seconds_mean / 60.0, 1) || ' 分钟'", "s.disc_calls"),
}

ADVICE: dict[str, tuple[str, str, str]] = {  # do, avoid, opening line
    "D": ("开门见山，先说结论和办理时限；给出两三个可选方案让客户自己定；承诺的时间一定兑现，办完第一时间告知结果",
          "长篇解释流程、绕圈子；反复确认同一件事；含糊其辞或一再拖延",
          "您好，我直接说结果：这件事我们今天就安排，预计明天中午前办好，您看选哪种方式更方便？"),
    "I": ("热情回应，先让客户把话说完；认可客户的感受和对社区的关心，适当赞扬；多互动，用身边的例子说明",
          "冷淡地念条文；打断客户讲述；忽视客户的情绪",
          "您好！您反映的情况我们特别重视，邻里们的感受也请您跟我说说，我们一起把事情办好。"),
    "S": ("语气平和、耐心细致；有变化提前告知并说明原因；给出明确保证，让客户安心",
          "催客户当场决定；临时变更安排不打招呼；施加压力",
          "您好，不着急，我慢慢给您说清楚；后面每一步有变化，我们都会提前告诉您。"),
    "C": ("备好数据、明细和政策文件；书面答复，条理清楚、逐项说明；严格按规定和流程办理",
          "凭印象答复、数字不准；空泛承诺；情绪化表达",
          "您好，我把您近 12 个月的电量电费明细和收费依据整理好了，我们逐项核对。"),
    "": ("按标准服务规范沟通，留意记录客户的沟通偏好", "凭个别印象给客户贴标签", "您好，我是您的台区客户经理，有什么可以帮您？"),
}


def axis_positions(centroids_z: np.ndarray) -> np.ndarray:
    """Return (pace, focus) for each standardised centroid: its coordinates weighted by the axis loadings."""
    names = list(FEATURES)
    pace = np.array([PACE.get(n, 0.0) for n in names])
    focus = np.array([FOCUS.get(n, 0.0) for n in names])
    return np.column_stack([centroids_z @ pace, centroids_z @ focus])


def types_by_axes(centroids_z: np.ndarray, centroids_raw: np.ndarray | None = None) -> tuple[str, ...]:
    """Return D/I/S/C for four centroids, one type each, by best agreement with each type's axis direction."""
    codes = list(TYPE_AXES)
    agreement = axis_positions(centroids_z) @ np.array([TYPE_AXES[c] for c in codes]).T  # cluster x type
    rows, cols = linear_sum_assignment(-agreement)
    out = [""] * len(centroids_z)
    for r, c in zip(rows, cols):
        out[r] = codes[c]
    return tuple(out)


def fit_disc_model(con: duckdb.DuckDBPyConnection, previous: duckdb.DuckDBPyConnection | None) -> ClusterModel | None:
    """Return the DISC model fitted on a sample of customers with enough contacts (None if there are too few)."""
    rows = fit_sample(con, f"{SIGNALS} s", FEATURES, ELIGIBLE)
    if len(rows) < 8:
        return None
    return fitted_model(MODEL, VERSION, tuple(FEATURES), rows, 4, types_by_axes, previous_model(previous, MODEL))


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def disc_advice_rows() -> list[tuple[str, str, str, str, str]]:
    """Return (code, type name, do, avoid, opening line) per type, '' being 数据不足."""
    return [(code, TYPE_NAMES.get(code, INSUFFICIENT), *ADVICE[code]) for code in ADVICE]


def disc_types_sql(m: ClusterModel | None) -> str:
    """Return SQL for one row per customer: DISC type, code, cluster, four scores, confidence and evidence."""
    type_name = "CASE code " + " ".join(f"WHEN {_lit(c)} THEN {_lit(n)}" for c, n in TYPE_NAMES.items()) + \
        f" ELSE {_lit(INSUFFICIENT)} END"
    if m is None:
        return (f"SELECT customer_id, {_lit(INSUFFICIENT)} AS disc_type, CAST(NULL AS VARCHAR) AS disc_code, "
                f"NULL::INTEGER AS disc_cluster, NULL::DOUBLE AS disc_score_d, NULL::DOUBLE AS disc_score_i, "
                f"NULL::DOUBLE AS disc_score_s, NULL::DOUBLE AS disc_score_c, NULL::DOUBLE AS disc_confidence, "
                f"COALESCE(s.disc_contacts, 0) AS disc_contacts, '' AS disc_evidence "
                f"FROM customers c LEFT JOIN {SIGNALS} s USING (customer_id)")
    ks = range(len(m.names))
    score = {c: " + ".join([f"a.p{k}" for k in ks if m.names[k] == c] or ["0.0"]) for c in TYPE_NAMES}
    # A fact counts as evidence when it pulls toward the customer's own cluster: its standardised value
    # times the centroid's coordinate on that signal. Weights first, then text for the top three only.
    weights, texts = [], []
    for j, f in enumerate(m.features):
        text, count = EVIDENCE[f]
        toward = "CASE a.cluster " + " ".join(f"WHEN {k} THEN {m.centroids[k][j]!r}" for k in ks) + " END"
        # A share is a fact only when it is above average and the cluster is high on it ("less 催办
        # than most" is no evidence); call length counts both ways (short for D, long for I).
        agree = f"a.\"z_{f}\" * ({toward})"
        if f != "call_log_seconds":
            agree = f"CASE WHEN a.\"z_{f}\" > 0 AND ({toward}) > 0 THEN {agree} ELSE 0 END"
        weights.append(f"CASE WHEN {count} > 0 THEN {agree} ELSE 0.0 END")
        texts.append(f"WHEN {j + 1} THEN {text}")
    top = "list_filter(list_slice(list_grade_up(w, 'DESC'), 1, 3), lambda i: w[i] > 0.05)"
    evidence = f"array_to_string(list_transform({top}, lambda i: CASE i {' '.join(texts)} END), '；')"
    weight_list = f"[{', '.join(weights)}]"
    assigned = assignment_sql(m, FEATURES, f"{SIGNALS} s", ELIGIBLE)
    probs = ", ".join(f"a.p{k}" for k in ks)
    return f"""
WITH assigned AS ({assigned}),
a AS (SELECT a.*, {weight_list} AS w FROM assigned a JOIN {SIGNALS} s USING (customer_id)),
t AS (
    SELECT
        c.customer_id,
        CASE WHEN a.customer_id IS NOT NULL THEN a.cluster_name END AS code,
        a.cluster AS disc_cluster,
        round({score['D']}, 4) AS disc_score_d,
        round({score['I']}, 4) AS disc_score_i,
        round({score['S']}, 4) AS disc_score_s,
        round({score['C']}, 4) AS disc_score_c,
        -- how sure the clustering is, discounted for few contacts: n / (n + 2)
        round(greatest({probs}) * s.disc_contacts / (s.disc_contacts + 2.0), 4) AS disc_confidence,
        COALESCE(s.disc_contacts, 0) AS disc_contacts,
        CASE WHEN a.customer_id IS NOT NULL THEN {evidence} ELSE '' END AS disc_evidence
    FROM customers c
    LEFT JOIN {SIGNALS} s USING (customer_id)
    LEFT JOIN a USING (customer_id)
)
SELECT customer_id, {type_name} AS disc_type, code AS disc_code, disc_cluster,
       disc_score_d, disc_score_i, disc_score_s, disc_score_c, disc_confidence, disc_contacts, disc_evidence
FROM t
"""


def disc_profiles(con: duckdb.DuckDBPyConnection, m: ClusterModel | None) -> list[dict]:
    """Return one profile per DISC cluster plus the 数据不足 group: size, share, name and a readable centroid."""
    sizes = dict(con.execute("SELECT COALESCE(disc_code, ''), count(*) FROM disc_types GROUP BY ALL").fetchall())
    total = sum(sizes.values()) or 1
    out = []
    if m is not None:
        raw = m.raw_centroids()
        pos = axis_positions(np.asarray(m.centroids))
        for k, code in enumerate(m.names):
            c = dict(zip(m.features, raw[k]))
            minutes = float(np.exp(c["call_log_seconds"])) / 60
            profile = (f"节奏{'快' if pos[k, 0] > 0 else '慢'}（{pos[k, 0]:+.1f}），"
                       f"{'重事' if pos[k, 1] > 0 else '重人'}（{pos[k, 1]:+.1f}）；"
                       f"要求马上处理 {c['fast_cue_share']:.0%}，不着急 {c['slow_cue_share']:.0%}，"
                       f"要依据/书面 {c['task_cue_share']:.0%}，聊家常 {c['people_cue_share']:.0%}；"
                       f"催办 {c['chase_share']:.0%}，网上国网 {c['app_share']:.0%}，营业厅 {c['hall_share']:.0%}，"
                       f"公众号/上门 {c['community_share']:.0%}；平均通话 {minutes:.1f} 分钟")
            out.append({"model": MODEL, "cluster": k, "code": code, "name": TYPE_NAMES[code],
                        "size": sizes.get(code, 0), "share": sizes.get(code, 0) / total, "profile": profile})
    out.append({"model": MODEL, "cluster": None, "code": "", "name": INSUFFICIENT, "size": sizes.get("", 0),
                "share": sizes.get("", 0) / total,
                "profile": f"近两年接触少于 {MIN_CONTACTS} 次，或话语中没有任何风格线索，不足以判断沟通风格"})
    return out
