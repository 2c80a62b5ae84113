"""The tag catalogue: the shipped YAML loads, each bad declaration is rejected with file:line and a fix,
and an analyst adds a tag by writing YAML only."""
from __future__ import annotations

import shutil
import textwrap
from datetime import date
from pathlib import Path

import pytest

from pipeline.settings import Params
from pipeline.stages.features import (
    build_features,
    create_empty_canonical_tables,
    feature_catalog,
)
from tags.catalog import CATEGORIES, TAGS_DIR, CatalogError, load_catalog

AS_OF = date(2025, 12, 31)

# The examples the product brief and the issue name, by the id that implements each.
EXPECTED = {
    "ladder_tier", "usage_trend", "seasonality", "tou_pattern", "night_base_load", "vacant_home", "sudden_change",
    "suspected_ev", "suspected_pv", "abnormal_use", "load_shape", "bill_contribution_pct", "value_tier",
    "growth_potential", "payment_credit", "preferred_payment_channel", "preferred_service_channel",
    "digital_adoption", "payment_timing", "ebill_user", "contact_count_12m", "repair_count_12m",
    "outage_exposure_12m", "frequent_caller_95598", "repeated_contacts", "in_arrears", "overdue_count_12m",
    "late_payment_risk", "penalty_charged", "bill_shock", "prepaid_cutoff_count", "open_application",
    "pv_customer", "charger_customer", "recent_ownership_change", "power_access_days", "power_access_over_target",
    "complaint_count_12m", "repeated_complaints", "sensitive_customer", "sentiment_tendency", "complaint_motive",
    "escalation_signal", "abuse_signal", "leader_demand", "exposure_threat", "dissatisfied_followup",
    "bad_last_experience", "elderly_usage_stop",
}


@pytest.fixture(scope="module")
def features() -> dict[str, dict]:
    return feature_catalog()


