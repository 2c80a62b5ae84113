"""Tests for the contact-text classifier and the text stage."""
from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from sklearn.metrics import f1_score

from pipeline.stages.text import contact_text, customer_text_features
from pipeline.text import MOTIVES, TEXT_SCHEMA, LexiconError, classify_csv, classify_texts, load_lexicon
from pipeline.text.classifier import default_lexicon

DATA = Path(__file__).resolve().parents[2] / "pipeline" / "text" / "data"


def one(text: str | None, **kwargs) -> dict:
    """Return the classifier's row for a single text as a dict."""
    return {k: v[0] for k, v in classify_texts([text], **kwargs).to_pydict().items()}


def motives_of(row: dict) -> set[str]:
    """Return the motives flagged in a classified row."""
    return {m for m in MOTIVES if row[f"motive_{m}"]}


@pytest.mark.parametrize(
    ("text", "motive"),
    [
        ("客户情绪激动，称真是气死人了，受够了三天两头停电", "venting"),
        ("营业厅工作人员态度恶劣，爱答不理，要求道歉", "respect"),
        ("家里老是跳闸，不知道该怎么办，希望给个解决办法", "advice"),
        ("停电导致冰箱里的肉全部变质，要求供电公司赔偿损失", "compensation"),
        ("凭什么隔壁家电费那么低，我家这么高，太不公平了", "fairness"),
        ("停电已经好几天了，到现在还没人来，要求马上处理", "efficiency"),
    ],
)
def test_each_motive_is_found(text: str, motive: str) -> None:
    assert motive in motives_of(one(text))


@pytest.mark.parametrize(
    ("text", "sentiment", "motive"),
    [
        ("你们效率真高啊，等了一周了还没人来", "negative", "efficiency"),
        ("接线员态度恶劣，话没说完就挂了", "negative", "respect"),
        ("反映了三次都没人理，物业和供电所互相踢皮球", "negative", "respect"),
        ("每次打电话都是敷衍，说记下了然后就没下文", "negative", "respect"),
        ("家里老是跳闸，有什么办法能解决吗", "neutral", "advice"),
        ("电费突然翻倍，你们总得给个说法吧", "negative", "advice"),
        ("能否派人上门指导一下线路改造？", "neutral", "advice"),
    ],
)
def test_natural_phrasings(text: str, sentiment: str, motive: str) -> None:
    row = one(text)
    assert row["sentiment"] == sentiment
    assert motive in motives_of(row)


def test_agent_summary_with_several_signals() -> None:
    row = one("客户来电反映家中停电三天了，至今没人来修，客户辱骂坐席，扬言要打12398投诉，要求尽快处理")
    assert row["sentiment"] == "negative"
    assert row["escalation"] == 1 and row["abuse"] == 1
    assert {"efficiency", "venting"} <= motives_of(row)
    assert row["urgency"] > 0
    assert "12398" in row["evidence"]


def test_praise_is_positive() -> None:
    row = one("客户来电表扬抢修师傅冒雨抢修，服务热情周到，特此感谢")
    assert row["sentiment"] == "positive" and row["sentiment_score"] > 0.5
    assert motives_of(row) == set()


def test_plain_inquiry_is_neutral_with_a_topic() -> None:
    row = one("客户咨询居民阶梯电价的收费标准")
    assert row["sentiment"] == "neutral" and motives_of(row) == set()
    assert row["topic"] == "电价"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我不是不满意，只是想问一下电费怎么算", "neutral"),
        ("客户对处理结果不太满意", "negative"),
        ("客户表示并不是很满意", "negative"),
        ("服务态度没得挑，抢修也很及时，非常满意", "positive"),
    ],
)
def test_negated_sentiment(text: str, expected: str) -> None:
    assert one(text)["sentiment"] == expected


def test_negated_cues_do_not_count() -> None:
    calm = one("我并不着急，你们方便时来看看就行")
    assert calm["urgency"] == 0 and calm["motive_efficiency"] == 0
    no_claim = one("客户表示不要求赔偿，只希望以后提前通知")
    assert no_claim["motive_compensation"] == 0
    assert one("家里没有停电，但是电表走得很快")["topic"] == "计量"
    assert one("客户说自己不是独居，家里有儿子照顾")["special_need"] == ""


def test_conditional_threat_is_still_escalation() -> None:
    assert one("如果今天不解决，就向12398投诉")["escalation"] == 1


def test_contrast_takes_the_second_clause() -> None:
    assert one("抢修师傅人挺好的，但是来得太晚了，等了四个多小时")["sentiment"] == "negative"


def test_chasing_implies_efficiency() -> None:
    row = one("客户再次来电催办，称上周报修的问题还没处理")
    assert row["chasing"] == 1 and row["motive_efficiency"] == 1


