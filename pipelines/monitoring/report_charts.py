"""`medallion report`'s charts: small frames in, plotly figures out (pure; no Spark, no I/O).

Each function takes the frame `report_data` reads for it (columns named in its docstring) and
returns a `Chart`: a title, a line saying what it shows, and a figure, or no figure and the
message the page shows instead ("no data yet") when the frame has no rows. Nothing here computes
a business metric: ROI, ROAS and CAC are the Gold marts' columns as dbt computed them; the
operational figures (pass rates, latency percentiles) are computed by `report_data`'s queries or,
for a pass rate, as the one share below.

Chart labels avoid `$` (plotly.js would take `$...$` for LaTeX and try to load MathJax).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

NO_DATA = "no data yet"
MIN_SPAN = pd.Timedelta(minutes=10)  # the narrowest time axis

# Colours: one per series kind, the same on every chart.
INSERTED, QUARANTINED, DUPLICATE, BRONZE = "#2a9d8f", "#e76f51", "#e9c46a", "#8d6e63"
P50, P95 = "#264653", "#f4a261"
LATE = "#6a4c93"
PALETTE = ("#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#6d597a", "#457b9d", "#8ab17d",
           "#b56576", "#9c6644", "#577590", "#43aa8b")


@dataclass(frozen=True)
class Chart:
    key: str  # the chart's div id on the page
    title: str
    description: str
    figure: go.Figure | None  # None: `empty_message` is shown instead
    empty_message: str = NO_DATA
    wide: bool = False  # spans the page's width


def _layout(fig: go.Figure, *, x_title: str, y_title: str, height: int = 360, **extra: object) -> go.Figure:
    fig.update_layout(
        height=height, margin={"l": 60, "r": 20, "t": 40, "b": 50}, template="plotly_white",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hoverlabel={"namelength": -1}, **extra)
    fig.update_xaxes(title_text=x_title, automargin=True)
    fig.update_yaxes(title_text=y_title, automargin=True, rangemode="tozero")
    return fig


def _empty(key: str, title: str, description: str, hint: str | None) -> Chart:
    return Chart(key, title, description, None, f"{NO_DATA} ({hint})" if hint else NO_DATA)


def _with_values(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows where `column` is not NULL (an empty frame as it is)."""
    return frame.dropna(subset=[column]) if column in frame.columns else frame


def _time_axis(fig: go.Figure, times: pd.Series) -> None:
    """A date x axis at least `MIN_SPAN` wide around the points (plotly zooms one point, or a few
    seconds, to milliseconds)."""
    stamps = pd.to_datetime(times)
    low, high = stamps.min(), stamps.max()
    if high - low < MIN_SPAN:
        pad = (MIN_SPAN - (high - low)) / 2
        low, high = low - pad, high + pad
    else:
        pad = (high - low) * 0.05
        low, high = low - pad, high + pad
    fig.update_xaxes(type="date", range=[low.isoformat(sep=" "), high.isoformat(sep=" ")])


def _batch_axis(fig: go.Figure) -> None:
    """Batch ids as categories, in the frame's (time) order."""
    fig.update_xaxes(type="category")


def ingest_chart(frame: pd.DataFrame, hint: str | None = None) -> Chart:
    """Bronze lines per ingest micro-batch. Columns: batch_id, ingested_at, rows, files."""
    key, title = "ingest", "Bronze: lines ingested per batch"
    description = "Lines each ingest micro-batch appended to bronze.events_raw, in time order."
    if frame.empty:
        return _empty(key, title, description, hint)
    fig = go.Figure(go.Bar(
        x=frame["batch_id"].astype(str), y=frame["rows"], name="lines", marker_color=BRONZE,
        customdata=frame[["ingested_at", "files"]].to_numpy(),
        hovertemplate="batch %{x}<br>%{customdata[0]} UTC<br>%{y:,} lines from %{customdata[1]} file(s)"
                      "<extra></extra>"))
    _batch_axis(fig)
    return Chart(key, title, description, _layout(fig, x_title="ingest batch", y_title="lines"))


