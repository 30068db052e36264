"""The Great Expectations side of the gate: one GX validation per micro-batch.

GX objects are built once per stream (an ephemeral context; a `persist=False` Spark data source
and a pandas one). A batch is validated in two runs:

1. the whole suite over the whole batch, counts only (`BASIC`, no partial lists): the success of
   every expectation and its unexpected count. On GX's pandas engine for a batch of at most
   `pandas_max_rows` rows (its Spark engine costs Spark jobs per expectation however small the
   batch), on Spark above that.
2. the quarantine expectations that found unexpected rows, over the rows the predicates flagged
   only, `COMPLETE` with row ids (`_bronze_id`). GX's unexpected rows within the flagged subset are
   a subset of its unexpected rows in the whole batch; when their number equals the whole-batch
   count, the two sets are equal. So run 2 yields exactly the rows GX finds unexpected, listing ids
   for the few bad rows instead of scanning the whole batch once per expectation.

Row conditions are GX Condition objects (`silver.row_conditions`), which both engines evaluate
natively: no deprecated string conditions, no Spark-evaluated helper columns for pandas.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import great_expectations as gx
from great_expectations.core import ExpectationSuite
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from pyspark.sql import DataFrame, SparkSession, functions as F

from pipelines.core.errors import PipelineError
from silver.datadocs_offline import make_offline
from silver.predicates import FLAGGED_COL
from silver.suite import ExpectationSpec, Suite, invalid

ROW_ID = "_bronze_id"
_COUNTS_ONLY = {"result_format": "BASIC", "partial_unexpected_count": 0}
_ROW_IDS = {"result_format": "COMPLETE", "unexpected_index_column_names": [ROW_ID],
            "exclude_unexpected_values": True, "include_unexpected_rows": False}


@dataclass(frozen=True)
class ExpectationOutcome:
    """What GX reported for one expectation; `unexpected_ids` None when not (fully) listed."""

    spec: ExpectationSpec
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    unexpected_ids: frozenset[str] | None
    observed_value: Any = None
    exception: str | None = None


@dataclass(frozen=True)
class GateResult:
    suite: Suite
    gate_run_id: str
    success: bool
    outcomes: tuple[ExpectationOutcome, ...]
    seconds: float
    validated_at: datetime
    result_id: Any = None

    @property
    def failed_fail_expectations(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if o.spec.action == "fail" and not o.success)

    def quarantine_ids(self) -> dict[int, frozenset[str]]:
        """Quarantine expectation index -> GX's unexpected row ids."""
        return {o.spec.index: o.unexpected_ids or frozenset() for o in self.outcomes
                if o.spec.action == "quarantine"}


def configuration(spec: ExpectationSpec, **meta: Any) -> ExpectationConfiguration:
    return ExpectationConfiguration(type=spec.type, kwargs=spec.gx_kwargs, meta=meta)


def _gx_suite(name: str, specs: Sequence[ExpectationSpec], *, meta: dict[str, Any] | None = None,
              with_action: bool = False) -> ExpectationSuite:
    """A GX suite of `specs`, each tagged with its index in the suite file (how results map back)."""
    gx_suite = ExpectationSuite(name=name, meta=meta)
    for spec in specs:
        tags = {"action": spec.action, "reason": spec.reason} if with_action else {}
        gx_suite.add_expectation(configuration(spec, index=spec.index, **tags).to_domain_obj())
    return gx_suite


def check_suite(suite: Suite) -> Suite:
    """Every expectation is a GX type GX accepts with its kwargs (EXPECTATION_SUITE_INVALID if not)."""
    for spec in suite.expectations:
        try:
            configuration(spec).to_domain_obj()
        except Exception as exc:  # GX raises several types for unknown types and bad kwargs
            raise invalid(suite.path, f"expectation #{spec.index} ({spec.type}): {exc}") from exc
    return suite


def gate_columns(suite: Suite, columns: list[str]) -> list[str]:
    """The columns GX reads: those the expectations and their row conditions name, plus row ids.

    Selecting them before validating keeps each of GX's scans narrow. A column the batch lacks is
    left out here and reported by GX as an expectation error.
    """
    return [c for c in sorted(suite.columns | {ROW_ID}) if c in columns]