def _write(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


def _problems(folder: Path, features: dict) -> list[str]:
    with pytest.raises(CatalogError) as info:
        load_catalog(folder, features)
    assert str(info.value).startswith("the tag catalogue has")
    return info.value.problems


GOOD = """
category: 费用记录
owner: 测试
tags:
  - id: good_tag
    name_zh: 逾期风险
    name_en: Late-payment risk
    description: 近12个月逾期次数达到阈值。
    value_type: flag
    rule: late_payments_12m >= $late_payments_risk
    features: [late_payments_12m]
    version: 1
"""


def test_shipped_catalogue_loads_with_breadth(features):
    catalog = load_catalog(features=features)
    counts = catalog.counts_by_category()
    assert len(catalog) >= 70
    assert set(counts) == set(CATEGORIES) and min(counts.values()) >= 6, counts
    assert EXPECTED <= {t.id for t in catalog}, EXPECTED - {t.id for t in catalog}
    for t in catalog:
        assert t.owner and t.version >= 1 and t.description and t.name_en
        assert t.location.startswith("tags/") and t.line > 0
    # province thresholds are parameters, not literals
    assert {"ladder_tier1_kwh", "ladder_tier2_kwh"} <= set(catalog.get("ladder_tier").params)
    assert "power_access_target_days_residential" in catalog.get("power_access_over_target").params


def test_good_file_loads_with_its_line(tmp_path, features):
    _write(tmp_path, "billing.yaml", GOOD)
    catalog = load_catalog(tmp_path, features)
    tag = catalog.get("good_tag")
    assert tag.line == 4 and tag.location.endswith("billing.yaml:4")
    assert tag.params == ("late_payments_risk",) and tag.window_days == 365 and tag.category == "费用记录"


def test_unknown_feature_says_did_you_mean(tmp_path, features):
    _write(tmp_path, "billing.yaml", GOOD.replace("id: good_tag", "id: arrears_risk")
           .replace("late_payments_12m >=", "late_cnt_12m >=").replace("[late_payments_12m]", "[late_cnt_12m]"))
    problems = _problems(tmp_path, features)
    assert any(p.endswith("billing.yaml:10: tag `arrears_risk` uses feature `late_cnt_12m`, which no feature model "
                          "defines; did you mean `late_payments_12m`?") for p in problems), problems


def test_duplicate_ids_name_both_places(tmp_path, features):
    _write(tmp_path, "a.yaml", GOOD)
    _write(tmp_path, "b.yaml", "# 另一个文件\n# 同一个 id\n" + GOOD.lstrip("\n"))
    problems = _problems(tmp_path, features)
    assert len(problems) == 1
    assert "b.yaml:6: tag `good_tag` is declared twice (first at" in problems[0] and "a.yaml:4)" in problems[0]


def test_unknown_category_and_value_type(tmp_path, features):
    _write(tmp_path, "x.yaml", GOOD.replace("category: 费用记录", "category: 费用记录s")
           .replace("value_type: flag", "value_type: flags"))
    problems = _problems(tmp_path, features)
    assert any("x.yaml:1: file has unknown category `费用记录s`; did you mean `费用记录`?" in p for p in problems), problems
    assert any("x.yaml:8: tag `good_tag` has unknown value type `flags`; did you mean `flag`?" in p for p in problems)


def test_feature_read_but_not_declared(tmp_path, features):
    _write(tmp_path, "x.yaml", GOOD.replace("late_payments_12m >= $late_payments_risk",
                                            "late_payments_12m + unpaid_bills_12m >= $late_payments_risk"))
    problems = _problems(tmp_path, features)
    assert problems == [f"{tmp_path / 'x.yaml'}:10: tag `good_tag` reads `unpaid_bills_12m` in its rule but does not "
                        "declare it; add `unpaid_bills_12m` to `features:`"]


def test_sql_that_does_not_parse(tmp_path, features):
    _write(tmp_path, "x.yaml", GOOD.replace("late_payments_12m >= $late_payments_risk", "late_payments_12m >=> 3"))
    problems = _problems(tmp_path, features)
    assert len(problems) == 1 and "x.yaml:9: tag `good_tag` has a `rule` that is not valid DuckDB SQL" in problems[0]


def test_sql_that_reads_another_table_or_has_two_statements(tmp_path, features):
    _write(tmp_path, "x.yaml", GOOD.replace("late_payments_12m >= $late_payments_risk",
                                            "late_payments_12m >= (SELECT 3 FROM bills)"))
    assert "rules see one customer's features only" in _problems(tmp_path, features)[0]
    _write(tmp_path, "x.yaml", GOOD.replace("late_payments_12m >= $late_payments_risk",
                                            "late_payments_12m > 1; DROP TABLE features"))
    assert "with 2 statements; a rule is one SQL expression" in _problems(tmp_path, features)[0]


def test_unknown_param(tmp_path, features):
    _write(tmp_path, "x.yaml", GOOD.replace("$late_payments_risk", "$late_payment_risk"))
    problems = _problems(tmp_path, features)
    assert problems == [f"{tmp_path / 'x.yaml'}:9: tag `good_tag` uses parameter `$late_payment_risk`, which Params "
                        "does not define; did you mean `late_payments_risk`?"]


def test_rule_type_and_function_checked_by_a_dry_run(tmp_path, features):
    _write(tmp_path, "x.yaml", GOOD.replace("late_payments_12m >= $late_payments_risk", "late_payments_12m * 2"))
    assert "is a flag but its `rule` returns BIGINT; it must return BOOLEAN" in _problems(tmp_path, features)[0]
    _write(tmp_path, "x.yaml", GOOD.replace("late_payments_12m >= $late_payments_risk", "coalese(late_payments_12m, 0) > 2"))
    assert "has a `rule` DuckDB cannot run" in _problems(tmp_path, features)[0]


def test_level_outputs_must_be_declared_levels(tmp_path, features):
    body = GOOD.replace("value_type: flag", "value_type: level\n    levels: [低, 高]").replace(
        "rule: late_payments_12m >= $late_payments_risk",
        "rule: CASE WHEN late_payments_12m >= 3 THEN '很高' ELSE '低' END")
    _write(tmp_path, "x.yaml", body)
    problems = _problems(tmp_path, features)
    assert problems == [f"{tmp_path / 'x.yaml'}:10: tag `good_tag` can return '很高', which is not one of its levels "
                        "[低, 高]; add it to `levels:` or fix the rule"]


def test_explain_template_names_only_declared_features(tmp_path, features):
    _write(tmp_path, "x.yaml", GOOD + "    explain: 逾期 {late_payments_12m} 次，欠费 {arrears_now} 元\n")
    assert "explains with `{arrears_now}`, which is not one of its features" in _problems(tmp_path, features)[0]


def test_yaml_syntax_error_names_the_line(tmp_path, features):
    _write(tmp_path, "x.yaml", GOOD.replace("name_en: Late-payment risk", "name_en: Risk: late payments"))
    problems = _problems(tmp_path, features)
    assert len(problems) == 1 and "x.yaml:6: not valid YAML" in problems[0]


def test_every_problem_is_reported_not_just_the_first(tmp_path, features):
    bad = GOOD.replace("late_payments_12m >= $late_payments_risk", "late_cnt_12m >= $nope").replace(
        "[late_payments_12m]", "[late_cnt_12m]")
    _write(tmp_path, "a.yaml", bad.replace("id: good_tag", "id: first_bad"))
    _write(tmp_path, "b.yaml", GOOD.replace("id: good_tag", "id: second_bad").replace("version: 1", "version: one")
           .replace("    owner: 测试\n", ""))
    problems = _problems(tmp_path, features)
    text = "\n".join(problems)
    assert "a.yaml:10: tag `first_bad` uses feature `late_cnt_12m`" in text
    assert "a.yaml:9: tag `first_bad` uses parameter `$nope`" in text
    assert "b.yaml:11: tag `second_bad` has version 'one'" in text
    assert len(problems) >= 3


def test_unknown_keys_and_missing_keys(tmp_path, features):
    _write(tmp_path, "x.yaml", GOOD.replace("    description: 近12个月逾期次数达到阈值。\n", "    descripton: 拼错了\n"))
    problems = _problems(tmp_path, features)
    assert any("has unknown key `descripton`; did you mean `description`?" in p for p in problems), problems
    assert any("has no `description`; add `description: …`" in p for p in problems), problems


def test_an_analyst_adds_a_tag_with_yaml_only(tmp_path, features):
    """Copy the catalogue, add one tag to usage.yaml, and it evaluates — no Python change."""
    from pipeline.engine import connect
    from pipeline.stages.tags import evaluate_tags

    folder = tmp_path / "tags"
    shutil.copytree(TAGS_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    with open(folder / "usage.yaml", "a", encoding="utf-8") as fh:
        fh.write(textwrap.dedent("""
          - id: heavy_weekend_user
            name_zh: 周末用电大户
            name_en: Heavy weekend user
            description: 周末日均用电超过 20 kWh。
            value_type: flag
            requires: reading_days_12m >= 7
            rule: kwh_daily_mean_weekend > 20
            features: [kwh_daily_mean_weekend, reading_days_12m]
            explain: 周末日均 {kwh_daily_mean_weekend:.1f} kWh {?>|≤} 20 kWh
            owner: 分析员
            version: 1
        """).replace("\n", "\n  ").rstrip() + "\n")
    catalog = load_catalog(folder, features)
    assert catalog.get("heavy_weekend_user").category == "用电行为"

    con = connect()
    create_empty_canonical_tables(con)
    con.execute("INSERT INTO customers (customer_id, name, category, district_id, station) VALUES "
                "('0000000001', '甲', '城乡居民生活用电', 'TQ1', '所'), ('0000000002', '乙', '城乡居民生活用电', 'TQ1', '所'),"
                "('0000000003', '丙', '城乡居民生活用电', 'TQ1', '所')")
    con.execute("INSERT INTO readings (customer_id, reading_date, kwh) "
                "SELECT c, d, CASE WHEN c = '0000000001' THEN 30 ELSE 5 END "
                "FROM (VALUES ('0000000001'), ('0000000002')) v(c), "
                "range(DATE '2025-12-01', DATE '2026-01-01', INTERVAL 1 DAY) t(d)")
    build_features(con, AS_OF, Params())
    evaluate_tags(con, AS_OF, Params(), catalog)
    got = dict(con.execute("SELECT customer_id, heavy_weekend_user FROM tags_wide").fetchall())
    assert got == {"0000000001": True, "0000000002": False, "0000000003": None}
    status = dict(con.execute("SELECT customer_id, status FROM tags WHERE tag_id = 'heavy_weekend_user'").fetchall())
    assert status == {"0000000001": "ok", "0000000002": "ok", "0000000003": "missing"}
