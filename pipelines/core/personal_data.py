"""Personal data in a raw event line, by the registry's classes, for showing a line to a person.

A contract field's class is that of the silver.events column of the same name (the registry),
except the fields Silver keeps only transformed (`email` -> `email_hash`), declared here. Fields
outside the contract are unknown, so masked too; a line that is not a JSON object has its
email-shaped strings masked. The quarantine keeps its lines masked the same way, in Spark
(silver/masking.py, checked against this by tests/unit/test_personal_data.py).
"""
from __future__ import annotations

import json
from pipelines.core.contract import FIELDS
from pipelines.core.logs import EMAIL
from pipelines.core.registry import PersonalData

UNKNOWN_FIELD = "<unknown field>"
EMAIL_MASK = "<email>"


def placeholder(cls: PersonalData) -> str:
    """What replaces a masked field's value."""
    return f"<{cls.value}>"


# Contract fields Silver does not keep under their own name, with their class (DESIGN.md: the
# email is personal data; Silver keeps only its keyed hash).
RAW_ONLY_FIELDS: dict[str, PersonalData] = {"email": PersonalData.DIRECT}


def raw_field_classes() -> dict[str, PersonalData]:
    from pipelines.core.tables import SILVER_EVENTS

    silver = {c.name: c.personal_data for c in SILVER_EVENTS.columns}
    return {f: RAW_ONLY_FIELDS.get(f, silver.get(f, PersonalData.NONE)) for f in FIELDS}


def mask_raw_line(raw: str | None, classes: frozenset[PersonalData] = frozenset({PersonalData.DIRECT})) -> str | None:
    """`raw` with the values of fields of the given classes (and of fields outside the contract)
    replaced by `<class>`, and any remaining email-shaped string by `<email>`."""
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return EMAIL.sub(EMAIL_MASK, raw)
    known = raw_field_classes()
    masked = {}
    for name, value in doc.items():
        cls = known.get(name)
        if cls is None:
            masked[name] = UNKNOWN_FIELD if value is not None else None
        elif cls in classes and value is not None:
            masked[name] = placeholder(cls)
        else:
            masked[name] = value
    return EMAIL.sub(EMAIL_MASK, json.dumps(masked, ensure_ascii=False, separators=(",", ":")))
