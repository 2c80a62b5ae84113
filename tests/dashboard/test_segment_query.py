"""The segment builder's expression tree: AND / OR / NOT and value conditions compile to parameterised SQL;
anything outside the whitelist is refused, and hostile values stay values."""
from __future__ import annotations

import hashlib

import pytest

from dashboards import queries as q
from dashboards.queries import Viewer
from dashboards.segment_query import (MAX_CONDITIONS, SegmentError, SegmentField, compile_segment, describe_segment,
                                      segment_tags)

FIELDS = {
    "in_arrears": SegmentField("in_arrears", "flag", name_zh="欠费"),
    "value_tier": SegmentField("value_tier", "level", values=("一般价值", "中价值", "高价值"), name_zh="价值等级"),
    "contact_count_12m": SegmentField("contact_count_12m", "score", name_zh="近12月接触次数"),
    "top_topic": SegmentField("top_topic", "label", name_zh="主题"),
    "disc_type": SegmentField("disc_type", "label", alias="s", name_zh="沟通风格"),
}
MANAGER = Viewer("manager", "manager")


def test_and_or_not_compile_with_parameters_only():
    tree = {"all": [{"tag": "in_arrears", "op": "is_true"},
                    {"any": [{"tag": "value_tier", "op": "in", "values": ["高价值"]},
                             {"tag": "contact_count_12m", "op": ">=", "value": 3}]},
                    {"not": {"tag": "top_topic", "op": "in", "values": ["停电"]}}]}
    c = compile_segment(tree, FIELDS)
    assert c.sql.count("$seg_") == 3 and c.aliases == {"w"}
    assert "高价值" not in c.sql and "停电" not in c.sql and "3" not in c.sql.replace("$seg_", "")
    assert c.params == {"seg_0": ["高价值"], "seg_1": 3.0, "seg_2": ["停电"]}
    assert " AND " in c.sql and " OR " in c.sql and "NOT coalesce(" in c.sql
    assert segment_tags(tree) == ["in_arrears", "value_tier", "contact_count_12m", "top_topic"]
    assert describe_segment(tree, FIELDS) == "(欠费 是 且 (价值等级 属于 {高价值} 或 近12月接触次数 ≥ 3) 且 非 主题 属于 {停电})"


@pytest.mark.parametrize("tree", [
    {"tag": 'in_arrears" OR 1=1 --', "op": "is_true"},                 # identifier injection
    {"tag": "phone", "op": "is_present"},                               # a real column that is not a tag
    {"tag": "in_arrears", "op": "IS TRUE OR TRUE"},                     # operator injection
    {"tag": "contact_count_12m", "op": ">=", "value": "1; DROP TABLE x"},
    {"tag": "contact_count_12m", "op": ">=", "value": float("nan")},
    {"tag": "value_tier", "op": "in", "values": ["高价值' OR '1'='1"]},   # not one of the level's values
    {"tag": "value_tier", "op": "in", "values": []},
    {"tag": "in_arrears", "op": "in", "values": ["x"]},                 # operator of another value type
    {"sql": "SELECT 1"},
    {"all": "in_arrears"},
    "in_arrears = TRUE",
    {"all": [{"tag": "in_arrears", "op": "is_true"}] * (MAX_CONDITIONS + 1)},
])
def test_anything_outside_the_whitelist_is_refused(tree):
    with pytest.raises(SegmentError):
        compile_segment(tree, FIELDS)


def test_deep_nesting_is_refused():
    tree: dict = {"tag": "in_arrears", "op": "is_true"}
    for _ in range(10):
        tree = {"not": tree}
    with pytest.raises(SegmentError):
        compile_segment(tree, FIELDS)


def test_open_label_values_are_bound_as_parameters():
    hostile = "停电'); DROP VIEW customers; --"
    c = compile_segment({"tag": "top_topic", "op": "in", "values": [hostile]}, FIELDS)
    assert hostile not in c.sql and c.params["seg_0"] == [hostile]


def test_injection_against_the_store_is_harmless(dash_store):
    store = q.open_store(dash_store.path)
    try:
        before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in dash_store.path.rglob("*.parquet") if p.is_file()}
        fields = q.segment_fields(store)
        label = next(f for f in fields.values() if f.value_type in ("label", "level") and f.alias == "w")
        hostile = {"any": [{"tag": label.id, "op": "not_in" if not label.values else "in",
                            "values": ["x' OR 1=1; DROP VIEW customers; --"] if not label.values else [label.values[0]]},
                           {"not": {"tag": label.id, "op": "is_present"}}]}
        total = q.segment_count(store, MANAGER, None)
        n = q.segment_count(store, MANAGER, hostile)
        assert 0 <= n <= total
        with pytest.raises(SegmentError):
            q.segment_count(store, MANAGER, {"tag": "customer_id", "op": "is_present"})
        with pytest.raises(SegmentError):
            q.segment_count(store, MANAGER, {"tag": f'{label.id}" IS NOT NULL OR "1', "op": "is_present"})
        assert q.segment_count(store, MANAGER, None) == total  # views intact
        after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in dash_store.path.rglob("*.parquet") if p.is_file()}
        assert before == after
    finally:
        store.close()


def test_counts_match_a_hand_written_query(dash_store):
    store = q.open_store(dash_store.path)
    try:
        fields = q.segment_fields(store)
        flag = next(f.id for f in fields.values() if f.value_type == "flag" and f.alias == "w")
        score = next(f.id for f in fields.values() if f.value_type == "score" and f.alias == "w")
        tree = {"all": [{"tag": flag, "op": "is_true"}, {"not": {"tag": score, "op": ">", "value": 1}}]}
        expected = store.query(f'SELECT count(*) AS n FROM tags_wide WHERE "{flag}" IS TRUE '
                               f'AND NOT coalesce("{score}" > 1, FALSE)')["n"].iloc[0]
        assert q.segment_count(store, MANAGER, tree) == expected
        either = {"any": [{"tag": flag, "op": "is_true"}, {"tag": flag, "op": "is_false"}]}
        present = store.query(f'SELECT count("{flag}") AS n FROM tags_wide')["n"].iloc[0]
        assert q.segment_count(store, MANAGER, either) == present
        by = q.segment_by_district(store, MANAGER, tree)
        assert by["customers"].sum() == expected
    finally:
        store.close()
