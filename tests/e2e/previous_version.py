"""Helpers for `test_previous_version.py`: run an earlier commit's code next to this one, and compare
the Delta tables the two wrote after normalizing the values that legitimately differ per run.

The earlier code is a `git archive` of its commit: its own `pipelines`, `bronze`, `silver`, `gold`,
`dbt_project` and `expectations`, in a plain folder, with this venv's libraries.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL_PACKAGES = ("pipelines", "bronze", "silver", "gold")

# Environment of every `medallion` process: nothing from the caller's shell may point the two
# versions at other paths (MEDALLION_ROOT, MEDALLION_WAREHOUSE...), another key or dbt target.
_DROPPED_ENV_PREFIXES = ("MEDALLION_", "DBT_")
_DROPPED_ENV = ("PYTHONPATH", "PYTHONHOME")
# Both versions hash emails with this key, so `email_hash` is comparable whatever either version's
# built-in development key is.
TEST_PII_KEY = "previous-version-test-key"

# Lines that make a log tail useless: GX registers its API at import in ~50 INFO lines.
_NOISE = re.compile(r"great_expectations\._docs_decorators|^\s*$")


# ---------------------------------------------------------------------------------------------
# The earlier commit's tree


def missing_commit_reason(commit: str) -> str | None:
    """Why `commit` cannot be used here (None when it can)."""
    if shutil.which("git") is None:
        return "git is not installed"
    if not (REPO_ROOT / ".git").exists():
        return f"{REPO_ROOT} is not a git checkout"
    probe = subprocess.run(["git", "-C", str(REPO_ROOT), "cat-file", "-e", f"{commit}^{{commit}}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        shallow = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--is-shallow-repository"],
                                 capture_output=True, text=True).stdout.strip() == "true"
        how = ("this clone is shallow: `git fetch --unshallow` (or clone without --depth)" if shallow
               else "fetch the history that contains it")
        return f"previous commit {commit} is not in this clone; {how}"
    return None


def extract_tree(commit: str, dest: Path) -> Path:
    """`git archive <commit> | tar -x -C dest`: the commit's files, no .git."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.Popen(["git", "-C", str(REPO_ROOT), "archive", commit], stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, capture_output=True)
    assert archive.stdout is not None
    archive.stdout.close()
    assert archive.wait(timeout=120) == 0, f"git archive {commit} failed"
    assert untar.returncode == 0, f"tar -x failed: {untar.stderr.decode(errors='replace')[-2000:]}"
    return dest


def write_config(path: Path, root: Path, spark: dict[str, Any]) -> Path:
    """A config both versions accept: only keys whose meaning did not change (mode, paths.root,
    spark.*). Everything else is each version's default."""
    path.write_text(yaml.safe_dump({"mode": "dev", "paths": {"root": str(root)}, "spark": dict(spark)}))
    return path


# ---------------------------------------------------------------------------------------------
# Running one version's CLI


@dataclass
class Result:
    label: str
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def tail(self, chars: int = 4000) -> str:
        err = "\n".join(line for line in self.stderr.splitlines() if not _NOISE.search(line))
        return (f"`{self.label}` ({' '.join(self.args)}) exited {self.returncode} after {self.seconds:.0f}s\n"
                f"--- stdout (tail) ---\n{self.stdout[-chars // 2:]}\n"
                f"--- stderr (tail, GX import noise removed) ---\n{err[-chars:]}")

    def check(self) -> "Result":
        assert self.returncode == 0, self.tail()
        return self


@dataclass
class Medallion:
    """One version of the `medallion` CLI: `python -m pipelines.cli` run from `cwd` with `env`."""

    name: str
    cwd: Path
    env: dict[str, str]
    logs: Path
    runs: list[Result] = field(default_factory=list)
    _count: itertools.count = field(default_factory=itertools.count)

    def start(self, config: Path, *args: str) -> Callable[[float], Result]:
        """Start `medallion --config config args...`; returns `wait(timeout)` for its Result.
        Output goes to files (no pipe can fill up while another process runs)."""
        argv = [sys.executable, "-m", "pipelines.cli", "--config", str(config), *args]
        self.logs.mkdir(parents=True, exist_ok=True)
        stem = self.logs / f"{self.name}-{next(self._count)}-{args[0]}"
        out_path, err_path = stem.with_suffix(".out"), stem.with_suffix(".err")
        started = time.monotonic()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            # Own process group: a timeout kills the CLI and the Spark JVM it started.
            proc = subprocess.Popen(argv, cwd=self.cwd, env=self.env, stdout=out, stderr=err,
                                    start_new_session=True)
        label = f"{self.name} medallion {args[0]}"

        def wait(timeout: float) -> Result:
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code = -9
                label_ = f"{label} (killed: still running after {timeout:.0f}s)"
            else:
                label_ = label
            result = Result(label_, list(args), code, out_path.read_text(errors="replace"),
                            err_path.read_text(errors="replace"), time.monotonic() - started)
            self.runs.append(result)
            return result

        return wait

    def run(self, config: Path, *args: str, timeout: float = 600) -> Result:
        return self.start(config, *args)(timeout)

    def python(self, code: str) -> str:
        """Run `python -c code` exactly as this version's CLI runs (same cwd, env); its stdout."""
        done = subprocess.run([sys.executable, "-c", code], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in _DROPPED_ENV and not k.startswith(_DROPPED_ENV_PREFIXES)}
    env.update({"GX_ANALYTICS_ENABLED": "false", "MEDALLION_PII_KEY": TEST_PII_KEY, **extra})
    return env


