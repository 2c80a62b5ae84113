"""The profiler behind RESULTS.md's statement breakdowns: what it names, and that it sees every stage."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


def test_statement_names_say_what_a_statement_writes():
    from profile_run import statement_name

    assert statement_name('CREATE OR REPLACE TEMP TABLE "usage_features" AS SELECT 1') == "TABLE usage_features"
    assert statement_name("create view readings as select 1") == "VIEW readings"
    assert statement_name('INSERT INTO "usage_change_features" -- model\nSELECT 1') == "INSERT usage_change_features"
    assert statement_name("COPY (SELECT * FROM t) TO '/s/.tmp-1/tags.parquet' (FORMAT parquet)") == "COPY → tags.parquet"
    assert statement_name("SELECT count(*) FROM t WHERE x = 'it''s secret'  AND y = 1") == \
        "SELECT count(*) FROM t WHERE x = '?' AND y = 1"


def test_profile_times_every_stage_and_the_statements_of_each(tmp_path):
    """The profiler sees every stage and every statement, including publish's writes through cursors."""
    import pipeline.run as pipeline_run
    from conftest import SAMPLE, settings_for
    from profile_run import profile_run, report

    connect = pipeline_run.connect
    profile, total, timings = profile_run(settings_for(SAMPLE / "exports", tmp_path / "store"))
    assert pipeline_run.connect is connect  # put back after the run
    stages = [s for s, _, _ in profile.stage_rows()]
    assert [s for s in stages if s != "start"] == list(timings)
    assert {"validate", "features", "tags", "segments", "publish"} <= set(stages)
    for stage, wall, cpu in profile.stage_rows():
        assert wall >= 0 and cpu >= 0
    assert abs(sum(w for s, w, _ in profile.stage_rows() if s != "start") - sum(timings.values())) < 0.5
    named = {(stage, name) for stage, name, _ in profile.statements}
    assert ("publish", "COPY → tags.parquet") in named  # a cursor's statement
    assert ("features", "TABLE usage_features") in named
    assert ("tags", "TABLE tags_wide") in named
    # publish writes two at once, and text runs beside usage_daily and features
    serial = sum(s for stage, _, s in profile.statements if stage not in ("publish", "text"))
    assert 0 < serial <= total
    top = profile.top(5)
    assert len(top) == 5 and [r[0] for r in top] == sorted((r[0] for r in top), reverse=True)
    text = report(profile, total, 5)
    assert "publish" in text and f"{len(profile.statements)} statements" in text
