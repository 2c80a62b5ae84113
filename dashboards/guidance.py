"""Service guidance the pages show beside the data: communication styles, complaint motives, service gaps,
journey-stage improvements and recommended actions (from the service-training practice in DOMAIN.md).

Each entry is (Chinese, English). Pages pick one with `pick(entry, lang)`.
"""
from __future__ import annotations

from typing import Any, Mapping

Text = tuple[str, str]


def pick(entry: Text | str, lang: str) -> str:
    """Return the Chinese or English half of an entry."""
    if isinstance(entry, str):
        return entry
    return entry[1] if lang == "en" else entry[0]


DISC: dict[str, dict[str, Text]] = {
    "D": {"name": ("支配型", "Dominant"), "trait": ("直接、急躁，要结果", "Direct and impatient; wants results"),
          "do": ("开门见山，给出选项和明确时限", "Get to the point; give options and a deadline"),
          "avoid": ("绕弯子、推诿、拖延", "Beating about the bush, passing the buck, delays"),
          "opening": ("您好，我直接说结论和办理时间。", "Hello — here is the answer and when it will be done.")},
    "I": {"name": ("表达型", "Expressive"), "trait": ("热情健谈，希望被认可", "Warm and talkative; wants recognition"),
          "do": ("热情互动，认真倾听，及时肯定", "Be warm and interactive; listen; recognise them"),
          "avoid": ("冷淡、只念条文", "Coldness; reading out rules"),
          "opening": ("您好，谢谢您一直关心我们的工作！", "Hello, and thank you for always caring about our work!")},
    "S": {"name": ("耐心型", "Steady"), "trait": ("平和忠诚，不喜欢变化", "Calm and loyal; dislikes change"),
          "do": ("耐心细致，提前告知，给予安心", "Be patient; tell them in advance; reassure"),
          "avoid": ("催促、临时变更", "Rushing them; last-minute changes"),
          "opening": ("您好，不着急，我一步一步给您说明。", "Hello — no hurry, I will explain step by step.")},
    "C": {"name": ("精确型", "Conscientious"), "trait": ("细致严谨，重证据", "Careful and technical; wants evidence"),
          "do": ("提供数据、政策依据和书面材料", "Bring data, rules and written detail"),
          "avoid": ("含糊其辞、估计数字", "Vague answers; guessed numbers"),
          "opening": ("您好，这是您的用电数据和相关规定。", "Hello — here are your usage data and the rules.")},
}
DISC_BY_NAME = {v["name"][0]: k for k, v in DISC.items()}

MOTIVES: dict[str, dict[str, Text]] = {
    "venting": {"name": ("求发泄", "Wants to vent"),
                "handle": ("先让客户把话说完，不打断、不辩解，表示理解后再谈问题",
                           "Let them finish; do not interrupt or argue; acknowledge, then address the issue")},
    "respect": {"name": ("求尊重", "Wants respect"),
                "handle": ("态度诚恳，称呼得体，必要时由班长或领导出面回应",
                           "Be sincere and courteous; have a supervisor respond when needed")},
    "advice": {"name": ("求建议", "Wants advice"),
               "handle": ("给出具体可行的办法和下一步，说明各选项的利弊",
                          "Give concrete options and next steps with their pros and cons")},
    "compensation": {"name": ("求补偿", "Wants compensation"),
                     "handle": ("核实损失，按规定说明赔偿依据和流程，及时反馈进度",
                                "Verify the loss; explain the basis and process; report progress")},
    "fairness": {"name": ("求公平", "Wants fairness"),
                 "handle": ("公开政策依据和计算过程，一视同仁地解释",
                            "Show the rule and the calculation; treat them like everyone else")},
    "efficiency": {"name": ("求高效", "Wants speed"),
                   "handle": ("明确承诺时限，专人跟进，办结后主动告知",
                              "Commit to a deadline; assign an owner; tell them when it is done")},
}
MOTIVE_SEQUENCE: Text = ("处理顺序：聆听 → 提问 → 表达 → 反馈；先处理情绪，再处理问题。",
                         "Sequence: listen → ask → explain → follow up; calm the emotion first, then the issue.")

SERVICE_GAPS: dict[str, dict[str, Text]] = {
    "需求认知": {"name": ("需求认知差距", "Understanding the need"),
             "signal": ("同一问题重复来电", "Repeated contacts on the same issue"),
             "fix": ("首问负责，一次问清需求，建立重复来电回访", "Own the first contact; clarify the need once; call back repeat callers")},
    "服务能力": {"name": ("服务能力差距", "Service capability"),
             "signal": ("工单超时", "Work orders past their time limit"),
             "fix": ("按承诺时限排班，超时预警前置", "Staff to the committed limits; warn before orders go overdue")},
    "服务传递": {"name": ("服务传递差距", "Service delivery"),
             "signal": ("工单多次转派", "Work orders transferred many times"),
             "fix": ("明确派单规则，减少转派环节", "Clear dispatch rules; fewer hand-offs")},
    "服务沟通": {"name": ("服务沟通差距", "Service communication"),
             "signal": ("服务态度投诉、停电未提前通知", "Attitude complaints; outages without notice"),
             "fix": ("规范话术；计划停电提前7天告知", "Standard scripts; announce planned outages 7 days ahead")},
    "客户体验": {"name": ("客户体验差距", "Customer experience"),
             "signal": ("已办结但回访不满意", "Resolved but dissatisfied at follow-up"),
             "fix": ("不满意工单二次回访，查明原因闭环", "Call back dissatisfied customers; close the loop on the cause")},
}