class QualityGate:
    """GX objects for one suite, built once per stream."""

    def __init__(self, suite: Suite, *, docs_dir: str | None = None, keep_results: int = 50,
                 pandas_max_rows: int = 100_000) -> None:
        self.suite = check_suite(suite)
        self.docs_dir = docs_dir
        self.keep_results = keep_results
        self.pandas_max_rows = pandas_max_rows
        self._stored: list[Any] = []
        self._docs_offline = False  # every Data Docs page rewritten for offline reading once
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        meta = {"medallion_digest": suite.digest, "medallion_table": suite.table}
        gx_suite = self.context.suites.add(_gx_suite(suite.name, suite.expectations, meta=meta, with_action=True))
        spark_source = self.context.data_sources.add_or_update_spark(f"medallion_{suite.name}", persist=False)
        pandas_source = self.context.data_sources.add_pandas(f"medallion_{suite.name}_pandas")
        # engine -> a whole-dataframe batch definition; run 1 validates through a stored
        # validation definition (its results feed Data Docs), run 2 validates ad-hoc suites.
        self._batches = {
            engine: source.add_dataframe_asset(name=f"{suite.name}_batch").add_batch_definition_whole_dataframe("batch")
            for engine, source in (("spark", spark_source), ("pandas", pandas_source))}
        self._validations = {
            engine: self.context.validation_definitions.add(gx.ValidationDefinition(
                data=batches, suite=gx_suite, name=f"{suite.name}_gate_{engine}"))
            for engine, batches in self._batches.items()}
        if docs_dir:
            Path(docs_dir).mkdir(parents=True, exist_ok=True)
            self.context.add_data_docs_site("medallion", {
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(Path(docs_dir).resolve())},
            })

    def validate(self, batch: DataFrame, *, gate_run_id: str, rows: int | None = None,
                 flagged_rows: int | None = None) -> GateResult:
        """Validate a persisted batch marked by `predicates.mark_flagged` (runs 1 and 2 above).

        `rows` / `flagged_rows`: the batch's row and flagged-row counts when the caller has them
        (each saves a Spark job).
        """
        started, validated_at = time.monotonic(), datetime.now(timezone.utc)
        columns = gate_columns(self.suite, batch.columns)
        engine = self._engine(batch, rows)
        with _engine_settings(batch.sparkSession, engine):
            result = self._validations[engine].run(
                batch_parameters={"dataframe": self._frame(batch.select(*columns), engine)},
                result_format=_COUNTS_ONLY, run_id=RunIdentifier(run_name=gate_run_id, run_time=validated_at))
        outcomes = self._outcomes(result, self.suite.expectations)
        broken = [o for o in outcomes if o.exception]
        if broken:
            raise PipelineError("GATE_FAILED", {"suite": self.suite.name, "detail": "; ".join(
                f"{o.spec.label}: {o.exception}" for o in broken)})
        to_list = [o.spec for o in outcomes if o.spec.action == "quarantine" and o.unexpected_count]
        ids = self._unexpected_ids(batch.filter(F.col(FLAGGED_COL)).select(*columns), to_list,
                                   flagged_rows) if to_list else {}
        return GateResult(
            suite=self.suite, gate_run_id=gate_run_id, success=bool(result.success),
            outcomes=tuple(_with_listed_ids(o, ids) for o in outcomes),
            seconds=time.monotonic() - started, validated_at=validated_at, result_id=self._result_key())

    def _engine(self, frame: DataFrame, rows: int | None) -> str:
        """`pandas` for at most `pandas_max_rows` rows (`rows` when the caller counted them)."""
        if rows is None:
            rows = frame.limit(self.pandas_max_rows + 1).count()
        return "pandas" if rows <= self.pandas_max_rows else "spark"

    @staticmethod
    def _frame(frame: DataFrame, engine: str) -> Any:
        """The batch as the engine reads it: collected through Arrow for pandas."""
        return frame.toArrow().to_pandas() if engine == "pandas" else frame

    def _unexpected_ids(self, flagged: DataFrame, specs: list[ExpectationSpec],
                        flagged_rows: int | None) -> dict[int, frozenset[str]]:
        """Run 2: GX's unexpected row ids for `specs`, over the flagged rows only (cached when
        they stay on Spark)."""
        rows_suite = _gx_suite(f"{self.suite.name}__flagged_rows", specs)
        engine = self._engine(flagged, flagged_rows)
        frame = self._frame(flagged, engine)
        if engine == "spark":
            frame = frame.persist()
        try:
            with _engine_settings(flagged.sparkSession, engine):
                result = self._batches[engine].get_batch(batch_parameters={"dataframe": frame}).validate(
                    rows_suite, result_format=_ROW_IDS)
        finally:
            if engine == "spark":
                frame.unpersist()
        return {o.spec.index: o.unexpected_ids or frozenset() for o in self._outcomes(result, specs)}

    def _outcomes(self, result: Any, specs: Sequence[ExpectationSpec]) -> tuple[ExpectationOutcome, ...]:
        """One outcome per expectation of `specs`, in suite order; GX leaving one out is an error
        (its rows would be quarantined without GX's agreement)."""
        outcomes = sorted(map(self._outcome, result.results), key=lambda o: o.spec.index)
        if [o.spec.index for o in outcomes] != sorted(s.index for s in specs):
            raise PipelineError("GATE_FAILED", {"suite": self.suite.name, "detail": (
                f"GX returned results for expectations {[o.spec.index for o in outcomes]}, "
                f"expected {sorted(s.index for s in specs)}")})
        return tuple(outcomes)

    def _outcome(self, r: Any) -> ExpectationOutcome:
        spec = self.suite.expectations[int(r.expectation_config.meta["index"])]
        res = r.result or {}
        return ExpectationOutcome(
            spec=spec, success=bool(r.success), element_count=res.get("element_count"),
            unexpected_count=res.get("unexpected_count"), unexpected_percent=res.get("unexpected_percent"),
            unexpected_ids=_listed_ids(res), observed_value=res.get("observed_value"),
            exception=_exception_message(r.exception_info))

    def _result_key(self) -> Any:
        """The stored result of the run just made; older ones beyond `keep_results` are removed
        (the ephemeral store would grow for as long as the stream runs)."""
        store = self.context.validation_results_store
        fresh = [k for k in store.list_keys() if k not in self._stored]
        self._stored.extend(fresh)
        while len(self._stored) > self.keep_results:
            store.remove_key(self._stored.pop(0))
        return fresh[-1] if fresh else None

    def build_docs(self, gate: GateResult | None = None) -> str | None:
        """Render Data Docs for one validation (and the index); returns the index path."""
        if not self.docs_dir:
            return None
        ids = [gate.result_id] if gate is not None and gate.result_id is not None else None
        started = time.time()
        urls = self.context.build_data_docs(site_names=["medallion"], resource_identifiers=ids)
        # readable offline: the pages just written (every page, the first time) load local copies
        # of GX's CDN files (silver/datadocs_offline.py)
        make_offline(self.docs_dir, since=started - 1 if self._docs_offline else None)
        self._docs_offline = True
        return urls.get("medallion")


