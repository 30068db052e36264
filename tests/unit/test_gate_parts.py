"""The gate's parts on tiny frames: `when:` clauses as GX Conditions, the predicate table, the
marking of a batch, and the GX engine without deprecated APIs."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from great_expectations.expectations.row_conditions import (AndCondition, Column, ComparisonCondition,
                                                            NullityCondition, Operator)
from pyspark.sql import functions as F

from silver import row_conditions
from silver.predicates import FAILED_COL, FLAGGED_COL, PREDICATES, REASONS_COL, flag_rows, mark_flagged
from silver.suite import load_suite

SCHEMA = "_bronze_id STRING, event_type STRING, amount DOUBLE, code STRING, ok BOOLEAN"
ROWS = [
    ("b-1", "click", 5.0, "ab", True),
    ("b-2", "purchase", -1.0, "abcdef", False),
    ("b-3", None, None, None, None),
    ("b-4", "signup", 10.0, "x1", True),
    ("b-5", "purchase", 0.0, "", None),
]


@pytest.fixture(scope="module")
def frame(spark):
    return spark.createDataFrame(ROWS, SCHEMA).cache()


def _ids(frame, column) -> set[str]:
    return {r["_bronze_id"] for r in frame.filter(column).select("_bronze_id").collect()}


@pytest.mark.parametrize("sql, expected", [
    ("ok", ComparisonCondition(column=Column("ok"), operator=Operator.EQUAL, parameter=True)),
    ("NOT ok", ComparisonCondition(column=Column("ok"), operator=Operator.EQUAL, parameter=False)),
    ("event_type = 'purchase'", Column("event_type") == "purchase"),
    ("event_type IN ('click', 'signup')", Column("event_type").is_in(["click", "signup"])),
    ("amount IS NOT NULL", NullityCondition(column=Column("amount"), is_null=False)),
    ("0 < amount", Column("amount") > 0),
    ("event_type != 'click'", AndCondition(conditions=[Column("event_type").is_not_null(),
                                                       Column("event_type") != "click"])),
])
def test_a_when_clause_parses_into_the_gx_condition_it_means(sql, expected):
    assert row_conditions.parse(sql) == expected


@pytest.mark.parametrize("sql", [
    "amount = code",  # two columns
    "upper(code) = 'AB'",  # a function
    "t.code = 'x'",  # a qualified column
    "amount IS 3",
    "ok AND (amount > 1 OR code = 'x')",  # GX: an AND group cannot hold an OR
    "amount >",  # not SQL
])
def test_a_when_clause_gx_conditions_cannot_say_is_refused(sql):
    with pytest.raises(row_conditions.UnsupportedCondition):
        row_conditions.parse(sql)


@pytest.mark.parametrize("sql", [
    "ok", "NOT ok", "event_type = 'purchase'", "event_type IN ('click', 'signup')", "amount IS NULL",
    "amount IS NOT NULL", "amount >= 0 AND ok", "amount < 0 OR code = 'ab'", "event_type != 'click'",
    "event_type NOT IN ('click', 'purchase')", "code <= 'ab'",
])
def test_the_spark_column_of_a_condition_selects_what_the_sql_selects(frame, sql):
    condition = row_conditions.parse(sql)
    assert _ids(frame, F.coalesce(row_conditions.to_column(condition), F.lit(False))) == _ids(frame, F.expr(sql))
    assert row_conditions.columns(condition) <= set(frame.columns)


def _suite(tmp_path: Path, entries: list[str]):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ntable: silver.events\nexpectations:\n"
                    + "".join(f"  - {e}\n" for e in entries))
    return load_suite(path)


# expectation type, kwargs (YAML), the row ids GX counts as unexpected in ROWS
PREDICATE_CASES = [
    ("expect_column_values_to_not_be_null", "column: amount", {"b-3"}),
    ("expect_column_values_to_be_null", "column: amount", {"b-1", "b-2", "b-4", "b-5"}),
    ("expect_column_values_to_be_in_set", "column: event_type, value_set: [click, signup]", {"b-2", "b-5"}),
    ("expect_column_values_to_not_be_in_set", "column: event_type, value_set: [click]", {"b-1"}),
    ("expect_column_values_to_be_between", "column: amount, min_value: 0, max_value: 5", {"b-2", "b-4"}),
    ("expect_column_values_to_be_between", "column: amount, min_value: 0, strict_min: true", {"b-2", "b-5"}),
    ("expect_column_values_to_be_between", "column: amount, max_value: 5, strict_max: true", {"b-1", "b-4"}),
    ("expect_column_values_to_match_regex", "column: code, regex: '^[a-z]+$'", {"b-4", "b-5"}),
    ("expect_column_values_to_not_match_regex", "column: code, regex: '[0-9]'", {"b-4"}),
    ("expect_column_value_lengths_to_be_between", "column: code, min_value: 1, max_value: 5", {"b-2", "b-5"}),
]


def test_every_row_level_type_the_gate_supports_has_a_case_here():
    assert {case[0] for case in PREDICATE_CASES} == set(PREDICATES)


def test_each_predicate_flags_exactly_the_rows_gx_counts_unexpected(spark, frame, tmp_path):
    """One suite holding every case (one GX context, two validations): per expectation, the
    predicate's rows, GX's pandas engine's rows and GX's Spark engine's rows are the expected ones."""
    from silver.gx_engine import QualityGate

    suite = _suite(tmp_path, [f"{{type: {etype}, {kwargs}, action: quarantine, reason: r{i}}}"
                              for i, (etype, kwargs, _) in enumerate(PREDICATE_CASES)])
    expected = {i: case[2] for i, case in enumerate(PREDICATE_CASES)}
    marked = flag_rows(frame, suite).cache()
    flagged = {i: {r["_bronze_id"] for r in marked.collect() if i in r[FAILED_COL]} for i in expected}
    assert flagged == expected  # the predicates
    assert _ids(mark_flagged(frame, suite), F.col(FLAGGED_COL)) == set().union(*expected.values())
    gate = QualityGate(suite, pandas_max_rows=100)
    for engine_rows in (100, 0):  # GX's pandas engine, then its Spark engine
        gate.pandas_max_rows = engine_rows
        assert gate.validate(marked, gate_run_id="t").quarantine_ids() == expected