@pytest.mark.parametrize(
    ("text", "need"),
    [
        ("客户为聋哑人，请用文字沟通", "hearing"),
        ("客户是外籍人士，只会说英语", "foreign"),
        ("Power outage since this morning, please send someone to fix it.", "foreign"),
        ("客户是独居老人，家中停电", "elderly_alone"),
        ("客户是独居老人，听力障碍，只能文字沟通", "hearing|elderly_alone"),
    ],
)
def test_special_needs(text: str, need: str) -> None:
    assert one(text)["special_need"] == need


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_empty_text_is_neutral_and_zero(empty: str | None) -> None:
    row = one(empty)
    assert row["sentiment"] == "neutral" and row["sentiment_score"] == 0.0
    assert all(row[f"motive_{m}"] == 0 and row[f"score_{m}"] == 0.0 for m in MOTIVES)
    assert row["escalation"] == row["abuse"] == row["chasing"] == 0 and row["urgency"] == 0.0
    assert row["special_need"] == "" and row["evidence"] == ""


def test_output_schema_and_order() -> None:
    texts = ["客户来电表扬师傅", None, "凭什么只有我家停电", "客户咨询电价"]
    table = classify_texts(texts)
    assert table.schema.equals(TEXT_SCHEMA)
    assert table.num_rows == len(texts)
    assert table.column("sentiment").to_pylist() == ["positive", "neutral", "negative", "neutral"]
    for m in MOTIVES:
        scores = table.column(f"score_{m}").to_pylist()
        assert all(0.0 <= s <= 1.0 for s in scores)
    assert all(-1.0 <= s <= 1.0 for s in table.column("sentiment_score").to_pylist())
    assert classify_texts([]).num_rows == 0


def _write_csv(path: Path, rows: list[list[str]], encoding: str) -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_classify_csv_round_trip(tmp_path: Path, encoding: str) -> None:
    source = tmp_path / f"orders_{encoding}.csv"
    rows = [
        ["工单号", "户号", "受理内容"],
        ["T1", "0012345678", "工作人员态度很差，要求道歉，否则找你们领导"],
        ["T2", "0012345679", "客户来电表扬抢修师傅，非常感谢"],
        ["T3", "0012345680", ""],
    ]
    _write_csv(source, rows, encoding)
    target = tmp_path / "out.csv"
    assert classify_csv(source, "受理内容", target) == 3
    with target.open(encoding="utf-8-sig", newline="") as handle:
        out = list(csv.DictReader(handle))
    assert list(out[0])[:3] == rows[0]
    assert list(out[0])[3:] == [
        "sentiment", "sentiment_score", *[f"motive_{m}" for m in MOTIVES], "escalation", "abuse", "special_need",
    ]
    assert out[0]["户号"] == "0012345678"  # account numbers keep their leading zeros
    assert out[0]["受理内容"] == rows[1][2]
    assert (out[0]["sentiment"], out[0]["motive_respect"], out[0]["escalation"]) == ("negative", "1", "1")
    assert out[1]["sentiment"] == "positive"
    assert out[2]["sentiment"] == "neutral" and out[2]["motive_venting"] == "0"