def _listed_ids(result: dict[str, Any]) -> frozenset[str] | None:
    """Row ids of a COMPLETE result (`{_bronze_id: [..]}` with exclude_unexpected_values, else one
    entry per row); None for a counts-only result."""
    if "unexpected_index_list" not in result:
        return None
    ids: set[str] = set()
    for item in result["unexpected_index_list"] or []:
        value = item[ROW_ID]
        ids.update(map(str, value) if isinstance(value, list) else [str(value)])
    return frozenset(ids)


def _with_listed_ids(outcome: ExpectationOutcome, listed: dict[int, frozenset[str]]) -> ExpectationOutcome:
    """A quarantine outcome with run 2's ids when they are all of GX's unexpected rows, else None
    (the agreement check then reports the difference)."""
    if outcome.spec.action != "quarantine":
        return outcome
    found = listed.get(outcome.spec.index) or frozenset()
    return replace(outcome, unexpected_ids=found if len(found) == (outcome.unexpected_count or 0) else None)


def _exception_message(info: Any) -> str | None:
    """GX's exception info is either one dict or a dict of them, per metric."""
    info = info if isinstance(info, dict) else {}
    parts = [info, *[v for v in info.values() if isinstance(v, dict)]]
    raised = [p for p in parts if p.get("raised_exception")]
    return (raised[0].get("exception_message") or "error") if raised else None


@contextmanager
def _engine_settings(spark: SparkSession, engine: str) -> Iterator[None]:
    """On Spark, adaptive execution off while GX runs: its metrics are many small aggregations
    over a cached batch, and adaptive execution runs each as two Spark jobs (map stage, then
    result) instead of one."""
    if engine != "spark":
        yield
        return
    key = "spark.sql.adaptive.enabled"
    previous = spark.conf.get(key)
    spark.conf.set(key, "false")
    try:
        yield
    finally:
        spark.conf.set(key, previous)
