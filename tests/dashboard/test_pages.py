"""Every page, per role, through streamlit.testing.v1.AppTest — and the access rules a user could try to get around."""
from __future__ import annotations

import hashlib
import json
import statistics
import time

import pytest
from streamlit.testing.v1 import AppTest

from dashboards import auth
from dashboards import queries as q
from tests.dashboard.conftest import APP, PASSWORD, ROLES, logged_in, page_text

PAGES = {  # file → a word its title contains
    "overview": "台区总览", "key_users": "重点用户", "portrait": "用户画像卡", "segments": "人群圈选",
    "experience": "客户体验地图", "catalog": "标签目录", "runs": "运行与数据质量", "users": "用户管理",
}
ALLOWED = {
    "staff": ("overview", "key_users", "portrait", "segments", "experience", "catalog"),
    "manager": ("overview", "key_users", "portrait", "segments", "experience", "catalog"),
    "analyst": ("overview", "key_users", "portrait", "segments", "experience", "catalog", "runs"),
    "admin": ("overview", "key_users", "portrait", "segments", "experience", "catalog", "runs", "users"),
}


def _open(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("role", ROLES)
def test_every_allowed_page_renders_for_role(dash_env, role):
    at = logged_in(dash_env, role)
    for page in ALLOWED[role]:
        _open(at, page)
        titles = " ".join(str(t.value) for t in at.title)
        assert PAGES[page] in titles, (page, titles)
        assert not at.error, (page, [e.value for e in at.error])


@pytest.mark.parametrize("role", ["staff", "manager"])
def test_pages_outside_the_role_are_not_registered(dash_env, role):
    at = logged_in(dash_env, role)
    for page in set(PAGES) - set(ALLOWED[role]):
        with pytest.raises(ValueError):
            at.switch_page(f"app_pages/{page}.py")


def test_portrait_of_own_customer_with_tags_charts_and_explanation(dash_env):
    at = logged_in(dash_env, "staff")
    at.query_params["customer"] = dash_env.own_customer
    _open(at, "portrait")
    text = page_text(at)
    assert dash_env.own_customer in text and "沟通风格" in text and "建议动作" in text
    assert len(at.get("plotly_chart")) >= 3  # usage, bills, emotion curve (and DISC / motives when present)
    store = q.open_store(dash_env.path)
    try:
        tags = q.customer_tags(store, q.Viewer("staff1", "staff", (dash_env.own_district,)), dash_env.own_customer)
    finally:
        store.close()
    category, tag_id = tags[["category", "tag_id"]].iloc[0]
    group = next(p for p in at.get("button_group") if p.key == f"tags_{category}")
    group.set_value(tag_id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.code, "clicking a tag shows its explanation and rule"
    assert "依据" in page_text(at)


def test_staff_gets_nothing_for_another_districts_customer_via_query_params(dash_env):
    at = logged_in(dash_env, "staff")
    at.query_params["customer"] = dash_env.other_customer
    _open(at, "portrait")
    text = page_text(at)
    assert "找不到该用户" in text
    store = q.open_store(dash_env.path)
    try:
        real = store.query("SELECT name, phone FROM customers WHERE customer_id = $c", {"c": dash_env.other_customer})
    finally:
        store.close()
    assert real["phone"].iloc[0] not in text and not at.metric and not at.get("plotly_chart")


def test_staff_gets_nothing_for_another_districts_customer_via_session_state(dash_env):
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["auth_user"] = "staff1"  # a real log-in of staff1 …
    at.session_state["auth_token"] = auth.session_token("staff1")
    at.session_state["scope_district"] = dash_env.other_district  # … who edits the state to reach another 台区
    at.session_state["portrait_customer"] = dash_env.other_customer
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    own = q.open_store(dash_env.path)
    try:
        n_own = int(own.query("SELECT count(*) AS n FROM customers WHERE district_id = $d",
                              {"d": dash_env.own_district})["n"].iloc[0])
    finally:
        own.close()
    customers = next(m for m in at.metric if m.label == "用户数")
    assert customers.value.replace(",", "") == str(n_own)
    assert at.session_state["scope_district"] in ("", dash_env.own_district)
    _open(at, "portrait")
    assert "找不到该用户" in page_text(at) and not at.metric


def test_forged_session_without_a_valid_token_is_not_logged_in(dash_env):
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["auth_user"] = "manager"
    at.session_state["auth_token"] = "0" * 64
    at.run()
    assert any(b.label == "登录" for b in at.button) and not at.metric
    at.session_state["auth_token"] = auth.session_token("staff1")  # a token for someone else
    at.run()
    assert any(b.label == "登录" for b in at.button) and not at.metric


def test_wrong_password_does_not_log_in(dash_env):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.text_input(key="login_username").input("manager")
    at.text_input(key="login_password").input(PASSWORD + "x")
    next(b for b in at.button if b.label == "登录").click().run()
    assert "用户名或密码不正确" in page_text(at) and not at.metric


def test_runs_page_refuses_staff_even_when_run_directly(dash_env):
    at = AppTest.from_file(str(APP.parent / "app_pages" / "runs.py"), default_timeout=60)
    at.session_state["auth_user"] = "staff1"
    at.session_state["auth_token"] = auth.session_token("staff1")
    at.run()
    assert "只有数据分析员和系统管理员" in page_text(at) and not at.dataframe
    anonymous = AppTest.from_file(str(APP.parent / "app_pages" / "portrait.py"), default_timeout=60)
    anonymous.query_params["customer"] = dash_env.own_customer
    anonymous.run()
    assert "请先登录" in page_text(anonymous) and not anonymous.metric


def test_manager_sees_masked_fields_on_the_portrait(dash_env):
    store = q.open_store(dash_env.path)
    try:
        real = store.query("SELECT name, phone, id_number FROM customers WHERE customer_id = $c",
                           {"c": dash_env.own_customer}).iloc[0]
    finally:
        store.close()
    at = logged_in(dash_env, "manager")
    at.query_params["customer"] = dash_env.own_customer
    _open(at, "portrait")
    text = page_text(at)
    assert real["phone"] not in text and real["id_number"] not in text
    assert (real["phone"][:3] + r"\*\*\*\*" + real["phone"][-4:]) in text  # Markdown-escaped 138****1234
    assert "个人信息已脱敏" in text
    staff = logged_in(dash_env, "staff")
    staff.query_params["customer"] = dash_env.own_customer
    _open(staff, "portrait")
    assert real["phone"] in page_text(staff)


def test_segment_builder_counts_and_refuses_injection(dash_env):
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in dash_env.path.rglob("*.parquet") if p.is_file()}
    at = logged_in(dash_env, "manager")
    _open(at, "segments")
    total = next(m for m in at.metric if m.label == "圈选人数").value
    store = q.open_store(dash_env.path)
    try:
        fields = q.segment_fields(store)
    finally:
        store.close()
    flag = "in_arrears" if "in_arrears" in fields else next(f.id for f in fields.values() if f.value_type == "flag")
    at.selectbox(key="seg_field").set_value(flag).run()
    next(b for b in at.button if "添加" in b.label).click().run()
    assert not at.exception, [e.value for e in at.exception]
    narrowed = next(m for m in at.metric if m.label == "圈选人数").value
    assert int(narrowed.replace(",", "")) <= int(total.replace(",", ""))
    hostile = [{"tag": 'in_arrears" OR 1=1; DROP VIEW customers; --', "op": "is_true"},
               {"tag": "customer_id", "op": "is_present"},
               {"all": [{"tag": "in_arrears", "op": "IS TRUE OR TRUE"}]}]
    for tree in hostile:
        at.text_area(key="seg_json").input(json.dumps(tree)).run()
        assert not at.exception, [e.value for e in at.exception]
        assert "条件无效" in page_text(at)
    at.text_area(key="seg_json").input("not json ' OR 1=1").run()
    assert "JSON 格式不正确" in page_text(at)
    at.text_area(key="seg_json").input("").run()
    assert next(m for m in at.metric if m.label == "圈选人数").value == narrowed
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in dash_env.path.rglob("*.parquet") if p.is_file()}
    assert before == after


