"""Who is being erased, and what their data becomes: pure functions, no Spark.

The person is known by the identifiers the request gives (`--email` or `--user-id`) and by those
found beside them in the data (the user ids on rows with the email, the emails on lines with the
user id). They are held in memory only: nothing here logs or stores them. What is stored is a
keyed fingerprint of the request's identifier (HMAC with the PII key, domain-separated from the
email hash so it matches none), and the anonymous ids that replace the identifiers: one per
identifier and request, derived from the key, so a rerun of the request makes the same ones and
two customers never merge into one (counts, and with them campaign metrics, stay the same).
"""
from __future__ import annotations

import enum
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Mapping

from pipelines.core.errors import PipelineError

ERASED = "<erased>"
ANONYMOUS_PREFIX = "erased-"
ANONYMOUS_HEX = 20
REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# characters that continue an email address / an id on either side of a match
_EMAIL_CHARS = r"A-Za-z0-9._%+\-"
_ID_CHARS = r"A-Za-z0-9_\-"


class SubjectKind(str, enum.Enum):
    EMAIL = "email"
    USER_ID = "user_id"


def normalize_email(email: str) -> str:
    """As Silver hashes it: trimmed, lower-cased."""
    return email.strip().lower()


def check_request_id(request_id: str) -> str:
    if not REQUEST_ID.match(request_id or ""):
        raise PipelineError("INVALID_ARGUMENT", {
            "name": "--request-id", "value": request_id,
            "detail": "1-128 characters: letters, digits and . _ : - (e.g. a ticket number)"})
    return request_id


def _keyed(secret: str, *parts: str) -> str:
    message = "\x00".join(parts).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Subject:
    """The request: one identifier of the person (plain, in memory only)."""

    kind: SubjectKind
    value: str = field(repr=False)

    @property
    def normalized(self) -> str:
        return normalize_email(self.value) if self.kind == SubjectKind.EMAIL else self.value.strip()

    def fingerprint(self, secret: str) -> str:
        """Keyed fingerprint stored in audit.erasure_log: proves which subject a request erased to
        whoever holds the key, and matches no hash kept in the tables."""
        return _keyed(secret, "medallion-erasure-subject", self.kind.value, self.normalized)


def anonymous_id(secret: str, request_id: str, kind: str, identifier: str) -> str:
    """The stable replacement of one identifier within one request."""
    return ANONYMOUS_PREFIX + _keyed(secret, "medallion-erasure-anonymous", request_id, kind, identifier)[:ANONYMOUS_HEX]


def rekeyed_hash(secret: str, request_id: str, value: str) -> str:
    """A payload hash of the person's event, replaced by one that still compares equal to itself
    (duplicates stay conflicting or not) but can no longer be recomputed from a guessed payload."""
    return _keyed(secret, "medallion-erasure-payload", request_id, value)


@dataclass(frozen=True)
class Identifiers:
    """Everything found to identify the person (plain, in memory only)."""

    user_ids: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()         # normalized
    email_hashes: frozenset[str] = frozenset()

    def __repr__(self) -> str:  # never the values
        return (f"Identifiers({len(self.user_ids)} user ids, {len(self.emails)} emails, "
                f"{len(self.email_hashes)} email hashes)")

    def union(self, other: "Identifiers") -> "Identifiers":
        return Identifiers(self.user_ids | other.user_ids, self.emails | other.emails,
                           self.email_hashes | other.email_hashes)

    @property
    def empty(self) -> bool:
        return not (self.user_ids or self.emails or self.email_hashes)

    def needles(self) -> list[str]:
        """Lower-cased strings whose presence in any text or file means the person is there."""
        return sorted({v.lower() for v in (*self.user_ids, *self.emails, *self.email_hashes) if v})


def found_in(text: str | bytes | None, needles: list[str]) -> bool:
    """Whether any needle occurs in `text`, in any letter case (a plain substring: strict)."""
    if text is None or not needles:
        return False
    if isinstance(text, (bytes, bytearray)):
        lowered = bytes(text).lower()
        return any(n.encode("utf-8") in lowered for n in needles)
    lowered = text.lower()
    return any(n in lowered for n in needles)


@dataclass(frozen=True)
class Redactor:
    """Replaces the person's identifiers in text: user ids and email hashes by their anonymous
    ids, emails by `<erased>`."""

    ids: Identifiers
    replacements: Mapping[str, str] = field(repr=False)  # lower-cased identifier -> anonymous id

    @classmethod
    def for_request(cls, ids: Identifiers, secret: str, request_id: str) -> "Redactor":
        replacements = {u.lower(): anonymous_id(secret, request_id, "user_id", u) for u in ids.user_ids}
        replacements |= {h.lower(): anonymous_id(secret, request_id, "email_hash", h) for h in ids.email_hashes}
        return cls(ids, replacements)

    def user_id(self, value: str | None) -> str | None:
        return None if value is None else self.replacements.get(value.lower(), value)

    def email_hash(self, value: str | None) -> str | None:
        return None if value is None else self.replacements.get(value.lower(), value)

    def _pattern(self) -> re.Pattern[str] | None:
        alternatives = []
        for email in sorted(self.ids.emails, key=len, reverse=True):
            alternatives.append(rf"(?<![{_EMAIL_CHARS}]){re.escape(email)}(?![{_EMAIL_CHARS}])")
        for value in sorted(self.replacements, key=len, reverse=True):
            alternatives.append(rf"(?<![{_ID_CHARS}]){re.escape(value)}(?![{_ID_CHARS}])")
        return re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None

    def text(self, value: str | None) -> str | None:
        """Every occurrence of an identifier replaced; the rest of the text unchanged."""
        if value is None:
            return None
        pattern = self._pattern()
        if pattern is None:
            return value
        redacted = pattern.sub(lambda m: self.replacements.get(m.group(0).lower(), ERASED), value)
        # what boundaries kept (an identifier glued to other characters) goes too: no residue
        for needle in self.ids.needles():
            if needle in redacted.lower():
                redacted = re.sub(re.escape(needle), self.replacements.get(needle, ERASED), redacted,
                                  flags=re.IGNORECASE)
        return redacted

    def line(self, raw: str | None) -> str | None:
        """A raw event line: a JSON object keeps its shape (its `email` becomes `<erased>`, its ids
        their anonymous ids); any other text has the identifiers replaced where they occur."""
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            return self.text(raw)
        out = {}
        for key, value in doc.items():
            if key.lower() in ("email", "e-mail") and value is not None:
                out[key] = ERASED
            elif isinstance(value, str):
                out[key] = self.text(value)
            elif isinstance(value, (dict, list)):
                out[key] = json.loads(self.text(json.dumps(value, ensure_ascii=False)) or "null")
            else:
                out[key] = value
        return self.text(json.dumps(out, ensure_ascii=False, separators=(",", ":")))
