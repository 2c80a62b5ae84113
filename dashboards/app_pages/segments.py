"""人群圈选: combine tags with AND / OR / NOT and value conditions; count, breakdown by 台区, sample; save; export.

The builder keeps conditions as data and compiles them with dashboards.segment_query: tag ids are
checked against the published tags, values travel as SQL parameters.
"""
from __future__ import annotations

import json

import streamlit as st

from dashboards import charts, export, queries
from dashboards.context import fit_height, show_table, not_available, page_context
from dashboards.downloads import export_buttons, open_portrait
from dashboards.segment_query import OP_LABELS_EN, OP_LABELS_ZH, OPS_BY_TYPE, SegmentError, describe_segment

ctx = page_context()
t = ctx.t
st.title(":material/filter_alt: " + t("人群圈选"))
st.caption(t("用标签组合圈选客户：全部满足（且）、任一满足（或）、排除（非），以及取值条件。结果实时计数，可保存、可导出。"))

fields = ctx.q("segment_fields")
if not fields:
    not_available(ctx, "标签宽表（tags_wide）")
    st.stop()
dictionary = ctx.q("tag_dictionary")
cat_col = "category_en" if ctx.lang == "en" and "category_en" in dictionary.columns else "category"
category_of = dict(zip(dictionary["tag_id"], dictionary[cat_col])) if cat_col in dictionary.columns else {}
ops_label = OP_LABELS_EN if ctx.lang == "en" else OP_LABELS_ZH
GROUPS = {"all": "全部满足（且）", "any": "任一满足（或）", "none": "排除（非）"}

if "seg_rows" not in st.session_state:
    st.session_state["seg_rows"] = []
rows: list[dict] = st.session_state["seg_rows"]


def tree_from_rows(items: list[dict]) -> dict:
    """Return the segment tree of the three groups (empty groups left out)."""
    parts: list[dict] = []
    conds = {g: [{k: v for k, v in r.items() if k != "group"} for r in items if r.get("group") == g] for g in GROUPS}
    parts += conds["all"]
    if conds["any"]:
        parts.append({"any": conds["any"]})
    if conds["none"]:
        parts.append({"not": {"any": conds["none"]}})
    return {"all": parts}


def rows_from_tree(tree: dict) -> list[dict] | None:
    """Return builder rows for a tree in the three-group shape, or None when it has another shape."""
    out = []
    for part in tree.get("all", []) if isinstance(tree, dict) else []:
        if "tag" in part:
            out.append({"group": "all", **part})
        elif "any" in part and all("tag" in c for c in part["any"]):
            out += [{"group": "any", **c} for c in part["any"]]
        elif "not" in part and "any" in part["not"] and all("tag" in c for c in part["not"]["any"]):
            out += [{"group": "none", **c} for c in part["not"]["any"]]
        else:
            return None
    return out if isinstance(tree, dict) and set(tree) == {"all"} else None


def field_label(fid: str) -> str:
    f = fields.get(fid)
    cat = category_of.get(fid, t("分群"))
    return f"{cat} · {f.label(ctx.lang) if f else fid}"


# --- saved segments ------------------------------------------------------------------------------------
saved = export.load_segments(ctx.store.path)
with st.sidebar:
    st.markdown("**" + t("已保存的人群") + "**")
    names = sorted(saved)
    load = st.selectbox(t("载入"), [""] + names, key="seg_load", format_func=lambda n: n or t("（选择一个）"))
    if load and st.button(t("载入此人群"), key="seg_load_btn"):
        loaded = rows_from_tree(saved[load]["tree"])
        if loaded is None:
            st.session_state["seg_json"] = json.dumps(saved[load]["tree"], ensure_ascii=False)
        else:
            st.session_state["seg_rows"] = loaded
            st.session_state.pop("seg_json", None)
        st.rerun()

# --- add a condition -----------------------------------------------------------------------------------
with st.container(border=True):
    st.markdown("**" + t("添加条件") + "**")
    c1, c2, c3, c4 = st.columns([2, 3, 2, 3])
    with c1:
        group = st.selectbox(t("条件组"), list(GROUPS), format_func=lambda g: t(GROUPS[g]), key="seg_group")
    with c2:
        fid = st.selectbox(t("标签"), sorted(fields, key=field_label), format_func=field_label, key="seg_field")
    f = fields[fid]
    with c3:
        op = st.selectbox(t("条件"), list(OPS_BY_TYPE[f.value_type]), format_func=lambda o: ops_label.get(o, o),
                          key=f"seg_op_{f.value_type}")
    cond: dict = {"tag": fid, "op": op}
    with c4:
        if op in ("in", "not_in"):
            values = ctx.q("field_values", fid)
            cond["values"] = st.multiselect(t("取值"), values, key=f"seg_vals_{fid}")
        elif op == "between":
            lo = st.number_input(t("下限"), value=0.0, key=f"seg_lo_{fid}")
            hi = st.number_input(t("上限"), value=1.0, key=f"seg_hi_{fid}")
            cond["values"] = [lo, hi]
        elif op in (">=", ">", "<=", "<", "=", "!="):
            cond["value"] = st.number_input(t("数值"), value=0.0, key=f"seg_num_{fid}")
        else:
            st.caption(t("无需取值"))
    if st.button(":material/add: " + t("添加"), key="seg_add", type="primary"):
        if op in ("in", "not_in") and not cond.get("values"):
            st.warning(t("请至少选择一个取值。"))
        else:
            rows.append({"group": group, **cond})
            st.rerun()