def imported_from(version: Medallion) -> dict[str, str]:
    """Where each top-level package resolves in `version`'s interpreter set-up."""
    out = version.python(
        "import importlib, json\n"
        f"print(json.dumps({{n: importlib.import_module(n).__file__ for n in {TOP_LEVEL_PACKAGES!r}}}))")
    return json.loads(out.strip().splitlines()[-1])


_GENERATED = re.compile(r"generated ([\d,]+) lines")


def lines_generated(result: Result) -> int:
    match = _GENERATED.search(result.stdout)
    assert match, f"`generate` did not say how many lines it wrote:\n{result.stdout[-2000:]}"
    return int(match.group(1).replace(",", ""))


def copy_landing(src: Path, dest: Path) -> list[str]:
    """The landed files, byte for byte with their names and modification times (Bronze records
    `_source_modified_at`)."""
    dest.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in src.iterdir() if p.is_file())
    for name in names:
        shutil.copy2(src / name, dest / name)
    return names


# ---------------------------------------------------------------------------------------------
# Tables and their comparison

# Columns whose values differ from run to run by design; any table, by column name. Every other
# column is compared exactly.
VOLATILE_COLUMNS: dict[str, str] = {
    # run identities
    "_ingest_run_id": "run id",
    "run_id": "run id",
    "gate_run_id": "gate run id (run id + batch + random)",
    "_gate_run_id": "gate run id (run id + batch + random)",
    # when it was processed (not when the event happened)
    "_ingested_at": "processing time",
    "_processed_at": "processing time",
    "processed_at": "processing time",
    "validated_at": "processing time",
    "_ingest_date": "processing date",
    # durations
    "gx_seconds": "duration",
    "batch_seconds": "duration",
    # streaming query identity (txnAppId = prefix + checkpoint's query id)
    "txn_app_id": "query identity",
    "phase_seconds": "durations",
    "execution_seconds": "duration",
    "started_at": "processing time",
    "finished_at": "processing time",
    # dbt invocation id (audit.gold_builds), random per invocation
    "invocation_id": "dbt invocation id",
    # Delta table id (random per created table): audit.gold_builds records silver.events' id
    "silver_table_id": "Delta table id",
    # sha256 of the suite file's text: identifies which file version gated the batch, so it
    # changes with any edit of expectations/silver_events.yaml, comments included. What the suite
    # does is compared through audit.quality_results' other columns and every table's rows.
    "suite_digest": "suite file version",
}
# Known only where the code runs from a git checkout (the previous version runs from `git
# archive`, without one): set or not, the value is not compared.
ENVIRONMENT_COLUMNS = ("git_commit",)
# `<stream id, 8 hex>-<batch>-<row>`: the stream id is random per Bronze checkpoint.
STREAM_PREFIXED_COLUMNS = ("_bronze_id", "kept_bronze_id")
# Absolute path of the landed file: only the file name is the same in two warehouses.
FILE_PATH_COLUMNS = ("_source",)

VOLATILE = "<volatile>"


def normalize(column: str, value: Any) -> Any:
    if column in ENVIRONMENT_COLUMNS:
        return "<environment>"
    if value is None:
        return None
    if column in VOLATILE_COLUMNS:
        return VOLATILE  # kept apart from None: a value that goes missing is a difference
    if column in STREAM_PREFIXED_COLUMNS:
        return value.split("-", 1)[1] if "-" in value else f"<no stream prefix: {value}>"
    if column in FILE_PATH_COLUMNS:
        return value.rstrip("/").rsplit("/", 1)[-1]
    return _hashable(value)


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"  # NaN != NaN would make equal rows differ
    if hasattr(value, "asDict"):
        return _hashable(value.asDict(recursive=True))
    return value


def delta_tables(warehouse: Path) -> dict[str, Path]:
    """`schema.table` -> folder, for every `<warehouse>/<schema>/<table>` holding a `_delta_log`."""
    return {f"{log.parent.parent.name}.{log.parent.name}": log.parent
            for log in sorted(warehouse.glob("*/*/_delta_log")) if log.is_dir()}


