"""GX Data Docs that render without network.

GX's pages load bootstrap, bootstrap-table, jQuery, popper, font-awesome, a datepicker and vega
from CDNs, and its logo from S3; offline a page is bare and its results list empty (the list is
drawn by bootstrap-table). After a build, `make_offline` copies the files shipped in
`silver/reference/datadocs_static/` (README there: sources and licenses) to
`<docs_dir>/static/vendor/` and rewrites each page's CDN URLs to them, relative to the page. The
`integrity`/`crossorigin` attributes go too: a file page's scripts are not CORS requests.
"""
from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "reference" / "datadocs_static"
VENDOR = "static/vendor"  # under the docs folder
GX_ASSETS = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"

# CDN URL -> file under datadocs_static/ (the same library and release)
LOCAL: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/bootstrap-table-filter-control.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark/bootstrap-prefers-dark.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper/popper.min.js",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-offline.js",
}
# Loaded only to draw charts our pages do not have: the first is replaced by the stand-in
# above, these are dropped.
DROPPED = ("https://cdn.jsdelivr.net/npm/vega-lite@5", "https://cdn.jsdelivr.net/npm/vega-embed@6")

_TAG = re.compile(r"<(script|link)\b[^>]*>", re.IGNORECASE)
_URL = re.compile(r"""\b(src|href)=(["'])(https?://[^"']+)\2""", re.IGNORECASE)
_SRI = re.compile(r"""\s+(integrity|crossorigin)(=(["'])[^"']*\3)?""", re.IGNORECASE)
_GX_IMAGE = re.compile(re.escape(GX_ASSETS) + r"""([A-Za-z0-9_.-]+)(\?[^"')]*)?""")


def rewrite_page(html: str, prefix: str) -> tuple[str, list[str]]:
    """A page with every known CDN URL pointing at `<prefix>static/vendor/...` and GX's S3 images
    at `<prefix>static/images/...`; also returns the external script/stylesheet URLs left (unknown)."""
    unknown: list[str] = []

    def tag(match: re.Match[str]) -> str:
        text = match.group(0)
        found = _URL.search(text)
        if not found:
            return text
        url = found.group(3)
        if url in DROPPED:
            return "" if match.group(1).lower() == "link" else "<script>"  # its </script> stays
        if url not in LOCAL:
            if match.group(1).lower() == "script" or "stylesheet" in text.lower():
                unknown.append(url)
            return text
        local = f"{prefix}{VENDOR}/{LOCAL[url]}"
        return _SRI.sub("", text.replace(found.group(0), f"{found.group(1)}={found.group(2)}{local}{found.group(2)}"))

    html = _TAG.sub(tag, html)
    html = _GX_IMAGE.sub(lambda m: f"{prefix}static/images/{_local_image(m.group(1))}", html)
    return html, unknown


def _local_image(name: str) -> str:
    """GX's S3 image -> the one of GX's own static images standing in for it."""
    return name if name in {"logo-long.png", "short-logo.png", "favicon.ico"} else "logo-long.png"


def copy_static(docs_dir: Path) -> None:
    """The vendored files into `<docs_dir>/static/vendor/` (again only when they changed)."""
    target = docs_dir / VENDOR
    for source in STATIC.rglob("*"):
        if source.is_file() and source.name != "README.md":
            dest = target / source.relative_to(STATIC)
            if not dest.is_file() or dest.stat().st_size != source.stat().st_size:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest)


def make_offline(docs_dir: str | Path, *, since: float | None = None) -> int:
    """Rewrite the site's pages (those modified at or after `since`, a time.time(); all when None)
    and GX's stylesheet to local files; returns how many files changed."""
    root = Path(docs_dir)
    if not root.is_dir():
        return 0
    copy_static(root)
    changed = 0
    pages = [p for p in root.rglob("*.html") if VENDOR not in p.as_posix()]
    styles = list((root / "static" / "styles").glob("*.css"))
    for path in pages + styles:
        if since is not None and path.stat().st_mtime < since:
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".css":  # static/styles/x.css: images are ../images/
            new, unknown = _GX_IMAGE.sub(lambda m: f"../images/{_local_image(m.group(1))}", text), []
        else:
            depth = len(path.relative_to(root).parts) - 1
            new, unknown = rewrite_page(text, "../" * depth)
        if unknown:
            log.warning("GX Data Docs page %s still loads %s from the network", path, ", ".join(unknown))
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed += 1
    return changed
