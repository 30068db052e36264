"""The person's lines in landing files that are still there (retention has not removed them).

A file the ingest stream already took (its batch committed, bronze/landing_retention.py) is
deleted: its lines are in bronze.events_raw, where erasure redacts them, and a restart never reads
it again. A file not ingested yet is rewritten with the person's lines redacted (a hidden temporary
file renamed over it), so what the stream lands later is already erased. Copies under
`ingest.archive_dir` were ingested: deleted. Hidden files (a producer's file being written) are new
data, not part of the request.
"""
from __future__ import annotations

import gzip
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from bronze.events_raw import STREAM_NAME as INGEST_STREAM
from bronze.landing import _norm
from bronze.landing_retention import committed_files
from pipelines.core.config import Config, is_uri
from pipelines.erasure.subject import Redactor, found_in

log = logging.getLogger(__name__)


@dataclass
class LandingErasure:
    removed: int = 0      # ingested files deleted (landing and archive)
    redacted: int = 0     # files not ingested yet, rewritten without the person
    bytes_rewritten: int = 0


def _files(root: str) -> list[Path]:
    if is_uri(root) or not Path(root).is_dir():
        return []
    return sorted(p for p in Path(root).rglob("*")
                  if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts))


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.erasing")
    tmp.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    os.replace(tmp, path)


def redact_lines(data: bytes, redactor: Redactor, needles: list[str]) -> bytes:
    """The file's lines, the person's redacted, every other byte unchanged."""
    out = []
    for line in data.splitlines(keepends=True):
        if found_in(line, needles):
            body = line.rstrip(b"\r\n")
            ending = line[len(body):]
            text = body.decode("utf-8", errors="surrogateescape")
            redacted = redactor.line(text) or ""
            out.append(redacted.encode("utf-8", errors="surrogateescape") + ending)
        else:
            out.append(line)
    return b"".join(out)


def erase_landing(spark: SparkSession, config: Config, redactor: Redactor, *, dry_run: bool) -> LandingErasure:
    needles = redactor.ids.needles()
    result = LandingErasure()
    if not needles:
        return result
    taken, _uncommitted = committed_files(spark, config.checkpoint(INGEST_STREAM))
    for path in _files(config.landing):
        data = _read(path)
        if not found_in(data, needles):
            continue
        if _norm(str(path)) in taken or _norm(f"file:{path}") in taken:
            result.removed += 1
            if not dry_run:
                path.unlink(missing_ok=True)
        else:
            result.redacted += 1
            if not dry_run:
                _write(path, redact_lines(data, redactor, needles))
                result.bytes_rewritten += path.stat().st_size
    if config.ingest.clean_source == "archive":
        for path in _files(config.ingest.archive_dir):
            if found_in(_read(path), needles):
                result.removed += 1
                if not dry_run:
                    path.unlink(missing_ok=True)
    log.info("erase: landing files deleted %d, rewritten %d", result.removed, result.redacted)
    return result