def test_segment_can_be_saved_and_shows_up_in_the_experience_map(dash_env):
    at = logged_in(dash_env, "analyst")
    _open(at, "segments")
    at.text_input(key="seg_name").input("测试人群").run()
    next(b for b in at.button if "保存人群" in b.label).click().run()
    assert "已保存" in page_text(at)
    _open(at, "experience")
    at.selectbox(key="xp_segment").set_value("测试人群").run()
    assert not at.exception and "由本范围的工单情绪计算" in page_text(at)


def test_language_switch_to_english(dash_env):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.radio(key="lang_login").set_value("en").run()
    assert any(b.label == "Log in" for b in at.button)
    at.text_input(key="login_username").input("manager")
    at.text_input(key="login_password").input(PASSWORD)
    next(b for b in at.button if b.label == "Log in").click().run()
    assert "District overview" in " ".join(str(t.value) for t in at.title)
    assert any(m.label == "Customers" for m in at.metric)


def test_every_page_renders_under_a_second_when_warm(dash_env):
    at = logged_in(dash_env, "admin")
    slow = {}
    for page in ALLOWED["admin"]:
        _open(at, page)
        at.run()  # warm the caches
        times = []
        for _ in range(3):
            start = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - start)
        slow[page] = statistics.median(times)
    assert max(slow.values()) < 1.0, slow


def test_pages_render_a_notice_when_optional_tables_are_absent(dash_store, tmp_path, monkeypatch):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(dash_store.path, store)
    for snap in (store / "snapshots").glob("*/*"):
        for table in q.OPTIONAL_TABLES:
            (snap / f"{table}.parquet").unlink(missing_ok=True)
    monkeypatch.setenv("PORTRAIT_STORE", str(store))
    monkeypatch.setenv("PORTRAIT_USERS", str(store / "app" / "users.toml"))
    at = logged_in(dash_store, "admin")
    notices = 0
    for page in ALLOWED["admin"]:
        if page == "portrait":
            at.query_params["customer"] = dash_store.own_customer
        _open(at, page)
        notices += "暂未提供" in page_text(at)
    assert notices >= 4  # key users, segment builder, experience map, tag catalogue (and the overview's mixes)