def refine_rows_chart(frame: pd.DataFrame, hint: str | None = None) -> Chart:
    """Where each refine batch's rows went. Columns: batch_id, processed_at, rows_inserted,
    rows_quarantined, rows_duplicate, rows_late (audit.batch_ledger)."""
    key, title = "refine_rows", "Silver: rows per refine batch"
    description = ("Each refine batch's Bronze rows: inserted into silver.events, quarantined, or "
                   "dropped as duplicates (audit.batch_ledger; they always add up to the rows read). "
                   "The line: inserted events that were late, older than the stream's watermark "
                   "when their batch ran (kept, and counted in Gold).")
    if frame.empty:
        return _empty(key, title, description, hint)
    fig = go.Figure()
    for column, name, colour in (("rows_inserted", "inserted", INSERTED),
                                 ("rows_quarantined", "quarantined", QUARANTINED),
                                 ("rows_duplicate", "duplicates", DUPLICATE)):
        fig.add_trace(go.Bar(
            x=frame["batch_id"].astype(str), y=frame[column], name=name, marker_color=colour,
            customdata=frame[["processed_at"]].to_numpy(),
            hovertemplate=f"batch %{{x}}<br>%{{customdata[0]}} UTC<br>%{{y:,}} {name}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=frame["batch_id"].astype(str), y=frame["rows_late"], name="late (of inserted)", mode="lines+markers",
        line_color=LATE, customdata=frame[["processed_at"]].to_numpy(),
        hovertemplate="batch %{x}<br>%{customdata[0]} UTC<br>%{y:,} late events<extra></extra>"))
    _batch_axis(fig)
    return Chart(key, title, description, _layout(fig, x_title="refine batch", y_title="rows", barmode="stack"))


def throughput_chart(frame: pd.DataFrame, hint: str | None = None) -> Chart:
    """Refine throughput over time. Columns: batch_id, processed_at, rows_read, batch_seconds."""
    key, title = "throughput", "Silver: refine throughput over time"
    description = "Rows read per second of batch time, per refine batch (audit.batch_ledger)."
    if frame.empty:
        return _empty(key, title, description, hint)
    seconds = frame["batch_seconds"].astype(float)
    rate = frame["rows_read"].astype(float) / seconds.where(seconds > 0)
    fig = go.Figure(go.Scatter(
        x=frame["processed_at"], y=rate, mode="lines+markers", name="rows/s", line_color=P50,
        customdata=frame[["batch_id", "rows_read", "batch_seconds"]].to_numpy(),
        hovertemplate="batch %{customdata[0]}<br>%{x} UTC<br>%{y:,.0f} rows/s "
                      "(%{customdata[1]:,} rows in %{customdata[2]:.1f} s)<extra></extra>"))
    _time_axis(fig, frame["processed_at"])
    return Chart(key, title, description, _layout(fig, x_title="batch time (UTC)", y_title="rows per second"))


def latency_chart(frame: pd.DataFrame, hint: str | None = None) -> Chart:
    """Landing -> Silver latency per refine batch. Columns: batch_id, processed_at, events,
    landed_p50_s, landed_p95_s, ingested_p50_s, ingested_p95_s (seconds)."""
    key, title = "latency", "Latency: landing -> Silver, per refine batch"
    description = ("Seconds from a file's landing (its modification time) and from its Bronze "
                   "ingestion to the refine batch that put its events into silver.events: median "
                   "and 95th percentile per batch.")
    if frame.empty:
        return _empty(key, title, description, hint)
    fig = go.Figure()
    for column, name, colour, dash in (("landed_p50_s", "landed -> Silver p50", P50, "solid"),
                                       ("landed_p95_s", "landed -> Silver p95", P95, "solid"),
                                       ("ingested_p50_s", "Bronze -> Silver p50", P50, "dot"),
                                       ("ingested_p95_s", "Bronze -> Silver p95", P95, "dot")):
        fig.add_trace(go.Scatter(
            x=frame["processed_at"], y=frame[column], mode="lines+markers", name=name,
            line={"color": colour, "dash": dash}, customdata=frame[["batch_id", "events"]].to_numpy(),
            hovertemplate=f"batch %{{customdata[0]}} (%{{customdata[1]:,}} events)<br>%{{x}} UTC<br>"
                          f"{name}: %{{y:,.1f}} s<extra></extra>"))
    _time_axis(fig, frame["processed_at"])
    return Chart(key, title, description, _layout(fig, x_title="batch time (UTC)", y_title="seconds"))


