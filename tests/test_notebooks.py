"""The analyst notebooks: committed without outputs, on the public API only, and each runs top to bottom."""
from __future__ import annotations

import ast
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.two_month_store import two_month_store

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = ("01_district_key_users", "02_adding_a_tag", "03_segment_evaluation", "04_experience_map_and_service_gaps")
PUBLIC_IMPORT = "from pipeline import open_store"
OWN_PACKAGES = ("pipeline", "tags", "dashboards")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _code(nb: nbformat.NotebookNode) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _cjk_font_installed() -> bool:
    from matplotlib import font_manager

    return any("CJK" in f.name for f in font_manager.fontManager.ttflist) or bool(
        list(Path("/usr/share/fonts").glob("**/NotoSansCJK*-Regular.tt[cf]")))


def _execute(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()  # CellExecutionError names the cell
    return nb


@pytest.fixture(scope="module")
def store(sample_store, tmp_path_factory) -> Path:
    return two_month_store(sample_store, tmp_path_factory.getbasetemp()).path


def test_the_four_notebooks_are_there():
    assert set(EXPECTED) <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: clear the outputs before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_only_the_public_api_is_imported(path):
    nb = nbformat.read(path, as_version=4)
    public = 0
    for source in _code(nb):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in OWN_PACKAGES:
                assert node.module == "pipeline" and [a.name for a in node.names] == ["open_store"], \
                    f"{path.name} imports {node.module}; notebooks use `{PUBLIC_IMPORT}` only"
                public += 1
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] not in OWN_PACKAGES, f"{path.name} imports {alias.name}"
    assert public == 1, f"{path.name} should start from `{PUBLIC_IMPORT}`"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(path, store, monkeypatch):
    monkeypatch.setenv("PORTRAIT_STORE", str(store))
    monkeypatch.delenv("PORTRAIT_DISTRICT", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # importing streamlit (dashboard tests) sets it to Agg: no inline plots
    start = time.perf_counter()
    nb = _execute(path)
    elapsed = time.perf_counter() - start
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 2, f"{path.name} drew {images} plots"
    stderr = "".join(o.text for c in nb.cells for o in c.get("outputs", [])
                     if o.output_type == "stream" and o.name == "stderr")
    if _cjk_font_installed():
        assert "missing from font" not in stderr, f"{path.name}: Chinese labels did not render:\n{stderr[:500]}"
    assert elapsed < 60, f"{path.name} took {elapsed:.0f}s"


@pytest.mark.slow
def test_a_notebook_builds_its_own_sample_store_when_none_is_given(monkeypatch):
    monkeypatch.delenv("PORTRAIT_STORE", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = _execute(NOTEBOOK_DIR / "02_adding_a_tag.ipynb")
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "portrait-notebook-" in text and "已有标签与发布结果一致" in text
