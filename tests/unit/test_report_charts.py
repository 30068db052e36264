"""`medallion report`'s pure parts: frames -> plotly figures -> one HTML page (no Spark)."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from pipelines.core.registry import table
from pipelines.monitoring import report_charts as charts
from pipelines.monitoring.report_data import FACTS, QUERIES, docs_link
from pipelines.monitoring.report_page import DocsLink, Fact, render_page

LEDGER = pd.DataFrame({
    "batch_id": [0, 1], "processed_at": ["2026-01-01 10:00:00", "2026-01-01 10:05:00"],
    "rows_read": [100, 50], "rows_inserted": [90, 50], "rows_quarantined": [6, 0],
    "rows_duplicate": [4, 0], "rows_late": [0, 3], "batch_seconds": [2.0, 0.0]})
CAMPAIGNS = pd.DataFrame({
    "campaign_id": ["cmp-a", "cmp-b", "cmp-free"], "spend_usd": [100.0, 50.0, 0.0],
    "revenue_usd": [300.0, 25.0, 10.0], "roi": [2.0, -0.5, None], "roas": [3.0, 0.5, None]})
CAC = pd.DataFrame({
    "month": ["2026-01", "2026-01", "2026-02"], "channel": ["email", "paid_search", "email"],
    "spend_usd": [10.0, 80.0, 5.0], "new_customers": [2, 4, 0], "cac_usd": [5.0, 20.0, None]})
QUARANTINE = pd.DataFrame({
    "batch_id": [0, 0, 3], "processed_at": ["2026-01-01 10:00:00"] * 2 + ["2026-01-02 09:00:00"],
    "reason": ["malformed_json", "missing_event_id", "malformed_json"], "rows": [4, 2, 1]})
EXPECTATIONS = pd.DataFrame({
    "expectation_index": [0, 1], "expectation_type": ["expect_column_values_to_not_be_null",
                                                      "expect_column_values_to_be_in_set"],
    "column_name": ["event_id", "event_type"], "row_condition": [None, None],
    "action": ["quarantine", "quarantine"], "reason": ["missing_event_id", "invalid_event_type"],
    "batches": [4, 4], "batches_passed": [3, 4], "mean_unexpected_percent": [0.5, None]})


def _points(chart: charts.Chart) -> int:
    """Data marks of a figure: non-missing values over its traces."""
    assert chart.figure is not None
    return sum(int(pd.Series(list(t.x if t.orientation == "h" else t.y)).notna().sum())
               for t in chart.figure.data)


def test_every_chart_says_no_data_yet_when_its_frame_is_empty() -> None:
    built = charts.build_charts({}, {"campaigns": "run `medallion build`"})
    assert [c.figure for c in built] == [None] * len(charts.CHARTS)
    assert {c.empty_message for c in built} == {"no data yet", "no data yet (run `medallion build`)"}
    assert len({c.key for c in built}) == len(built)


def test_refine_rows_chart_stacks_inserted_quarantined_and_duplicates_per_batch() -> None:
    chart = charts.refine_rows_chart(LEDGER)
    assert [t.name for t in chart.figure.data] == ["inserted", "quarantined", "duplicates", "late (of inserted)"]
    assert [list(t.y) for t in chart.figure.data] == [[90, 50], [6, 0], [4, 0], [0, 3]]
    assert chart.figure.data[3].type == "scatter"  # a line over the stacked bars, not a fourth stack
    assert list(chart.figure.data[0].x) == ["0", "1"]
    assert chart.figure.layout.barmode == "stack"


def test_throughput_leaves_out_a_batch_that_took_no_time() -> None:
    y = list(charts.throughput_chart(LEDGER).figure.data[0].y)
    assert y[0] == 50.0 and pd.isna(y[1])


def test_roi_chart_has_one_bar_per_campaign_with_spend_and_best_on_top() -> None:
    chart = charts.roi_chart(CAMPAIGNS)
    roi, roas = chart.figure.data
    assert (roi.name, roas.name) == ("ROI", "ROAS")
    assert list(roi.y) == ["cmp-b", "cmp-a"]  # plotly draws the first category at the bottom
    assert list(roi.x) == [-0.5, 2.0] and list(roas.x) == [0.5, 3.0]
    assert _points(chart) == 4


def test_roi_chart_without_any_spend_says_no_data() -> None:
    assert charts.roi_chart(CAMPAIGNS[CAMPAIGNS.campaign_id == "cmp-free"]).figure is None


def test_cac_chart_has_one_trace_per_channel_and_no_bar_without_new_customers() -> None:
    chart = charts.cac_chart(CAC)
    assert {t.name: (list(t.x), list(t.y)) for t in chart.figure.data} == {
        "email": (["2026-01"], [5.0]), "paid_search": (["2026-01"], [20.0])}


def test_quarantine_chart_has_a_trace_per_reason_most_frequent_first() -> None:
    chart = charts.quarantine_chart(QUARANTINE)
    assert [t.name for t in chart.figure.data] == ["malformed_json", "missing_event_id"]
    assert list(chart.figure.layout.xaxis.categoryarray) == ["0", "3"]
    assert _points(chart) == 3


def test_expectations_chart_shows_pass_rate_per_expectation() -> None:
    chart = charts.expectations_chart(EXPECTATIONS)
    passed, unexpected = chart.figure.data
    assert list(passed.y) == ["1. values_to_be_in_set(event_type)", "0. values_to_not_be_null(event_id)"]
    assert list(passed.x) == [100.0, 75.0]
    assert list(unexpected.x) == [0.0, 0.5]


def test_chart_text_has_no_dollar_sign_that_plotly_would_read_as_latex() -> None:
    frames = {"ledger": LEDGER, "campaigns": CAMPAIGNS, "cac": CAC, "quarantine": QUARANTINE,
              "expectations": EXPECTATIONS}
    for chart in charts.build_charts(frames):
        if chart.figure is not None:
            assert "$" not in chart.figure.to_json().replace("$schema", ""), chart.key


def test_page_inlines_plotly_once_and_renders_each_chart_or_its_empty_box() -> None:
    built = charts.build_charts({"ledger": LEDGER, "campaigns": CAMPAIGNS})
    html = render_page(title="t", warehouse="/w <&>", generated_at="now", plotly_js="/*PLOTLYJS*/",
                       facts=[Fact("events in Silver", "1,234")],
                       docs=[DocsLink("GX", "../docs/gx/index.html", "x"), DocsLink("dbt", None, "run `medallion docs`")],
                       charts=built)
    assert html.count("/*PLOTLYJS*/") == 1
    assert html.count("Plotly.newPlot") == 3  # refine rows, throughput, roi
    assert html.count('class="no-data"') == len(built) - 3
    assert "/w &lt;&amp;&gt;" in html and "1,234" in html
    assert 'href="../docs/gx/index.html"' in html
    assert "dbt: <span class=\"missing\">not built yet (run `medallion docs`)</span>" in html
    assert not re.search(r"""(src|href)=["']https?://""", html)


