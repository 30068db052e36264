"""`medallion erase`: remove one person from every layer, audited, with no residue on disk.

`subject` (pure: identifiers, fingerprints, anonymous ids, redaction of text), `locate` (where the
person's rows are), `landing` (files not cleaned up yet), `purge` (old file versions, artifacts,
and the final byte scan) and `erase` (the order of the steps, idempotent per request id).
"""