STAGES: dict[str, dict[str, Text]] = {
    "报装": {"name": ("报装", "Connection"), "fix": ("公开办理进度，主动告知每个环节的时限",
                                                   "Publish progress; tell customers each step's deadline")},
    "缴费": {"name": ("缴费", "Payment"), "fix": ("推广线上缴费与代扣，欠费前提醒，账单突增主动解释",
                                                "Promote online payment and auto-debit; remind before arrears; explain bill jumps")},
    "停电": {"name": ("停电", "Outage"), "fix": ("计划停电提前7天通知，故障停电及时推送原因和预计恢复时间",
                                               "Announce planned outages 7 days ahead; push cause and restore time for faults")},
    "抢修": {"name": ("抢修", "Repair"), "fix": ("到达时限内到场，修复后回访确认",
                                               "Arrive within the committed time; call back after the repair")},
    "咨询": {"name": ("咨询", "Enquiry"), "fix": ("一次答清，提供书面或短信说明",
                                                "Answer in one contact; follow up in writing or by SMS")},
    "投诉": {"name": ("投诉", "Complaint"), "fix": ("24小时内联系客户，5个工作日内答复，按诉求心理分类处理",
                                                  "Contact within 24 h, answer within 5 working days, handle by motive")},
}

ACTIONS: dict[str, dict[str, Text]] = {
    "care_visit": {"name": ("关怀走访", "Care visit"),
                   "why": ("独居老人/弱势群体，或用电突然变化", "Vulnerable customer, or usage changed suddenly")},
    "ev_charger": {"name": ("充电桩报装", "EV charger"),
                   "why": ("夜间谷电用量高或疑似电动汽车", "High night (valley) use or a likely EV")},
    "rooftop_pv": {"name": ("屋顶光伏", "Rooftop PV"),
                   "why": ("用电量大、独栋或工商业用户", "High use; detached house or business")},
    "smart_socket": {"name": ("智能插座（独居老人）", "Smart socket for the elderly"),
                     "why": ("独居老人，便于家属和网格员关注用电异常", "Elderly living alone; family can watch for unusual use")},
    "ebill": {"name": ("开通电子账单", "Switch to e-bill"), "why": ("尚未开通电子账单", "No e-bill yet")},
    "auto_debit": {"name": ("开通代扣", "Auto-debit"),
                   "why": ("有逾期或欠费，且未使用代扣", "Late or unpaid bills and no auto-debit")},
    "complaint_prevention": {"name": ("投诉预防回访", "Complaint-prevention call"),
                             "why": ("近期有投诉、催办或负面情绪", "Recent complaints, chasing or negative sentiment")},
}


def _num(features: Mapping[str, Any], key: str) -> float:
    try:
        v = features.get(key)
        return 0.0 if v is None or v != v else float(v)
    except (TypeError, ValueError):
        return 0.0


def _flag(features: Mapping[str, Any], key: str) -> bool:
    v = features.get(key)
    try:
        return bool(v) and v == v
    except (TypeError, ValueError):
        return False


def recommended_actions(features: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> list[str]:
    """Return the keys of ACTIONS that fit a customer, from their published features and archive flags."""
    header = header or {}
    out = []
    vulnerable = any(_flag(header, k) or _flag(features, k)
                     for k in ("elderly_alone", "low_income", "disabled", "hearing_impaired"))
    if vulnerable or _num(features, "step_drop_ratio") >= 0.6 or _num(features, "low_run_current_days") >= 7:
        out.append("care_visit")
    if (_num(features, "valley_share_12m") >= 0.45 and _num(features, "kwh_daily_mean_12m") >= 15
            and not _flag(features, "has_charger_connection")):
        out.append("ev_charger")
    if (_num(features, "kwh_12m") >= 6000 and not _flag(features, "has_pv_connection")
            and not _flag(features, "applied_pv")):
        out.append("rooftop_pv")
    if _flag(header, "elderly_alone") or _flag(features, "elderly_alone"):
        out.append("smart_socket")
    if "ebill" in features and not _flag(features, "ebill"):
        out.append("ebill")
    if (_num(features, "late_payments_12m") > 0 or _num(features, "arrears_now") > 0) \
            and _num(features, "autodebit_share") < 0.5:
        out.append("auto_debit")
    if _num(features, "complaints_3m") > 0 or _num(features, "chasing_cnt_12m") > 0 \
            or _num(features, "last_sentiment_score") <= -0.5:
        out.append("complaint_prevention")
    return out
