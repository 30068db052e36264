"""A suite's `when:` clauses: Spark SQL text in the file, GX Condition objects in the gate.

The suite file keeps `when:` as a readable SQL condition (`event_type IN ('click', 'signup')`).
GX 1.9 deprecated string row conditions (gone in 2.0), so each clause is parsed once, with
sqlglot, into GX's structured Condition objects; the gate's own Spark predicate is built from the
same object (`to_column`), so GX and the predicates filter with one condition, not two spellings.

The supported grammar is what GX's Condition objects can say: comparisons of a column with a
literal (`=`, `!=`, `<`, `<=`, `>`, `>=`), `IN` / `NOT IN` lists, `IS [NOT] NULL`, a bare boolean
column (`_json_ok`, `NOT _json_ok`), and AND/OR of those within GX's nesting rules. Anything else is
refused when the suite loads.

SQL's three-valued logic is kept on every engine: a row whose condition is NULL is not selected.
GX's pandas engine evaluates `!=` and `NOT IN` in Python, where `None != 'x'` is true, so those
two are parsed as `column IS NOT NULL AND ...`, which selects the same rows everywhere.
"""
from __future__ import annotations

from functools import reduce
from typing import Any

import sqlglot
from great_expectations.expectations.row_conditions import (AndCondition, Column, ComparisonCondition,
                                                            Condition, NullityCondition, Operator,
                                                            OrCondition, validate_row_condition)
from pyspark.sql import Column as SparkColumn, functions as F
from sqlglot import exp


class UnsupportedCondition(ValueError):
    """The clause says something GX's Condition objects cannot (the message says what)."""


_COMPARISONS: dict[type[exp.Expression], Operator] = {
    exp.EQ: Operator.EQUAL, exp.NEQ: Operator.NOT_EQUAL, exp.LT: Operator.LESS_THAN,
    exp.LTE: Operator.LESS_THAN_OR_EQUAL, exp.GT: Operator.GREATER_THAN,
    exp.GTE: Operator.GREATER_THAN_OR_EQUAL,
}
# `literal <op> column` read as `column <mirrored op> literal`
_MIRRORED = {Operator.LESS_THAN: Operator.GREATER_THAN, Operator.GREATER_THAN: Operator.LESS_THAN,
             Operator.LESS_THAN_OR_EQUAL: Operator.GREATER_THAN_OR_EQUAL,
             Operator.GREATER_THAN_OR_EQUAL: Operator.LESS_THAN_OR_EQUAL}


def parse(sql: str) -> Condition:
    """The GX Condition equivalent to the Spark SQL condition `sql` (UnsupportedCondition if none)."""
    try:
        tree = sqlglot.parse_one(sql, read="spark")
    except sqlglot.errors.ParseError as exc:
        raise UnsupportedCondition(f"not a SQL condition: {exc}") from exc
    condition = _convert(tree)
    try:
        return validate_row_condition(condition)  # GX's own nesting and size rules
    except (ValueError, TypeError) as exc:
        raise UnsupportedCondition(str(exc)) from exc


def _convert(node: exp.Expression) -> Condition:
    if isinstance(node, exp.Paren):
        return _convert(node.this)
    if isinstance(node, exp.And):
        return AndCondition(conditions=[_convert(node.left), _convert(node.right)])
    if isinstance(node, exp.Or):
        return OrCondition(conditions=[_convert(node.left), _convert(node.right)])
    if isinstance(node, exp.Column):
        return ComparisonCondition(column=Column(node.name), operator=Operator.EQUAL, parameter=True)
    if isinstance(node, exp.Is):
        return NullityCondition(column=_column(node.this), is_null=_null(node.expression))
    if isinstance(node, exp.In):
        return _comparison(node.this, Operator.IN, [_literal(v) for v in node.expressions])
    if isinstance(node, exp.Not):
        inner = node.this.this if isinstance(node.this, exp.Paren) else node.this
        if isinstance(inner, exp.Is):
            return NullityCondition(column=_column(inner.this), is_null=not _null(inner.expression))
        if isinstance(inner, exp.In):
            return _comparison(inner.this, Operator.NOT_IN, [_literal(v) for v in inner.expressions])
        if isinstance(inner, exp.Column):
            return ComparisonCondition(column=Column(inner.name), operator=Operator.EQUAL, parameter=False)
        raise UnsupportedCondition(f"NOT is supported before IN, IS NULL or a column, not {inner.sql()}")
    operator = _COMPARISONS.get(type(node))
    if operator is not None:
        left, right = node.left, node.right
        if isinstance(right, exp.Column) and not isinstance(left, exp.Column):
            left, right, operator = right, left, _MIRRORED.get(operator, operator)
        return _comparison(left, operator, _literal(right))
    raise UnsupportedCondition(f"unsupported expression {node.sql()!r} ({type(node).__name__})")


