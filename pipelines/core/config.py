"""`medallion.yaml` loaded into frozen dataclasses.

Lookup order: `--config PATH`, env `MEDALLION_CONFIG`, `./medallion.yaml`, built-in defaults that
put everything under `./lakehouse/`. Unknown keys and wrong types fail fast, naming the key and the
file, because a typo in a pipeline config otherwise surfaces hours later as missing data.
Environment variables override paths and secrets (see `ENV_OVERRIDES`).

Every path field is marked `path` in its metadata and resolved here, once: `{root}` (the resolved
`paths.root`) and `{project}` (the product's own folder, holding `expectations/` and
`dbt_project/`) are expanded, and relative paths are taken relative to the config file's folder
(the working directory without a file). URIs (`s3a://...`) are kept as they are. No other module
resolves or guesses a path.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import logging
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from pipelines.core.errors import PipelineError

log = logging.getLogger(__name__)

DEFAULT_CONFIG_NAME = "medallion.yaml"
BUILTIN = "<built-in defaults>"
# The product's own folder: the suite files, the dbt project and its seeds live under it.
PROJECT_DIR = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"


def _choices(*values: str) -> dict[str, Any]:
    return {"choices": values}


def _min(value: float) -> dict[str, Any]:
    return {"min": value}


def _path(**extra: Any) -> dict[str, Any]:
    """A path field: `{root}`/`{project}` expanded and made absolute at load."""
    return {"path": True, **extra}


@dataclass(frozen=True)
class PathsConfig:
    """Where data lives. Local paths or URIs (`s3a://bucket/x`, `abfss://...`)."""

    root: str = field(default="./lakehouse", metadata=_path())
    landing: str = field(default="{root}/landing", metadata=_path())
    # Delta tables at <warehouse>/<schema>/<table> (see pipelines.core.registry).
    warehouse: str = field(default="{root}/warehouse", metadata=_path())
    checkpoints: str = field(default="{root}/checkpoints", metadata=_path())


@dataclass(frozen=True)
class SparkConfig:
    """How the one Spark session is built; the same code runs on a cluster by changing `master`."""

    master: str = "local[*]"
    app_name: str = "medallion"
    driver_memory: str = "4g"
    shuffle_partitions: int = field(default=8, metadata=_min(1))
    log_level: str = field(default="WARN", metadata=_choices("ERROR", "WARN", "INFO", "DEBUG"))
    # Extra Maven coordinates resolved with the Delta jars (e.g. hadoop-aws for s3a://).
    packages: tuple[str, ...] = ()
    # Any extra Spark conf, passed through verbatim (spark.hadoop.fs.s3a.*, executor sizing...).
    conf: Mapping[str, str] = field(default_factory=dict)
    # Catalog that makes `bronze.events_raw` etc. addressable by name. `in-memory` (default):
    # tables are registered from the warehouse layout at session start, so no process ever holds
    # a metastore lock. `hive`: use the cluster's metastore (configure it through `conf`).
    catalog: str = field(default="in-memory", metadata=_choices("in-memory", "hive"))
    # Compile generated code for `--continuous` micro-batches too. Off by default: they are small,
    # and their plans differ in per-batch constants, so Spark compiled (and the JVM re-optimized)
    # new code for every batch, which cost more than evaluating the expressions directly.
    continuous_codegen: bool = False


@dataclass(frozen=True)
class IngestConfig:
    """Bronze ingest stream (landing files -> bronze.events_raw)."""

    trigger_interval_seconds: float = field(default=1.0, metadata=_min(0.0))
    max_files_per_trigger: int = field(default=1000, metadata=_min(1))
    # Soft cap on bytes per micro-batch; 0 = no byte cap.
    max_bytes_per_trigger: int = field(default=0, metadata=_min(0))
    file_pattern: str = "*.{json,jsonl}"
    # Spark's `maxFileAge`: the window of the file source's record of the files it has taken (the
    # driver keeps those modified within this of the newest one). Files older than the window are
    # not skipped: see `old_files` (bronze/landing.py).
    max_file_age_hours: float = field(default=168.0, metadata=_min(1.0))
    # A landed file older than that window which the stream has never taken: `rescue` sets its
    # modification time to now so the stream takes it; `warn` leaves it, not ingested. Both log it.
    old_files: str = field(default="rescue", metadata=_choices("rescue", "warn"))
    # While a stream runs, look for such files this often (a pass also runs before every start).
    rescue_interval_seconds: float = field(default=60.0, metadata=_min(1.0))
    # A landed file once its batch is committed (Spark's `cleanSource`): `off` leaves it, `archive`
    # moves it under archive_dir, `delete` removes it. Spark lists the whole landing folder on
    # every trigger, so a folder that keeps every file costs more the longer it runs.
    clean_source: str = field(default="off", metadata=_choices("off", "archive", "delete"))
    archive_dir: str = field(default="{root}/archive", metadata=_path())
    # Before each start, drop from the checkpoint's source log (which Spark never shrinks) the
    # files outside the window that are no longer in the landing folder (bronze/landing.py).
    prune_source_log: bool = True


@dataclass(frozen=True)
class RefineConfig:
    """Silver refine stream (bronze.events_raw -> silver.events, quarantine, audit)."""

    trigger_interval_seconds: float = field(default=1.0, metadata=_min(0.0))
    # Delta source rate limits per micro-batch (bigger batches amortize the GX gate's fixed cost).
    max_files_per_trigger: int = field(default=1000, metadata=_min(1))
    max_bytes_per_trigger: int = field(default=0, metadata=_min(0))  # 0 = no byte cap
    # The allowed lateness of the stream's watermark (DESIGN.md): a row whose event time is older
    # than the highest event time accepted before its micro-batch minus this is `is_late` (kept).
    lateness_hours: float = field(default=1.0, metadata=_min(0.0))
    # Events more than this far ahead of their ingestion time are quarantined `future_timestamp`
    # (a producer's wrong clock or unit), so no single event can claim a date still to come.
    max_clock_skew_hours: float = field(default=24.0, metadata=_min(0.0))
    # Environment variable holding the HMAC key for email_hash; required unless `mode: dev`
    # (which hashes with a public development key). README: rotating the key.
    pii_key_env: str = "MEDALLION_PII_KEY"
    # Reference data: channel aliases (YAML), USD FX rates (the dbt seed CSV, or a YAML file) and
    # the allow-list of `properties` keys Silver keeps (the others are dropped and counted).
    channel_aliases: str = field(default="{project}/silver/reference/channel_aliases.yaml",
                                 metadata=_path())
    fx_rates: str = field(default="{project}/dbt_project/seeds/fx_rates_usd.csv", metadata=_path())
    property_keys: str = field(default="{project}/silver/reference/property_keys.yaml", metadata=_path())
    # Expectation suites (one data file per Silver table).
    expectations_dir: str = field(default="{project}/expectations", metadata=_path())
    # GX validates a batch (and lists the flagged rows' ids) on its pandas engine up to this many
    # rows, no Spark jobs; bigger ones on Spark. Either is checked against the gate's own flags.
    gx_pandas_max_rows: int = field(default=100_000, metadata=_min(0))
    # GX Data Docs site (a local folder). Built at most every docs_interval_seconds.
    data_docs: bool = True
    docs_dir: str = field(default="{root}/docs/gx", metadata=_path())
    docs_interval_seconds: float = field(default=60.0, metadata=_min(0.0))


@dataclass(frozen=True)
class GoldConfig:
    """Gold build (dbt project `dbt_project/`, run in-process by `medallion build`)."""

    # dbt profile target: `local` (embedded Spark session) or `thrift` ($DBT_TARGET overrides).
    target: str = field(default="local", metadata=_choices("local", "thrift"))
    # `medallion run --continuous`: rebuild Gold this often while the streams run.
    rebuild_interval_seconds: float = field(default=300.0, metadata=_min(1.0))
    # dbt threads: nodes (models, tests) run concurrently in the one Spark session. Much of a
    # small build is per-statement driver overhead, so more threads than cores still pays.
    threads: int = field(default=4, metadata=_min(1))
    # `medallion docs` writes the dbt docs site here (a local folder).
    docs_dir: str = field(default="{root}/docs/dbt", metadata=_path())


@dataclass(frozen=True)
class StatusConfig:
    """`medallion status` thresholds (0 = not checked): it exits 1 when one is breached, so cron
    or a monitor can alert on freshness and quality without parsing its output."""

    # the oldest landed file the ingest stream has not taken yet has waited longer than this
    max_landing_wait_seconds: float = field(default=0.0, metadata=_min(0.0))
    # the oldest Bronze rows the refine stream has not read yet have waited longer than this
    max_refine_wait_seconds: float = field(default=0.0, metadata=_min(0.0))
    # the last successful Gold build is older than this
    max_gold_age_seconds: float = field(default=0.0, metadata=_min(0.0))
    # quarantined / read over the refine batches of the last hour is above this (0..1)
    max_quarantine_rate: float = field(default=0.0, metadata=_min(0.0))


@dataclass(frozen=True)
class ServeConfig:
    """`medallion serve`: the SQL endpoint for analysts and scheduled dbt runs (README "Serving").
    Accounts and passwords come from the environment, never from a file (pipelines/serving)."""

    # loopback by default; any other address needs authentication (MEDALLION_SERVE_USERS)
    host: str = "127.0.0.1"
    port: int = field(default=10000, metadata=_min(1))
    # the access log (who ran what) is loaded into audit.sql_access_log this often, and at stop
    access_log_flush_seconds: float = field(default=10.0, metadata=_min(1.0))
    # tables that appear in the warehouse after start become addressable within this time
    refresh_tables_seconds: float = field(default=30.0, metadata=_min(1.0))


@dataclass(frozen=True)
class DeltaRetention:
    """How long a layer's tables keep history (`medallion maintain` sets the table properties and
    vacuums; time travel, `trace --as-of-build` included, reaches back this far at most)."""

    # Delta log entries (`delta.logRetentionDuration`), removed at checkpoints once expired
    log_days: float = field(default=30.0, metadata=_min(1.0))
    # data files no longer in the table (`delta.deletedFileRetentionDuration`): VACUUM removes them
    # once older; at least a day, so a stream or reader still planning on them keeps them
    deleted_file_days: float = field(default=7.0, metadata=_min(1.0))


@dataclass(frozen=True)
class RetentionConfig:
    """What `medallion maintain` removes, and when (README "Retention and maintenance")."""

    # landing files (and archived copies under ingest.archive_dir) this many days after the ingest
    # batch that took them committed; 0 = at the next maintain. Never before their batch committed.
    landing_days: float = field(default=7.0, metadata=_min(0.0))
    bronze: DeltaRetention = field(default_factory=DeltaRetention)
    silver: DeltaRetention = field(default_factory=DeltaRetention)  # silver.* tables
    audit: DeltaRetention = field(default_factory=DeltaRetention)  # audit.* ledgers and GX results
    gold: DeltaRetention = field(default_factory=DeltaRetention)  # gold*, dbt-built
    # GX Data Docs validation pages (refine.docs_dir) older than this
    data_docs_days: float = field(default=30.0, metadata=_min(0.0))
    # rotated log files (logs/medallion-*.log) not written for this long; the active log is
    # rotated by maintain once its oldest line is older
    logs_days: float = field(default=30.0, metadata=_min(0.0))

    def for_layer(self, schema: str) -> DeltaRetention:
        """The Delta retention of a warehouse schema (gold, gold_intermediate, ... -> gold)."""
        return self.gold if schema.startswith("gold") else getattr(self, schema)


@dataclass(frozen=True)
class Config:
    """The whole configuration; `source` names the file it came from (for error messages)."""

    # `dev` only when a config says so: it lets Silver hash emails with a public development key
    # when the PII key variable is unset (the demo's medallion.demo.yaml); otherwise the key is required.
    mode: str = field(default="prod", metadata=_choices("dev", "prod"))
    paths: PathsConfig = field(default_factory=PathsConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    gold: GoldConfig = field(default_factory=GoldConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    source: str = field(default=BUILTIN, metadata={"internal": True})

    @property
    def landing(self) -> str:
        return self.paths.landing

    @property
    def warehouse(self) -> str:
        return self.paths.warehouse

    def checkpoint(self, stream: str) -> str:
        """Checkpoint location of one named stream (e.g. `bronze_events_raw`)."""
        return join_path(self.paths.checkpoints, stream)


# Keys that were removed but are still accepted in old files: ignored with a logged warning.
DEPRECATED_KEYS: dict[str, str] = {
    "gold.lookback_days": (
        "incremental Gold builds now recompute exactly what changed in Silver since the version "
        "their last build read (change data feed), whatever the age of the events; remove the key"
    ),
}

# Environment variables that override a config key (applied after the file).
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "MEDALLION_ROOT": ("paths", "root"),
    "MEDALLION_LANDING": ("paths", "landing"),
    "MEDALLION_WAREHOUSE": ("paths", "warehouse"),
    "MEDALLION_CHECKPOINTS": ("paths", "checkpoints"),
    "MEDALLION_SPARK_MASTER": ("spark", "master"),
    "DBT_TARGET": ("gold", "target"),
}


def is_uri(path: str) -> bool:
    return "://" in path or path.startswith("file:")


def join_path(base: str, *parts: str) -> str:
    """Join path segments for local paths and URIs alike (no os.path on `s3a://`)."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def find_config_file(explicit: str | None = None, cwd: Path | None = None,
                     env: Mapping[str, str] | None = None) -> Path | None:
    """Apply the lookup order; an explicitly named file that is missing is an error."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise PipelineError("CONFIG_NOT_FOUND", {"file": str(path)})
        return path
    named = (os.environ if env is None else env).get("MEDALLION_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise PipelineError("CONFIG_NOT_FOUND", {"file": f"{path} (from MEDALLION_CONFIG)"})
        return path
    local = (cwd or Path.cwd()) / DEFAULT_CONFIG_NAME
    return local if local.is_file() else None


def load_config(explicit: str | None = None, *, env: Mapping[str, str] | None = None,
                cwd: Path | None = None) -> Config:
    """Find, read and validate the configuration (see module docstring for the order)."""
    env = os.environ if env is None else env
    path = find_config_file(explicit, cwd, env)
    if path is None:
        return _finish(Config(), {}, base_dir=(cwd or Path.cwd()), env=env)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PipelineError("CONFIG_UNREADABLE", {"file": str(path), "detail": exc}) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PipelineError("INVALID_CONFIG_VALUE",
                            {"key": "<top level>", "file": str(path), "detail": "expected a mapping"})
    config = _build(Config, data, prefix="", file=str(path))
    return _finish(dataclasses.replace(config, source=str(path)), data,
                   base_dir=path.resolve().parent, env=env)


def config_from_dict(data: Mapping[str, Any], *, base_dir: Path | None = None,
                     source: str = "<dict>") -> Config:
    """Build a config from an in-memory mapping, with the same validation as a file."""
    config = _build(Config, dict(data), prefix="", file=source)
    return _finish(dataclasses.replace(config, source=source), data,
                   base_dir=base_dir or Path.cwd(), env={})


def _finish(config: Config, data: Mapping[str, Any], *, base_dir: Path,
            env: Mapping[str, str]) -> Config:
    """Apply env overrides, then resolve every path field (root first: the others may use it)."""
    for var, (section, key) in ENV_OVERRIDES.items():
        if env.get(var):
            current = getattr(config, section)
            value = _coerce(typing.get_type_hints(type(current))[key], env[var],
                            _field(type(current), key), key=f"{section}.{key} (from {var})",
                            file=config.source)
            config = dataclasses.replace(config, **{section: dataclasses.replace(current, **{key: value})})
    root = _resolve(config.paths.root, base_dir, root="")
    return _resolve_paths(config, base_dir, root)


def _field(cls: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def _resolve_paths(obj: Any, base_dir: Path, root: str) -> Any:
    """`obj` (a config dataclass) with each `path` field resolved, sections recursively."""
    changes: dict[str, Any] = {}
    for fld in dataclasses.fields(obj):
        value = getattr(obj, fld.name)
        if dataclasses.is_dataclass(value):
            changes[fld.name] = _resolve_paths(value, base_dir, root)
        elif fld.metadata.get("path"):
            changes[fld.name] = _resolve(value, base_dir, root=root)
    return dataclasses.replace(obj, **changes)


def _resolve(path: str, base_dir: Path, *, root: str) -> str:
    expanded = path.replace("{project}", str(PROJECT_DIR))
    if root:
        expanded = expanded.replace("{root}", root)
    return _absolute(expanded, base_dir)


def _absolute(path: str, base_dir: Path) -> str:
    if is_uri(path):
        return path
    return str((base_dir / Path(path).expanduser()).resolve())


def _build(cls: type, data: Mapping[str, Any], *, prefix: str, file: str) -> Any:
    """Recursively turn a mapping into dataclass `cls`, rejecting unknown keys and bad types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if dotted in DEPRECATED_KEYS and key not in fields:
            log.warning("config %s: '%s' is deprecated and ignored: %s", file, dotted, DEPRECATED_KEYS[dotted])
            continue
        if key not in fields:
            raise PipelineError("UNKNOWN_CONFIG_KEY",
                                {"key": dotted, "file": file, "allowed": ", ".join(sorted(fields))})
        kwargs[key] = _coerce(hints[key], value, fields[key], key=dotted, file=file)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, fld: dataclasses.Field, *, key: str, file: str) -> Any:
    def bad(detail: str) -> PipelineError:
        return PipelineError("INVALID_CONFIG_VALUE", {"key": key, "file": file, "detail": detail})

    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise bad(f"expected a mapping, got {type(value).__name__}")
        return _build(hint, value, prefix=f"{key}.", file=file)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, fld, key=key, file=file)
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("expected a list of strings")
        return tuple(value)
    if origin in (collections.abc.Mapping, dict):
        if not isinstance(value, dict):
            raise bad(f"expected a mapping, got {type(value).__name__}")
        return types.MappingProxyType({str(k): _scalar_str(v, bad) for k, v in value.items()})
    if hint is bool:
        if not isinstance(value, bool):
            raise bad(f"expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"expected an integer, got {value!r}")
        _check_bounds(value, fld, bad)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"expected a number, got {value!r}")
        _check_bounds(value, fld, bad)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise bad(f"expected a string, got {value!r}")
        choices = fld.metadata.get("choices")
        if choices and value not in choices:
            raise bad(f"expected one of {', '.join(choices)}, got {value!r}")
        return value
    raise bad(f"unsupported type {hint}")  # pragma: no cover - schema bug, not user input


def _scalar_str(value: Any, bad: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise bad(f"expected scalar values, got {value!r}")


def _check_bounds(value: float, fld: dataclasses.Field, bad: Any) -> None:
    low = fld.metadata.get("min")
    if low is not None and value < low:
        raise bad(f"must be >= {low}, got {value!r}")
