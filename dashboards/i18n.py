"""UI strings: Chinese is the source text; English comes from this dictionary (missing entries stay Chinese)."""
from __future__ import annotations

import pandas as pd

LANGS = {"zh": "中文", "en": "English"}

EN: dict[str, str] = {}  # filled below, grouped by page

# Column labels for tables the pages show: column → (Chinese, English).
COLUMNS: dict[str, tuple[str, str]] = {
    "customer_id": ("户号", "Account"), "name": ("户名", "Name"), "phone": ("联系电话", "Phone"),
    "address": ("用电地址", "Address"), "id_number": ("证件号", "ID number"),
    "district_id": ("台区编号", "District id"), "district_name": ("台区", "District"), "station": ("供电所", "Station"),
    "category": ("用电类别", "Category"), "vulnerable": ("弱势群体", "Vulnerable"),
    "key_user_rank": ("排名", "Rank"), "key_user_score": ("重点用户得分", "Key-user score"),
    "key_user_reasons": ("入选原因", "Reasons"), "disc_type": ("沟通风格", "DISC type"), "disc_code": ("DISC", "DISC"),
    "value_tier": ("价值等级", "Value tier"), "load_shape": ("负荷形态", "Load shape"),
    "suggested_action": ("建议动作", "Suggested action"), "customers": ("用户数", "Customers"),
    "arrears_customers": ("欠费户", "In arrears"), "arrears_amount": ("欠费金额(元)", "Arrears (CNY)"),
    "complaints_3m": ("近3月投诉", "Complaints 3m"), "complainants_12m": ("近12月投诉户", "Complainants 12m"),
    "key_users": ("重点用户", "Key users"), "sensitive": ("敏感客户", "Sensitive"), "care_alerts": ("关怀提醒", "Care alerts"),
    "mean_sentiment": ("平均情绪", "Mean sentiment"), "district_customers": ("台区用户数", "District customers"),
    "share": ("占比", "Share"), "as_of": ("数据日期", "As of"), "tag_id": ("标签编号", "Tag id"),
    "name_zh": ("标签名称", "Tag name (zh)"), "name_en": ("英文名称", "Tag name (en)"), "value_type": ("取值类型", "Value type"),
    "description": ("说明", "Description"), "rule": ("规则", "Rule"), "version": ("版本", "Version"),
    "owner": ("负责人", "Owner"), "features": ("所需特征", "Features"), "value": ("取值", "Value"),
    "status": ("状态", "Status"), "with_value": ("有值", "With value"), "missing": ("缺数据", "Missing data"),
    "coverage": ("覆盖率", "Coverage"), "measure": ("比例/均值", "Share or mean"), "contacted_at": ("时间", "Time"),
    "channel": ("渠道", "Channel"), "business_type": ("业务类型", "Type"), "topic": ("主题", "Topic"),
    "sentiment": ("情绪", "Sentiment"), "sentiment_score": ("情绪得分", "Sentiment score"),
    "content": ("受理内容", "Content"), "evidence": ("依据词", "Evidence"), "satisfaction": ("回访满意度", "Follow-up"),
    "stage": ("旅程阶段", "Journey stage"), "contacts": ("接触次数", "Contacts"), "negative_share": ("负面占比", "Negative share"),
    "complaints": ("投诉", "Complaints"), "dissatisfied": ("不满意", "Dissatisfied"), "overdue": ("超时", "Overdue"),
    "worst_sentiment": ("最差情绪", "Worst sentiment"), "ticket_id": ("工单号", "Ticket"),
    "run_id": ("运行编号", "Run id"), "started_at": ("开始时间", "Started"), "finished_at": ("结束时间", "Finished"),
    "total_seconds": ("耗时(秒)", "Seconds"), "code_version": ("代码版本", "Code version"),
    "base_as_of": ("增量基于", "Incremental from"), "read": ("读取", "Read"),
    "accepted": ("接收", "Accepted"), "rejected": ("拒收", "Rejected"), "warnings": ("警告", "Warnings"),
    "error": ("错误", "Error"), "table_name": ("表", "Table"), "reason": ("原因", "Reason"), "rows": ("行数", "Rows"),
    "source": ("来源文件", "Source"), "line": ("行号", "Line"), "column_name": ("列", "Column"),
    "message": ("说明", "Message"), "period": ("账期", "Period"), "amount": ("电费(元)", "Amount (CNY)"),
    "kwh": ("电量(kWh)", "kWh"), "arrears": ("欠费(元)", "Arrears (CNY)"), "penalty": ("违约金(元)", "Penalty (CNY)"),
    "paid_at": ("缴费时间", "Paid at"), "at": ("时间", "Time"), "user": ("用户", "User"), "role": ("角色", "Role"),
    "what": ("内容", "What"), "filter": ("筛选条件", "Filter"), "format": ("格式", "Format"),
    "districts": ("负责台区", "Districts"), "display_name": ("显示名", "Display name"), "email": ("邮箱", "Email"),
    "disabled": ("已停用", "Disabled"), "gap": ("服务差距", "Service gap"), "month": ("月份", "Month"),
    "username": ("用户名", "User name"), "file": ("文件", "File"), "bytes": ("大小(字节)", "Size (bytes)"),
    "sha256": ("SHA-256", "SHA-256"), "table": ("表", "Table"), "format_": ("格式", "Format"),
    "encoding": ("编码", "Encoding"), "label": ("文件名", "File"), "seconds": ("秒", "Seconds"),
    "gap_需求认知": ("需求认知", "Understanding"), "gap_服务能力": ("服务能力", "Capability"),
    "gap_服务传递": ("服务传递", "Delivery"), "gap_服务沟通": ("服务沟通", "Communication"),
    "gap_客户体验": ("客户体验", "Experience"), "category_zh": ("类别", "Category"),
    "true_rate": ("命中率", "True rate"), "mean": ("均值", "Mean"), "warning": ("预警级别", "Warning"),
    "events": ("事件数", "Events"), "customers_affected": ("涉及户数", "Customers affected"),
    "rate_per_100_contacts": ("每百件工单", "Per 100 contacts"), "last_at": ("最近发生", "Last seen"),
    "alert_type": ("提醒类型", "Alert type"), "vulnerable_reason": ("关怀原因", "Why vulnerable"),
    "start_date": ("开始日期", "Start"), "end_date": ("结束日期", "End"), "ongoing": ("仍在持续", "Ongoing"),
    "days": ("天数", "Days"), "baseline_kwh_daily": ("此前日均(kWh)", "Baseline kWh/day"),
    "during_kwh_daily": ("期间日均(kWh)", "kWh/day during"), "severity": ("紧急程度", "Severity"),
    "app_type": ("业务类型", "Application type"), "customer_group": ("客户类别", "Customer group"),
    "target_days": ("目标时限(天)", "Target (days)"), "completed_12m": ("近12月完成", "Completed 12m"),
    "days_mean": ("平均天数", "Mean days"), "days_median": ("中位天数", "Median days"), "days_p90": ("P90天数", "P90 days"),
    "days_max": ("最长天数", "Max days"), "within_target_share": ("达标率", "Within target"),
    "open_now": ("在途", "Open now"), "open_over_target": ("在途超期", "Open over target"),
    "peak_sentiment": ("峰值情绪", "Peak sentiment"), "peak_at": ("峰值时间", "Peak at"), "peak_topic": ("峰值主题", "Peak topic"),
    "peak_evidence": ("峰值依据", "Peak evidence"), "end_sentiment": ("终点情绪", "End sentiment"),
    "end_at": ("终点时间", "End at"), "end_topic": ("终点主题", "End topic"), "peak_end_score": ("峰终得分", "Peak–end score"),
    "moments": ("关键时刻", "Moments of truth"), "moment_rank": ("体验排名(差→好)", "Rank (worst first)"),
    "scope": ("范围", "Scope"), "scope_id": ("范围编号", "Scope id"), "code": ("代码", "Code"), "size": ("人数", "Size"),
    "profile": ("群体特征", "Profile"), "tag_category": ("标签类别", "Tag category"),
    "balanced": ("行数平衡", "Balanced"), "model": ("模型", "Model"),
}