def test_classify_csv_names_the_missing_column(tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    _write_csv(source, [["工单号", "内容"], ["T1", "停电了"]], "utf-8")
    with pytest.raises(ValueError) as excinfo:
        classify_csv(source, "受理内容", tmp_path / "out.csv")
    message = str(excinfo.value)
    assert "orders.csv" in message and "受理内容" in message and "工单号, 内容" in message


def _contacts(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    con.execute(
        """CREATE TABLE contacts (
            ticket_id VARCHAR, customer_id VARCHAR, contacted_at TIMESTAMP, channel VARCHAR,
            business_type VARCHAR, content VARCHAR, handle_hours DOUBLE, overdue BOOLEAN,
            transfers INTEGER, satisfaction VARCHAR, repeated BOOLEAN, call_seconds DOUBLE)"""
    )
    con.executemany(
        "INSERT INTO contacts (ticket_id, customer_id, contacted_at, channel, business_type, content) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )


def test_contact_text_and_customer_features() -> None:
    con = duckdb.connect()
    _contacts(con, [
        ("T1", "0000000001", "2024-02-01 09:00", "95598电话", "投诉", "工作人员态度恶劣，挂我电话，我要找你们领导"),
        ("T2", "0000000001", "2024-05-01 09:00", "95598电话", "表扬", "客户来电表扬抢修师傅，非常感谢"),
        ("T3", "0000000001", "2024-12-31 20:00", "网上国网", "咨询", "客户咨询阶梯电价"),
        ("T4", "0000000002", "2024-06-01 09:00", "95598电话", "催办", "客户再次来电催办，停电两天了，我是独居老人"),
        ("T5", "0000000003", "2023-06-01 09:00", "95598电话", "投诉", "凭什么只有我家停电"),  # outside the window
        ("T6", "0000000004", "2024-07-01 09:00", "营业厅", "咨询", None),
    ])
    assert contact_text(con) == 6
    columns = [r[0] for r in con.execute("DESCRIBE contact_text").fetchall()]
    assert columns == ["ticket_id", "customer_id", "contacted_at", "business_type", "channel", *TEXT_SCHEMA.names]

    assert customer_text_features(con, date(2024, 12, 31)) == 3
    features = {r["customer_id"]: r for r in con.sql("SELECT * FROM customer_text_features").to_arrow_table().to_pylist()}
    assert set(features) == {"0000000001", "0000000002", "0000000004"}
    first = features["0000000001"]
    scores = dict(con.execute("SELECT ticket_id, sentiment_score FROM contact_text").fetchall())
    assert first["n_texts_12m"] == 3 and first["n_negative_12m"] == 1 and first["n_positive_12m"] == 1
    assert first["last_sentiment"] == "neutral" and first["last_sentiment_score"] == scores["T3"]
    assert str(first["last_contact_at"]) == "2024-12-31 20:00:00"
    assert first["worst_sentiment_score"] == scores["T1"] < 0
    assert str(first["worst_contact_at"]) == "2024-02-01 09:00:00"
    assert first["peak_end_score"] == pytest.approx((scores["T1"] + scores["T3"]) / 2)
    assert first["escalation_cnt_12m"] == 1 and first["n_motive_respect_12m"] == 1
    assert first["top_motive"] == "求尊重"
    assert first["sentiment_trend"] > 0  # from a bad start to a neutral end
    second = features["0000000002"]
    assert second["chasing_cnt_12m"] == 1 and second["special_need"] == "elderly_alone"
    assert second["top_motive"] == "求高效" and second["sentiment_trend"] is None
    assert features["0000000004"]["top_motive"] == "" and features["0000000004"]["n_texts_12m"] == 1
    # The window is (as_of - 365 days, as_of]: 2024-02-01 is the first day in it for 2025-01-30, not for 01-31.
    def texts_of_first(as_of: date) -> int:
        customer_text_features(con, as_of)
        return con.execute(
            "SELECT n_texts_12m FROM customer_text_features WHERE customer_id = '0000000001'"
        ).fetchall()[0][0]

    assert texts_of_first(date(2025, 1, 30)) == 3
    assert texts_of_first(date(2025, 1, 31)) == 2
    assert customer_text_features(con, date(2023, 12, 31)) == 1  # only T5


def _labelled_f1(name: str) -> tuple[int, float, float]:
    """Return the row count, sentiment macro-F1 and motive micro-F1 on one labelled file."""
    with (DATA / name).open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    predicted = classify_texts([r["text"] for r in rows]).to_pydict()
    sentiment = f1_score([r["sentiment"] for r in rows], predicted["sentiment"], average="macro")
    truth = [[int(m in r["motives"].split("|")) for m in MOTIVES] for r in rows]
    guess = [[predicted[f"motive_{m}"][i] for m in MOTIVES] for i in range(len(rows))]
    return len(rows), sentiment, f1_score(truth, guess, average="micro")


EVAL_SETS = ("eval.csv", "eval_v2.csv", "eval_v3.csv")
# eval_v4.csv (684 texts with implicit motives, written without running the model) was held out until
# 2026-11-24, when it was scored once (sentiment macro-F1 0.829, motive micro-F1 0.608). The prompt
# for the development rows written next quoted phrases from its errors, so it no longer counts as
# held out: it is kept as a hard set that tracks implicit phrasing, not as evidence for the target.
HARD_SET = "eval_v4.csv"


@pytest.mark.parametrize("name", [*EVAL_SETS, HARD_SET])
def test_eval_sentiment_target_is_met(name: str) -> None:
    # Held-out sets, never fitted or tuned on: eval.csv (written with the first lexicons),
    # eval_v2.csv (written after the blend model was frozen, without looking at its errors) and
    # eval_v3.csv (596 texts, written by someone who never ran the model). On the current model
    # (2026-11-24): macro-F1 0.938, 0.956, 0.923; 0.861 on the hard set.
    n_rows, sentiment, _ = _labelled_f1(name)
    assert n_rows >= 400
    assert sentiment >= 0.85


@pytest.mark.parametrize("name", EVAL_SETS)
def test_eval_motive_target_is_met(name: str) -> None:
    # Motive micro-F1 on the current model (2026-11-24): 0.809 on eval.csv, 0.817 on eval_v2.csv,
    # 0.844 on eval_v3.csv.
    _, _, motives = _labelled_f1(name)
    assert motives >= 0.80, name


@pytest.mark.xfail(
    strict=True,
    reason="motive micro-F1 0.678 on the hard set eval_v4.csv (implicit motives; venting recall 0.44, "
    "respect 0.58): the classifier still leans on cue words; remove this marker when it reaches 0.80",
)
def test_hard_set_motive_target_is_met() -> None:
    _, _, motives = _labelled_f1(HARD_SET)
    assert motives >= 0.80


@pytest.mark.parametrize(("name", "floor_sentiment", "floor_motives"), [("train.csv", 0.92, 0.90), ("dev.csv", 0.92, 0.90)])
def test_development_sets_do_not_regress(name: str, floor_sentiment: float, floor_motives: float) -> None:
    # The blend model is fitted on these files: a regression guard, not a quality claim.
    _, sentiment, motives = _labelled_f1(name)
    assert sentiment >= floor_sentiment
    assert motives >= floor_motives


def test_builtin_lexicons_load() -> None:
    lexicon = load_lexicon()
    assert {"不满意", "12398", "赔偿", "独居老人", "跳闸"} <= set(lexicon.terms)
    assert lexicon.topics[0] == "服务态度" and "电费" in lexicon.topics


def test_analyst_added_word_takes_effect(tmp_path: Path) -> None:
    text = "这电网真是坑爹玩意儿"
    assert one(text)["motive_venting"] == 0
    (tmp_path / "motives.yaml").write_text("venting:\n  cues:\n    坑爹: 1.0\n", encoding="utf-8")
    (tmp_path / "topics.yaml").write_text("新能源:\n  cues:\n    玩意儿: 0.5\n", encoding="utf-8")
    row = one(text, lexicon=load_lexicon(tmp_path))
    assert row["motive_venting"] == 1 and row["sentiment"] == "negative"
    assert row["topic"] == "新能源" and "坑爹" in row["evidence"]


@pytest.mark.parametrize(
    ("file", "content", "fix"),
    [
        ("motives.yaml", "anger:\n  cues:\n    气: 1.0\n", "motives has only"),
        ("motives.yaml", "venting:\n  cues:\n    气: high\n", "give a number from 0 to"),
        ("motives.yaml", "venting:\n  cues:\n    气: 1.0\n    气: 0.5\n", "listed twice"),
        ("moods.yaml", "x:\n  cues: {}\n", "name it one of"),
    ],
)
def test_bad_lexicon_files_are_rejected_with_the_fix(tmp_path: Path, file: str, content: str, fix: str) -> None:
    (tmp_path / file).write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError, match=fix):
        load_lexicon(tmp_path)


def test_classifier_returns_arrow() -> None:
    assert isinstance(classify_texts(["停电了"]), pa.Table)


@pytest.mark.parametrize(
    ("text", "motive"),
    [
        ("你们根本不把我们当回事", "respect"),  # the negation is the complaint: not cancelled by 不
        ("那个人根本没把我放在眼里", "respect"),
        ("对大企业一个态度，对我们又是另一个态度，双标", "fairness"),
        ("我们这片老小区就是软柿子，好欺负", "fairness"),
        ("越快越好，家里有老人", "efficiency"),
        ("电压不稳把空调烧了，这种情况管不管赔", "compensation"),
    ],
)
def test_lexicon_motive_cues(text: str, motive: str) -> None:
    from pipeline.text.classifier import LEXICON_FEATURES, lexicon_features

    row = lexicon_features([text])[0]
    assert row[LEXICON_FEATURES.index(motive)] >= 0.7, text


def test_lexicon_matcher_finds_what_a_longest_first_alternation_finds() -> None:
    # The automaton replaced a trie regex: at each position the longest term, then on from its end.
    # A plain alternation with the longer terms first has exactly those semantics in `re`.
    import random
    import re

    lex = default_lexicon()
    words = sorted(lex.words, key=len, reverse=True)
    reference = re.compile("|".join(re.escape(w) for w in words))
    rng = random.Random(11)
    pieces = [*lex.words, "不", "很", "，", "a", "  ", "\u3000", "X", "😀"]
    texts = ["".join(rng.choice(pieces)[: rng.randint(1, 4)] for _ in range(rng.randint(1, 8))) for _ in range(3000)]
    texts += ["没有不满意", "非常非常不满意，要求赔偿", "投诉投诉投诉"]
    for text in texts:
        low = text.lower()
        assert [(lex.words[i], s, e) for i, s, e in lex.find(low)] == \
            [(m.group(), *m.span()) for m in reference.finditer(low)], text
    assert [lex.words[i] for i, *_ in lex.find("\ud800不满意")] == ["不满意"]  # a lone surrogate does not fail