def quarantine_chart(frame: pd.DataFrame, hint: str | None = None) -> Chart:
    """Quarantined rows per reason per refine batch. Columns: batch_id, processed_at, reason, rows
    (a row with several reasons counts once per reason)."""
    key, title = "quarantine", "Quarantine reasons over time"
    description = ("Rows silver.events_quarantine received per refine batch, by reason code (a row "
                   "with several reasons counts under each).")
    if frame.empty:
        return _empty(key, title, description, hint)
    batches = list(dict.fromkeys(frame["batch_id"].astype(str)))  # time order, as read
    totals = frame.groupby("reason")["rows"].sum().sort_values(ascending=False)
    fig = go.Figure()
    for i, reason in enumerate(totals.index):
        part = frame[frame["reason"] == reason]
        fig.add_trace(go.Bar(
            x=part["batch_id"].astype(str), y=part["rows"], name=str(reason),
            marker_color=PALETTE[i % len(PALETTE)], customdata=part[["processed_at"]].to_numpy(),
            hovertemplate=f"batch %{{x}}<br>%{{customdata[0]}} UTC<br>{reason}: %{{y:,}} rows<extra></extra>"))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=batches)
    return Chart(key, title, description, _layout(fig, x_title="refine batch", y_title="rows", barmode="stack"),
                 wide=True)


def expectation_label(row: Mapping[str, object]) -> str:
    """`3. values_to_not_be_null(event_id)`: position, type without `expect_column_`, column."""
    kind = str(row["expectation_type"]).removeprefix("expect_").removeprefix("column_")
    column = row.get("column_name")
    return f"{row['expectation_index']}. {kind}" + (f"({column})" if column else "")


