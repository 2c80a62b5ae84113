"""Canonical tables: columns, types, required, allowed values and keys — declared once.

Every other part of the pipeline (header mapping, validation, docs, the store reference)
reads these declarations; nothing else restates a column list.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One canonical column: its DuckDB type and the checks a value must pass."""

    name: str
    type: str  # DuckDB type: VARCHAR, DATE, TIMESTAMP, DOUBLE, INTEGER, BOOLEAN
    label: str  # Chinese label, as users see it
    required: bool = False  # must be present as a column AND non-empty in every row
    allowed: tuple[str, ...] = ()  # closed vocabulary, after value normalisation
    min: float | None = None
    max: float | None = None
    pattern: str | None = None  # regular expression the text value must match in full
    pii: bool = False  # personal data: masked by default, never logged
    description: str = ""


@dataclass(frozen=True)
class Table:
    """One canonical table: its columns, primary key and reference to customers."""

    name: str
    label: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    references_customers: bool = True  # rows must belong to a known 户号
    date_column: str | None = None  # the column that places a row in time
    description: str = ""
    optional: bool = False  # a run may have no export for this table

    def column(self, name: str) -> Column:
        """Return the column called `name`."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name} has no column {name}")

    @property
    def column_names(self) -> tuple[str, ...]:
        """Return the canonical column names in declaration order."""
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Return the names of the columns every export must provide."""
        return tuple(c.name for c in self.columns if c.required)


ACCOUNT_PATTERN = r"[0-9]{10}"
CUSTOMER_ID = Column(
    "customer_id", "VARCHAR", "户号", required=True, pattern=ACCOUNT_PATTERN,
    description="10-digit account number; a string, leading zeros kept",
)

CATEGORIES = ("城乡居民生活用电", "一般工商业", "大工业", "农业生产")
PAY_CHANNELS = ("网上国网", "微信", "支付宝", "银行代扣", "营业厅", "自助终端")
CONTACT_CHANNELS = ("95598电话", "网上国网", "营业厅", "公众号", "上门")
BUSINESS_TYPES = ("咨询", "故障报修", "投诉", "举报", "意见", "表扬", "催办", "业务申请")
SATISFACTION = ("满意", "基本满意", "不满意", "未回访")
APPLICATION_TYPES = ("新装", "增容", "光伏并网", "充电桩", "过户", "更名", "销户", "减容")
TARIFF_TYPES = ("阶梯", "分时", "阶梯分时", "单一")
OUTAGE_KINDS = ("计划", "故障")

CUSTOMERS = Table(
    "customers", "客户档案",
    columns=(
        CUSTOMER_ID,
        Column("name", "VARCHAR", "户名", required=True, pii=True),
        Column("address", "VARCHAR", "用电地址", pii=True),
        Column("category", "VARCHAR", "用电类别", required=True, allowed=CATEGORIES),
        Column("voltage", "VARCHAR", "电压等级"),
        Column("contract_capacity_kva", "DOUBLE", "合同容量", min=0, max=1_000_000),
        Column("open_date", "DATE", "立户日期"),
        Column("district_id", "VARCHAR", "台区编号", required=True),
        Column("district_name", "VARCHAR", "台区名称"),
        Column("station", "VARCHAR", "供电所", required=True),
        Column("industry", "VARCHAR", "行业"),
        Column("phone", "VARCHAR", "联系电话", pii=True),
        Column("id_number", "VARCHAR", "证件号", pii=True),
        Column("prepaid", "BOOLEAN", "费控标志"),
        Column("tariff_type", "VARCHAR", "电价类型", allowed=TARIFF_TYPES),
        Column("pay_method", "VARCHAR", "缴费方式"),
        Column("ebill", "BOOLEAN", "电子账单"),
        Column("elderly_alone", "BOOLEAN", "独居老人"),
        Column("low_income", "BOOLEAN", "低保"),
        Column("disabled", "BOOLEAN", "残疾"),
        Column("hearing_impaired", "BOOLEAN", "聋哑"),
        Column("foreign_language", "BOOLEAN", "外籍"),
    ),
    key=("customer_id",),
    references_customers=False,
    date_column="open_date",
    description="One row per account (户号) from the marketing system.",
)

READINGS = Table(
    "readings", "日电量",
    columns=(
        CUSTOMER_ID,
        Column("reading_date", "DATE", "日期", required=True),
        Column("kwh", "DOUBLE", "电量", required=True, min=0, max=100_000),
        Column("kwh_peak", "DOUBLE", "峰电量", min=0, max=100_000),
        Column("kwh_flat", "DOUBLE", "平电量", min=0, max=100_000),
        Column("kwh_valley", "DOUBLE", "谷电量", min=0, max=100_000),
    ),
    key=("customer_id", "reading_date"),
    date_column="reading_date",
    description="Daily consumption per account; wide exports (a column per day) are long-ified at ingest.",
)

