"""The HMAC key behind `email_hash`: where it comes from, its id, and how Spark gets it without the
key ever being part of a plan.

- Source: the environment variable `refine.pii_key_env` (default `MEDALLION_PII_KEY`). Without it,
  a run refuses to start (`PII_KEY_MISSING`, before any data is read) unless the configuration
  says `mode: dev` explicitly, which hashes with a public development key (logged loudly).
- Id: `key_id` is a fingerprint of the key (an HMAC of a fixed label, truncated), recorded on every
  row next to its `email_hash` (`email_hash_key_id`), so a rotated key's hashes can be told apart
  (README "Rotating the PII key").
- In Spark: the key is a JVM system property named after its id (`medallion.pii.secret.<id>`) that
  `hmac_expression` reads at run time through `reflect`; plans, EXPLAIN, the Spark UI and event
  logs show the property's name, never its value. The driver sets it (`install`); executors of a
  cluster get it as a `-D` option (`executor_java_option`), which Spark redacts in the UI and
  event logs (its default `spark.redaction.regex` matches "secret").
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
from dataclasses import dataclass, field
from typing import Mapping

from pyspark.sql import Column, SparkSession, functions as F

from pipelines.core.config import Config
from pipelines.core.errors import PipelineError

log = logging.getLogger(__name__)

# Public: used only when the key variable is unset AND the config says `mode: dev`. Never for real data.
DEV_PII_KEY = "medallion-dev-pii-key-NOT-SECRET"
KEY_ID_LABEL = b"medallion email_hash key id v1"
KEY_ID_HEX_DIGITS = 16
PROPERTY_PREFIX = "medallion.pii.secret."
# commons-codec ships with Spark; its static HMAC helper takes the key as a (UTF-8) string.
HMAC_CLASS = "org.apache.commons.codec.digest.HmacUtils"
HMAC_METHOD = "hmacSha256Hex"


@dataclass(frozen=True)
class PiiKey:
    """The key and where it came from (the secret never in repr or logs)."""

    secret: str = field(repr=False)
    source: str  # e.g. "$MEDALLION_PII_KEY" or "the development key (mode: dev)"

    @property
    def key_id(self) -> str:
        digest = hmac.new(self.secret.encode("utf-8"), KEY_ID_LABEL, hashlib.sha256).hexdigest()
        return digest[:KEY_ID_HEX_DIGITS]

    @property
    def jvm_property(self) -> str:
        return PROPERTY_PREFIX + self.key_id

    def hash(self, normalized_email: str) -> str:
        """The `email_hash` of an already normalized (trimmed, lower-case) address, in Python."""
        return hmac.new(self.secret.encode("utf-8"), normalized_email.encode("utf-8"), hashlib.sha256).hexdigest()


def resolve(config: Config, env: Mapping[str, str] | None = None, *, announce: bool = True) -> PiiKey:
    """The key from the environment; the development key only when the config says `mode: dev`
    (logged as a warning when `announce`)."""
    env = os.environ if env is None else env
    var = config.refine.pii_key_env
    value = env.get(var)
    if value:
        return PiiKey(value, f"${var}")
    if config.mode == "dev":
        if announce:
            log.warning("%s is not set: hashing emails with the built-in DEVELOPMENT key (mode: dev in %s). "
                        "Hashes are not secret; set %s for real data.", var, config.source, var)
        return PiiKey(DEV_PII_KEY, "the development key (mode: dev)")
    raise PipelineError("PII_KEY_MISSING", {"env": var, "file": config.source})


def install(spark: SparkSession, key: PiiKey) -> None:
    """Make the key readable by `hmac_expression` in this JVM (the driver, and the executors of a
    local master), then check Spark's hash against Python's: a missing key on an executor or a
    missing HMAC class fails here, before any row is hashed (`PII_KEY_NOT_INSTALLED`)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    jvm.java.lang.System.setProperty(key.jvm_property, key.secret)
    verify(spark, key)


def verify(spark: SparkSession, key: PiiKey) -> None:
    """Spark's hash of a probe equals Python's, else `PII_KEY_NOT_INSTALLED`."""
    probe = "probe@medallion.invalid"
    try:
        got = spark.range(1).select(hmac_expression(F.lit(probe), key).alias("h")).first()["h"]
    except Exception as exc:  # noqa: BLE001 - any JVM failure means the same thing here
        raise PipelineError("PII_KEY_NOT_INSTALLED", {"detail": type(exc).__name__}) from None
    if got != key.hash(probe):
        raise PipelineError("PII_KEY_NOT_INSTALLED", {
            "detail": "Spark's HMAC differs from Python's (is the key property set on the executors?)"})


def executor_java_option(key: PiiKey) -> str:
    """The `-D` option that gives a cluster's executors the key (spark_session adds it to
    `spark.executor.extraJavaOptions` for non-local masters)."""
    return f"-D{key.jvm_property}={key.secret}"


def hmac_expression(message: Column, key: PiiKey) -> Column:
    """HMAC-SHA256(key, message) as lower-case hex, evaluated in the JVM with the key read from its
    system property at run time (`reflect` is nondeterministic, so never constant-folded into a
    literal). NULL message -> NULL."""
    secret = F.call_function("reflect", F.lit("java.lang.System"), F.lit("getProperty"), F.lit(key.jvm_property))
    return F.when(message.isNotNull(),
                  F.call_function("reflect", F.lit(HMAC_CLASS), F.lit(HMAC_METHOD), secret, message))
