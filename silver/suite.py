"""Pure: a suite file (`expectations/<name>.yaml|json`, one per Silver table, versioned with the
code) parsed into the expectations the gate runs.

Every expectation names a GX 1.x expectation type, its kwargs, an `action` and (for `quarantine`)
a `reason` code:

- `quarantine`: row-level; the rows GX reports as unexpected go to quarantine with `reason`;
- `fail`: if GX reports the expectation failed, the batch stops the stream, nothing is committed;
- `warn`: recorded in `audit.quality_results` only.

`when:` is a Spark SQL row condition, parsed into a GX Condition object (`silver.row_conditions`).
A `value_set` may name a canonical set instead of listing it (`value_set: {canonical: event_types}`,
see `pipelines.core.canonical.NAMED_SETS`), so the suite never restates the contract's values.
Whether GX itself accepts each type and its kwargs is checked by `silver.gx_engine.check_suite`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml
from great_expectations.expectations.row_conditions import Condition

from pipelines.core.canonical import NAMED_SETS
from pipelines.core.errors import PipelineError
from silver import row_conditions
from silver.predicates import PREDICATES

ACTIONS = ("quarantine", "fail", "warn")
_SUITE_SUFFIXES = (".yaml", ".yml", ".json")
_ENTRY_KEYS = {"type", "action", "reason", "when", "meta"}


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a suite file; `when` as written, `condition` as GX reads it."""

    index: int
    type: str
    kwargs: Mapping[str, Any]
    action: str
    reason: str | None
    when: str | None = None
    condition: Condition | None = None

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    @property
    def gx_kwargs(self) -> dict[str, Any]:
        """The kwargs GX gets: the file's, plus the row condition as a Condition object."""
        kwargs = dict(self.kwargs)
        if self.condition is not None:
            kwargs["row_condition"] = self.condition
        return kwargs

    @property
    def label(self) -> str:
        return f"#{self.index} {self.type}({self.column or ''})" + (f" -> {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class Suite:
    """A suite file, parsed. `digest` identifies the exact file content that gated a batch."""

    name: str
    table: str
    path: str
    digest: str
    expectations: tuple[ExpectationSpec, ...]

    def by_action(self, action: str) -> tuple[ExpectationSpec, ...]:
        return tuple(e for e in self.expectations if e.action == action)

    @property
    def quarantine(self) -> tuple[ExpectationSpec, ...]:
        return self.by_action("quarantine")

    @property
    def columns(self) -> set[str]:
        """Every column the expectations and their row conditions read."""
        named = {e.column for e in self.expectations if e.column}
        conditioned = (row_conditions.columns(e.condition) for e in self.expectations if e.condition is not None)
        return named.union(*conditioned)


def invalid(path: Path | str, detail: str) -> PipelineError:
    return PipelineError("EXPECTATION_SUITE_INVALID", {"file": str(path), "detail": detail})


def load_suite(path: Path) -> Suite:
    """Parse and check one suite file (YAML or JSON)."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise invalid(path, f"not valid {path.suffix[1:].upper()}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise invalid(path, "expected a mapping with `name`, `table` and an `expectations` list")
    unknown = set(data) - {"name", "table", "description", "expectations"}
    if unknown:
        raise invalid(path, f"unknown top-level keys: {', '.join(sorted(unknown))}")
    expectations = tuple(_expectation(path, i, e) for i, e in enumerate(data["expectations"]))
    _refuse_repeats(path, expectations)
    return Suite(
        name=str(data.get("name") or path.stem), table=str(data.get("table") or ""),
        path=str(path), digest=hashlib.sha256(text.encode("utf-8")).hexdigest()[:16],
        expectations=expectations,
    )


def _refuse_repeats(path: Path, specs: tuple[ExpectationSpec, ...]) -> None:
    """GX keeps one of two expectations that differ only in action or reason; which action would
    apply is then unclear, so the suite must say each expectation once."""
    seen: dict[str, int] = {}
    for spec in specs:
        key = json.dumps([spec.type, dict(spec.kwargs), spec.when], sort_keys=True, default=str)
        if key in seen:
            raise invalid(path, f"expectation #{spec.index} repeats #{seen[key]} (same type, kwargs and `when`)")
        seen[key] = spec.index


def _expectation(path: Path, index: int, entry: Any) -> ExpectationSpec:
    if not isinstance(entry, dict) or not entry.get("type") or "action" not in entry:
        raise invalid(path, f"expectation #{index}: needs `type` and `action`")
    action, etype = entry["action"], str(entry["type"])
    if action not in ACTIONS:
        raise invalid(path, f"expectation #{index}: action must be one of {', '.join(ACTIONS)}, got {action!r}")
    if action == "quarantine":
        if etype not in PREDICATES:
            raise invalid(path, f"expectation #{index}: {etype} is not a row-level expectation the "
                                f"gate supports for `quarantine` ({', '.join(sorted(PREDICATES))})")
        if not entry.get("reason"):
            raise invalid(path, f"expectation #{index}: a `quarantine` expectation needs a `reason`")
        if "mostly" in entry:
            raise invalid(path, f"expectation #{index}: `mostly` makes no sense for a row-level quarantine")
    when = entry.get("when")
    condition = None
    if when is not None:
        try:
            condition = row_conditions.parse(str(when))
        except row_conditions.UnsupportedCondition as exc:
            raise invalid(path, f"expectation #{index}: when {when!r}: {exc}") from exc
    kwargs = {k: _resolve_named_set(path, index, v) if k == "value_set" else v
              for k, v in entry.items() if k not in _ENTRY_KEYS}
    return ExpectationSpec(index=index, type=etype, kwargs=kwargs, action=action,
                           reason=entry.get("reason"), when=None if when is None else str(when),
                           condition=condition)


def _resolve_named_set(path: Path, index: int, value: Any) -> Any:
    """`{canonical: <name>}` -> that canonical list; any other value as written."""
    if not isinstance(value, dict):
        return value
    name = value.get("canonical")
    if set(value) != {"canonical"} or name not in NAMED_SETS:
        raise invalid(path, f"expectation #{index}: value_set must be a list or "
                            f"{{canonical: <one of {', '.join(sorted(NAMED_SETS))}>}}, got {value!r}")
    return list(NAMED_SETS[name]())


def find_suite(expectations_dir: Path, table: str) -> Suite:
    """The suite file whose `table` is `table` (e.g. `silver.events`)."""
    if not expectations_dir.is_dir():
        raise invalid(expectations_dir, "expectations folder not found")
    matches = [suite for suite in (load_suite(p) for p in sorted(expectations_dir.iterdir())
                                   if p.suffix in _SUITE_SUFFIXES and p.is_file())
               if suite.table == table]
    if len(matches) != 1:
        raise invalid(expectations_dir, f"expected exactly one suite for table {table}, found {len(matches)}")
    return matches[0]