@dataclass
class TableSnapshot:
    name: str
    columns: list[tuple[str, str]]  # (name, Spark type), table order
    rows: list[tuple]  # normalized

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]


def snapshot(spark: Any, name: str, path: Path) -> TableSnapshot:
    df = spark.read.format("delta").load(str(path))
    columns = [(f.name, f.dataType.simpleString()) for f in df.schema.fields]
    names = [c for c, _ in columns]
    rows = [tuple(normalize(c, v) for c, v in zip(names, row)) for row in df.collect()]
    return TableSnapshot(name, columns, rows)


def _short(value: Any, width: int = 100) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


# Columns this version adds to a table of PREVIOUS_COMMIT's layout, which its migration adds to
# an existing warehouse (test_previous_version checks the upgraded tables have them); empty it
# when PREVIOUS_COMMIT moves past them.
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "silver.events": ("email_hash_key_id",),
    "audit.batch_ledger": ("properties_keys_dropped",),
}


def schema_problems(old: TableSnapshot, new: TableSnapshot) -> list[str]:
    old_types, new_types = dict(old.columns), dict(new.columns)
    problems = []
    added = ADDED_COLUMNS.get(new.name, ())
    missing = [c for c in old.column_names if c not in new_types]
    extra = [c for c in new.column_names if c not in old_types and c not in added]
    changed = [f"{c}: {old_types[c]} -> {new_types[c]}" for c in old.column_names
               if c in new_types and old_types[c] != new_types[c]]
    if missing:
        problems.append(f"columns missing in the new table: {missing}")
    if extra:
        problems.append(f"extra columns in the new table (not allowed: an upgraded warehouse would "
                        f"lack them): {extra}")
    if changed:
        problems.append(f"column types changed: {changed}")
    if not (missing or extra) and old.column_names != [c for c in new.column_names if c not in added]:
        problems.append(f"same columns in another order:\n    old {old.column_names}\n    new {new.column_names}")
    return problems


def _project(table: TableSnapshot, columns: Sequence[str]) -> list[tuple]:
    index = [table.column_names.index(c) for c in columns]
    return [tuple(row[i] for i in index) for row in table.rows]


# Expectations this version's suite has and PREVIOUS_COMMIT's had not (by reason code); empty it
# when PREVIOUS_COMMIT moves past them.
ADDED_REASONS: frozenset[str] = frozenset()


def _results_of_shared_expectations(table: TableSnapshot) -> TableSnapshot:
    """audit.quality_results without the rows of expectations added since PREVIOUS_COMMIT, and
    without `expectation_index` (an inserted expectation moves the later ones down the file);
    each expectation is still identified by its type, column, condition, action and reason."""
    columns = table.column_names
    reason, index = columns.index("reason"), columns.index("expectation_index")
    rows = [tuple(VOLATILE if i == index else v for i, v in enumerate(row))
            for row in table.rows if row[reason] not in ADDED_REASONS]
    return TableSnapshot(table.name, table.columns, rows)


def _masked(columns: Sequence[str], where: Callable[[dict[str, Any]], bool] = lambda row: True,
            then: Callable[[TableSnapshot], TableSnapshot] = lambda table: table,
            ) -> Callable[[TableSnapshot], TableSnapshot]:
    """A view of a snapshot with `columns` set to VOLATILE in the rows `where` holds for."""
    def view(table: TableSnapshot) -> TableSnapshot:
        names = table.column_names
        masked = {names.index(c) for c in columns if c in names}
        rows = [tuple(VOLATILE if i in masked and where(dict(zip(names, row))) else v for i, v in enumerate(row))
                for row in table.rows]
        return then(TableSnapshot(table.name, table.columns, rows))
    return view


def _canonical_json(text: Any) -> Any:
    """A JSON text as a comparable value (key order and number spelling aside); other text as is."""
    if not isinstance(text, str):
        return text
    try:
        return json.dumps(json.loads(text), sort_keys=True)
    except ValueError:
        return text


def _mapped(column: str, old: Callable[[Any], Any], new: Callable[[Any], Any] = _canonical_json,
            then: Callable[[TableSnapshot], TableSnapshot] = lambda table: table,
            ) -> tuple[Callable[[TableSnapshot], TableSnapshot], Callable[[TableSnapshot], TableSnapshot]]:
    """(old view, new view): `column` passed through `old` in the previous version's rows and
    through `new` in this version's, which must then be equal."""
    def view(fn: Callable[[Any], Any]) -> Callable[[TableSnapshot], TableSnapshot]:
        def apply(table: TableSnapshot) -> TableSnapshot:
            if column not in table.column_names:
                return then(table)
            index = table.column_names.index(column)
            rows = [tuple(fn(v) if i == index else v for i, v in enumerate(row)) for row in table.rows]
            return then(TableSnapshot(table.name, table.columns, rows))
        return apply
    return view(old), view(new)


