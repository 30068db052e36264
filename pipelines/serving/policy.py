"""The guard's policy, from the table registry (pure but for writing the file).

The Java guard (java/.../AccessGuard.java) reads it once; its path is a static Spark conf, so no
SQL statement can point the guard elsewhere. It holds salted password hashes, never passwords.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from gold.sql_guard import GUARD_ROLE_CONF
from pipelines.core.config import Config
from pipelines.core.registry import PersonalData, Writer, all_tables, gold_tables
from pipelines.serving.accounts import Account

# Settings an analyst may read and change for their own session; every other is protected.
SETTABLE_CONFS = (
    "spark.sql.session.timeZone",
    "spark.sql.ansi.enabled",
    "spark.sql.shuffle.partitions",
    "spark.sql.adaptive.enabled",
    "spark.sql.autoBroadcastJoinThreshold",
    "spark.sql.legacy.timeParserPolicy",
    "spark.sql.thriftserver.scheduler.pool",
)
# Settings that must keep these values in an analyst's session (a JDBC URL can carry overrides):
# `runSQLOnFiles` is what makes delta.`/path` and parquet.`/path` names readable.
LOCKED_CONFS = {"spark.sql.runSQLOnFiles": "false"}
ROLES = ("unrestricted", "pipeline", "reader", "analyst")


def build_policy(config: Config, accounts: Iterable[Account], *, local_role: str,
                 access_log: Path | None = None) -> dict[str, Any]:
    """What each role may do on this warehouse. `local_role`: the role of statements not coming
    from a Thrift client (`unrestricted` in the server itself, `reader`/`pipeline` for
    `medallion sql` without/with --allow-writes)."""
    if local_role not in ROLES:
        raise ValueError(local_role)
    accounts = list(accounts)
    specs = all_tables()
    bronze = [s for s in specs if s.writer == Writer.BRONZE]
    return {
        "authenticated": bool(accounts),
        "local_role": local_role,
        "users": {a.user: {"role": a.role, "salt": a.salt.hex(), "hash": a.hash.hex(),
                           "iterations": a.iterations} for a in accounts},
        "visible_schemas": sorted({s.schema for s in gold_tables() if s.analysts}),
        "visible_tables": sorted(s.qualified_name for s in specs if s.analysts),
        "direct_columns": {s.qualified_name: list(s.personal_columns(PersonalData.DIRECT))
                           for s in specs if s.personal_columns(PersonalData.DIRECT)},
        "bronze_schemas": sorted({s.schema for s in bronze}),
        "bronze_locations": sorted({s.location(config) for s in bronze}),
        "settable_confs": list(SETTABLE_CONFS),
        "locked_confs": dict(LOCKED_CONFS),
        "access_log": str(access_log) if access_log else "",
    }


def guarded(config: Config, directory: Path, *, local_role: str = "unrestricted",
            accounts: Iterable[Account] = (), access_log: Path | None = None,
            extra_class_path: Iterable[str] = (), extra: dict[str, str] | None = None) -> Config:
    """`config` whose Spark session loads the guard with this policy (written into `directory`,
    which must outlive the session). The process narrows its own role later (GUARD_ROLE_CONF)."""
    from dataclasses import replace

    from pipelines.core.jar import ensure_jar

    policy = build_policy(config, accounts, local_role=local_role, access_log=access_log)
    conf = {**config.spark.conf,
            **guard_conf(ensure_jar(), write_policy(policy, directory), extra_class_path=extra_class_path),
            **(extra or {})}
    return replace(config, spark=replace(config.spark, conf=conf))


def write_policy(policy: dict[str, Any], directory: Path) -> Path:
    """The policy as a file only this user can read (it holds password hashes)."""
    path = directory / "policy.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(policy, out, indent=1, sort_keys=True)
    return path


def guard_conf(jar: Path, policy_path: Path, *, extra_class_path: Iterable[str] = ()) -> dict[str, str]:
    """Spark conf that loads the guard (before the JVM starts: the jar joins the driver's class
    path, where HiveServer2 and the extension loader both find it)."""
    return {
        "spark.driver.extraClassPath": os.pathsep.join([str(jar), *extra_class_path]),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension,io.medallion.serving.GuardExtension",
        "spark.medallion.guard.policy": str(policy_path),
    }
