"""`medallion build` leaves dbt unit tests to CI unless the caller chooses resource types."""
from __future__ import annotations

import pytest

from gold.dbt_build import SEED_TESTS, production_build_args, snapshot_partitions
from pipelines.core.config import load_config


@pytest.fixture(autouse=True)
def _no_resource_type_env(monkeypatch):
    monkeypatch.delenv("DBT_RESOURCE_TYPES", raising=False)
    monkeypatch.delenv("DBT_EXCLUDE_RESOURCE_TYPES", raising=False)
    monkeypatch.delenv("MEDALLION_SPARK_MASTER", raising=False)


def test_a_production_build_excludes_unit_tests_and_the_seeds_static_data_tests():
    assert production_build_args([]) == ["--exclude-resource-type", "unit_test", "--exclude", SEED_TESTS]
    assert production_build_args(["--full-refresh"]) == [
        "--full-refresh", "--exclude-resource-type", "unit_test", "--exclude", SEED_TESTS]


def test_an_exclusion_of_the_callers_own_keeps_the_seed_tests():
    assert production_build_args(["--exclude", "dim_channels"]) == [
        "--exclude", "dim_channels", "--exclude-resource-type", "unit_test"]


@pytest.mark.parametrize("args", [
    ["--resource-type", "all"],
    ["--resource-types", "model", "unit_test"],
    ["--exclude-resource-type", "test"],
    ["--exclude-resource-types=seed"],
])
def test_resource_types_chosen_by_the_caller_are_left_alone(args):
    assert production_build_args(args) == args


def test_resource_types_chosen_in_the_environment_are_left_alone(monkeypatch):
    monkeypatch.setenv("DBT_EXCLUDE_RESOURCE_TYPES", "seed")
    assert production_build_args(["--full-refresh"]) == ["--full-refresh"]


def test_snapshot_partitions_follow_the_session_factory(tmp_path):
    local = tmp_path / "local.yaml"
    local.write_text("spark:\n  master: local[2]\n")
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text("spark:\n  master: spark://host:7077\n")
    configured = tmp_path / "configured.yaml"
    configured.write_text("spark:\n  master: local[2]\n  conf:\n    spark.databricks.delta.snapshotPartitions: '8'\n")
    assert snapshot_partitions(load_config(str(local))) == "2"
    assert snapshot_partitions(load_config(str(cluster))) == "50"
    assert snapshot_partitions(load_config(str(configured))) == "8"