def _comparison(column: exp.Expression, operator: Operator, value: Any) -> Condition:
    condition = ComparisonCondition(column=_column(column), operator=operator, parameter=value)
    if operator in (Operator.NOT_EQUAL, Operator.NOT_IN):  # NULL is not selected (see module doc)
        return AndCondition(conditions=[NullityCondition(column=_column(column), is_null=False), condition])
    return condition


def _column(node: exp.Expression) -> Column:
    if not isinstance(node, exp.Column) or node.table:
        raise UnsupportedCondition(f"expected a column name, got {node.sql()!r}")
    return Column(node.name)


def _null(node: exp.Expression) -> bool:
    if not isinstance(node, exp.Null):
        raise UnsupportedCondition(f"IS is supported with NULL only, not {node.sql()!r}")
    return True


def _literal(node: exp.Expression) -> Any:
    if isinstance(node, exp.Paren):
        return _literal(node.this)
    if isinstance(node, exp.Boolean):
        return node.this
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and node.this.is_number:
        return -_literal(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        number = node.this
        return int(number) if number.lstrip("-").isdigit() else float(number)
    raise UnsupportedCondition(f"expected a literal value, got {node.sql()!r}")


def columns(condition: Condition) -> set[str]:
    """The columns a condition reads."""
    if isinstance(condition, (AndCondition, OrCondition)):
        return set().union(*(columns(c) for c in condition.conditions))
    if isinstance(condition, (ComparisonCondition, NullityCondition)):
        return {condition.column.name}
    raise UnsupportedCondition(f"unexpected condition {condition!r}")


def to_column(condition: Condition) -> SparkColumn:
    """The condition as a Spark column (NULL where SQL would say NULL)."""
    if isinstance(condition, AndCondition):
        return reduce(lambda a, b: a & b, (to_column(c) for c in condition.conditions))
    if isinstance(condition, OrCondition):
        return reduce(lambda a, b: a | b, (to_column(c) for c in condition.conditions))
    if isinstance(condition, NullityCondition):
        col = F.col(f"`{condition.column.name}`")
        return col.isNull() if condition.is_null else col.isNotNull()
    if isinstance(condition, ComparisonCondition):
        col, value = F.col(f"`{condition.column.name}`"), condition.parameter
        operator = Operator(condition.operator)
        if operator == Operator.IN:
            return col.isin(list(value))
        if operator == Operator.NOT_IN:
            return ~col.isin(list(value))
        return _SPARK_COMPARISONS[operator](col, F.lit(value))
    raise UnsupportedCondition(f"unexpected condition {condition!r}")


_SPARK_COMPARISONS = {
    Operator.EQUAL: lambda c, v: c == v, Operator.NOT_EQUAL: lambda c, v: c != v,
    Operator.LESS_THAN: lambda c, v: c < v, Operator.LESS_THAN_OR_EQUAL: lambda c, v: c <= v,
    Operator.GREATER_THAN: lambda c, v: c > v, Operator.GREATER_THAN_OR_EQUAL: lambda c, v: c >= v,
}
