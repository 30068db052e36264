"""The error catalogue and the product's raise sites agree: every code raised is catalogued, every
catalogued code is raised, and every raise site passes the parameters its message needs.

Raise sites are found by parsing the product's source (`PipelineError(...)` calls in pipelines/,
bronze/, silver/, gold/); a code or parameters that are not literals would hide a site from these
checks, so they fail the test too.
"""
from __future__ import annotations

import ast
import string
from dataclasses import dataclass

import pytest

from pipelines.core.config import PROJECT_DIR
from pipelines.core.errors import _MESSAGES, PipelineError

PRODUCT_PACKAGES = ("pipelines", "bronze", "silver", "gold")


@dataclass(frozen=True)
class RaiseSite:
    where: str  # path:line
    code: str | None  # None: not a string literal
    params: frozenset[str] | None  # None: not a dict literal with string-literal keys


def _is_pipeline_error(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "PipelineError") or \
        (isinstance(func, ast.Attribute) and func.attr == "PipelineError")


def _argument(call: ast.Call, position: int, name: str) -> ast.expr | None:
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == name), None)


def _params(node: ast.expr | None) -> frozenset[str] | None:
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return frozenset()
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str)
                                          for k in node.keys):
        return frozenset(k.value for k in node.keys)  # type: ignore[union-attr]
    return None


def raise_sites() -> list[RaiseSite]:
    sites = []
    for package in PRODUCT_PACKAGES:
        for path in sorted((PROJECT_DIR / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and _is_pipeline_error(node.func):
                    code = _argument(node, 0, "code")
                    literal = code.value if isinstance(code, ast.Constant) and isinstance(code.value, str) else None
                    sites.append(RaiseSite(f"{path.relative_to(PROJECT_DIR)}:{node.lineno}", literal,
                                           _params(_argument(node, 1, "params"))))
    return sites


SITES = raise_sites()


def _fields(template: str) -> set[str]:
    """Top-level names a message template formats (`{value!r}` -> value, `{a.b}` -> a)."""
    names = set()
    for _, field, _, _ in string.Formatter().parse(template):
        if field is not None:
            names.add(field.split(".")[0].split("[")[0])
    return names


def test_the_source_scan_finds_the_raise_sites() -> None:
    # guards the scan itself: a broken walk would make the checks below pass vacuously
    assert any(s.where.startswith("pipelines/core/config.py") and s.code == "UNKNOWN_CONFIG_KEY" for s in SITES)
    assert any(s.where.startswith("silver/") for s in SITES) and any(s.where.startswith("gold/") for s in SITES)


def test_every_raise_site_names_its_code_and_parameters_literally() -> None:
    assert [s.where for s in SITES if s.code is None] == [], "PipelineError with a non-literal code"
    assert [s.where for s in SITES if s.params is None] == [], "PipelineError params not a literal dict"


def test_every_code_raised_in_the_product_is_in_the_catalogue() -> None:
    assert [(s.where, s.code) for s in SITES if s.code is not None and s.code not in _MESSAGES] == []


def test_every_catalogued_code_is_raised_somewhere() -> None:
    raised = {s.code for s in SITES}
    assert sorted(set(_MESSAGES) - raised) == []


def test_every_raise_site_passes_the_parameters_its_message_needs() -> None:
    missing = [(s.where, s.code, sorted(_fields(_MESSAGES[s.code]) - s.params - {"params"}))
               for s in SITES if s.code in _MESSAGES and s.params is not None
               and _fields(_MESSAGES[s.code]) - s.params - {"params"}]
    assert missing == []


@pytest.mark.parametrize("code", sorted(_MESSAGES))
def test_each_message_renders_with_its_parameters(code: str) -> None:
    params = {name: f"<{name}>" for name in _fields(_MESSAGES[code]) - {"params"}}
    error = PipelineError(code, params)
    assert str(error).startswith(f"[{code}] ")  # how the CLI shows it, and what tests look for
    assert all(value in str(error) for value in params.values()), str(error)


@pytest.mark.parametrize("code, names", [
    ("UNKNOWN_CONFIG_KEY", {"key", "file"}),
    ("INVALID_CONFIG_VALUE", {"key", "file"}),
    ("CONFIG_NOT_FOUND", {"file"}),
    ("CONFIG_UNREADABLE", {"file"}),
])
def test_configuration_errors_name_the_key_and_the_file(code: str, names: set[str]) -> None:
    assert names <= _fields(_MESSAGES[code])


def test_an_error_keeps_its_code_and_parameters() -> None:
    error = PipelineError("UNKNOWN_STAGE", {"stage": "bogus", "known": "ingest, refine"})
    assert (error.code, error.params) == ("UNKNOWN_STAGE", {"stage": "bogus", "known": "ingest, refine"})


def test_an_error_missing_a_parameter_still_renders_with_its_code() -> None:
    error = PipelineError("UNKNOWN_STAGE", {"stage": "bogus"})
    assert str(error).startswith("[UNKNOWN_STAGE] ") and "bogus" in str(error)


def test_the_scan_covers_every_product_package() -> None:
    assert all((PROJECT_DIR / package / "__init__.py").is_file() for package in PRODUCT_PACKAGES)
