"""One source of truth: the contract's values live in data files, and everything that needs
them reads them (or, where a file format can't, is tied to them here)."""
from __future__ import annotations

import re
from pathlib import Path

import sqlglot
import yaml
from sqlglot import exp

from pipelines.core.canonical import all_channels, canonical_channels, event_types, unknown_channel
from pipelines.core.config import DBT_PROJECT_DIR, PROJECT_DIR, config_from_dict
from pipelines.core.contract import FIELDS, REQUIRED_FOR
from pipelines.core.spark_session import LOCAL_DEFAULTS, SNAPSHOT_PARTITIONS, delta_packages
from pipelines.core.tables import SILVER_EVENTS
from silver.suite import find_suite
from silver.reference_data import load_channel_aliases

SUITE = find_suite(PROJECT_DIR / "expectations", "silver.events")


def _event_types_of(when: str | None) -> set[str]:
    """The event types a `when:` clause admits: `event_type IN (...)`, `event_type = '...'`, or
    any other condition (e.g. `_json_ok`), which does not restrict the type."""
    if not when:
        return set(event_types())
    tree = sqlglot.parse_one(when, read="spark")
    if isinstance(tree, exp.In) and tree.this.name == "event_type":
        return {e.name for e in tree.expressions}
    if isinstance(tree, exp.EQ) and tree.this.name == "event_type":
        return {tree.expression.name}
    assert "event_type" not in {c.name for c in tree.find_all(exp.Column)}, f"unsupported when: {when}"
    return set(event_types())


def test_each_missing_field_expectation_applies_to_exactly_the_event_types_that_require_it():
    found = {}
    for spec in SUITE.quarantine:
        if spec.reason and spec.reason.startswith("missing_"):
            field = spec.reason.removeprefix("missing_")
            column = spec.kwargs["column"]
            assert column in (field, f"{field}_raw"), f"{spec.label} checks {column}, not {field}"
            found[field] = _event_types_of(spec.when)
    assert found == {f: set(types) for f, types in REQUIRED_FOR.items()}


def test_required_fields_are_contract_fields_and_event_types():
    assert set(REQUIRED_FOR) <= set(FIELDS)
    assert all(set(types) <= set(event_types()) for types in REQUIRED_FOR.values())


def test_the_suite_reads_the_event_types_from_the_seed_rather_than_restating_them():
    text = (PROJECT_DIR / "expectations" / "silver_events.yaml").read_text(encoding="utf-8")
    assert "canonical: event_types" in text
    listed = [e for e in SUITE.expectations if e.reason == "invalid_event_type"]
    assert listed and listed[0].kwargs["value_set"] == list(event_types())


def test_silver_check_constraints_admit_exactly_the_canonical_values():
    checks = SILVER_EVENTS.checks
    assert re.findall(r"'(\w+)'", checks["event_type_known"]) == list(event_types())
    assert re.findall(r"'(\w+)'", checks["channel_canonical"]) == list(all_channels())
    assert unknown_channel() not in canonical_channels()


def test_channel_aliases_map_only_to_canonical_channels():
    aliases = load_channel_aliases(Path(config_from_dict({}).refine.channel_aliases))
    assert set(aliases.values()) == set(canonical_channels())


def test_dbt_tests_read_the_seeds_instead_of_listing_values():
    """No dbt YAML restates the event types or channels (accepted_values lists)."""
    for path in DBT_PROJECT_DIR.glob("models/**/*.yml"):
        text = path.read_text(encoding="utf-8")
        for value_list in re.findall(r"values:\s*\[([^\]]*)\]", text):
            values = {v.strip(" '\"") for v in value_list.split(",")}
            assert not values & set(event_types()), f"{path.name} restates event types: {values}"
            assert not values & set(canonical_channels()), f"{path.name} restates channels: {values}"


def _profile_defaults() -> dict:
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8"))
    return profile["medallion"]["outputs"]["local"]["server_side_parameters"]


def test_the_plain_dbt_profile_defaults_to_the_delta_jars_the_session_factory_uses():
    """profiles.yml can't import Python; its fallback coordinate is tied to the pinned one here."""
    default = re.search(r"'MEDALLION_DELTA_PACKAGE',\s*'([^']+)'", _profile_defaults()["spark.jars.packages"])
    assert default and [default.group(1)] == delta_packages()


def test_the_plain_dbt_profile_defaults_to_the_session_factorys_snapshot_partitions():
    text = _profile_defaults()[SNAPSHOT_PARTITIONS]
    local, cluster = re.search(r"'(\d+)' if .*startswith\('local'\) else '(\d+)'", text).groups()
    assert local == LOCAL_DEFAULTS[SNAPSHOT_PARTITIONS]
    assert cluster == "50"  # Delta's own default, which clusters keep
