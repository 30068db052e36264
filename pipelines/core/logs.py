"""Where log output goes: a calm console, and everything else in one log file.

A pipeline run drags in chatty machinery (Ivy's resolution report, Spark's log4j console, Great
Expectations' INFO records, dbt's event stream, py4j). A user running `medallion` wants to read
the product's own messages: what the CLI prints on purpose, plus our warnings and errors. So,
while `logging_to_file` is active (the CLI enters it for every command):

- every Python log record at the file level (INFO, DEBUG with -v) goes to
  `<paths.root>/logs/medallion.log`, appended; `warnings.warn` calls are routed there too;
- the console (stderr) shows only records of the product's own loggers (PRODUCT_LOGGERS), at
  WARNING by default, INFO with -v, DEBUG with -vv, ERROR with -q;
- the JVM's stdout/stderr (Ivy, log4j's console appender) are pointed at the same file when the
  JVM is launched (`jvm_output_to_log`, used by the session factory);
- dbt, run in-process, is told to keep its console quiet and hands its events to the `dbt` logger
  (gold/dbt_build.py asks `console_shows_third_party` / `colour_on_console`).

Personal data and secrets must never reach either sink, at any verbosity: our log calls never
format raw lines or emails, and every record is passed through `redact` on its way out (email
addresses, and the values of secret environment variables such as the PII HMAC key) as a
safety net against a third-party message that quotes a value.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from pipelines.core.config import Config, is_uri
from pipelines.core.errors import PipelineError

LOG_FILE_NAME = "medallion.log"
# Loggers whose records are the product's own (module names of our packages, and the CLI's).
PRODUCT_LOGGERS: tuple[str, ...] = ("medallion", "pipelines", "bronze", "silver", "gold")
# Verbosity (-q = -1, default 0, -v = 1, -vv = 2) -> console level of the product's loggers.
CONSOLE_LEVELS: dict[int, int] = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}
# Third-party loggers kept at WARNING even in a DEBUG log file: py4j's DEBUG records quote every
# command sent to the JVM (literals, possibly key material), and add nothing a user can act on.
QUIET_LOGGERS: tuple[str, ...] = ("py4j",)
# Environment variables whose values are secrets, besides `refine.pii_key_env`: any name with one
# of these words in it.
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PII_KEY|API_KEY|PRIVATE_KEY", re.IGNORECASE)
MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_dir(config: Config) -> Path:
    """`<paths.root>/logs`; a root on object storage (a URI) logs to `~/.medallion/logs` instead,
    since the log file is appended to line by line."""
    root = config.paths.root
    return Path.home() / ".medallion" / "logs" if is_uri(root) else Path(root) / "logs"


def log_file(config: Config) -> Path:
    return log_dir(config) / LOG_FILE_NAME


def secret_values(config: Config | None, env: dict[str, str] | None = None) -> tuple[str, ...]:
    """The values to mask: the PII key variable's and every secret-named variable's."""
    env = dict(os.environ) if env is None else env
    names = {name for name in env if SECRET_NAME.search(name)}
    if config is not None:
        names.add(config.refine.pii_key_env)
    values = {env[name] for name in names if len(env.get(name) or "") >= MIN_SECRET_LENGTH}
    return tuple(sorted(values, key=len, reverse=True))  # longest first: no partial leftovers


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` without secret values, email addresses or terminal colour codes."""
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    text = EMAIL.sub("<email>", text)
    return ANSI_ESCAPE.sub("", text)


class RedactingFormatter(logging.Formatter):
    """Formats a record (message, arguments, traceback), then redacts the whole text."""

    def __init__(self, fmt: str, secrets: tuple[str, ...], *, tracebacks: bool = True) -> None:
        super().__init__(fmt)
        self.secrets = secrets
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if not self.tracebacks and (record.exc_info or record.exc_text or record.stack_info):
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None,
                                            "stack_info": None})
        return redact(super().format(record), self.secrets)


class _ProductOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return any(record.name == p or record.name.startswith(p + ".") for p in PRODUCT_LOGGERS)


class _ConsoleFormatter(RedactingFormatter):
    """`warning: message` (the logger name too when verbose)."""

    def __init__(self, secrets: tuple[str, ...], *, verbose: bool) -> None:
        super().__init__("%(message)s", secrets, tracebacks=verbose)
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        where = f" {record.name}" if self.verbose else ""
        return f"{record.levelname.lower()}{where}: {text}"


@dataclass
class LogSetup:
    """The active configuration (see `logging_to_file`)."""

    path: Path
    verbosity: int
    secrets: tuple[str, ...]
    handlers: list[logging.Handler] = field(default_factory=list)

    @property
    def console_level(self) -> int:
        return CONSOLE_LEVELS[max(-1, min(2, self.verbosity))]

    @property
    def file_level(self) -> int:
        return logging.DEBUG if self.verbosity > 0 else logging.INFO


_active: LogSetup | None = None


def active() -> LogSetup | None:
    """The setup of the running command, None outside one (library use, tests)."""
    return _active


def file_active() -> bool:
    """Whether a medallion command's log file is collecting records (then tools that keep their
    own log file, dbt, need not: their events reach this one)."""
    return _active is not None


def console_shows_third_party() -> bool:
    """Whether a tool that prints to the console itself (dbt) may do so: only with -vv."""
    return _active is None or _active.verbosity >= 2


def colour_on_console(stream: IO[str] | None = None) -> bool:
    """Colour codes only on a terminal (and never with NO_COLOR set)."""
    stream = stream or sys.stdout
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


@contextlib.contextmanager
def logging_to_file(config: Config, verbosity: int = 0, *,
                    console: IO[str] | None = None) -> Iterator[LogSetup]:
    """Route logging as the module docstring says for the duration of one command; restores the
    previous logging state on exit (the CLI is also called in-process, by tests)."""
    global _active
    path = log_file(config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))  # not world-readable
    except OSError as exc:
        raise PipelineError("LOG_UNWRITABLE", {"path": path, "detail": exc.strerror or exc}) from exc
    setup = LogSetup(path=path, verbosity=verbosity, secrets=secret_values(config))
    file_handler = logging.FileHandler(path, encoding="utf-8", delay=False)
    file_handler.setLevel(setup.file_level)
    file_handler.setFormatter(RedactingFormatter(FILE_FORMAT, setup.secrets))
    console_handler = logging.StreamHandler(console or sys.stderr)
    console_handler.setLevel(setup.console_level)
    console_handler.addFilter(_ProductOnly())
    console_handler.setFormatter(_ConsoleFormatter(setup.secrets, verbose=verbosity > 0))
    setup.handlers = [file_handler, console_handler]

    root = logging.getLogger()
    saved_root_level = root.level
    saved_levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for handler in setup.handlers:
        root.addHandler(handler)
    root.setLevel(min(setup.file_level, setup.console_level))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    previous, _active = _active, setup
    try:
        yield setup  # the warning filters stay the caller's (pytest turns some into errors)
    finally:
        _active = previous
        logging.captureWarnings(False)
        for handler in setup.handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(saved_root_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def jvm_output_to_log() -> Iterator[None]:
    """While a JVM is launched inside this block, its stdout and stderr are the log file.

    pyspark starts the JVM with this process's file descriptors 1 and 2: pointing them at the log
    file for the launch sends Ivy's resolution report and log4j's console appender there for the
    JVM's lifetime; Python's own descriptors are restored right after. No-op outside a command."""
    setup = _active
    if setup is None:
        yield
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = (os.dup(1), os.dup(2))
    target = os.open(setup.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)
