"""Plotly figures for the pages: every axis, legend and marker is labelled in the page's language."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

FONT = "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, sans-serif"
PALETTE = ["#1f6fb2", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f", "#bab0ac"]
DISC_COLORS = {"支配型": "#e15759", "表达型": "#f28e2b", "耐心型": "#59a14f", "精确型": "#1f6fb2",
               "Dominant": "#e15759", "Expressive": "#f28e2b", "Steady": "#59a14f", "Conscientious": "#1f6fb2",
               "数据不足": "#c7c7c7", "Insufficient data": "#c7c7c7"}


def _style(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(title={"text": title, "font": {"size": 15}}, height=height, font={"family": FONT, "size": 12},
                      margin={"l": 10, "r": 10, "t": 46, "b": 10}, legend={"title": {"text": ""}},
                      colorway=PALETTE, template="plotly_white")
    return fig


def bar(df: pd.DataFrame, x: str, y: str, title: str, x_label: str, y_label: str, color: str | None = None,
        horizontal: bool = False, height: int = 320, text: bool = True) -> go.Figure:
    """Return a labelled bar chart."""
    labels = {x: x_label, y: y_label}
    if horizontal:
        fig = px.bar(df, y=x, x=y, orientation="h", labels=labels, color=color, text=y if text else None,
                     color_discrete_map=DISC_COLORS)
        fig.update_yaxes(categoryorder="total ascending")
    else:
        fig = px.bar(df, x=x, y=y, labels=labels, color=color, text=y if text else None,
                     color_discrete_map=DISC_COLORS)
    fig.update_traces(textposition="outside", cliponaxis=False)
    if color is None:
        fig.update_layout(showlegend=False)
    return _style(fig, title, height)


def donut(df: pd.DataFrame, names: str, values: str, title: str, height: int = 300) -> go.Figure:
    """Return a labelled donut chart of a mix."""
    fig = px.pie(df, names=names, values=values, hole=0.45, color=names, color_discrete_map=DISC_COLORS)
    fig.update_traces(textinfo="label+percent", textposition="outside")
    fig.update_layout(showlegend=False)
    return _style(fig, title, height)


def trend(df: pd.DataFrame, x: str, ys: dict[str, str], title: str, x_label: str, y_label: str,
          height: int = 300) -> go.Figure:
    """Return a line chart with one labelled line per column in `ys` (column → label)."""
    fig = go.Figure()
    for col, label in ys.items():
        if col in df.columns:
            fig.add_trace(go.Scatter(x=df[x], y=df[col], mode="lines+markers", name=label))
    fig.update_xaxes(title_text=x_label, tickformat="%Y-%m-%d", tickvals=list(df[x]))
    fig.update_yaxes(title_text=y_label)
    return _style(fig, title, height)


def daily_usage(df: pd.DataFrame, title: str, day_label: str, kwh_label: str, avg_label: str,
                split_labels: dict[str, str] | None = None) -> go.Figure:
    """Return daily kWh with a 30-day average and, when known, the 峰/平/谷 split."""
    fig = go.Figure()
    d = df.sort_values("reading_date")
    if split_labels and all(c in d.columns for c in split_labels) and d[list(split_labels)].notna().any().any():
        for col, label in split_labels.items():
            fig.add_trace(go.Bar(x=d["reading_date"], y=d[col], name=label))
        fig.update_layout(barmode="stack")
    else:
        fig.add_trace(go.Bar(x=d["reading_date"], y=d["kwh"], name=kwh_label, marker_color="#9ecae1"))
    fig.add_trace(go.Scatter(x=d["reading_date"], y=d["kwh"].rolling(30, min_periods=7).mean(), name=avg_label,
                             mode="lines", line={"color": "#d62728", "width": 2}))
    fig.update_xaxes(title_text=day_label, tickformat="%Y-%m")
    fig.update_yaxes(title_text=kwh_label)
    fig.update_layout(bargap=0)
    return _style(fig, title, 320)


def bills_chart(df: pd.DataFrame, title: str, period_label: str, amount_label: str, kwh_label: str,
                arrears_label: str) -> go.Figure:
    """Return monthly bill amounts (bars) with kWh on a second axis and arrears marked."""
    fig = go.Figure()
    fig.add_trace(go.Bar(x=df["period"], y=df["amount"], name=amount_label, marker_color="#1f6fb2"))
    if "arrears" in df.columns and (df["arrears"].fillna(0) > 0).any():
        fig.add_trace(go.Bar(x=df["period"], y=df["arrears"], name=arrears_label, marker_color="#e15759"))
    if "kwh" in df.columns:
        fig.add_trace(go.Scatter(x=df["period"], y=df["kwh"], name=kwh_label, yaxis="y2", mode="lines+markers",
                                 line={"color": "#f28e2b"}))
    fig.update_layout(yaxis={"title": {"text": amount_label}},
                      yaxis2={"title": {"text": kwh_label}, "overlaying": "y", "side": "right", "showgrid": False,
                              "rangemode": "tozero", "nticks": 6},
                      xaxis={"title": {"text": period_label}, "tickformat": "%Y-%m"}, barmode="group")
    return _style(fig, title, 320)


def emotion_curve(df: pd.DataFrame, x: str, y: str, title: str, x_label: str, y_label: str, peak_label: str,
                  end_label: str, hover: str | None = None, height: int = 320) -> go.Figure:
    """Return a sentiment curve with its peak (worst point) and end (last point) marked — the peak–end rule."""
    d = df.sort_values(x).reset_index(drop=True)
    fig = go.Figure()
    fig.add_hrect(y0=-1, y1=-0.3, fillcolor="#fde0dd", opacity=0.4, line_width=0)
    fig.add_trace(go.Scatter(x=d[x], y=d[y], mode="lines+markers", name=y_label, line={"color": "#1f6fb2"},
                             text=d[hover] if hover and hover in d.columns else None,
                             hovertemplate="%{x}<br>%{y:.2f}<br>%{text}<extra></extra>" if hover else None))
    if len(d):
        peak = d[y].idxmin()
        fig.add_trace(go.Scatter(x=[d.loc[peak, x]], y=[d.loc[peak, y]], mode="markers+text", name=peak_label,
                                 text=[peak_label], textposition="top right",
                                 marker={"size": 16, "color": "#d62728", "symbol": "triangle-down"}))
        fig.add_trace(go.Scatter(x=[d[x].iloc[-1]], y=[d[y].iloc[-1]], mode="markers+text", name=end_label,
                                 text=[end_label], textposition="top center",
                                 marker={"size": 15, "color": "#2ca02c", "symbol": "star"}))
    fig.update_yaxes(range=[-1.1, 1.1], tickvals=[-1, -0.5, 0, 0.5, 1], title_text=y_label, zeroline=True)
    fig.update_xaxes(title_text=x_label, tickformat="%Y-%m")
    _style(fig, title, height)
    fig.update_layout(legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"})
    return fig


def stage_map(df: pd.DataFrame, title: str, stage_label: str, volume_label: str, sentiment_label: str,
              peak_label: str, end_label: str, order: list[str]) -> go.Figure:
    """Return the experience map: contacts per journey stage (bars) and mean sentiment (line), peak and end marked."""
    d = df.set_index("stage").reindex([s for s in order if s in set(df["stage"])]).reset_index()
    fig = go.Figure()
    fig.add_trace(go.Bar(x=d["stage_label"], y=d["contacts"], name=volume_label, marker_color="#9ecae1",
                         text=d["contacts"], textposition="outside"))
    fig.add_trace(go.Scatter(x=d["stage_label"], y=d["mean_sentiment"], name=sentiment_label, yaxis="y2",
                             mode="lines+markers", line={"color": "#1f6fb2", "width": 3}, marker={"size": 9}))
    if len(d):
        worst = d["mean_sentiment"].idxmin()
        fig.add_trace(go.Scatter(x=[d.loc[worst, "stage_label"]], y=[d.loc[worst, "mean_sentiment"]], yaxis="y2",
                                 mode="markers+text", text=[peak_label], textposition="top right", name=peak_label,
                                 marker={"size": 18, "color": "#d62728", "symbol": "triangle-down"}))
        fig.add_trace(go.Scatter(x=[d["stage_label"].iloc[-1]], y=[d["mean_sentiment"].iloc[-1]], yaxis="y2",
                                 mode="markers+text", text=[end_label], textposition="top center", name=end_label,
                                 marker={"size": 16, "color": "#2ca02c", "symbol": "star"}))
    fig.update_layout(xaxis={"title": {"text": stage_label}}, yaxis={"title": {"text": volume_label}},
                      yaxis2={"title": {"text": sentiment_label}, "overlaying": "y", "side": "right",
                              "range": [-1.1, 1.1], "tickvals": [-1, -0.5, 0, 0.5, 1], "showgrid": False})
    _style(fig, title, 380)
    fig.update_layout(legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"})
    return fig


def disc_scores(scores: dict[str, float], title: str, labels: dict[str, str], score_label: str) -> go.Figure:
    """Return the four DISC scores as a labelled horizontal bar chart."""
    df = pd.DataFrame({"type": [labels[k] for k in scores], "score": list(scores.values())})
    fig = px.bar(df, x="score", y="type", orientation="h", color="type", color_discrete_map=DISC_COLORS,
                 labels={"score": score_label, "type": ""}, text="score")
    fig.update_traces(texttemplate="%{text:.2f}", textposition="outside", cliponaxis=False)
    fig.update_layout(showlegend=False, xaxis={"range": [0, max(1.0, max(scores.values() or [1]) * 1.15)]})
    return _style(fig, title, 220)
