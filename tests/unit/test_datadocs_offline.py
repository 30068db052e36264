"""GX Data Docs pages rewritten to load the shipped copies of their CDN files (pure text, files)."""
from __future__ import annotations

import re
from pathlib import Path

from silver.datadocs_offline import DROPPED, LOCAL, STATIC, make_offline, rewrite_page

PAGE = """<html><head>
<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>
<script src="https://cdn.jsdelivr.net/npm/vega-lite@5"></script>
<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js" integrity="sha384-x" crossorigin="anonymous"></script>
</head><body><a href="https://greatexpectations.io">GX</a>
<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=20260101T000000Z">
</body></html>"""


def test_every_cdn_url_gx_uses_has_a_shipped_file() -> None:
    assert all((STATIC / name).is_file() for name in LOCAL.values())
    assert not set(DROPPED) & set(LOCAL)


def test_a_page_loads_local_copies_relative_to_its_folder_and_keeps_plain_links() -> None:
    html, unknown = rewrite_page(PAGE, "../../")
    assert unknown == []
    assert 'href="../../static/vendor/bootstrap/bootstrap.min.css"' in html
    assert '<script src="../../static/vendor/popper/popper.min.js"></script>' in html
    assert '<script src="../../static/vendor/vega-offline.js"></script>' in html
    assert "vega-lite" not in html and "integrity" not in html and "crossorigin" not in html
    assert 'src="../../static/images/logo-long.png"' in html
    assert '<a href="https://greatexpectations.io">' in html
    assert not re.search(r"""<(script|link|img)[^>]*(src|href)=["']https?://""", html)


def test_an_unknown_cdn_script_is_reported_not_dropped() -> None:
    html, unknown = rewrite_page('<script src="https://cdn.example.com/x.js"></script>', "")
    assert unknown == ["https://cdn.example.com/x.js"] and "cdn.example.com" in html


def test_make_offline_rewrites_the_site_and_copies_the_vendored_files(tmp_path: Path) -> None:
    (tmp_path / "validations" / "suite").mkdir(parents=True)
    (tmp_path / "index.html").write_text(PAGE)
    (tmp_path / "validations" / "suite" / "run.html").write_text(PAGE)
    assert make_offline(tmp_path) == 2
    assert 'href="static/vendor/bootstrap/bootstrap.min.css"' in (tmp_path / "index.html").read_text()
    assert 'href="../../static/vendor/bootstrap/' in (tmp_path / "validations" / "suite" / "run.html").read_text()
    assert (tmp_path / "static/vendor/fontawesome/webfonts/fa-solid-900.woff2").is_file()
    assert make_offline(tmp_path) == 0  # nothing left to rewrite
