"""Scale datasets for the benchmarks, generated in DuckDB SQL (no Python loop per row).

The exports look like the sample's (same Chinese headers, so the default mapping applies):
customers CSV, daily readings (Parquet, or CSV with --readings-format csv), 12 monthly bills
and payments per customer, contacts with Chinese text for about 40% of customers, outages
and applications.
"""
from __future__ import annotations

import time
from pathlib import Path

import duckdb

AS_OF = "2025-12-31"
_TEXTS = [
    "客户来电反映家中电费比上月高出很多，要求核实电表读数。",
    "客户咨询峰谷电价时段，希望提供书面说明。",
    "客户反映小区频繁停电，已经第三次了，要求尽快处理。",
    "客户表扬抢修人员服务热情，处理及时。",
    "客户催办报修工单，称等了两天还没人上门，非常不满。",
    "客户咨询充电桩报装流程和所需材料。",
    "客户反映电压偏低，空调无法启动，要求派人检查。",
    "客户称停电导致冰箱食物变质，要求赔偿损失。",
    "客户来电询问电费缴纳方式，已告知可通过网上国网缴费。",
    "客户投诉营业厅工作人员态度差，要求找领导给个说法。",
]


def _q(p: Path) -> str:
    return str(p).replace("'", "''")


def write_bench_exports(out: Path, customers: int, readings_format: str = "parquet", threads: int = 0) -> dict[str, float]:
    """Write scale exports for `customers` accounts into `out`; return seconds per file."""
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"preserve_insertion_order": False, **({"threads": threads} if threads else {})})
    con.execute("SET enable_progress_bar = false")
    n = customers
    timings: dict[str, float] = {}
    texts = "[" + ", ".join("'" + t + "'" for t in _TEXTS) + "]"

    def copy(name: str, sql: str, fmt: str = "csv") -> None:
        start = time.perf_counter()
        opts = "(FORMAT parquet, COMPRESSION zstd)" if fmt == "parquet" else "(FORMAT csv, HEADER true)"
        con.execute(f"COPY ({sql}) TO '{_q(out / name)}' {opts}")
        timings[name] = round(time.perf_counter() - start, 2)

    con.execute(f"""CREATE TABLE c AS SELECT i, lpad(CAST(i * 7 + 1000000 AS VARCHAR), 10, '0') AS id,
        'TQ' || lpad(CAST(i // 200 AS VARCHAR), 6, '0') AS tq, i % 50 = 0 AS biz FROM range({n}) t(i)""")
    copy("客户档案.csv", """SELECT id AS 户号, '用户' || i AS 户名, '测试路' || i || '号' AS 用电地址,
        CASE WHEN biz THEN '一般工商业' ELSE '城乡居民生活用电' END AS 用电类别, '交流220V' AS 电压等级,
        8 AS "合同容量(kVA)", DATE '2010-01-01' + CAST(i % 5000 AS INTEGER) AS 立户日期, tq AS 台区编号,
        tq || '台区' AS 台区名称, '供电所' || (i // 20000) AS 供电所, '' AS 行业分类,
        '1390000' || lpad(CAST(i % 10000 AS VARCHAR), 4, '0') AS 联系电话, '' AS 证件号码,
        CASE WHEN i % 3 = 0 THEN '是' ELSE '否' END AS 费控标志, '阶梯' AS 电价类型, '微信' AS 缴费方式,
        CASE WHEN i % 2 = 0 THEN '是' ELSE '否' END AS 电子账单,
        CASE WHEN i % 20 = 0 THEN '是' ELSE '否' END AS 独居老人, '否' AS 低保户, '否' AS 残疾人, '否' AS 聋哑人, '否' AS 外籍人士
        FROM c""")
    readings = """SELECT c.id AS 户号, DATE '2025-01-01' + CAST(d AS INTEGER) AS 数据日期,
        round(k, 2) AS 日电量, round(k * 0.6, 2) AS 峰电量, round(k * 0.1, 2) AS 平电量, round(k * 0.3, 2) AS 谷电量
        FROM c, LATERAL (SELECT d, (3 + (c.i % 7) + 2 * cos(d / 58.0) + ((c.i * 31 + d * 17) % 10) / 10.0)
                                 * CASE WHEN c.i % 25 = 0 THEN 0.05 ELSE 1 END AS k FROM range(365) r(d))"""
    if readings_format == "csv":
        copy("日电量.csv", readings)
    else:
        copy("日电量.parquet", readings, "parquet")
    copy("电费账单.csv", """SELECT id AS 户号, strftime(DATE '2025-01-01' + INTERVAL (m) MONTH, '%Y%m') AS 账期,
        150 + (i % 90) AS 结算电量, round((150 + (i % 90)) * 0.4883, 2) AS 电费金额,
        round((150 + (i % 90)) * 0.4883, 2) AS 应收电费, round((150 + (i % 90)) * 0.4883, 2) AS 实收电费,
        0 AS 欠费金额, 0 AS 违约金, strftime(DATE '2025-02-25' + INTERVAL (m) MONTH, '%Y-%m-%d') AS 缴费截止日期
        FROM c, range(12) r(m)""")
    copy("缴费记录.csv", """SELECT 'P' || i || '-' || m AS 缴费流水号, id AS 户号,
        strftime(TIMESTAMP '2025-02-10 10:00:00' + INTERVAL (m) MONTH + INTERVAL ((i * 13 + m) % 20) DAY, '%Y-%m-%d %H:%M:%S') AS 缴费时间,
        round((150 + (i % 90)) * 0.4883, 2) AS 缴费金额,
        (['网上国网', '微信', '支付宝', '银行代扣', '营业厅', '自助终端'])[1 + (i % 6)] AS 缴费渠道,
        strftime(DATE '2025-01-01' + INTERVAL (m) MONTH, '%Y%m') AS 账期
        FROM c, range(12) r(m)""")
    copy("客服工单.csv", f"""SELECT 'W' || i || '-' || k AS 工单编号, id AS 户号,
        strftime(TIMESTAMP '2025-01-05 09:00:00' + INTERVAL ((i * 7 + k * 41) % 355) DAY, '%Y-%m-%d %H:%M:%S') AS 受理时间,
        (['95598电话', '网上国网', '营业厅', '公众号', '上门'])[1 + ((i + k) % 5)] AS 受理渠道,
        (['咨询', '故障报修', '投诉', '表扬', '催办', '咨询', '意见'])[1 + ((i * 3 + k) % 7)] AS 业务类型,
        {texts}[1 + ((i * 7 + k) % {len(_TEXTS)})] AS 受理内容, (i + k) % 48 AS "处理时长(小时)",
        CASE WHEN (i + k) % 17 = 0 THEN '是' ELSE '否' END AS 是否超时, (i + k) % 4 AS 转派次数,
        (['满意', '基本满意', '不满意', '未回访'])[1 + ((i + k) % 4)] AS 回访满意度,
        CASE WHEN k > 0 AND (i % 5 = 0) THEN '是' ELSE '否' END AS 是否重复来电, 60 + (i * 13 + k) % 600 AS "通话时长(秒)"
        FROM c, range(3) r(k) WHERE i % 5 < 2 AND k < 1 + (i % 3)""")
    copy("停电事件.csv", f"""SELECT 'O' || j AS 停电编号, 'TQ' || lpad(CAST(j % greatest({n} // 200, 1) AS VARCHAR), 6, '0') AS 台区编号,
        strftime(TIMESTAMP '2025-01-03 08:00:00' + INTERVAL (j * 7 % 360) DAY, '%Y-%m-%d %H:%M:%S') AS 停电开始时间,
        strftime(TIMESTAMP '2025-01-03 12:00:00' + INTERVAL (j * 7 % 360) DAY, '%Y-%m-%d %H:%M:%S') AS 停电结束时间,
        CASE WHEN j % 3 = 0 THEN '故障' ELSE '计划' END AS 停电类型, CASE WHEN j % 10 = 0 THEN '否' ELSE '是' END AS 是否提前通知
        FROM range(greatest({n} // 100, 1)) t(j)""")
    copy("业扩报装.csv", """SELECT 'A' || i AS 申请编号, id AS 户号,
        (['新装', '增容', '光伏并网', '充电桩', '过户', '更名'])[1 + (i % 6)] AS 业务类型,
        strftime(TIMESTAMP '2025-03-01 09:00:00' + INTERVAL (i % 270) DAY, '%Y-%m-%d %H:%M:%S') AS 申请时间,
        CASE WHEN i % 4 = 0 THEN NULL ELSE strftime(TIMESTAMP '2025-03-01 09:00:00' + INTERVAL (i % 270 + 3 + i % 20) DAY, '%Y-%m-%d %H:%M:%S') END AS 完成时间,
        '归档' AS 当前环节 FROM c WHERE i % 30 = 0""")
    con.close()
    return timings