BILLS = Table(
    "bills", "电费账单",
    columns=(
        CUSTOMER_ID,
        Column("period", "DATE", "账期", required=True, description="first day of the billing month"),
        Column("kwh", "DOUBLE", "电量", min=0, max=10_000_000),
        Column("amount", "DOUBLE", "电费", required=True, min=-1_000_000, max=100_000_000),
        Column("receivable", "DOUBLE", "应收", min=-1_000_000, max=100_000_000),
        Column("received", "DOUBLE", "实收", min=-1_000_000, max=100_000_000),
        Column("arrears", "DOUBLE", "欠费", min=0, max=100_000_000),
        Column("penalty", "DOUBLE", "违约金", min=0, max=10_000_000),
        Column("due_date", "DATE", "缴费截止日"),
    ),
    key=("customer_id", "period"),
    date_column="period",
    description="Monthly bill per account.",
)

PAYMENTS = Table(
    "payments", "缴费记录",
    columns=(
        Column("payment_id", "VARCHAR", "流水号"),
        CUSTOMER_ID,
        Column("paid_at", "TIMESTAMP", "缴费时间", required=True),
        Column("amount", "DOUBLE", "缴费金额", required=True, min=-1_000_000, max=100_000_000),
        Column("channel", "VARCHAR", "缴费渠道", required=True, allowed=PAY_CHANNELS),
        Column("period", "DATE", "账期"),
    ),
    key=("customer_id", "paid_at", "amount", "channel"),
    date_column="paid_at",
    description="One row per payment.",
)

CONTACTS = Table(
    "contacts", "客服工单",
    columns=(
        Column("ticket_id", "VARCHAR", "工单号", required=True),
        CUSTOMER_ID,
        Column("contacted_at", "TIMESTAMP", "受理时间", required=True),
        Column("channel", "VARCHAR", "受理渠道", required=True, allowed=CONTACT_CHANNELS),
        Column("business_type", "VARCHAR", "业务类型", required=True, allowed=BUSINESS_TYPES),
        Column("content", "VARCHAR", "受理内容", description="Chinese free text"),
        Column("handle_hours", "DOUBLE", "处理时长", min=0, max=24 * 365),
        Column("overdue", "BOOLEAN", "是否超时"),
        Column("transfers", "INTEGER", "转派次数", min=0, max=100),
        Column("satisfaction", "VARCHAR", "回访满意度", allowed=SATISFACTION),
        Column("repeated", "BOOLEAN", "是否重复"),
        Column("call_seconds", "DOUBLE", "通话时长", min=0, max=36_000),
    ),
    key=("ticket_id",),
    date_column="contacted_at",
    description="Work orders and contacts from 95598, the app and the business hall.",
)

OUTAGES = Table(
    "outages", "停电事件",
    columns=(
        Column("outage_id", "VARCHAR", "停电编号"),
        Column("district_id", "VARCHAR", "台区编号", required=True),
        Column("start_at", "TIMESTAMP", "停电开始时间", required=True),
        Column("end_at", "TIMESTAMP", "停电结束时间"),
        Column("kind", "VARCHAR", "停电类型", required=True, allowed=OUTAGE_KINDS),
        Column("notified", "BOOLEAN", "是否提前通知"),
    ),
    key=("district_id", "start_at"),
    references_customers=False,
    date_column="start_at",
    description="Outage events per 台区.",
    optional=True,
)

APPLICATIONS = Table(
    "applications", "业扩报装",
    columns=(
        Column("application_id", "VARCHAR", "申请编号", required=True),
        CUSTOMER_ID,
        Column("app_type", "VARCHAR", "业务类型", required=True, allowed=APPLICATION_TYPES),
        Column("applied_at", "TIMESTAMP", "申请时间", required=True),
        Column("completed_at", "TIMESTAMP", "完成时间"),
        Column("stage", "VARCHAR", "当前环节"),
    ),
    key=("application_id",),
    date_column="applied_at",
    description="Service applications (业扩报装): new connections, upgrades, PV, chargers, transfers.",
    optional=True,
)

TABLES: dict[str, Table] = {
    t.name: t for t in (CUSTOMERS, READINGS, BILLS, PAYMENTS, CONTACTS, OUTAGES, APPLICATIONS)
}

# Validation order: customers first, since every other table is checked against them.
LOAD_ORDER: tuple[str, ...] = tuple(TABLES)

PII_COLUMNS: frozenset[str] = frozenset(
    c.name for t in TABLES.values() for c in t.columns if c.pii
)
