"""The one Spark session factory.

Local `local[*]` by default; master, driver memory and any extra conf come from configuration so
the same code runs on a cluster. The Delta jars are resolved from Maven Central through Spark's
standard `spark.jars.packages` (Ivy) mechanism and cached; when that fails the error says what to do.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.core.config import Config
from pipelines.core.errors import PipelineError
from pipelines.core.logs import jvm_output_to_log

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

_LOG4J = Path(__file__).with_name("log4j2.properties")


# Defaults for local masters only (`spark.conf` in the config still wins). Delta rebuilds a table's
# snapshot with `snapshotPartitions` shuffle tasks (default 50, sized for clusters): on a few local
# cores that many tiny tasks make every first read of a table several times slower (README,
# Performance).
SNAPSHOT_PARTITIONS = "spark.databricks.delta.snapshotPartitions"
LOCAL_DEFAULTS: dict[str, str] = {
    SNAPSHOT_PARTITIONS: "2",
}


# Hadoop's local file system without process starts (pipelines/core/java/io/medallion/fs): with no
# native Hadoop library, it runs `chmod` for every file it creates and `readlink` for every rename
# of a Delta commit or streaming checkpoint file, a fork of the driver's JVM each time (README,
# Performance). Same semantics, answered with java.nio.
NIO_LOCAL_FS: dict[str, str] = {
    "spark.hadoop.fs.file.impl": "io.medallion.fs.NioLocalFileSystem",
    "spark.hadoop.fs.AbstractFileSystem.file.impl": "io.medallion.fs.NioLocalFs",
}
CLASS_PATH = "spark.driver.extraClassPath"


def extra_conf(config: Config) -> dict[str, str]:
    """Spark conf beyond the fixed settings: LOCAL_DEFAULTS (and the local file system of
    NIO_LOCAL_FS when medallion's jar is built) on local masters, then `spark.conf`; medallion's
    jar goes first on any `spark.driver.extraClassPath` the configuration sets."""
    local = config.spark.master.startswith("local")
    configured = {k: str(v) for k, v in config.spark.conf.items()}
    conf = {**(LOCAL_DEFAULTS if local else {})}
    jar = _local_fs_jar() if local else None
    if jar is not None:
        conf.update(NIO_LOCAL_FS)
        conf[CLASS_PATH] = os.pathsep.join(p for p in (jar, configured.pop(CLASS_PATH, "")) if p)
    return {**conf, **configured}


def _local_fs_jar() -> str | None:
    """medallion's jar (built by `make install`; compiled here when missing), or None when no
    JDK compiler is available: Spark then runs on Hadoop's own local file system, only slower."""
    from pipelines.core.jar import ensure_jar

    try:
        return str(ensure_jar())
    except PipelineError as exc:
        log.warning("local file system without process starts unavailable (%s); using Hadoop's", exc)
        return None


def delta_packages() -> list[str]:
    """Maven coordinates of the Delta jars matching the installed pyspark/delta-spark pair."""
    from importlib.metadata import version

    import pyspark

    scala = "2.13"
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return [f"io.delta:delta-spark_{spark_minor}_{scala}:{version('delta-spark')}"]


def ivy_dir(config: Config) -> Path:
    """Where Ivy caches resolved jars (Spark 4 default unless `spark.jars.ivy` is set)."""
    custom = config.spark.conf.get("spark.jars.ivy")
    return Path(custom).expanduser() if custom else Path.home() / ".ivy2.5.2"


def jar_cached(config: Config, coordinate: str) -> bool:
    group, artifact, ver = coordinate.split(":")
    return (ivy_dir(config) / "jars" / f"{group}_{artifact}-{ver}.jar").is_file()


def _executor_pii_key_option(config: Config, conf: dict[str, str]) -> dict[str, str]:
    """`spark.executor.extraJavaOptions` with the PII key's `-D` option added (Spark redacts it in
    the UI and event logs: the value matches its default `spark.redaction.regex`); nothing when no
    key is configured (only refine needs one, and it says so)."""
    from pipelines.core import pii_key

    try:
        key = pii_key.resolve(config, announce=False)
    except PipelineError:
        return {}
    name = "spark.executor.extraJavaOptions"
    return {name: " ".join(o for o in (conf.get(name, ""), pii_key.executor_java_option(key)) if o)}


def build_session(config: Config, *, app_suffix: str = "") -> "SparkSession":
    """Create (or return the running) SparkSession for this config.

    Local masters bind to loopback. The session's catalog is populated from the warehouse layout
    by `pipelines.core.catalog.register_tables`, called by the commands that query tables by name.
    """
    from delta import configure_spark_with_delta_pip
    from pyspark.errors import PySparkRuntimeError
    from pyspark.sql import SparkSession

    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise PipelineError("JAVA_NOT_FOUND", {"detail": "no JAVA_HOME and no `java` on PATH"})

    sc = config.spark
    local = sc.master.startswith("local")
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python workers (UDFs) must be this interpreter, with this environment's packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    packages = delta_packages()
    if not all(jar_cached(config, p) for p in packages):
        log.warning("first start on this machine: resolving %s from Maven Central into %s",
                    ", ".join(packages), ivy_dir(config))

    java_opts = f"-Dlog4j2.configurationFile=file:{_LOG4J} -Dderby.system.home={config.paths.root}"
    builder = (
        SparkSession.builder.master(sc.master)
        .appName(sc.app_name + (f"-{app_suffix}" if app_suffix else ""))
        .config("spark.driver.memory", sc.driver_memory)
        .config("spark.driver.extraJavaOptions", java_opts)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.catalogImplementation", sc.catalog)
        .config("spark.sql.warehouse.dir", config.paths.warehouse)
        .config("spark.sql.shuffle.partitions", str(sc.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.debug.maxToStringFields", "200")
        # Schema evolution stays explicit: tables are created by DDL, writes must match them.
        .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
    )
    if local:
        builder = builder.config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
    conf = extra_conf(config)
    if not local:  # executors in other JVMs read the PII key from a system property (pii_key)
        conf.update(_executor_pii_key_option(config, conf))
    for key, value in conf.items():
        builder = builder.config(key, value)
    builder = configure_spark_with_delta_pip(builder, extra_packages=list(sc.packages))
    try:
        with jvm_output_to_log():  # Ivy's report and log4j's console go to the log file
            spark = builder.getOrCreate()
    except PySparkRuntimeError as exc:
        if not all(jar_cached(config, p) for p in packages):
            raise PipelineError("DELTA_JARS_UNAVAILABLE", {
                "packages": ", ".join(packages + list(sc.packages)), "ivy_dir": ivy_dir(config),
                "first_package": packages[0], "detail": exc,
            }) from exc
        raise
    spark.sparkContext.setLogLevel(sc.log_level)
    return spark
