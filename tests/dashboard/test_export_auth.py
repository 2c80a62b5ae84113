"""Exports are Excel-safe and audited; users, passwords and sessions; the CLI verbs around them."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from dashboards import auth, export
from dashboards.queries import Viewer

HOSTILE = pd.DataFrame({
    "customer_id": ["0023666220", "0023666221", "0023666222", "0023666223", "0023666224", "0023666225"],
    "note": ["=HYPERLINK(\"http://x\",\"click\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "正常文本"],
    "amount": [-12.5, 3.0, 0.0, 1.0, 2.0, 4.0],
})


def test_excel_safe_prefixes_formula_starts_and_keeps_numbers():
    safe = export.excel_safe(HOSTILE)
    assert list(safe["note"]) == ["'=HYPERLINK(\"http://x\",\"click\")", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tcmd", "正常文本"]
    assert list(safe["amount"]) == [-12.5, 3.0, 0.0, 1.0, 2.0, 4.0]
    assert list(safe["customer_id"]) == list(HOSTILE["customer_id"])
    assert export.excel_safe(pd.DataFrame({"=cmd": [1]})).columns[0] == "'=cmd"


def test_csv_and_xlsx_exports_are_audited_and_inert(tmp_path: Path):
    viewer = Viewer("staff1", "staff", ("TQ1",))
    data = export.export_file(tmp_path, viewer, HOSTILE, "key_users", {"districts": ["TQ1"], "min_score": 30}, "csv",
                              "2025-12-31")
    rows = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str)
    assert all(not v.startswith(export.FORMULA_PREFIXES) for v in rows["note"])
    assert rows["note"][0].startswith("'=HYPERLINK") and rows["amount"][0] == "-12.5"
    assert rows["customer_id"][0] == "0023666220"
    book = export.export_file(tmp_path, viewer, HOSTILE, "segment", {"segment": "欠费 是"}, "xlsx", "2025-12-31")
    ws = openpyxl.load_workbook(io.BytesIO(book)).active
    cells = [ws.cell(row=r, column=2) for r in range(2, 8)]
    assert all(c.data_type == "s" for c in cells), [c.data_type for c in cells]
    assert cells[0].value.startswith("'=") and ws.cell(row=2, column=1).value == "0023666220"
    assert ws.cell(row=2, column=3).value == -12.5
    records = [json.loads(line) for line in export.audit_path(tmp_path).read_text(encoding="utf-8").splitlines()]
    assert [(r["user"], r["what"], r["rows"], r["format"]) for r in records] == [
        ("staff1", "key_users", 6, "csv"), ("staff1", "segment", 6, "xlsx")]
    assert records[0]["filter"] == {"districts": ["TQ1"], "min_score": 30} and records[0]["role"] == "staff"
    assert records[0]["at"] and records[0]["as_of"] == "2025-12-31"
    assert len(export.read_audit(tmp_path)) == 2


def test_saved_segments_belong_to_their_owner(tmp_path: Path):
    a, b = Viewer("a", "manager"), Viewer("b", "manager")
    export.save_segment(tmp_path, a, "城东欠费", {"all": []}, "全部用户", 10)
    assert export.load_segments(tmp_path)["城东欠费"]["owner"] == "a"
    with pytest.raises(PermissionError):
        export.save_segment(tmp_path, b, "城东欠费", {"all": []})
    with pytest.raises(ValueError):
        export.save_segment(tmp_path, a, "../../etc/passwd", {"all": []})
    export.delete_segment(tmp_path, Viewer("root", "admin"), "城东欠费")
    assert export.load_segments(tmp_path) == {}


def test_users_file_round_trip_and_checks(tmp_path: Path):
    path = tmp_path / "users.toml"
    auth.add_user(path, "wang", "staff", "s3cret-pass", ("TQ3301015533",), "王经理", "wang@example.com", rounds=4)
    auth.add_user(path, "li", "manager", "s3cret-pass", rounds=4)
    users = auth.load_users(path)
    assert users["wang"].viewer() == Viewer("wang", "staff", ("TQ3301015533",))
    assert users["wang"].password_hash.startswith("$2") and "s3cret" not in path.read_text(encoding="utf-8")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert auth.verify_password(users, "wang", "s3cret-pass") == users["wang"]
    assert auth.verify_password(users, "wang", "wrong") is None
    assert auth.verify_password(users, "nobody", "s3cret-pass") is None
    assert auth.user_for_email(users, "WANG@example.com") == users["wang"]
    auth.set_disabled(path, "wang", True)
    assert auth.verify_password(auth.load_users(path), "wang", "s3cret-pass") is None
    for bad in (dict(username="a b", role="staff", districts=("TQ1",)), dict(username="x", role="root"),
                dict(username="x", role="staff"), dict(username="x", role="staff", districts=("TQ1'; --",))):
        with pytest.raises(auth.UserError):
            auth.add_user(path, password="long-enough", rounds=4, **bad)
    with pytest.raises(auth.UserError):
        auth.add_user(path, "x", "manager", "short", rounds=4)


def test_session_tokens_cannot_be_forged():
    token = auth.session_token("staff1")
    assert auth.token_valid("staff1", token)
    assert not auth.token_valid("manager", token)
    assert not auth.token_valid("staff1", "0" * 64)
    assert not auth.token_valid("staff1", None)


def test_throttle_locks_after_repeated_failures():
    th = auth.Throttle()
    for _ in range(auth.MAX_FAILURES):
        assert not th.locked("guess")
        th.failed("guess")
    assert th.locked("guess") and not th.locked("other")
    th.succeeded("guess")
    assert not th.locked("guess")


def _portrait(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})})


def test_users_cli_adds_and_lists(tmp_path: Path):
    users = tmp_path / "u.toml"
    out = _portrait("users", "add", "zhao", "--role", "staff", "--district", "TQ3301015533", "--password",
                    "zhao-pass-123", "--users", str(users))
    assert out.returncode == 0, out.stderr
    listed = _portrait("users", "list", "--users", str(users))
    assert "zhao" in listed.stdout and "TQ3301015533" in listed.stdout and "$2" not in listed.stdout
    bad = _portrait("users", "add", "qian", "--role", "staff", "--password", "qian-pass-123", "--users", str(users))
    assert bad.returncode == 1 and bad.stderr.strip().startswith("Error: a staff user needs at least one --district")


def test_demo_users_get_two_real_districts(dash_store, tmp_path: Path):
    import shutil

    from pipeline.cli_dashboard import demo_users

    store = tmp_path / "store"
    shutil.copytree(dash_store.path, store, ignore=shutil.ignore_patterns("app"))
    creds = demo_users(store)
    roles = {r for _, r, _ in creds}
    assert {"analyst", "manager", "staff"} <= roles
    users = auth.load_users(store / "app" / "users.toml")
    staff = [users[n] for n, r, _ in creds if r == "staff"]
    assert len(staff) == 2 and staff[0].districts != staff[1].districts
    for name, _, password in creds:
        assert auth.verify_password(users, name, password) is not None


def test_serve_refuses_a_folder_that_is_not_a_store(tmp_path: Path):
    out = _portrait("serve", "--store", str(tmp_path))
    assert out.returncode == 1 and "is not a portrait store" in out.stderr
