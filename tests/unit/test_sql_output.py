"""`medallion sql` output formats (pure formatting, no Spark)."""
from __future__ import annotations

import datetime as dt
import decimal
import io
import json

from gold.sql_query import write_csv, write_json, write_table


def test_json_output_is_one_object_per_row_and_keeps_nulls() -> None:
    out = io.StringIO()
    rows = [("a", decimal.Decimal("1.2500"), None, dt.date(2026, 1, 2)), ("b", decimal.Decimal("3"), 4, None)]
    assert write_json(["k", "amount_usd", "n", "d"], rows, out) == 2
    lines = out.getvalue().splitlines()
    assert [json.loads(x) for x in lines] == [
        {"k": "a", "amount_usd": 1.25, "n": None, "d": "2026-01-02"},
        {"k": "b", "amount_usd": 3, "n": 4, "d": None},
    ]


def test_csv_output_has_a_header_and_empty_cells_for_nulls() -> None:
    out = io.StringIO()
    write_csv(["k", "v"], [("x,y", None), ("z", 2)], out)
    assert out.getvalue() == 'k,v\n"x,y",\nz,2\n'


def test_table_output_aligns_columns_and_shows_null() -> None:
    out = io.StringIO()
    write_table(["name", "n"], [("alpha", 1), ("b", None)], out)
    text = out.getvalue().splitlines()
    assert text[1] == "| name  | n    |"
    assert text[3] == "| alpha |    1 |"
    assert text[4] == "| b     | NULL |"
