"""`medallion report`'s page: charts, headline facts and doc links in, one HTML string out (pure).

The page is self-contained: plotly.js is inlined once in the head, each chart is a div with its
own small script, the styles are inline; it loads nothing from the network. A chart without data
is a box saying so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import jinja2
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from pipelines.monitoring.report_charts import Chart

# No mode-bar logo link (it points at plotly's site); the "download as PNG" button works offline.
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class DocsLink:
    title: str
    href: str | None  # None: not built
    missing_hint: str  # shown when href is None, e.g. "run `medallion docs`"


_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string("""\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="medallion report">
<title>{{ title }}</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
         background: #f6f7f9; color: #1f2933; }
  header { background: #264653; color: #fff; padding: 18px 32px; }
  header h1 { margin: 0 0 4px; font-size: 22px; }
  header .meta { font-size: 13px; opacity: .85; word-break: break-all; }
  main { max-width: 1280px; margin: 0 auto; padding: 16px 24px 40px; }
  .facts { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 16px; }
  .fact { background: #fff; border-radius: 8px; padding: 10px 16px; min-width: 150px;
          box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  .fact .value { font-size: 22px; font-weight: 600; }
  .fact .value.long { font-size: 16px; line-height: 26px; }
  section.chart.wide { grid-column: 1 / -1; }
  .fact .label { font-size: 12px; color: #52606d; }
  .docs { background: #fff; border-radius: 8px; padding: 10px 16px; margin-bottom: 16px;
          box-shadow: 0 1px 2px rgba(0,0,0,.08); font-size: 14px; }
  .docs li { margin: 4px 0; }
  .docs .missing { color: #7b8794; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px; }
  section.chart { background: #fff; border-radius: 8px; padding: 12px 16px;
                  box-shadow: 0 1px 2px rgba(0,0,0,.08); min-width: 0; }
  section.chart h2 { font-size: 16px; margin: 0 0 2px; }
  section.chart p { font-size: 12px; color: #52606d; margin: 0 0 6px; }
  .no-data { height: 160px; display: flex; align-items: center; justify-content: center;
             color: #7b8794; background: #f0f2f5; border-radius: 6px; font-size: 15px; }
  code { background: #eef1f4; padding: 1px 4px; border-radius: 3px; }
</style>
<script type="text/javascript">{{ plotly_js }}</script>
</head>
<body>
<header>
  <h1>{{ title }}</h1>
  <div class="meta">warehouse <code style="color:#264653">{{ warehouse }}</code>
    &middot; generated {{ generated_at }}</div>
</header>
<main>
  <div class="facts">
  {%- for fact in facts %}
    <div class="fact"><div class="value{{ ' long' if fact.value | length > 12 else '' }}">{{ fact.value }}</div><div class="label">{{ fact.label }}</div></div>
  {%- endfor %}
  </div>
  <div class="docs"><strong>Documentation</strong>
    <ul>
    {%- for link in docs %}
      <li>{% if link.href %}<a href="{{ link.href }}">{{ link.title }}</a>
          {% else %}{{ link.title }}: <span class="missing">not built yet ({{ link.missing_hint }})</span>{% endif %}</li>
    {%- endfor %}
    </ul>
  </div>
  <div class="grid">
  {%- for chart in charts %}
    <section class="chart{{ ' wide' if chart.wide else '' }}" id="chart-{{ chart.key }}" data-chart="{{ chart.key }}"
             data-empty="{{ 'true' if chart.html is none else 'false' }}">
      <h2>{{ chart.title }}</h2>
      <p>{{ chart.description }}</p>
      {%- if chart.html is none %}
      <div class="no-data">{{ chart.empty_message }}</div>
      {%- else %}
      {{ chart.html | safe }}
      {%- endif %}
    </section>
  {%- endfor %}
  </div>
</main>
<script type="text/javascript">
  // size every plot to its box once the grid has laid the page out
  window.addEventListener("load", function () {
    if (!window.Plotly) { return; }  // no chart has data: plotly.js is left out
    document.querySelectorAll(".js-plotly-plot").forEach(function (el) { Plotly.Plots.resize(el); });
  });
</script>
</body>
</html>
""")


def chart_html(chart: Chart) -> str | None:
    """The chart's div and its newPlot script (no plotly.js: the page has it once)."""
    if chart.figure is None:
        return None
    return chart.figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{chart.key}",
                                config=PLOT_CONFIG, default_width="100%")


def render_page(*, title: str, warehouse: str, generated_at: str, facts: Sequence[Fact],
                docs: Sequence[DocsLink], charts: Sequence[Chart], plotly_js: str | None = None) -> str:
    """The whole page. `plotly_js`: the library's text (default: the installed plotly's bundle),
    left out when no chart has data."""
    rendered = [{"key": c.key, "title": c.title, "description": c.description,
                 "empty_message": c.empty_message, "wide": c.wide, "html": chart_html(c)} for c in charts]
    js = "" if all(c["html"] is None for c in rendered) else get_plotlyjs() if plotly_js is None else plotly_js
    return _TEMPLATE.render(title=title, warehouse=warehouse, generated_at=generated_at, facts=facts,
                            docs=docs, charts=rendered, plotly_js=Markup(_script_safe(js)))


def _script_safe(js: str) -> str:
    """Text that cannot end its <script> element early."""
    return js.replace("</script", "<\\/script")
