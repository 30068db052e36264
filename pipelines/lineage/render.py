"""Pure: a trace tree (backward.py, forward.py) as text (a rich tree) or as JSON."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any, Mapping

from rich.tree import Tree


def value(v: Any) -> str:
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if v.tzinfo else v.isoformat(" ")
    if isinstance(v, (dt.date, Decimal)):
        return str(v)
    if isinstance(v, float):
        return f"{v:.6g}"
    return "NULL" if v is None else str(v)


def pairs(row: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={value(v)}" for k, v in row.items())


def to_json(tree: Mapping[str, Any]) -> str:
    def default(v: Any) -> Any:
        if isinstance(v, (dt.datetime, dt.date)):
            return v.isoformat()
        if isinstance(v, Decimal):
            return str(v)
        return str(v)
    return json.dumps(tree, default=default, indent=2, sort_keys=False)


def _event(e: Mapping[str, Any]) -> str:
    parts = [e["event_id"], e["event_type"], value(e["event_ts"])]
    for name in ("campaign_id", "channel", "user_id", "order_id", "revenue_usd", "cost_usd"):
        if e.get(name) is not None:
            parts.append(f"{name}={value(e[name])}")
    parts.append(f"refine batch {e['_silver_batch_id']}, gate run {e['_gate_run_id']}")
    return "  ".join(parts)


def _bronze(node: Tree, bronze: Mapping[str, Any] | None, bronze_id: str) -> None:
    if bronze is None:
        node.add(f"bronze {bronze_id}: not found in bronze.events_raw")
        return
    line = node.add(f"bronze {bronze['_bronze_id']}: {bronze['_source']}, ingest batch {bronze['_ingest_batch_id']} "
                    f"of run {bronze['_ingest_run_id']} at {value(bronze['_ingested_at'])}")
    line.add("raw (personal data masked): " + (bronze["raw"] or ""))


def _gate_runs(tree: Tree, runs: list[Mapping[str, Any]]) -> None:
    if not runs:
        return
    node = tree.add(f"gate runs ({len(runs)})")
    for run in runs:
        batch = run.get("refine_batch") or {}
        counts = (f"refine batch {batch.get('batch_id')} of run {batch.get('run_id')}: {batch.get('rows_read')} read, "
                  f"{batch.get('rows_inserted')} inserted, {batch.get('rows_quarantined')} quarantined, "
                  f"{batch.get('rows_duplicate')} duplicates") if batch else "no ledger entry"
        events = f"; {run['events']} of this row's events" if "events" in run else ""
        gate = node.add(f"{run['gate_run_id']}: suite {run['suite']} ({run['suite_digest']}); {counts}{events}")
        flagged = any(u["action"] == "quarantine" for u in run["unmet"])
        gate.add(f"{run['expectations_passed']}/{run['expectations']} expectations met by the whole batch"
                 + (" (the rows a quarantine expectation flagged went to silver.events_quarantine)" if flagged else ""))
        for unmet in run["unmet"]:
            gate.add(f"unmet: {unmet['expectation_type']} on {unmet['column_name']} ({unmet['action']}"
                     f"{', ' + unmet['reason'] if unmet['reason'] else ''}): {unmet['unexpected_count']} unexpected")
        gate.add(f"Data Docs: {run['data_docs'] or 'no page (docs off, or kept elsewhere)'}")


def backward_tree(t: Mapping[str, Any]) -> Tree:
    key = " ".join(f"{k}={value(v)}" for k, v in t["key"].items())
    build = t["build"]
    tree = Tree(f"{t['table']} {key}  ({t['grain']})")
    tree.add(f"row as built (version {build['table_version']}): "
             + pairs({k: v for k, v in t["row"].items() if k not in t["key"]}))
    b = tree.add(f"build {build['invocation_id']}: dbt {build.get('dbt_version', '?')} {build.get('dbt_command', '?')}, "
                 f"target {build.get('target_name', '?')}, run {build.get('run_id', '?')}, "
                 f"{value(build.get('started_at'))} .. {value(build.get('finished_at'))}, "
                 f"git commit {build.get('git_commit') or 'unknown'}")
    model = build["model"]
    b.add(f"model {model['node_id']}: {model['materialization']}, {model['build_mode']}"
          f"{' (' + model['build_mode_reason'] + ')' if model.get('build_mode_reason') else ''}; "
          f"compiled SQL md5 {model['compiled_sql_md5']}, model checksum {model['model_checksum']}")
    wrote = model["gold_version"]
    b.add(f"wrote {t['table']} version {wrote}" if wrote is not None else
          f"wrote nothing ({t['table']} unchanged since version {build['table_version']})")
    b.add("read " + ", ".join(f"{r['table']} version {r['version']}" for r in build["reads"]))
    silver = next((r["version"] for r in build["reads"] if r["table"] == "silver.events"), None)
    events = tree.add(f"events (silver.events version {silver})" if silver is not None else "source rows")
    for name, group in t["events"].items():
        more = f" (showing {group['shown']}; --limit N or --all for more)" if group["shown"] < group["count"] else ""
        g = events.add(f"{name}: {group['count']}{more}")
        for e in group["events"]:
            node = g.add(_event(e))
            if "attributed_click" in e:
                click = e["attributed_click"]
                if click is None:
                    node.add("attributed to no click (unattributed: channel direct)")
                else:
                    c = node.add("attributed click: " + _event(click))
                    _bronze(c, click.get("bronze"), click["_bronze_id"])
            _bronze(node, e.get("bronze"), e["_bronze_id"])
    for note in t.get("notes") or []:
        events.add(note)
    _gate_runs(tree, t.get("gate_runs") or [])
    _reconciliation(tree, t["reconciliation"], sum(g["count"] for g in t["events"].values()))
    return tree


def _reconciliation(tree: Tree, rec: Mapping[str, Any], n_events: int | None = None) -> None:
    if rec["status"] == "ok":
        tree.add(f"reconciliation: OK (all {n_events} events behind the row, shown or not, re-aggregate to its values)"
                 if n_events is not None
                 else "reconciliation: OK (every line has exactly one fate; every Gold row it feeds exists)")
        return
    node = tree.add("reconciliation: MISMATCH")
    for d in rec["differences"]:
        node.add(d if isinstance(d, str) else f"{d['column']}: Gold {value(d['gold'])}, re-aggregated {value(d['recomputed'])}")


def forward_tree(t: Mapping[str, Any]) -> Tree:
    total = len(t["fates"])
    summary = ", ".join(f"{n} {kind}" for kind, n in t["summary"].items())
    shown = f"; showing {len(t['lines'])} (--limit N or --all for more)" if len(t["lines"]) < total else ""
    tree = Tree(f"forward trace of {t['selection']}: {total} raw line(s): {summary}{shown}")
    for item in t["lines"]:
        bronze, fate = item["bronze"], item["fate"]
        node = tree.add(f"bronze {bronze['_bronze_id']}: {bronze['_source']}, ingest batch {bronze['_ingest_batch_id']} "
                        f"of run {bronze['_ingest_run_id']}")
        node.add("raw (personal data masked): " + (bronze["raw"] or ""))
        kind = fate["fate"]
        if kind == "accepted":
            f = node.add(f"accepted into silver.events: " + _event(fate["event"]))
            gold = fate["gold"]
            g = f.add(f"Gold: {gold['status']}")
            for r in gold["rows"]:
                key = " ".join(f"{k}={value(v)}" for k, v in r["key"].items())
                state = pairs({k: v for k, v in (r["row"] or {}).items() if k not in r["key"]}) if r["present"] else "MISSING"
                g.add(f"{r['table']} {key} (version {r['version']}; {r['why']}): {state}")
        elif kind == "quarantined":
            node.add(f"quarantined (silver.events_quarantine, refine batch {fate['_silver_batch_id']}, gate run "
                     f"{fate['_gate_run_id']}): reasons {', '.join(fate['reasons'])}")
        elif kind == "duplicate":
            node.add(f"duplicate of bronze {fate['duplicate_of']} (event {fate['event_id']}"
                     f"{', conflicting payload' if fate['is_conflicting'] else ', same payload'}; refine batch "
                     f"{fate['_silver_batch_id']}): not inserted, feeds nothing itself")
        else:
            node.add(f"{kind}: {fate['detail'] if isinstance(fate['detail'], str) else len(fate['detail'])}")
    _gate_runs(tree, t.get("gate_runs") or [])
    _reconciliation(tree, t["reconciliation"])
    return tree