def _allow_listed(properties: Any) -> Any:
    """What layout 6 keeps of a properties JSON: the allow-listed keys (NULL when none is left)."""
    if properties is None:
        return None
    keys = yaml.safe_load((REPO_ROOT / "silver" / "reference" / "property_keys.yaml").read_text())["keys"]
    doc = json.loads(properties)
    kept = {k: v for k, v in doc.items() if k in keys} if isinstance(doc, dict) else {}
    return json.dumps(kept, sort_keys=True) if kept else None


def _masked_line(raw: Any) -> Any:
    from pipelines.core.personal_data import mask_raw_line

    return _canonical_json(mask_raw_line(raw))


# Layout 6 (personal data at rest) on purpose: Silver keeps only the allow-listed properties keys;
# the quarantine masks the raw line and no longer copies a line's invalid bytes; the duplicates'
# payload hashes cover the (allow-listed) properties. Drop these when PREVIOUS_COMMIT moves past 6.
_QUARANTINE = _mapped("raw", _masked_line, then=_masked(("raw_bytes",)))
_SILVER = _mapped("properties", _allow_listed)
_DUPLICATES = _masked(("payload_hash", "kept_payload_hash"))

# What this version changes on purpose in what the same input gives: table -> (a view of the
# previous version's snapshot, a view of this version's) that must be equal.
INTENDED_CHANGES: dict[str, tuple[Callable[[TableSnapshot], TableSnapshot], Callable[[TableSnapshot], TableSnapshot]]] = {
    "silver.events": _SILVER,
    "silver.events_quarantine": _QUARANTINE,
    "silver.events_duplicates": (_DUPLICATES, _DUPLICATES),
    "audit.quality_results": (_results_of_shared_expectations, _results_of_shared_expectations),
}


def row_problems(old: TableSnapshot, new: TableSnapshot, *, show: int = 3) -> list[str]:
    """Rows compared as multisets over the columns both tables have (a column missing or extra
    is reported by `schema_problems`), through INTENDED_CHANGES where a table has one."""
    if old.name in INTENDED_CHANGES:
        old_view, new_view = INTENDED_CHANGES[old.name]
        old, new = old_view(old), new_view(new)
    columns = [c for c in old.column_names if c in new.column_names]
    old_rows, new_rows = Counter(_project(old, columns)), Counter(_project(new, columns))
    if old_rows == new_rows:
        return []
    only_old = sorted((old_rows - new_rows).elements(), key=repr)
    only_new = sorted((new_rows - old_rows).elements(), key=repr)
    lines = [f"rows differ: old {sum(old_rows.values())} rows, new {sum(new_rows.values())}; "
             f"{len(only_old)} only in old, {len(only_new)} only in new"]
    if len(only_old) == len(only_new):  # same count: name the columns that changed
        differing = [c for i, c in enumerate(columns)
                     if Counter(r[i] for r in only_old) != Counter(r[i] for r in only_new)]
        lines.append(f"columns whose values differ: {differing}")
    for row in only_old[:show]:
        closest = max(only_new, key=lambda other: sum(a == b for a, b in zip(row, other)), default=None)
        if closest is None:
            lines.append("only in old: " + ", ".join(f"{c}={_short(v)}" for c, v in zip(columns, row)))
            continue
        same = [f"{c}={_short(v, 60)}" for c, v, w in zip(columns, row, closest) if v == w][:3]
        diff = [f"{c}: old {_short(v)} | new {_short(w)}" for c, v, w in zip(columns, row, closest) if v != w]
        lines.append(f"old row vs the closest new row ({', '.join(same)}):\n      " + "\n      ".join(diff))
    if not only_old:
        for row in only_new[:show]:
            lines.append("only in new: " + ", ".join(f"{c}={_short(v)}" for c, v in zip(columns, row)))
    return lines


def compare_warehouses(old: dict[str, TableSnapshot], new: dict[str, TableSnapshot],
                       check: Callable[[TableSnapshot, TableSnapshot], list[str]]) -> list[str]:
    """One report line (plus details) per old table that `check` finds problems in."""
    report = []
    for name, old_table in old.items():
        new_table = new.get(name)
        if new_table is None:
            report.append(f"{name}: missing in the new warehouse (new has {sorted(new)})")
            continue
        problems = check(old_table, new_table)
        if problems:
            report.append(f"{name}:\n  " + "\n  ".join(problems))
    return report


def table_counts(tables: Iterable[TableSnapshot]) -> str:
    return ", ".join(f"{t.name} {len(t.rows)}" for t in tables)
