"""Errors a user can hit, as classes with a stable code and parameters.

Tests assert on `code`, never on message text; messages say what to do next.
"""
from __future__ import annotations

from typing import Any, Mapping

_MESSAGES: dict[str, str] = {
    "CONFIG_NOT_FOUND": "config file {file} does not exist",
    "CONFIG_UNREADABLE": "config file {file} is not valid YAML: {detail}",
    "UNKNOWN_CONFIG_KEY": "unknown key '{key}' in {file} (allowed here: {allowed})",
    "INVALID_CONFIG_VALUE": "invalid value for '{key}' in {file}: {detail}",
    "DELTA_JARS_UNAVAILABLE": (
        "could not start Spark with the Delta Lake jars ({packages}). They are resolved from Maven "
        "Central through spark.jars.packages and cached in {ivy_dir}. Check that Maven Central is "
        "reachable (or a proxy/mirror is configured), or warm the cache once with "
        "`mvn dependency:get -Dartifact={first_package}` (Spark also looks in ~/.m2/repository), "
        "then retry. Spark said: {detail}"
    ),
    "LOG_UNWRITABLE": (
        "cannot write the log file {path} ({detail}); make paths.root a writable folder"
    ),
    "JAVA_NOT_FOUND": "Java 17+ is required to run Spark; install a JDK and set JAVA_HOME ({detail})",
    "INVALID_ARGUMENT": "invalid {name} {value!r}: {detail}",
    "GOLD_BUILD_FAILED": "dbt build of Gold failed: {detail}",
    "UNKNOWN_STAGE": "unknown stage(s) {stage}; known: {known}",
    "STREAM_FAILED": "{stage} stream failed: {detail}",
    "CHECKPOINT_MISMATCH": "{detail}",
    "STREAM_OWNER_CONFLICT": (
        "{table} is written by the stream {owner} (checkpoint {owner_checkpoint}); a second stream "
        "(checkpoint {checkpoint}) would land its rows again. Stop the other stream, or run this one "
        "with the owner's checkpoint (the same paths.checkpoints); a table has one streaming writer"
    ),
    "SQL_FAILED": "query failed: {detail}",
    "TABLE_NOT_IN_REGISTRY": "{table} is not a table medallion owns (see `medallion tables`)",
    "REGISTRY_INVALID": "the table registry is inconsistent: {detail}",
    "WAREHOUSE_TOO_NEW": (
        "the warehouse {warehouse} is at layout version {version}, written by a newer medallion; "
        "this one understands up to version {supported}. Upgrade medallion (or point "
        "paths.warehouse at another warehouse)"
    ),
    "WAREHOUSE_MARKER_INVALID": (
        "the warehouse version marker {path} is unreadable ({detail}); restore it from a backup, "
        "or delete it to have medallion treat the warehouse as built before versions were recorded"
    ),
    "TABLE_NOT_FOUND": "no Delta table at {path}; run the stage that builds it first",
    "DBT_PROJECT_NOT_FOUND": "no dbt project at {path} (expected dbt_project.yml there)",
    "GOLD_SOURCE_MISSING": (
        "the Gold build reads {table}, which does not exist yet at {path}; run `medallion run --once` "
        "(or the Silver stage) first"
    ),
    # Silver refine (silver/)
    "REFERENCE_DATA_INVALID": "reference data file {file} is invalid: {detail}",
    "PII_KEY_MISSING": (
        "the HMAC key for email hashing is not set: export {env}=<secret> (a development key is "
        "only used with `mode: dev`)"
    ),
    "EXPECTATION_SUITE_INVALID": "expectation suite {file} is invalid: {detail}",
    "QUALITY_GATE_FAILED": (
        "batch {batch_id} stopped by `fail` expectations of suite {suite}: {detail}. Nothing was "
        "committed for this batch; fix the data or the suite and restart (the batch is retried)"
    ),
    "GATE_FAILED": "Great Expectations could not evaluate suite {suite}: {detail}",
    "GATE_DISAGREEMENT": (
        "quarantine decisions disagree with Great Expectations for suite {suite}: {detail}"
    ),
    "CONSERVATION_VIOLATED": (
        "batch {batch_id}: rows read ({read}) != inserted ({inserted}) + quarantined "
        "({quarantined}) + duplicates ({duplicates}); nothing more is written for this batch"
    ),
    # Monitoring (pipelines/monitoring/)
    "REPORT_WRITE_FAILED": "could not write the report to {path}: {detail}; choose another --out",
}


class PipelineError(Exception):
    """An error with a stable `code` and its `params`, rendered into a helpful message."""

    def __init__(self, code: str, params: Mapping[str, Any] | None = None) -> None:
        self.code = code
        self.params = dict(params or {})
        template = _MESSAGES.get(code, code + ": {params}")
        try:
            message = template.format(**self.params, params=self.params)
        except (KeyError, IndexError):
            message = f"{code}: {self.params}"
        super().__init__(f"[{code}] {message}")
