"""Reference data the standardization needs: channel aliases, FX rates, the property keys Silver
keeps, the PII key.

Loaded once at stream start from the data files configured under `refine:` (by default the
channel aliases in `silver/reference/` and the FX rates seed of the dbt project), and handed to
the pure transforms as plain values.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Mapping

import yaml

from pipelines.core import pii_key
from pipelines.core.canonical import canonical_channels, read_csv
from pipelines.core.config import Config
from pipelines.core.errors import PipelineError
from pipelines.core.pii_key import PiiKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reference:
    """Everything standardization needs besides the rows themselves."""

    channel_aliases: Mapping[str, str]  # lower-case alias -> canonical channel
    fx_rates_usd: Mapping[str, Decimal]  # ISO-4217 code -> USD per unit
    pii_key: PiiKey
    # keys of `properties` Silver keeps (DESIGN.md: the contract's allow-list); others are dropped
    property_keys: frozenset[str]
    lateness_hours: float = 1.0
    max_clock_skew_hours: float = 24.0


def _read_yaml(path: Path, what: str) -> Any:
    if not path.is_file():
        raise PipelineError("REFERENCE_DATA_INVALID", {"file": str(path), "detail": f"{what} file not found"})
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PipelineError("REFERENCE_DATA_INVALID", {"file": str(path), "detail": exc}) from exc


def load_channel_aliases(path: Path) -> dict[str, str]:
    """`canonical: [alias, ...]` -> {alias (trimmed, lower-case): canonical}."""
    data = _read_yaml(path, "channel alias")
    if not isinstance(data, dict):
        raise PipelineError("REFERENCE_DATA_INVALID", {"file": str(path), "detail": "expected a mapping"})
    channels = canonical_channels()
    aliases: dict[str, str] = {c: c for c in channels}
    for canonical, values in data.items():
        if canonical not in channels:
            raise PipelineError("REFERENCE_DATA_INVALID", {"file": str(path), "detail": (
                f"'{canonical}' is not a canonical channel ({', '.join(channels)})")})
        for alias in values or []:
            key = str(alias).strip().lower()
            if aliases.get(key, canonical) != canonical:
                raise PipelineError("REFERENCE_DATA_INVALID", {"file": str(path), "detail": (
                    f"alias '{alias}' maps to both {aliases[key]} and {canonical}")})
            aliases[key] = canonical
    return aliases


def load_fx_rates(path: Path) -> dict[str, Decimal]:
    """USD per unit of each currency: the seed CSV (`currency,usd_per_unit,...`) or a YAML file
    (`rates: {CODE: usd_per_unit}`) -> {CODE: Decimal}."""
    if path.suffix == ".csv":
        if not path.is_file():
            raise PipelineError("REFERENCE_DATA_INVALID", {"file": str(path), "detail": "FX rate file not found"})
        rates: Any = {r["currency"]: r["usd_per_unit"] for r in read_csv(path, ("currency", "usd_per_unit"))}
    else:
        data = _read_yaml(path, "FX rate")
        rates = data.get("rates") if isinstance(data, dict) else None
    if not isinstance(rates, dict) or not rates:
        raise PipelineError("REFERENCE_DATA_INVALID", {"file": str(path), "detail": "expected currency rates"})
    out: dict[str, Decimal] = {}
    for code, rate in rates.items():
        code = str(code).strip().upper()
        try:
            value = Decimal(str(rate))
        except InvalidOperation as exc:
            raise PipelineError("REFERENCE_DATA_INVALID", {"file": str(path), "detail": f"{code}: {rate!r}"}) from exc
        if len(code) != 3 or not code.isalpha() or value <= 0:
            raise PipelineError("REFERENCE_DATA_INVALID", {"file": str(path), "detail": f"bad rate {code}: {rate!r}"})
        out[code] = value
    return out


def load_property_keys(path: Path) -> frozenset[str]:
    """`keys: [name, ...]`: the property keys Silver keeps."""
    data = _read_yaml(path, "property key allow-list")
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) and k.strip() == k and k for k in keys):
        raise PipelineError("REFERENCE_DATA_INVALID", {"file": str(path), "detail": "expected `keys:` with a list of names"})
    return frozenset(keys)


def load_reference(config: Config, env: Mapping[str, str] | None = None) -> Reference:
    rc = config.refine
    return Reference(
        channel_aliases=load_channel_aliases(Path(rc.channel_aliases)),
        fx_rates_usd=load_fx_rates(Path(rc.fx_rates)),
        pii_key=pii_key.resolve(config, env),
        property_keys=load_property_keys(Path(rc.property_keys)),
        lateness_hours=rc.lateness_hours,
        max_clock_skew_hours=rc.max_clock_skew_hours,
    )
