"""End to end in a real headless Chromium: `portrait serve`, log in, open a portrait, build a segment, export it.

Takes the screenshots the user guide uses. They go to a temporary folder, so a test run leaves the
checkout clean; PORTRAIT_UPDATE_SCREENSHOTS=1 writes them to docs/screenshots/ instead (to refresh the
guide after a UI change). Needs Debian's chromium and a CJK font
(apt-get install chromium fonts-noto-cjk); Playwright drives it with executable_path, so no browser
download is needed. Skipped only when /usr/bin/chromium is missing and the CI variable is unset.
"""
from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.dashboard.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
GUIDE_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason="needs /usr/bin/chromium (apt-get install chromium fonts-noto-cjk); runs always in CI"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(dash_store):
    """`portrait serve` on a free localhost port over the test store; yields its base URL."""
    port = _free_port()
    log = open(dash_store.path.parent / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--store", str(dash_store.path),
                             "--port", str(port), "--users", str(dash_store.users)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://localhost:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.flush()
                pytest.fail("portrait serve did not start:\n" + (dash_store.path.parent / "serve.log").read_text())
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def settle(page, quiet: float = 1.0, timeout: float = 30) -> None:
    """Wait until the app has finished running (no 'running' status for `quiet` seconds)."""
    end = time.time() + timeout
    calm_since = None
    while time.time() < end:
        running = page.locator("[data-testid='stStatusWidget']").count() > 0
        if running:
            calm_since = None
        elif calm_since is None:
            calm_since = time.time()
        elif time.time() - calm_since >= quiet:
            return
        time.sleep(0.1)


def log_in(page, user: str) -> None:
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    settle(page)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where screenshots go: docs/screenshots/ only when PORTRAIT_UPDATE_SCREENSHOTS=1, else a temp folder."""
    if os.environ.get("PORTRAIT_UPDATE_SCREENSHOTS") == "1":
        return GUIDE_SHOTS
    return tmp_path_factory.mktemp("screenshots")


def shot(page, name: str, folder: Path) -> Path:
    """Save a screenshot of the whole page (Streamlit scrolls inside its main block, so grow the viewport)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    size = page.viewport_size
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], "
                           "[data-testid=stSidebarContent]')].map(e => e.scrollHeight), 600)")
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 6000)})
    settle(page, quiet=0.8)
    time.sleep(0.5)  # let plotly re-layout at the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def go(page, title: str) -> None:
    page.get_by_role("link", name=title).first.click()
    settle(page)


def test_log_in_open_portrait_build_segment_export(server, browser, dash_store, shots):
    context = browser.new_context(viewport={"width": 1440, "height": 960}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.goto(f"{server}/portrait?customer={dash_store.own_customer}")
    page.get_by_label("用户名").wait_for(timeout=30_000)
    settle(page)
    shot(page, "01-login", shots)

    # A deep link survives logging in: the portrait of one of staff1's customers opens.
    log_in(page, "staff1")
    page.get_by_text(dash_store.own_customer).first.wait_for(timeout=30_000)
    page.locator(".js-plotly-plot").nth(2).wait_for(timeout=30_000)
    assert page.get_by_text("沟通风格（DISC）").count() == 1
    pill = page.locator("[data-testid='stButtonGroup'] button").first
    pill.click()
    settle(page)
    page.locator("[data-testid='stCode']").first.wait_for(timeout=30_000)
    shot(page, "04-portrait", shots)

    go(page, "台区总览")
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    shot(page, "02-overview", shots)
    go(page, "重点用户")
    page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=30_000)
    shot(page, "03-key-users", shots)

    # Build a segment: 欠费 (in arrears) AND …, see the count, export it.
    go(page, "人群圈选")
    total = page.locator("[data-testid='stMetricValue']").first.inner_text()
    page.get_by_role("combobox", name="标签").click()
    page.keyboard.type("欠费")
    page.get_by_role("option", name="费用记录 · 欠费", exact=True).click()
    settle(page)
    page.get_by_role("button", name="添加").click()
    settle(page)
    page.get_by_text("条件：").first.wait_for(timeout=30_000)
    narrowed = page.locator("[data-testid='stMetricValue']").first.inner_text()
    assert int(narrowed.replace(",", "")) < int(total.replace(",", ""))
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    shot(page, "05-segments", shots)
    audit = dash_store.path / "app" / "audit.jsonl"
    before = len(audit.read_text(encoding="utf-8").splitlines()) if audit.exists() else 0
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="导出 CSV").click()
    data = Path(info.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data)))
    assert len(rows) == int(narrowed.replace(",", "")) and "户号" in rows[0]
    assert all(not str(v).startswith(("=", "+", "-", "@")) for r in rows for v in r.values())
    records = [json.loads(x) for x in audit.read_text(encoding="utf-8").splitlines()]
    assert len(records) == before + 1
    assert records[-1]["user"] == "staff1" and records[-1]["what"] == "segment" and records[-1]["rows"] == len(rows)
    assert "欠费" in records[-1]["filter"]["segment"]

    go(page, "体验地图")
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    shot(page, "06-experience", shots)
    go(page, "标签目录")
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    shot(page, "07-catalog", shots)
    context.close()


def test_analyst_sees_runs_and_english(server, browser, shots):
    context = browser.new_context(viewport={"width": 1440, "height": 960}, locale="zh-CN")
    page = context.new_page()
    page.goto(server)
    log_in(page, "analyst")
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    go(page, "运行与数据质量")
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    shot(page, "08-runs", shots)
    page.get_by_text("English").first.click()
    settle(page)
    go(page, "District overview")
    page.get_by_text("Customers").first.wait_for(timeout=30_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    shot(page, "09-overview-english", shots)
    context.close()


def test_staff_cannot_reach_another_district_in_the_browser(server, browser, dash_store):
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    page.goto(f"{server}/portrait?customer={dash_store.other_customer}")
    log_in(page, "staff1")
    page.get_by_text("找不到该用户").first.wait_for(timeout=30_000)
    assert page.locator(".js-plotly-plot").count() == 0
    page.goto(f"{server}/runs")
    log_in(page, "staff1")
    assert page.get_by_text("运行与数据质量").count() == 0
    context.close()