def test_page_keeps_a_script_end_tag_inside_plotly_js_from_closing_its_script() -> None:
    html = render_page(title="t", warehouse="w", generated_at="g", facts=[], docs=[],
                       charts=charts.build_charts({"ledger": LEDGER}), plotly_js="var s = '</script>';")
    assert "var s = '<\\/script>';" in html


def test_page_without_any_chart_data_leaves_plotly_out() -> None:
    html = render_page(title="t", warehouse="w", generated_at="g", facts=[], docs=[],
                       charts=charts.build_charts({}), plotly_js="/*PLOTLYJS*/")
    assert "/*PLOTLYJS*/" not in html and html.count('class="no-data"') == len(charts.CHARTS)


def test_docs_link_is_relative_to_the_report_and_absent_when_not_built(tmp_path: Path) -> None:
    site = tmp_path / "docs" / "gx site"
    assert docs_link("GX", str(site), tmp_path / "out", "run it").href is None
    site.mkdir(parents=True)
    (site / "index.html").write_text("<html></html>")
    assert docs_link("GX", str(site), tmp_path / "out", "run it").href == "../docs/gx%20site/index.html"
    assert docs_link("GX", "s3a://bucket/docs", tmp_path, "run it").href is None


@pytest.mark.parametrize("sql", [q.sql for q in QUERIES] + [sql for _, _, sql in FACTS])
def test_report_queries_select_no_personal_data_column(sql: str) -> None:
    names = re.findall(r"\b(?:from|join)\s+([a-z_]+\.[a-z_]+)", sql)
    personal = {c for name in names for c in table(name).personal_columns()}
    assert names and not {c for c in personal if re.search(rf"\b{c}\b", sql)}


def test_report_refuses_an_out_path_it_cannot_write_before_starting_spark(tmp_path: Path) -> None:
    from pipelines.core.config import config_from_dict
    from pipelines.core.errors import PipelineError
    from pipelines.monitoring.report_data import write_report

    config = config_from_dict({"paths": {"root": str(tmp_path)}}, base_dir=tmp_path,
                              source=str(tmp_path / "medallion.yaml"))
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(PipelineError) as not_writable:
        write_report(config, str(tmp_path / "a-file" / "report.html"))
    with pytest.raises(PipelineError) as folder:
        write_report(config, str(tmp_path))
    with pytest.raises(PipelineError) as remote:
        write_report(config, "s3a://bucket/report.html")
    assert (not_writable.value.code, folder.value.code, remote.value.code) == (
        "REPORT_WRITE_FAILED", "INVALID_ARGUMENT", "INVALID_ARGUMENT")