def test_a_when_condition_limits_the_predicate_and_gx_alike(spark, frame, tmp_path):
    from silver.gx_engine import QualityGate

    suite = _suite(tmp_path, ["{type: expect_column_values_to_not_be_null, column: amount, "
                              "when: \"event_type IN ('click', 'purchase') OR code IS NULL\", "
                              "action: quarantine, reason: r}"])
    marked = mark_flagged(frame, suite).cache()
    assert _ids(marked, F.col(FLAGGED_COL)) == {"b-3"}
    gate = QualityGate(suite)
    for engine_rows in (100, 0):
        gate.pandas_max_rows = engine_rows
        assert gate.validate(marked, gate_run_id="t").quarantine_ids() == {0: {"b-3"}}


def test_flag_rows_names_each_failed_expectation_and_its_reason_once(spark, frame, tmp_path):
    suite = _suite(tmp_path, [
        "{type: expect_column_values_to_not_be_null, column: _bronze_id, action: fail}",
        "{type: expect_column_values_to_not_be_null, column: amount, action: quarantine, reason: missing}",
        "{type: expect_column_values_to_be_between, column: amount, min_value: 0, action: quarantine, reason: bad}",
        "{type: expect_column_values_to_not_be_null, column: code, action: quarantine, reason: missing}",
    ])
    rows = {r["_bronze_id"]: r for r in flag_rows(frame, suite).collect()}
    assert rows["b-3"][FAILED_COL] == [1, 3] and rows["b-3"][REASONS_COL] == ["missing"]
    assert rows["b-2"][FAILED_COL] == [2] and rows["b-2"][REASONS_COL] == ["bad"]
    assert rows["b-1"][FAILED_COL] == [] and not rows["b-1"][FLAGGED_COL]
    marked = {r["_bronze_id"]: r[FLAGGED_COL] for r in mark_flagged(frame, suite).collect()}
    assert marked == {k: bool(r[FAILED_COL]) for k, r in rows.items()}


def test_the_gx_engine_uses_no_deprecated_gx_api(spark, frame, tmp_path):
    """String row conditions and `condition_parser` are deprecated since GX 1.9 (gone in 2.0)."""
    from silver.gx_engine import QualityGate

    suite = _suite(tmp_path, ["{type: expect_column_values_to_not_be_null, column: amount, "
                              "when: \"event_type = 'purchase'\", action: quarantine, reason: r}",
                              "{type: expect_column_values_to_be_in_set, column: ok, value_set: [true], "
                              "when: 'amount IS NOT NULL', action: warn}"])
    marked = mark_flagged(frame, suite).cache()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gate = QualityGate(suite)
        for engine_rows in (100, 0):
            gate.pandas_max_rows = engine_rows
            gate.validate(marked, gate_run_id="t")
    deprecations = [str(w.message) for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    assert deprecations == []