with st.expander(t("高级：用 JSON 编写条件"), expanded=bool(st.session_state.get("seg_json"))):
    st.caption(t('格式：{"all": [...]}、{"any": [...]}、{"not": {...}}、{"tag": "标签编号", "op": "is_true"}。'))
    raw = st.text_area("JSON", key="seg_json", height=120)

# --- the current definition ------------------------------------------------------------------------------
tree: dict | None
if st.session_state.get("seg_json"):
    try:
        tree = json.loads(st.session_state["seg_json"])
    except ValueError as err:
        st.error(t("JSON 格式不正确：") + str(err))
        st.stop()
else:
    tree = tree_from_rows(rows)
    for g, title in GROUPS.items():
        mine = [(i, r) for i, r in enumerate(rows) if r.get("group") == g]
        if not mine:
            continue
        st.markdown(f"**{t(title)}**")
        for i, r in mine:
            a, b = st.columns([10, 1])
            desc = describe_segment({"all": [{k: v for k, v in r.items() if k != "group"}]}, fields, ctx.lang)
            a.markdown(f"- {category_of.get(r['tag'], '')} · {desc}")
            if b.button(":material/close:", key=f"seg_del_{i}", help=t("删除条件")):
                rows.pop(i)
                st.rerun()
    if rows and st.button(t("清空条件"), key="seg_clear"):
        st.session_state["seg_rows"] = []
        st.rerun()

try:
    count = ctx.q("segment_count", tree, ctx.only)
except SegmentError as err:
    st.error(t("条件无效：") + str(err))
    st.stop()
description = describe_segment(tree, fields, ctx.lang)
total = int(ctx.q("districts")["customers"].sum()) if not ctx.only else int(
    ctx.q("districts").set_index("district_id").reindex(list(ctx.only))["customers"].fillna(0).sum())

m1, m2 = st.columns([1, 3])
m1.metric(t("圈选人数"), f"{count:,}", help=t("本范围用户总数") + f" {total:,}", border=True)
m2.markdown(f"**{t('条件')}**：{description}")
m2.caption(f"{t('占本范围用户')} {count / total:.1%}" if total else "")

# --- breakdown and sample ---------------------------------------------------------------------------------
b1, b2 = st.columns([3, 2])
with b1:
    by = ctx.q("segment_by_district", tree, ctx.only)
    if len(by):
        top = by.head(20)
        st.plotly_chart(charts.bar(top, "district_name", "customers", t("按台区分布（前20）"), t("台区"), t("圈选人数"),
                                   horizontal=True, height=max(260, 24 * len(top) + 80)), key="seg_by")
    else:
        st.caption(t("没有符合条件的用户。"))
with b2:
    if len(by):
        show_table(ctx, by[["district_name", "station", "customers", "share"]], height=fit_height(len(by), 420))

st.markdown("**" + t("样本用户（前 20 位）") + "**")
sample = ctx.q("segment_members", tree, ctx.only, 20)
named = sample.rename(columns={c: fields[c].label(ctx.lang) for c in sample.columns if c in fields})
event = show_table(ctx, named, key="seg_sample", select=True)
if event and event.selection.rows:
    cid = str(sample.iloc[event.selection.rows[0]]["customer_id"])
    if st.button(t("打开画像") + f"：{cid}", key="seg_open"):
        open_portrait(cid)

# --- save and export -------------------------------------------------------------------------------------
s1, s2 = st.columns([2, 1])
with s1:
    name = st.text_input(t("人群名称"), key="seg_name", placeholder=t("例如：城东欠费高价值客户"))
with s2:
    st.write("")
    if st.button(":material/save: " + t("保存人群"), key="seg_save"):
        try:
            export.save_segment(ctx.store.path, ctx.viewer, name, tree, description, count)
            st.success(t("已保存：") + name)
        except (ValueError, PermissionError) as err:
            st.error(str(err))

store, viewer, only = ctx.store, ctx.viewer, ctx.only


def _rows():
    return queries.segment_members(store, viewer, tree, only, limit=1_000_000)


export_buttons(ctx, "segment", {"segment": description, "tree": tree, "districts": list(only) or "all"}, _rows,
               "人群圈选", "seg_export")
