"""Shared fixtures: the committed sample, a store built from it once per session, tiny exports."""
from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from pipeline.settings import settings_from_dict

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
AS_OF = date(2025, 12, 31)


def write_csv(path: Path, rows: list[list[object]], encoding: str = "utf-8") -> Path:
    """Write rows (header first) as a CSV with '\\n' line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding=encoding, newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


CUSTOMER_HEADER = ["户号", "户名", "用电地址", "用电类别", "台区编号", "台区名称", "供电所", "联系电话", "费控标志"]


def customer_rows(n: int = 3) -> list[list[object]]:
    """Return a header plus n valid customer rows with leading-zero 户号."""
    rows = [CUSTOMER_HEADER]
    for i in range(n):
        rows.append([f"00{i + 12345678:08d}", f"测试{i}", f"测试路{i}号", "城乡居民生活用电", "TQ001", "一号台区",
                     "城东供电所", f"1380000{i:04d}", "否"])
    return rows


@pytest.fixture
def tiny_exports(tmp_path: Path) -> Path:
    """A folder with a valid customer archive and nothing else."""
    folder = tmp_path / "exports"
    write_csv(folder / "客户档案.csv", customer_rows())
    return folder


def settings_for(source: Path, store: Path, **extra):
    """Return run settings for a folder of exports."""
    return settings_from_dict({"as_of": AS_OF.isoformat(), "store": str(store), "source": str(source), **extra})


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory) -> Path:
    """A store published once from the committed sample exports."""
    from pipeline.run import run_pipeline

    store = tmp_path_factory.mktemp("sample") / "store"
    result = run_pipeline(settings_for(SAMPLE / "exports", store))
    assert result.snapshot is not None
    return store
