"""docs/store_schema.md and a store built from the sample agree: every published table and column, no more, no less."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import open_store
from pipeline.schema_doc import (
    PAGE,
    SchemaDocError,
    documented_schema,
    published_schema,
    rendered_page,
    schema_block,
    schema_differences,
    table_docs,
    tag_names,
)


@pytest.fixture(scope="module")
def published(sample_store: Path) -> dict[str, list[tuple[str, str]]]:
    return published_schema(sample_store)


def test_reference_and_published_store_agree(published):
    problems = schema_differences(documented_schema(PAGE.read_text(encoding="utf-8")), published)
    assert not problems, ("docs/store_schema.md and the store disagree — run `python -m pipeline.schema_doc`:\n  "
                          + "\n  ".join(problems))


def test_reference_is_not_stale(sample_store, published):
    page = PAGE.read_text(encoding="utf-8")
    fresh = rendered_page(schema_block(table_docs(published, tag_names(sample_store))), page)
    assert fresh == page, "docs/store_schema.md is stale: run `python -m pipeline.schema_doc` and commit it"


def test_every_api_table_is_in_the_reference(sample_store):
    documented = documented_schema(PAGE.read_text(encoding="utf-8"))
    with open_store(sample_store) as store:
        for table in store.tables():
            assert list(documented[table]) == store.columns(table), table


def test_differences_name_what_is_out_of_step():
    documented = {"customers": {"customer_id": "VARCHAR", "gone": "VARCHAR"}, "old_table": {}}
    published = {"customers": [("customer_id", "BIGINT"), ("new_col", "DOUBLE")], "new_table": [("x", "DOUBLE")]}
    problems = schema_differences(documented, published)
    assert "table `old_table` is documented but not published" in problems
    assert "table `new_table` is published but not documented" in problems
    assert "column `customers.gone` is documented but not published" in problems
    assert "column `customers.new_col` is published but not documented" in problems
    assert "column `customers.customer_id` is documented as VARCHAR but published as BIGINT" in problems


def test_a_column_without_meaning_or_a_stale_meaning_fails_rendering(tmp_path, published):
    meanings = tmp_path / "m.yaml"
    meanings.write_text("tables:\n  segments:\n    grain: x\n    columns:\n      not_a_column: y\n", encoding="utf-8")
    with pytest.raises(SchemaDocError) as err:
        table_docs({"segments": published["segments"], "mystery": [("a", "DOUBLE")]}, {}, meanings)
    text = str(err.value)
    assert "`segments.not_a_column` is described but not published" in text
    assert "`segments.disc_type` (VARCHAR) is published but has no meaning" in text
    assert "table `mystery` is published but m.yaml does not describe it" in text


def test_the_generator_rewrites_and_checks_only_its_block(sample_store, tmp_path, capsys):
    from pipeline.schema_doc import BEGIN, END, main

    page = tmp_path / "page.md"
    page.write_text(f"# hand-written prose\n\n{BEGIN}\nold\n{END}\n\nmore prose\n", encoding="utf-8")
    assert main(["--store", str(sample_store), "--page", str(page), "--check"]) == 1
    assert "is stale" in capsys.readouterr().err
    assert main(["--store", str(sample_store), "--page", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# hand-written prose") and text.endswith("more prose\n") and "### `segments`" in text
    assert main(["--store", str(sample_store), "--page", str(page), "--check"]) == 0