def translate(text: str, lang: str) -> str:
    """Return `text` (Chinese) in `lang`."""
    if lang == "en":
        return EN.get(text, text)
    return text


def column_label(col: str, lang: str) -> str:
    """Return the display label of a table column."""
    pair = COLUMNS.get(col)
    if pair is None:
        return col
    return pair[1] if lang == "en" else pair[0]


def labelled(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Return `df` with its columns renamed to display labels (for tables and exports)."""
    return df.rename(columns={c: column_label(c, lang) for c in df.columns})


EN.update({
    # app, navigation, log-in
    "用户画像": "Customer portraits",
    "台区总览": "District overview",
    "重点用户": "Key users",
    "用户画像卡": "Portrait card",
    "人群圈选": "Segment builder",
    "体验地图": "Experience map",
    "标签目录": "Tag catalogue",
    "运行与数据质量": "Runs and data quality",
    "用户管理": "Users",
    "服务": "Service",
    "分析": "Analysis",
    "管理": "Administration",
    "登录": "Log in",
    "用户名": "User name",
    "密码": "Password",
    "用户名或密码不正确。": "Wrong user name or password.",
    "尝试次数过多，请稍后再试。": "Too many attempts; try again in a minute.",
    "使用单位账号登录（SSO）": "Log in with your organisation account (SSO)",
    "该账号没有画像系统权限，请联系管理员。": "This account has no access to the portrait system; ask an admin.",
    "退出登录": "Log out",
    "请先登录。": "Please log in first.",
    "语言": "Language",
    "数据日期": "As of",
    "台区范围": "District scope",
    "全部台区": "All districts",
    "角色": "Role",
    "负责台区": "Districts",
    "个人信息已脱敏": "Personal data masked",
    "可查看本台区客户的个人信息": "Personal data of your districts visible",
    "画像库": "Store",
    "网格化客户服务 · 用户画像": "Grid-area customer service · customer portraits",
    "staff": "grid-area staff", "manager": "manager", "analyst": "analyst", "admin": "admin",
    "台区经理": "Grid-area staff", "管理人员": "Manager", "数据分析员": "Analyst", "系统管理员": "Admin",
    "暂未提供：": "Not yet available: ",
    "（该数据表尚未发布到画像库，下次运行后会自动出现）": " (this table is not in the store yet; it appears after the next run)",
    "没有数据": "No data",
    "找不到画像库": "Store not found",
})

EN.update({
    # overview
    "个台区": "districts", "用户数": "Customers", "重点用户得分": "Key-user score", "敏感客户": "Sensitive",
    "关怀提醒": "Care alerts", "欠费户": "In arrears", "近3月投诉": "Complaints (3 months)",
    "分群结果中的重点用户（高价值、敏感、弱势、风险、机会）":
        "Key users from the segments (high value, sensitive, vulnerable, at risk, opportunity)",
    "投诉风险高的客户（情感特征标签）": "Customers at high complaint risk (sentiment tag)",
    "弱势客户用电突变等关怀提醒": "Care alerts, e.g. a vulnerable customer's use suddenly stopped",
    "欠费金额": "Arrears", "元": " CNY", "弱势群体": "Vulnerable", "环比上期": "compared with",
    "只有一期数据，暂无环比": "Only one month published: no month-over-month change yet",
    "客户构成": "Customer mix", "沟通风格分布": "Communication styles", "价值等级分布": "Value tiers",
    "负荷形态分布": "Load shapes", "沟通风格": "Communication style", "价值等级": "Value tier", "负荷形态": "Load shape",
    "分群结果（沟通风格、价值等级、负荷形态）": "segments (communication style, value tier, load shape)",
    "服务差距预警": "service-gap warnings", "服务风险预警（五大服务差距）": "Service-risk warnings (the five service gaps)",
    "服务差距": "Service gap", "涉及用户数": "Customers", "逐月变化": "Month over month", "户数 / 次数": "Customers / contacts",
    "由近12月工单特征计算：重复来电、超时、多次转派、态度投诉或未通知停电、回访不满意。":
        "Computed from 12 months of work orders: repeat contacts, overdue, transfers, attitude complaints or "
        "un-notified outages, dissatisfied follow-ups.",
    "台区服务差距预警": "District service-gap warnings", "预警": "warning", "关注": "watch",
    "五大服务差距的含义与改进建议": "The five service gaps and how to close them", "预警信号": "Warning signal",
    "改进建议": "Improvement", "本范围没有关怀提醒。": "No care alerts in this scope.",
    "弱势客户（如独居老人）用电突然停止或骤变时提醒，请尽快电话联系或上门探望。":
        "Raised when a vulnerable customer's (e.g. elderly living alone) use stops or changes suddenly: call or visit soon.",
    "台区对比": "District comparison", "获得电力（报装到送电时长）": "Getting electricity (application to power-on)",
    "各类业务报装到送电天数（中位，按完成量加权）": "Days from application to power-on (median, weighted by completions)",
    "业务类型": "Application type", "天数": "Days", "目标时限": "Target", "分群画像说明（全部用户）": "Segment profiles (all customers)",
    "画像库里没有特征表，无法计算总览。": "The store has no features table, so there is no overview.",
    "（未分配台区）": "(no district assigned)", "类别": "Category",
    # key users
    "按重点用户得分排名：高价值、敏感、弱势、风险和机会用户。走访或致电前先看原因和沟通建议。":
        "Ranked by key-user score: high value, sensitive, vulnerable, at risk and opportunity. Read the reasons and the "
        "advice before you call or visit.",
    "重点用户（分群结果 segments）": "key users (the segments table)", "全部": "All", "入选原因": "Reason",
    "全部原因": "All reasons", "最低得分": "Minimum score", "只看弱势群体": "Vulnerable only", "位重点用户": "key users",
    "显示前 2000 位": "showing the first 2,000", "打开画像": "Open portrait", "点选一行可打开该用户的画像。":
        "Select a row to open the customer's portrait.",
    "导出 CSV": "Export CSV", "导出 Excel": "Export Excel",
    "导出文件可安全用 Excel 打开；每次导出都会记录到审计日志（谁、何时、什么条件、多少行）。":
        "Exports are safe to open in Excel; every export is written to the audit log (who, when, which filter, how many rows).",
    "支配型": "Dominant", "表达型": "Expressive", "耐心型": "Steady", "精确型": "Conscientious", "数据不足": "Insufficient data",
    # portrait
    "户号或户名": "Account or name", "输入户号（或本台区客户姓名）": "Type an account number (or a name in your district)",
    "选择用户（默认列出本范围的重点用户）": "Choose a customer (the key users of this scope are listed)",
    "请选择": "Choose", "输入户号，或从重点用户列表中选择一位用户。": "Type an account number, or pick a key user.",
    "找不到该用户，或该用户不在您负责的台区范围内。": "No such customer, or the customer is outside your districts.",
    "独居老人": "Elderly living alone", "低保户": "Low income", "残疾人": "Disabled", "聋哑人": "Hearing/speech impaired",
    "外籍人士": "Foreign", "费控用户": "Prepaid", "电子账单": "E-bill", "用电类别": "Category", "台区": "District",
    "供电所": "Station", "电价": "Tariff", "本台区客户：显示完整个人信息": "Your district: personal data shown in full",
    "个人信息已脱敏（仅本台区的台区经理可见）": "Personal data masked (visible only to the district's own staff)",
    "近12月电量(kWh)": "kWh, 12 months", "近12月电费(元)": "Bills, 12 months (CNY)", "当前欠费(元)": "Arrears now (CNY)",
    "近12月接触": "Contacts, 12 months", "近12月投诉": "Complaints, 12 months", "平均情绪": "Mean sentiment",
    "沟通风格（DISC）": "Communication style (DISC)", "置信度": "confidence", "四型得分": "Scores of the four types",
    "得分": "Score", "依据": "Evidence", "建议": "Do", "避免": "Avoid", "开场白": "Opening line",
    "该用户接触记录太少，无法判断沟通风格；按常规礼貌、清楚地沟通即可。":
        "Too few contacts to tell a style; communicate politely and clearly.",
    "分群结果": "segments", "投诉诉求心理": "Complaint motives", "近12月诉求心理（次）": "Motives in 12 months (contacts)",
    "诉求": "Motive", "次数": "Contacts", "近12月没有投诉诉求记录。": "No complaint motives in 12 months.",
    "关怀与服务预警": "Care alerts and service warnings", "仍在持续": "ongoing for", "天": "days", "次": "times",
    "重复来电": "repeat contacts", "超时工单": "overdue orders", "多次转派工单": "orders transferred many times",
    "态度投诉/未通知停电": "attitude complaints / outages without notice", "回访不满意": "dissatisfied follow-ups",
    "没有关怀提醒或服务预警。": "No care alerts or service warnings.", "建议动作": "Recommended actions",
    "暂无建议动作。": "No recommended action.", "重点用户排名": "Key-user rank (district)", "画像标签": "Tags",
    "标签（tags_wide）": "tags (tags_wide)", "该类别暂无标签。": "No tags in this category.",
    "缺数据": "no data", "否": "no", "点击标签查看原因": "Click a tag to see why", "依据的数据": "Facts",
    "用电与电费": "Usage and bills", "谷": "Valley", "平": "Flat", "峰": "Peak", "日用电量": "Daily use",
    "日期": "Date", "电量(kWh)": "kWh", "30日均值": "30-day mean", "没有用电数据": "No readings",
    "月度电费": "Monthly bills", "账期": "Period", "电费(元)": "Amount (CNY)", "欠费(元)": "Arrears (CNY)",
    "没有账单数据": "No bills", "月度用电量": "Monthly use", "月份": "Month",
    "接触时间线与情绪曲线": "Contact timeline and emotion curve", "接触情绪曲线（峰终定律）": "Emotion curve (peak–end rule)",
    "时间": "Time", "情绪得分": "Sentiment", "峰值(最差)": "Peak (worst)", "终点(最近)": "End (latest)",
    "峰终定律：客户记住的是体验中最差的时刻和最后一次接触。红色三角为最差时刻，绿色星为最近一次。":
        "Peak–end rule: customers remember the worst moment and the last contact. Red triangle: the worst; green star: the latest.",
    "近期没有接触记录。": "No recent contacts.", "打印版（一页纸画像）": "Printable one-page portrait",
    "下载后用浏览器打开即弹出打印；打印也会记录到审计日志。":
        "Open the download in a browser to print it; printing is written to the audit log too.",
    "原始特征（分析用）": "Raw features (for analysts)",
    # segments
    "用标签组合圈选客户：全部满足（且）、任一满足（或）、排除（非），以及取值条件。结果实时计数，可保存、可导出。":
        "Combine tags: all of (AND), any of (OR), none of (NOT), with value conditions. Counted as you go; save and export.",
    "标签宽表（tags_wide）": "the tag table (tags_wide)", "全部满足（且）": "All of (AND)", "任一满足（或）": "Any of (OR)",
    "排除（非）": "None of (NOT)", "分群": "Segments", "已保存的人群": "Saved segments", "载入": "Load",
    "（选择一个）": "(choose one)", "载入此人群": "Load this segment", "添加条件": "Add a condition", "条件组": "Group",
    "标签": "Tag", "条件": "Condition", "取值": "Values", "下限": "Low", "上限": "High", "数值": "Number",
    "无需取值": "No value needed", "添加": "Add", "请至少选择一个取值。": "Choose at least one value.",
    "高级：用 JSON 编写条件": "Advanced: write the condition as JSON",
    '格式：{"all": [...]}、{"any": [...]}、{"not": {...}}、{"tag": "标签编号", "op": "is_true"}。':
        'Format: {"all": [...]}, {"any": [...]}, {"not": {...}}, {"tag": "tag_id", "op": "is_true"}.',
    "JSON 格式不正确：": "Not valid JSON: ", "删除条件": "Remove", "清空条件": "Clear all", "条件无效：": "Invalid condition: ",
    "圈选人数": "Customers in segment", "本范围用户总数": "Customers in scope", "占本范围用户": "of the customers in scope",
    "按台区分布（前20）": "By district (top 20)", "没有符合条件的用户。": "No customer matches.",
    "样本用户（前 20 位）": "Sample (first 20)", "人群名称": "Segment name", "例如：城东欠费高价值客户": "e.g. high-value in arrears, east",
    "保存人群": "Save segment", "已保存：": "Saved: ",
    # experience map
    "客户体验地图": "Customer experience map",
    "按旅程阶段（报装、缴费、停电、抢修、咨询、投诉）看接触量与情绪；红色为最差时刻（峰），绿色为最近的终点（终）。":
        "Contacts and sentiment by journey stage (connection, payment, outage, repair, enquiry, complaint); red marks the "
        "worst moment (peak), green the latest (end).",
    "工单文本分析（contact_text）": "contact text analysis (contact_text)", "人群": "Segment",
    "本台区范围的全部用户": "Everyone in the district scope", "该人群的条件已失效：": "The segment no longer applies: ",
    "本范围没有接触记录。": "No contacts in this scope.", "画像库发布的体验地图": "the published experience map",
    "由本范围的工单情绪计算": "computed from this scope's contact sentiment", "数据来源": "Source",
    "旅程阶段：接触量与平均情绪": "Journey stages: contacts and mean sentiment", "旅程阶段": "Journey stage",
    "接触次数": "Contacts", "峰(最差)": "Peak (worst)", "终": "End", "逐月情绪曲线（峰终定律）": "Monthly emotion curve (peak–end)",
    "次接触": "contacts", "改进建议（按体验由差到好）": "Improvements (worst experience first)", "负面占比": "negative",
    "不满意": "dissatisfied", "最差时刻": "Worst moment", "各阶段明细": "Stage details", "最差的关键时刻": "Worst moments of truth",
    "只显示依据词，不显示工单原文；在用户画像卡里可以看到本台区客户的完整记录。":
        "Evidence words only, not the ticket text; the portrait card shows your own district's full records.",
    # catalogue
    "标签字典（tag_dictionary）": "the tag dictionary (tag_dictionary)", "标签总数": "Tags", "标签类别": "Categories",
    "各类别标签数": "Tags per category", "标签数": "Tags", "全部类别": "All categories", "搜索标签": "Search tags",
    "名称、编号或说明中的文字": "Text in the name, id or description", "查看标签": "Tag", "取值类型": "Value type",
    "版本": "version", "负责人": "owner", "取值分布（本范围）": "Distribution (this scope)", "该标签没有取值数据。": "No values.",
    "命中比例 / 均值": "Share true / mean", "历史变化（各数据日期）": "History (as-of dates)", "比例 / 均值": "Share / mean",
    "覆盖率（按台区）": "Coverage by district", "覆盖率（%）": "Coverage (%)",
    "“缺数据”表示该用户缺少计算此标签所需的数据，不等于标签为“否”。":
        "\"No data\" means the customer lacks the data the tag needs; it is not the same as \"no\".",
    "目录管理（数据分析员）": "Catalogue admin (analysts)",
    "标签在 tags/*.yaml 中声明；修改后运行 `portrait run` 即可发布。下载完整目录用于评审：":
        "Tags are declared in tags/*.yaml; run `portrait run` to publish a change. Download the catalogue for review:",
    # runs
    "只有数据分析员和系统管理员可以查看运行记录。": "Runs are for analysts and admins only.",
    "还没有运行记录。": "No runs yet.", "运行次数": "Runs", "失败": "Failed", "当前数据日期": "Current as-of",
    "当前运行": "Current run", "查看运行": "Run", "状态": "status", "耗时(秒)": "seconds", "代码版本": "code", "增量，基于快照": "incremental, from snapshot",
    "各表接收 / 拒收行数": "Rows accepted / rejected per table", "接收": "Accepted", "拒收": "Rejected", "表": "Table",
    "行数": "Rows", "各阶段耗时": "Time per stage", "阶段": "Stage", "秒": "Seconds",
    "拒收原因（当前快照）": "Reject reasons (current snapshot)", "拒收原因排行": "Top reject reasons", "表 · 原因": "Table · reason",
    "原始值中的手机号、证件号和电话已隐去。": "Phone and ID numbers in raw values are hidden.",
    "当前快照没有拒收行。": "The current snapshot has no rejected rows.", "输入文件": "Input files",
    "完整清单（manifest.json）": "Full manifest (manifest.json)",
    # users
    "只有系统管理员可以管理用户。": "Only admins manage users.", "用户文件": "Users file", "添加或重置用户": "Add or reset a user",
    "显示名": "Display name", "邮箱（单点登录用，可不填）": "Email (for SSO, optional)", "初始密码（至少8位）": "Password (8+ characters)",
    "保存用户": "Save user", "停用 / 启用": "Disable / enable", "用户": "User", "切换状态": "Toggle",
    "不能停用自己。": "You cannot disable yourself.", "导出审计日志": "Export audit log",
    "还没有用户文件：": "No users file yet:", "用 `portrait users add` 添加用户。": "add users with `portrait users add`.",
})

EN.update({"阈值参数": "Thresholds", "数据窗口": "Data window", "截至": "up to", "近": "last"})
EN.update({"代入本户数值": "With this customer's values"})
EN.update({"负面": "negative", "中性": "neutral", "正面": "positive"})
EN.update({"目标": "target"})
EN.update({"个人信息默认脱敏；台区经理只能查看本台区客户。导出会记录审计日志。":
           "Personal data is masked by default; grid-area staff see only their own districts. Exports are audited."})
