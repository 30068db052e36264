"""Where Silver rows came from: their Bronze rows (source file, ingest batch and run, the raw line
masked by the registry's personal-data classes) and the gate runs that admitted or rejected them
(suite and hash, the batch's ledger entry and expectation results, the Data Docs page)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from pipelines.core.personal_data import mask_raw_line
from pipelines.core.config import is_uri
from pipelines.lineage.delta_reader import Warehouse, field_in

BRONZE = "bronze.events_raw"
BRONZE_COLUMNS = ("_bronze_id", "raw", "raw_bytes", "_source", "_source_modified_at", "_ingested_at",
                  "_ingest_batch_id", "_ingest_run_id", "_ingest_date")


def bronze_rows(warehouse: Warehouse, bronze_ids: Iterable[str], ingested: Iterable[Any] = ()) -> dict[str, dict]:
    """_bronze_id -> the Bronze row, its raw line masked (Bronze is append-only: read at its latest
    version; `ingested` timestamps, when known, prune to their ingest-date partitions)."""
    ids = set(bronze_ids)
    if not ids:
        return {}
    where = field_in("_bronze_id", ids)
    dates = {t.date() for t in ingested if t is not None}
    if dates:
        where = where & field_in("_ingest_date", dates)
    out = {}
    for row in warehouse.snapshot(BRONZE).rows(where, BRONZE_COLUMNS):
        raw_bytes = row.pop("raw_bytes")
        row["raw"] = mask_raw_line(row["raw"])
        row["raw_was_invalid_utf8"] = raw_bytes is not None
        row.pop("_ingest_date")
        out[row["_bronze_id"]] = row
    return out


def gate_runs(warehouse: Warehouse, gate_run_ids: Iterable[str], docs_dir: str) -> dict[str, dict]:
    """gate_run_id -> what the gate run was: suite and its hash, the refine batch's ledger counts,
    its expectations (how many passed; each failed one with its unexpected count), Data Docs page."""
    ids = set(gate_run_ids)
    if not ids:
        return {}
    ledger = {r["gate_run_id"]: r for r in warehouse.snapshot("audit.batch_ledger").rows(
        field_in("gate_run_id", ids), ("gate_run_id", "txn_app_id", "batch_id", "run_id", "suite", "suite_digest",
                                       "rows_read", "rows_inserted", "rows_quarantined", "rows_duplicate",
                                       "processed_at"))}
    results: dict[str, list[dict]] = {}
    for r in warehouse.snapshot("audit.quality_results").rows(
            field_in("gate_run_id", ids), ("gate_run_id", "suite", "suite_digest", "suite_success",
                                           "expectation_index", "expectation_type", "column_name", "action",
                                           "reason", "success", "unexpected_count")):
        results.setdefault(r["gate_run_id"], []).append(r)
    out = {}
    for gate_run_id in sorted(ids):
        entry, checks = ledger.get(gate_run_id, {}), sorted(results.get(gate_run_id, []),
                                                            key=lambda r: r["expectation_index"])
        out[gate_run_id] = {
            "gate_run_id": gate_run_id,
            "suite": entry.get("suite") or (checks[0]["suite"] if checks else None),
            "suite_digest": entry.get("suite_digest") or (checks[0]["suite_digest"] if checks else None),
            "refine_batch": None if not entry else {k: entry[k] for k in (
                "txn_app_id", "batch_id", "run_id", "rows_read", "rows_inserted", "rows_quarantined",
                "rows_duplicate", "processed_at")},
            "expectations": len(checks),
            "expectations_passed": sum(1 for c in checks if c["success"]),
            "unmet": [{k: c[k] for k in ("expectation_type", "column_name", "action", "reason", "unexpected_count")}
                      for c in checks if not c["success"]],
            "data_docs": data_docs_page(docs_dir, gate_run_id),
        }
    return out


def data_docs_page(docs_dir: str, gate_run_id: str) -> str | None:
    """The GX Data Docs page of a gate run (`validations/<suite>/<run name>/<time>/<batch>.html`)."""
    if is_uri(docs_dir) or not Path(docs_dir).is_dir():
        return None
    pages = sorted(Path(docs_dir).glob(f"validations/*/{gate_run_id}/*/*.html"))
    return str(pages[0]) if pages else None
