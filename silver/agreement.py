"""Pure: the check that what lands in quarantine is exactly what GX reported.

Per quarantine expectation, the set of row ids GX reports unexpected must equal the set the
gate's Spark predicates flagged (`silver.predicates`). Any difference fails the batch
(`GATE_DISAGREEMENT`) before anything is written.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from pipelines.core.errors import PipelineError
from silver.gx_engine import ExpectationOutcome, GateResult


def check_agreement(gate: GateResult, flagged: Mapping[str, Iterable[int]]) -> None:
    """`flagged`: row id -> indexes of the quarantine expectations its predicates failed."""
    ours: dict[int, set[str]] = {s.index: set() for s in gate.suite.quarantine}
    for row_id, indexes in flagged.items():
        for index in indexes:
            ours[index].add(row_id)
    problems = [problem for outcome in gate.outcomes if outcome.spec.action == "quarantine"
                for problem in [_difference(outcome, ours[outcome.spec.index])] if problem]
    if problems:
        raise PipelineError("GATE_DISAGREEMENT", {"suite": gate.suite.name, "detail": "; ".join(problems)})


def _difference(outcome: ExpectationOutcome, ours: set[str]) -> str | None:
    spec = outcome.spec
    if outcome.unexpected_ids is None:  # GX counted unexpected rows the predicates did not flag
        return f"{spec.label}: GX counts {outcome.unexpected_count} unexpected rows, the gate flagged {len(ours)}"
    if outcome.unexpected_ids == ours:
        return None
    only_gx, only_ours = sorted(outcome.unexpected_ids - ours), sorted(ours - outcome.unexpected_ids)
    return f"{spec.label}: GX-only {only_gx[:5]} ({len(only_gx)}), gate-only {only_ours[:5]} ({len(only_ours)})"