def expectations_chart(frame: pd.DataFrame, hint: str | None = None) -> Chart:
    """Per expectation: share of refine batches it passed, and its mean unexpected percent.
    Columns: expectation_index, expectation_type, column_name, row_condition, action, reason,
    batches, batches_passed, mean_unexpected_percent (audit.quality_results)."""
    key, title = "expectations", "Expectations: pass rate and unexpected rows"
    description = ("Per expectation of the Silver suite: the share of refine batches in which it "
                   "passed, and its mean unexpected percent per batch (audit.quality_results).")
    if frame.empty:
        return _empty(key, title, description, hint)
    frame = frame.sort_values("expectation_index", ascending=False)  # first expectation on top
    labels = [expectation_label(r) for r in frame.to_dict("records")]
    pass_rate = 100.0 * frame["batches_passed"].astype(float) / frame["batches"].astype(float)
    details = frame[["action", "reason", "row_condition", "batches_passed", "batches"]].fillna("-").to_numpy()
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("passed, % of batches", "unexpected rows, mean % per batch"))
    fig.add_trace(go.Bar(
        y=labels, x=pass_rate, orientation="h", name="batches passed, %", marker_color=INSERTED,
        customdata=details, text=[f"{v:.0f}%" for v in pass_rate], textposition="outside",
        cliponaxis=False,
        hovertemplate="%{y}<br>passed %{customdata[3]} of %{customdata[4]} batches (%{x:.0f}%)<br>"
                      "action %{customdata[0]}, reason %{customdata[1]}<br>when %{customdata[2]}<extra></extra>"),
        row=1, col=1)
    unexpected = frame["mean_unexpected_percent"].astype(float).fillna(0.0)
    fig.add_trace(go.Bar(
        y=labels, x=unexpected, orientation="h", name="mean unexpected rows, %", marker_color=QUARANTINED,
        text=[f"{v:.3g}%" for v in unexpected], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}<br>mean unexpected %{x:.3g}% per batch<extra></extra>"), row=1, col=2)
    height = max(300, 90 + 24 * len(labels))
    fig = _layout(fig, x_title="", y_title="", height=height, showlegend=False, bargap=0.3)
    fig.update_xaxes(range=[0, 118], row=1, col=1)
    fig.update_xaxes(range=[0, max(1.0, float(unexpected.max())) * 1.25], row=1, col=2)
    fig.update_layout(margin={"l": 10, "t": 30})
    return Chart(key, title, description, fig, wide=True)


def roi_chart(frame: pd.DataFrame, hint: str | None = None) -> Chart:
    """ROI and ROAS per campaign, over all dates. Columns: campaign_id, spend_usd, revenue_usd,
    roi, roas (gold.fct_campaign_performance, as dbt computed them). Campaigns without spend have
    neither (NULL) and are left out."""
    key, title = "roi", "Gold: ROI and ROAS by campaign"
    description = ("Return on investment, (revenue - spend) / spend, and return on ad spend, "
                   "revenue / spend, per campaign over all dates (gold.fct_campaign_performance).")
    frame = _with_values(frame, "roi")
    if frame.empty:
        return _empty(key, title, description, hint)
    frame = frame.sort_values(["roi", "campaign_id"])  # best campaign on top
    money = frame[["spend_usd", "revenue_usd"]].astype(float).to_numpy()
    fig = go.Figure()
    for column, name, colour in (("roi", "ROI", P50), ("roas", "ROAS", P95)):
        fig.add_trace(go.Bar(
            y=frame["campaign_id"], x=frame[column].astype(float), orientation="h", name=name,
            marker_color=colour, customdata=money,
            hovertemplate=f"%{{y}}<br>{name} %{{x:.2f}}<br>spend USD %{{customdata[0]:,.0f}}, "
                          f"revenue USD %{{customdata[1]:,.0f}}<extra></extra>"))
    height = max(300, 80 + 40 * len(frame))
    fig = _layout(fig, x_title="ratio (1.0 = 100%)", y_title="", height=height, barmode="group")
    fig.update_xaxes(zeroline=True, zerolinecolor="#888", rangemode="normal")
    fig.update_layout(margin={"l": 10})
    return Chart(key, title, description, fig)


def cac_chart(frame: pd.DataFrame, hint: str | None = None) -> Chart:
    """CAC per channel per month. Columns: month, channel, spend_usd, new_customers, cac_usd
    (gold.fct_channel_cac_monthly). Months where a channel won no customer have no CAC (NULL)
    and no bar."""
    key, title = "cac", "Gold: customer acquisition cost by channel and month"
    description = ("Spend / new customers per channel and month, in USD (gold.fct_channel_cac_monthly); "
                   "a channel with no new customer in a month has no CAC.")
    frame = _with_values(frame, "cac_usd")
    if frame.empty:
        return _empty(key, title, description, hint)
    months = sorted(frame["month"].astype(str).unique())
    fig = go.Figure()
    for i, channel in enumerate(sorted(frame["channel"].astype(str).unique())):
        part = frame[frame["channel"].astype(str) == channel]
        fig.add_trace(go.Bar(
            x=part["month"].astype(str), y=part["cac_usd"].astype(float), name=channel,
            marker_color=PALETTE[i % len(PALETTE)],
            customdata=part[["spend_usd", "new_customers"]].astype(float).to_numpy(),
            hovertemplate=f"{channel}, %{{x}}<br>CAC USD %{{y:,.2f}}<br>spend USD %{{customdata[0]:,.0f}}, "
                          f"%{{customdata[1]:,.0f}} new customers<extra></extra>"))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=months)
    return Chart(key, title, description, _layout(fig, x_title="month", y_title="CAC, USD", barmode="group"))


# (frame name, chart function), in page order; the page's div ids are the charts' keys
CHARTS: tuple[tuple[str, Callable[[pd.DataFrame, str | None], Chart]], ...] = (
    ("ingest", ingest_chart),
    ("ledger", refine_rows_chart),
    ("ledger", throughput_chart),
    ("latency", latency_chart),
    ("quarantine", quarantine_chart),
    ("expectations", expectations_chart),
    ("campaigns", roi_chart),
    ("cac", cac_chart),
)


def build_charts(frames: Mapping[str, pd.DataFrame], hints: Mapping[str, str] | None = None) -> list[Chart]:
    """Every chart of the page, in order. `frames` by name (as `CHARTS` names them; an absent one
    counts as empty); `hints`: why a frame is empty, by name (e.g. its table is not built yet)."""
    hints = hints or {}
    return [chart(frames.get(name, pd.DataFrame()), hints.get(name)) for name, chart in CHARTS]
