"""Pure transform: a raw line with its personal data masked, as a Spark expression, for the
quarantine (which keeps what a person needs to diagnose a rejection, not the person).

The rule is `pipelines.core.personal_data.mask_raw_line`'s (the registry's classes decide): in a
line that is a JSON object, `direct` fields and fields outside the contract become placeholders;
then every email-shaped string left (and in a line that is not JSON, every one) becomes `<email>`.
It runs in the JVM (no Python UDF: executors need no medallion install); a unit test holds the
two implementations to the same output.
"""
from __future__ import annotations

from pyspark.sql import Column, functions as F

from pipelines.core.logs import EMAIL
from pipelines.core.personal_data import EMAIL_MASK, UNKNOWN_FIELD, placeholder, raw_field_classes
from pipelines.core.registry import PersonalData

RAW_OBJECT_TYPE = "MAP<STRING, VARIANT>"


def masked_raw_line(raw: Column, masked: frozenset[PersonalData] = frozenset({PersonalData.DIRECT})) -> Column:
    """`raw` with the values of fields of the `masked` classes and of fields outside the contract
    replaced by placeholders, JSON nulls kept, and every email-shaped string by `<email>`."""
    classes = raw_field_classes()
    known = F.array(*[F.lit(name) for name in sorted(classes)])
    by_class = {cls: F.array(*[F.lit(n) for n, c in sorted(classes.items()) if c == cls]) for cls in masked}

    def mask(key: Column, value: Column) -> Column:
        out = F.when(value.isNull() | F.is_variant_null(value), value).when(
            ~F.array_contains(known, key), F.parse_json(F.lit(f'"{UNKNOWN_FIELD}"')))
        for cls, names in by_class.items():
            out = out.when(F.array_contains(names, key), F.parse_json(F.lit(f'"{placeholder(cls)}"')))
        return out.otherwise(value)

    as_object = F.to_json(F.transform_values(F.from_json(raw, RAW_OBJECT_TYPE), mask))
    return F.regexp_replace(F.coalesce(as_object, raw), EMAIL.pattern, EMAIL_MASK)
