"""The `portrait` verbs as a user runs them: output, exit codes, one-line errors."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import customer_rows, write_csv


def portrait(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess, as a user would."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def _exports(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    write_csv(folder / "客户档案.csv", customer_rows(3))
    write_csv(folder / "日电量.csv", [["户号", "数据日期", "日电量"], ["0012345678", "2025-12-01", "3"],
                                     ["0012345678", "2025-12-01", "3"], ["0012345678", "2025-12-02", "-1"]])
    return folder


def test_validate_reports_and_writes_nothing(tmp_path: Path):
    exports = _exports(tmp_path)
    out = portrait("validate", "--source", str(exports), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "readings" in out.stdout and "duplicate 1" in out.stdout and "out_of_range 1" in out.stdout
    assert "nothing was written" in out.stdout
    assert not (tmp_path / "store").exists()


def test_run_publishes_and_prints_summary(tmp_path: Path):
    exports = _exports(tmp_path)
    store = tmp_path / "mystore"
    out = portrait("run", "--source", str(exports), "--as-of", "2025-12-31", "--store", str(store))
    assert out.returncode == 0, out.stderr
    assert "published as-of 2025-12-31" in out.stdout and "time per stage" in out.stdout
    assert "ran in the background, beside other stages: text " in out.stdout
    assert str(store.resolve()) in out.stdout
    assert (store / "store.json").exists()


def test_run_with_config_file(tmp_path: Path):
    _exports(tmp_path)  # writes tmp_path/exports, which run.toml names
    (tmp_path / "run.toml").write_text(
        'as_of = "2025-11-30"\nstore = "st"\n[[sources]]\npath = "exports"\n[params]\nladder_tier1_kwh = 2500\n',
        encoding="utf-8")
    out = portrait("run", "--config", str(tmp_path / "run.toml"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "st" / "snapshots" / "2025-11-30").is_dir()


def test_config_errors_are_one_actionable_line(tmp_path: Path):
    (tmp_path / "run.toml").write_text('as_of = "2025-12-31"\nsorce = "x"\n', encoding="utf-8")
    out = portrait("run", "--config", str(tmp_path / "run.toml"))
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("Error: unknown top-level key `sorce`") and "did you mean `source`" in out.stderr
    assert "Traceback" not in out.stderr
    (tmp_path / "run.toml").write_text('as_of = "2025-12-31"\nsource = "exports"\n[params]\nladder_tier_1 = 1\n',
                                       encoding="utf-8")
    out = portrait("run", "--config", str(tmp_path / "run.toml"))
    assert "unknown key `ladder_tier_1` in [params]" in out.stderr and "did you mean" in out.stderr


def test_missing_column_error_names_file_and_fix(tmp_path: Path):
    exports = _exports(tmp_path)
    write_csv(exports / "客服工单.csv", [["户号", "受理渠道"], ["0012345678", "95598"]])
    out = portrait("validate", "--source", str(exports))
    assert out.returncode == 1
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: 客服工单.csv: required column(s) missing for table contacts")
    assert "受理时间 (contacted_at)" in line and "tables.contacts.columns" in line
    out = portrait("--debug", "validate", "--source", str(exports))
    assert "Traceback" in out.stderr


def test_text_classify_adds_the_classifier_columns(tmp_path: Path):
    src = tmp_path / "texts.csv"
    src.write_text("id,内容\n1,客户来电反映停电三天了还没人来修，要求马上处理，否则打12398投诉\n2,表扬抢修师傅服务热情周到\n",
                   encoding="gbk")
    out = portrait("text", "classify", "--input", str(src), "--text-column", "内容", "--output", str(tmp_path / "o.csv"))
    assert out.returncode == 0, out.stderr
    import pandas as pd
    got = pd.read_csv(tmp_path / "o.csv", dtype={"id": str}, encoding="utf-8-sig")
    assert list(got.columns[:2]) == ["id", "内容"]
    assert {"sentiment", "sentiment_score", "motive_efficiency", "escalation", "abuse", "special_need"} <= set(got.columns)
    assert got["sentiment"].tolist() == ["negative", "positive"] and got.loc[0, "escalation"] == 1
    bad = portrait("text", "classify", "--input", str(src), "--text-column", "文本", "--output", str(tmp_path / "x.csv"))
    assert bad.returncode == 1 and "available columns: id, 内容" in bad.stderr.splitlines()[-1]


def test_an_engine_that_is_not_available_is_refused_not_ignored(tmp_path: Path):
    _exports(tmp_path)  # writes tmp_path/exports, which run.toml names
    (tmp_path / "run.toml").write_text('as_of = "2025-12-31"\nstore = "st"\nengine = "flink"\nsource = "exports"\n',
                                       encoding="utf-8")
    out = portrait("run", "--config", str(tmp_path / "run.toml"))
    assert out.returncode == 1 and "engine = 'flink' is not supported" in out.stderr
    assert not (tmp_path / "st" / "store.json").exists()


def test_split_exports_then_incremental_run_adds_the_month(tmp_path: Path):
    exports = tmp_path / "exports"
    write_csv(exports / "客户档案.csv", customer_rows(3))
    write_csv(exports / "日电量.csv", [["户号", "数据日期", "日电量"], ["0012345678", "2025-11-30", "3"],
                                     ["0012345678", "2025-12-01", "4"], ["0012345678", "2025-12-02", "5"]])
    out = portrait("split-exports", "--source", str(exports), "--at", "2025-11-30",
                   "--base", str(tmp_path / "nov"), "--new", str(tmp_path / "dec"))
    assert out.returncode == 0, out.stderr
    assert "日电量.csv: 1 rows" in out.stdout and "2 rows" in out.stdout
    store = str(tmp_path / "store")
    assert portrait("run", "--source", str(tmp_path / "nov"), "--as-of", "2025-11-30", "--store", store).returncode == 0
    out = portrait("run", "--incremental", "--source", str(tmp_path / "dec"), "--as-of", "2025-12-31", "--store", store)
    assert out.returncode == 0, out.stderr
    import duckdb

    from pipeline.store import snapshot

    usage = snapshot(Path(store)).table_path("usage_daily")
    days = duckdb.connect().execute(f"SELECT count(*), sum(kwh) FROM read_parquet('{usage}')").fetchone()
    assert days == (3, 12.0)  # November's day from the store, December's two from the new export
