"""Pure: each row-level expectation type as the Spark predicate true for the rows GX counts as
unexpected, and the two ways the gate marks a batch with them.

`PREDICATES` is the one table from expectation type to predicate; a suite may `quarantine` with
exactly these types (checked when it loads). GX stays the authority: the agreement check
(`silver.agreement`) compares these predicates' rows with GX's unexpected rows on every batch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from pyspark.sql import Column, DataFrame, functions as F

from silver import row_conditions

if TYPE_CHECKING:
    from silver.suite import ExpectationSpec, Suite

FAILED_COL = "_failed"  # array<int>: indexes of the quarantine expectations a row fails
FLAGGED_COL = "_flagged"  # boolean: the row fails at least one quarantine expectation
REASONS_COL = "reasons"

Predicate = Callable[[Column, Mapping[str, Any]], Column]


def _outside(value: Column, kwargs: Mapping[str, Any]) -> Column:
    """GX's between: inclusive bounds unless `strict_min` / `strict_max`; a missing bound is open."""
    out = F.lit(False)
    if kwargs.get("min_value") is not None:
        low = F.lit(kwargs["min_value"])
        out = out | ((value <= low) if kwargs.get("strict_min") else (value < low))
    if kwargs.get("max_value") is not None:
        high = F.lit(kwargs["max_value"])
        out = out | ((value >= high) if kwargs.get("strict_max") else (value > high))
    return out


# GX's column-map expectations skip NULLs (except the two nullity ones), hence `isNotNull() &`.
PREDICATES: dict[str, Predicate] = {
    "expect_column_values_to_not_be_null": lambda col, k: col.isNull(),
    "expect_column_values_to_be_null": lambda col, k: col.isNotNull(),
    "expect_column_values_to_be_in_set": lambda col, k: col.isNotNull() & ~col.isin(list(k["value_set"])),
    "expect_column_values_to_not_be_in_set": lambda col, k: col.isNotNull() & col.isin(list(k["value_set"])),
    "expect_column_values_to_be_between": lambda col, k: col.isNotNull() & _outside(col, k),
    "expect_column_value_lengths_to_be_between": lambda col, k: col.isNotNull() & _outside(F.length(col), k),
    "expect_column_values_to_match_regex": lambda col, k: col.isNotNull() & ~col.rlike(k["regex"]),
    "expect_column_values_to_not_match_regex": lambda col, k: col.isNotNull() & col.rlike(k["regex"]),
}


def unexpected(spec: ExpectationSpec) -> Column:
    """True exactly for the rows GX counts as unexpected for `spec` (never NULL)."""
    bad = PREDICATES[spec.type](F.col(f"`{spec.kwargs['column']}`"), spec.kwargs)
    if spec.condition is not None:
        bad = F.coalesce(row_conditions.to_column(spec.condition), F.lit(False)) & bad
    return F.coalesce(bad, F.lit(False))


def mark_flagged(candidate: DataFrame, suite: Suite) -> DataFrame:
    """Add `_flagged`: the row fails at least one quarantine expectation.

    One OR of the predicates, which Spark's code generation compiles; the per-row arrays of
    `flag_rows` need higher-order functions, interpreted element by element, so every row of a
    batch is marked this way and only the flagged rows are explained by `flag_rows`.
    """
    flagged = F.lit(False)
    for spec in suite.quarantine:
        flagged = flagged | unexpected(spec)
    return candidate.withColumn(FLAGGED_COL, F.coalesce(flagged, F.lit(False)))


def flag_rows(candidate: DataFrame, suite: Suite) -> DataFrame:
    """Add `_failed` (indexes of the failed quarantine expectations), `reasons` (their distinct
    reason codes, in suite order) and `_flagged`."""
    specs = suite.quarantine
    if not specs:
        return candidate.withColumn(FAILED_COL, F.array().cast("array<int>")).withColumn(
            REASONS_COL, F.array().cast("array<string>")).withColumn(FLAGGED_COL, F.lit(False))
    failed = F.filter(F.array(*[F.when(unexpected(s), F.lit(s.index)) for s in specs]),
                      lambda x: x.isNotNull())
    reason_of = F.create_map(*[x for s in specs for x in (F.lit(s.index), F.lit(s.reason))])
    return candidate.withColumn(FAILED_COL, failed).withColumn(
        REASONS_COL, F.array_distinct(F.transform(F.col(FAILED_COL), lambda i: reason_of[i]))
    ).withColumn(FLAGGED_COL, F.size(FAILED_COL) > 0)
