"""`medallion report` on the shared pre-built lakehouse, opened in headless Chromium with the
network cut off: the page loads nothing from outside, raises no error, and every chart draws as
many marks as its data says.

Chromium is the system's (`chromium` on PATH, else /usr/bin/chromium; `$CHROMIUM` overrides);
Playwright drives it and downloads no browser. Without it the test fails (CI installs it: .ci/run).
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Iterator

import pytest

from pipelines.core.catalog import register_tables

pytestmark = pytest.mark.integration

# chart key -> (SVG selector of one data mark, SQL giving how many marks the data makes)
MARKS: dict[str, tuple[str, str]] = {
    "ingest": (".barlayer .point", "select count(*) from (select distinct _ingest_batch_id, _ingested_at "
                                   "from bronze.events_raw)"),
    "refine_rows": (".barlayer .point", "select 3 * count(*) from audit.batch_ledger"),
    "throughput": (".scatterlayer .point", "select count(*) from audit.batch_ledger where batch_seconds > 0"),
    "latency": (".scatterlayer .point", "select 4 * count(distinct _silver_batch_id) from silver.events"),
    "quarantine": (".barlayer .point", "select count(*) from (select distinct _silver_batch_id, reason "
                                       "from silver.events_quarantine lateral view explode(reasons) r as reason)"),
    "expectations": (".barlayer .point", "select 2 * count(*) from (select distinct expectation_index, "
                                         "expectation_type, column_name, row_condition, action, reason "
                                         "from audit.quality_results)"),
    "roi": (".barlayer .point", "select count(roi) + count(roas) from gold.fct_campaign_performance"),
    "cac": (".barlayer .point", "select count(cac_usd) from gold.fct_channel_cac_monthly"),
}
LINES = {"refine_rows": 1, "throughput": 1, "latency": 4}  # `.scatterlayer .js-line` per line chart (refine_rows: late events)


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail(f"headless Chromium is needed to check the HTML report and was not found at {path}: "
                    "install Debian's `chromium` (apt-get install chromium; .ci/run does) or set $CHROMIUM")
    return path


class OfflinePage:
    """A Chromium page that aborts every request not for a file: or data: URL, and records it,
    its console errors and its page errors."""

    def __init__(self, page) -> None:
        self.page = page
        self.blocked: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._route)
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}"))

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def open(self, path: Path) -> None:
        """Every <script>/<link> of the page is fetched (or blocked) before `load`; callers then
        wait for what the page's scripts draw ("networkidle" waits needlessly under load)."""
        self.page.goto(path.as_uri(), wait_until="load", timeout=60_000)

    def assert_clean(self) -> None:
        assert self.blocked == [], f"the page tried the network: {self.blocked}"
        assert self.errors == [], "\n".join(self.errors)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture()
def offline_page(browser) -> Iterator[OfflinePage]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, service_workers="block")
    try:
        yield OfflinePage(context.new_page())
    finally:
        context.close()


def test_report_renders_every_chart_offline_with_the_marks_its_data_makes(
        built_lakehouse, spark, offline_page, tmp_path, capsys) -> None:
    lake = built_lakehouse.lake
    out = tmp_path / "out" / "report.html"
    started = time.monotonic()
    assert lake.medallion("report", "--out", str(out)) == 0
    written = time.monotonic() - started
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
    html = out.read_text(encoding="utf-8")
    assert html.count("Plotly.newPlot") == len(MARKS), "every chart has data in a built lakehouse"

    register_tables(spark, lake.config)
    expected = {key: spark.sql(sql).collect()[0][0] for key, (_, sql) in MARKS.items()}
    # no personal data: none of the users' ids ends up in the page
    user_ids = [r[0] for r in spark.sql("select distinct user_id from silver.events where user_id is not null "
                                        "limit 50").collect()]
    assert user_ids and not [u for u in user_ids if u in html]

    started = time.monotonic()
    offline_page.open(out)
    page = offline_page.page
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length == {len(MARKS)}")
    counted = {key: page.locator(f"#plot-{key} {selector}").count() for key, (selector, _) in MARKS.items()}
    lines = {key: page.locator(f"#plot-{key} .scatterlayer .js-line").count() for key in LINES}
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("MEDALLION_REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["MEDALLION_REPORT_SCREENSHOT"])
    rendered = time.monotonic() - started

    offline_page.assert_clean()
    assert all(n > 0 for n in expected.values()), expected
    assert counted == expected
    assert lines == LINES
    assert page.locator(".no-data").count() == 0
    # the header's numbers are the tables' counts
    facts = dict(zip(page.locator(".fact .label").all_inner_texts(), page.locator(".fact .value").all_inner_texts()))
    bronze = spark.sql("select count(*) from bronze.events_raw").collect()[0][0]
    assert facts["lines in Bronze"] == f"{bronze:,}" and bronze == built_lakehouse.landed_lines
    # GX Data Docs were built by refine: a relative link; dbt docs were not: the hint
    gx_link = page.locator(".docs a")
    assert gx_link.count() == 1
    assert (out.parent / gx_link.get_attribute("href")).resolve() == Path(lake.config.refine.docs_dir, "index.html")
    assert "not built yet (run `medallion docs`)" in page.locator(".docs").inner_text()
    assert shot.stat().st_size > 50_000
    print(f"report: {out.stat().st_size:,} bytes, written in {written:.1f} s, rendered in {rendered:.1f} s")


def test_gx_data_docs_render_offline_with_their_results_list(built_lakehouse, offline_page) -> None:
    """Refine built the GX Data Docs; their pages load the shipped copies of GX's CDN files
    (silver/datadocs_offline.py), so the index lists the validation runs with no network."""
    docs = Path(built_lakehouse.lake.config.refine.docs_dir)
    offline_page.open(docs / "index.html")
    page = offline_page.page
    page.wait_for_selector("table tbody tr a")  # rows are drawn by bootstrap-table (a vendored file)
    runs = page.locator("table tbody tr")
    assert runs.count() >= 1 and "silver_events" in runs.first.inner_text()
    validations = sorted(docs.glob("validations/**/*.html"))
    assert validations
    offline_page.open(validations[-1])
    assert page.locator("table tbody tr").count() > 10  # the per-expectation results
    assert page.evaluate("typeof jQuery.fn.bootstrapTable") == "function"
    offline_page.assert_clean()
