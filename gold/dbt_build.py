"""Run the dbt project (`dbt_project/`) in-process, sharing this process's Spark session.

`medallion build [dbt args]` = build the session, register the warehouse tables by location,
then `dbt build` through `dbtRunner` with the profile's `local` target (dbt-spark
`method: session` picks up the running session through `getOrCreate`). A `dbt build` CLI run
starts a JVM first; in-process it is the models' own time.

The same project also runs as plain `dbt build --project-dir dbt_project --profiles-dir
dbt_project`: its on-run-start hook then registers the tables itself (see
`dbt_project/macros/register_warehouse_tables.sql`).

`medallion build` is the production build (also what `run --once/--continuous` run): it leaves dbt
unit tests out, as dbt recommends (their inputs are static fixtures, so a production run re-proves
nothing). CI and the test suite run them: `medallion build --resource-type all`, plain `dbt build`.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from pyspark.sql import SparkSession

from pipelines.core import registry
from pipelines.core.catalog import register_tables, same_location
from pipelines.core.config import DBT_PROJECT_DIR, Config, is_uri, join_path
from pipelines.core import logs
from pipelines.core.errors import PipelineError
from pipelines.core.migrations import open_warehouse
from pipelines.core.runs import new_run_id
from pipelines.core.spark_session import SNAPSHOT_PARTITIONS, build_session, extra_conf
from pipelines.core.tables import SILVER_EVENTS

log = logging.getLogger(__name__)


# Runtime confs dbt-spark (re)sets (it forces ANSI off, applies the profile's
# server_side_parameters) or our on-run-start hook sets (commit metadata). dbt runs in a child
# session (see _isolated_session); these are also restored on the parent, belt and braces.
_SESSION_CONFS = (
    "spark.sql.ansi.enabled",
    "spark.sql.shuffle.partitions",
    "spark.sql.session.timeZone",
    "spark.databricks.delta.commitInfo.userMetadata",
)


@dataclass
class DbtOutcome:
    """What one dbt invocation did."""

    command: str
    success: bool
    seconds: float
    counts: Counter = field(default_factory=Counter)  # (resource_type, status) -> n
    failures: list[str] = field(default_factory=list)
    error: str | None = None
    target_path: str = ""
    invocation_id: str | None = None  # from run_results.json, when dbt wrote one

    def summary(self) -> str:
        by_status: Counter = Counter()
        by_type: Counter = Counter()
        for (rtype, status), n in self.counts.items():
            by_status[status] += n
            by_type[rtype] += n
        kinds = ", ".join(f"{n} {rtype}{'' if n == 1 else 's'}" for rtype, n in sorted(by_type.items()))
        statuses = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
        head = (f"dbt {self.command}: {'OK' if self.success else 'FAILED'} in {self.seconds:.1f}s"
                + (f" - {kinds}: {statuses}" if kinds else ""))
        lines = [head, *(f"  {line}" for line in self.failures)]
        if self.error:
            lines.append(f"  error: {self.error}")
        return "\n".join(lines)


def project_dir() -> Path:
    if not (DBT_PROJECT_DIR / "dbt_project.yml").is_file():
        raise PipelineError("DBT_PROJECT_NOT_FOUND", {"path": DBT_PROJECT_DIR})
    return DBT_PROJECT_DIR


def dbt_target(config: Config) -> str:
    return config.gold.target


def dbt_vars(config: Config, *, run_id: str = "", register_tables: bool | str = False) -> dict[str, Any]:
    """`--vars` for the project: where Gold lives, whether to register tables, the run id."""
    return {
        "warehouse": config.warehouse,
        "register_tables": register_tables,
        "run_id": run_id,
    }


@functools.lru_cache(maxsize=1)
def project_git_commit() -> str:
    """The commit of this medallion checkout (for the build ledger), '' when unknown: not a git
    checkout, or git missing."""
    try:
        done = subprocess.run(["git", "-C", str(DBT_PROJECT_DIR), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def snapshot_partitions(config: Config) -> str:
    """Delta snapshot partitions as the session factory sets them (else Delta's default, 50), for
    the plain-dbt profile, which builds its own session."""
    return extra_conf(config).get(SNAPSHOT_PARTITIONS, "50")


def dbt_environment(config: Config) -> dict[str, str]:
    """Environment the profile reads (`env_var(...)` in dbt_project/profiles.yml)."""
    return {
        "MEDALLION_SNAPSHOT_PARTITIONS": snapshot_partitions(config),
        "DBT_TARGET": dbt_target(config),
        "DBT_THREADS": str(config.gold.threads),
        "MEDALLION_WAREHOUSE": config.warehouse,
        "MEDALLION_SPARK_MASTER": config.spark.master,
        "MEDALLION_DRIVER_MEMORY": config.spark.driver_memory,
        "MEDALLION_SHUFFLE_PARTITIONS": str(config.spark.shuffle_partitions),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": os.environ.get("DBT_SEND_ANONYMOUS_USAGE_STATS", "false"),
        # recorded in audit.gold_builds (macros/gold_builds.sql); the caller's value wins
        "MEDALLION_GIT_COMMIT": os.environ.get("MEDALLION_GIT_COMMIT") or project_git_commit(),
    }


def docs_dir(config: Config) -> str:
    """Where `medallion docs` writes the dbt docs site (`gold.docs_dir`, a local folder)."""
    if is_uri(config.gold.docs_dir):
        raise PipelineError("INVALID_CONFIG_VALUE", {"key": "gold.docs_dir", "file": config.source,
                                                     "detail": "the dbt docs site needs a local folder"})
    return config.gold.docs_dir


@contextlib.contextmanager
def _patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextlib.contextmanager
def _isolated_session(spark: SparkSession) -> Iterator[SparkSession]:
    """Run dbt in a child session of `spark`: same SparkContext, same catalog (tables registered
    in the parent are visible), but its own SQL conf and temporary views. dbt-spark's `session`
    method takes the process's default session (`SparkSession.builder.getOrCreate()`), and sets
    runtime confs on it (ANSI off, the profile's parameters, our commit metadata); pointing the
    default at a child keeps those changes away from streams running on the parent session
    (`medallion run --continuous` rebuilds Gold in-process while the streams run)."""
    from pyspark.sql import SparkSession

    child = spark.newSession()
    saved = (SparkSession._instantiatedSession, SparkSession._activeSession)
    SparkSession._instantiatedSession = child
    SparkSession._activeSession = child
    try:
        yield child
    finally:
        SparkSession._instantiatedSession, SparkSession._activeSession = saved


@contextlib.contextmanager
def _restored_session_confs(spark: SparkSession) -> Iterator[None]:
    saved = {key: spark.conf.get(key, None) for key in _SESSION_CONFS}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def run_dbt(spark: SparkSession, config: Config, command: Sequence[str], extra_args: Sequence[str] = (),
            *, run_id: str = "") -> DbtOutcome:
    """Invoke dbt in this process (`command` e.g. ["build"], ["docs", "generate"])."""
    from dbt.cli.main import dbtRunner

    project = project_dir()
    target = dbt_target(config)
    # With the local target the tables are registered here, in Python; otherwise the hook decides
    # (`auto`: a Thrift server such as `medallion serve` serves the warehouse's tables itself).
    variables = dbt_vars(config, run_id=run_id, register_tables=False if target == "local" else "auto")
    extra, user_vars = _split_vars(extra_args)
    args = [
        *command,
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target", target,
        "--vars", json.dumps({**variables, **user_vars}),
        *extra,
        *console_args(extra),
    ]
    log.debug("dbt %s", " ".join(args))
    started = time.monotonic()
    callbacks = [_log_event] if logs.active() is not None else []
    with _patched_environ(dbt_environment(config)), _restored_session_confs(spark), \
            _isolated_session(spark), contextlib.chdir(os.getcwd()):
        result = dbtRunner(callbacks=callbacks).invoke(args)
    outcome = DbtOutcome(command=" ".join(command), success=bool(result.success),
                         seconds=time.monotonic() - started)
    if result.exception is not None:
        outcome.error = str(result.exception).strip().splitlines()[0] if str(result.exception).strip() \
            else type(result.exception).__name__
    _collect(outcome, result.result)
    outcome.target_path = _target_path(project, extra_args)
    outcome.invocation_id = _invocation_id(outcome.target_path)
    return outcome


def _invocation_id(target_path: str) -> str | None:
    try:
        with open(os.path.join(target_path, "run_results.json"), encoding="utf-8") as fh:
            return json.load(fh)["metadata"]["invocation_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


# dbt's console options, and the environment variables that set them; the caller's choice wins.
_CONSOLE_OPTIONS = {"--log-level": "DBT_LOG_LEVEL", "--log-level-file": "DBT_LOG_LEVEL_FILE",
                    "--use-colors": "DBT_USE_COLORS", "--no-use-colors": "DBT_USE_COLORS"}
_DBT_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
dbt_log = logging.getLogger("dbt")


def console_args(extra_args: Sequence[str]) -> list[str]:
    """dbt's console and file settings for this command: silent inside a medallion command (its
    events go to medallion's log file through `_log_event`, redacted like every record; the caller
    prints the outcome), unless -vv; within a command, no dbt.log of its own (one log file, under
    the lakehouse root); colour codes only on a terminal. Options the caller passed, or set through DBT_*, are
    left alone."""
    given = {a.split("=", 1)[0] for a in extra_args}
    chosen = {opt for opt, env in _CONSOLE_OPTIONS.items() if opt in given or os.environ.get(env)}
    args: list[str] = []
    if "--log-level" not in chosen and not logs.console_shows_third_party():
        args += ["--log-level", "none"]
    if "--log-level-file" not in chosen and logs.file_active():
        args += ["--log-level-file", "none"]
    if not chosen & {"--use-colors", "--no-use-colors"} and not logs.colour_on_console():
        args.append("--no-use-colors")
    return args


def _log_event(event: Any) -> None:
    """dbt event -> the `dbt` logger (the log file), at dbt's own level."""
    info = getattr(event, "info", None)
    level = _DBT_LEVELS.get(str(getattr(info, "level", "")), logging.DEBUG)
    if info is not None and dbt_log.isEnabledFor(level) and info.msg:
        dbt_log.log(level, "%s", info.msg)


def _split_vars(extra_args: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """Take `--vars {...}` out of the user's dbt args, to merge them over ours (dbt keeps only one)."""
    import yaml

    rest: list[str] = []
    user: dict[str, Any] = {}
    args = list(extra_args)
    i = 0
    while i < len(args):
        if args[i] == "--vars" and i + 1 < len(args):
            user.update(yaml.safe_load(args[i + 1]) or {})
            i += 2
            continue
        if args[i].startswith("--vars="):
            user.update(yaml.safe_load(args[i].split("=", 1)[1]) or {})
        else:
            rest.append(args[i])
        i += 1
    return rest, user


def _collect(outcome: DbtOutcome, results: Any) -> None:
    for item in getattr(results, "results", None) or []:
        node = getattr(item, "node", None)
        rtype = str(getattr(getattr(node, "resource_type", None), "value", "node"))
        status = str(getattr(item.status, "value", item.status))
        outcome.counts[(rtype, status)] += 1
        if status in ("error", "fail", "runtime error"):
            name = getattr(node, "name", "?")
            message = (item.message or "").strip().splitlines()
            outcome.failures.append(f"{status.upper()} {rtype} {name}: {message[0] if message else ''}")


def _target_path(project: Path, extra_args: Sequence[str]) -> str:
    args = list(extra_args)
    if "--target-path" in args and args.index("--target-path") + 1 < len(args):
        return args[args.index("--target-path") + 1]
    return os.environ.get("DBT_TARGET_PATH") or str(project / "target")


def _check_sources(config: Config, registered: list[str]) -> None:
    if SILVER_EVENTS.qualified_name not in registered:
        raise PipelineError("GOLD_SOURCE_MISSING", {
            "table": SILVER_EVENTS.qualified_name, "path": SILVER_EVENTS.location(config)})


def _forget_foreign_gold_tables(spark: SparkSession, config: Config, registered: Sequence[str] = ()) -> list[str]:
    """Unregister Gold tables this session knows from another warehouse (a process that builds
    for two configs). Otherwise dbt would `create or replace` them at the old location's name
    and Delta refuses the location mismatch. External tables: dropping the entry keeps files.
    Tables `register_tables` just (re)pointed at this warehouse (`registered`) are not checked
    again: each check is a DESCRIBE DETAIL, i.e. a Delta snapshot load."""
    forgotten = []
    for spec in registry.stored_tables():
        name = spec.qualified_name
        if spec.writer != registry.Writer.DBT or name in registered or not spark.catalog.tableExists(name):
            continue
        try:
            location = spark.sql(f"DESCRIBE DETAIL {name}").first()["location"]
        except Exception:  # noqa: BLE001 - unreadable (files gone): forget it as well
            location = ""
        if not same_location(location, spec.location(config)):
            spark.sql(f"DROP TABLE IF EXISTS {name}")
            forgotten.append(name)
    if forgotten:
        log.info("unregistered Gold tables of another warehouse: %s", ", ".join(forgotten))
    return forgotten


def prepare_session(config: Config, spark: SparkSession | None = None) -> SparkSession:
    """The pipeline's session (created if needed) on an up-to-date warehouse, every registry
    table present registered by name."""
    spark = spark or build_session(config, app_suffix="gold")
    open_warehouse(spark, config)
    registered = register_tables(spark, config)
    _forget_foreign_gold_tables(spark, config, registered)
    if dbt_target(config) == "local":
        _check_sources(config, registered)
    return spark


# dbt options/env vars that choose resource types; when the caller uses any, we add nothing.
_RESOURCE_TYPE_OPTIONS = ("--resource-type", "--resource-types", "--exclude-resource-type",
                          "--exclude-resource-types")
_RESOURCE_TYPE_ENV = ("DBT_RESOURCE_TYPES", "DBT_EXCLUDE_RESOURCE_TYPES")


# The data tests of the seeds check the CSV files in the repository: static, like unit-test
# fixtures, so production builds leave them to CI too (they sat on the critical path of every
# build, before the staging views).
SEED_TESTS = "tag:reference_data"  # see dbt_project/seeds/_seeds.yml


def production_build_args(extra_args: Sequence[str]) -> list[str]:
    """The caller's dbt args plus `--exclude-resource-type unit_test` and `--exclude <the seeds'
    data tests>`, unless they (or the environment) already choose resource types
    (`--resource-type all` runs them all); the seed tests also stay when the caller excludes
    something of their own."""
    args = list(extra_args)
    chosen = any(a.split("=", 1)[0] in _RESOURCE_TYPE_OPTIONS for a in args) \
        or any(os.environ.get(name) for name in _RESOURCE_TYPE_ENV)
    if chosen:
        return args
    excludes = any(a.split("=", 1)[0] == "--exclude" for a in args)
    return [*args, "--exclude-resource-type", "unit_test", *(() if excludes else ("--exclude", SEED_TESTS))]


def build_gold(config: Config, extra_args: Sequence[str] = (), *, spark: SparkSession | None = None,
               run_id: str = "") -> DbtOutcome:
    """`dbt build` against the configured warehouse: models and data tests (unit tests only when
    asked for, see production_build_args)."""
    spark = prepare_session(config, spark)
    return run_dbt(spark, config, ["build"], production_build_args(extra_args), run_id=run_id)


def generate_docs(config: Config, extra_args: Sequence[str] = (), *, spark: SparkSession | None = None) -> tuple[DbtOutcome, str]:
    """`dbt docs generate` into `docs_dir(config)`; returns the outcome and the index.html path."""
    spark = prepare_session(config, spark)
    out = docs_dir(config)
    outcome = run_dbt(spark, config, ["docs", "generate"], ["--target-path", out, *extra_args])
    return outcome, str(Path(out) / "index.html")


def cmd_build(config: Config, extra_args: Sequence[str]) -> int:
    """CLI entry: print a concise summary; non-zero when anything failed."""
    outcome = build_gold(config, extra_args, run_id=new_run_id())
    print(outcome.summary())
    if outcome.success:
        print(f"gold tables: {join_path(config.warehouse, 'gold')}  "
              f"(artifacts: {outcome.target_path}/manifest.json, run_results.json)")
    return 0 if outcome.success else 1


def cmd_docs(config: Config, extra_args: Sequence[str]) -> int:
    outcome, index = generate_docs(config, extra_args)
    print(outcome.summary())
    if outcome.success:
        print(f"dbt docs (lineage graph): {index}")
        print(f"serve them with: dbt docs serve --project-dir {project_dir()} "
              f"--profiles-dir {project_dir()} --target-path {Path(index).parent}")
    return 0 if outcome.success else 1
