"""Configuration: lookup order, defaults, overrides, and fail-fast errors naming key and file."""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml

from pipelines.core.config import BUILTIN, PROJECT_DIR, Config, load_config
from pipelines.core.errors import PipelineError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_put_everything_under_lakehouse_in_the_working_directory(tmp_path: Path) -> None:
    config = load_config(env={}, cwd=tmp_path)
    root = (tmp_path / "lakehouse").resolve()
    assert config.paths.root == str(root)
    assert config.landing == str(root / "landing")
    assert config.warehouse == str(root / "warehouse")
    assert config.paths.checkpoints == str(root / "checkpoints")
    assert config.spark.master == "local[*]"
    assert config.ingest.trigger_interval_seconds == 1.0
    assert config.source == "<built-in defaults>"


def test_file_values_override_defaults_and_relative_paths_follow_the_file(tmp_path: Path) -> None:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    cfg = write(conf_dir / "my.yaml", """
paths:
  root: data
  warehouse: s3a://bucket/warehouse
spark:
  master: spark://10.0.0.1:7077
  driver_memory: 8g
  conf:
    spark.hadoop.fs.s3a.path.style.access: true
ingest:
  trigger_interval_seconds: 5
  max_files_per_trigger: 10
""")
    config = load_config(str(cfg), env={}, cwd=tmp_path)
    assert config.paths.root == str((conf_dir / "data").resolve())
    assert config.landing == str((conf_dir / "data" / "landing").resolve())
    assert config.warehouse == "s3a://bucket/warehouse"
    assert config.checkpoint("x") == str((conf_dir / "data" / "checkpoints" / "x").resolve())
    assert config.spark.master == "spark://10.0.0.1:7077"
    assert config.spark.conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert config.ingest.trigger_interval_seconds == 5.0
    assert config.ingest.max_files_per_trigger == 10
    assert config.source == str(cfg)


def test_lookup_prefers_flag_then_env_then_local_file(tmp_path: Path) -> None:
    flag = write(tmp_path / "flag.yaml", "spark: {app_name: from-flag}\n")
    env = write(tmp_path / "env.yaml", "spark: {app_name: from-env}\n")
    write(tmp_path / "medallion.yaml", "spark: {app_name: from-cwd}\n")
    environ = {"MEDALLION_CONFIG": str(env)}
    assert load_config(str(flag), env=environ, cwd=tmp_path).spark.app_name == "from-flag"
    assert load_config(None, env=environ, cwd=tmp_path).spark.app_name == "from-env"
    assert load_config(None, env={}, cwd=tmp_path).spark.app_name == "from-cwd"


def test_environment_variables_override_paths(tmp_path: Path) -> None:
    config = load_config(env={"MEDALLION_WAREHOUSE": "s3a://lake/wh", "MEDALLION_ROOT": str(tmp_path / "r")},
                         cwd=tmp_path)
    assert config.warehouse == "s3a://lake/wh"
    assert config.landing == str(tmp_path / "r" / "landing")


def test_unknown_key_error_names_the_key_and_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "medallion.yaml", "ingest:\n  max_file_per_trigger: 3\n")
    with pytest.raises(PipelineError) as err:
        load_config(str(cfg), env={})
    assert err.value.code == "UNKNOWN_CONFIG_KEY"
    assert err.value.params["key"] == "ingest.max_file_per_trigger"
    assert err.value.params["file"] == str(cfg)


def test_unknown_top_level_key_is_an_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "medallion.yaml", "sparkk: {}\n")
    with pytest.raises(PipelineError) as err:
        load_config(str(cfg), env={})
    assert (err.value.code, err.value.params["key"]) == ("UNKNOWN_CONFIG_KEY", "sparkk")


@pytest.mark.parametrize("text, key", [
    ("ingest:\n  max_files_per_trigger: many\n", "ingest.max_files_per_trigger"),
    ("ingest:\n  max_files_per_trigger: 0\n", "ingest.max_files_per_trigger"),
    ("ingest:\n  trigger_interval_seconds: true\n", "ingest.trigger_interval_seconds"),
    ("ingest:\n  old_files: skip\n", "ingest.old_files"),
    ("ingest:\n  max_file_age_hours: 0\n", "ingest.max_file_age_hours"),
    ("ingest:\n  clean_source: move\n", "ingest.clean_source"),
    ("spark:\n  packages: org.x:y:1\n", "spark.packages"),
    ("spark:\n  catalog: glue\n", "spark.catalog"),
    ("mode: production\n", "mode"),
    ("paths: /tmp\n", "paths"),
])
def test_wrong_types_and_values_fail_naming_key_and_file(tmp_path: Path, text: str, key: str) -> None:
    cfg = write(tmp_path / "medallion.yaml", text)
    with pytest.raises(PipelineError) as err:
        load_config(str(cfg), env={})
    assert err.value.code == "INVALID_CONFIG_VALUE"
    assert err.value.params["key"] == key
    assert err.value.params["file"] == str(cfg)


def test_a_named_config_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as err:
        load_config(str(tmp_path / "nope.yaml"), env={})
    assert err.value.code == "CONFIG_NOT_FOUND"


def test_invalid_yaml_is_reported_with_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "medallion.yaml", "spark: [unclosed\n")
    with pytest.raises(PipelineError) as err:
        load_config(str(cfg), env={})
    assert err.value.code == "CONFIG_UNREADABLE" and err.value.params["file"] == str(cfg)


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(env={}, cwd=tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.mode = "prod"  # type: ignore[misc]
    assert isinstance(config, Config)


def test_example_config_in_the_repository_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "medallion.example.yaml"
    config = load_config(str(example), env={})
    assert config.source == str(example)


def _keys(cls: type, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for fld in dataclasses.fields(cls):
        if fld.metadata.get("internal"):
            continue
        hint = typing.get_type_hints(cls)[fld.name]
        if dataclasses.is_dataclass(hint):
            out |= _keys(hint, f"{prefix}{fld.name}.")
        else:
            out.add(f"{prefix}{fld.name}")
    return out


def _file_keys(data: dict, prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in data.items():
        if isinstance(value, dict) and key != "conf":
            out |= _file_keys(value, f"{prefix}{key}.")
        else:
            out.add(f"{prefix}{key}")
    return out


def test_example_config_lists_every_key_with_its_default(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "medallion.example.yaml"
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    assert _file_keys(data) == _keys(Config)
    # ... with the built-in defaults (so copying it changes nothing)
    copied = write(tmp_path / "copy.yaml", example.read_text(encoding="utf-8"))
    assert dataclasses.replace(load_config(str(copied), env={}), source=BUILTIN) == load_config(env={}, cwd=tmp_path)


def test_the_removed_gold_lookback_days_key_still_loads_with_a_deprecation_warning(tmp_path: Path, caplog) -> None:
    cfg = write(tmp_path / "medallion.yaml", "gold: {lookback_days: 3, threads: 2}\n")
    with caplog.at_level("WARNING", logger="pipelines.core.config"):
        config = load_config(str(cfg), env={})
    assert config.gold.threads == 2 and not hasattr(config.gold, "lookback_days")
    assert any("gold.lookback_days" in r.getMessage() and "deprecated" in r.getMessage() for r in caplog.records)


def test_every_path_field_is_resolved_at_load_to_an_absolute_path_or_uri(tmp_path: Path) -> None:
    cfg = write(tmp_path / "medallion.yaml", "paths: {root: data, landing: s3a://b/landing}\n"
                                             "refine: {docs_dir: gx-docs, fx_rates: ref/fx.yaml}\n")
    config = load_config(str(cfg), env={})
    assert config.refine.docs_dir == str(tmp_path / "gx-docs")
    assert config.refine.fx_rates == str(tmp_path / "ref" / "fx.yaml")
    assert config.refine.expectations_dir == str(PROJECT_DIR / "expectations")
    assert config.gold.docs_dir == str(tmp_path / "data" / "docs" / "dbt")
    assert config.landing == "s3a://b/landing"

    def paths(obj: object) -> list[str]:
        found = []
        for fld in dataclasses.fields(obj):
            value = getattr(obj, fld.name)
            if dataclasses.is_dataclass(value):
                found += paths(value)
            elif fld.metadata.get("path"):
                found.append(value)
        return found
    resolved = paths(config)
    assert len(resolved) == 11  # 4 paths, 1 ingest, 5 refine, 1 gold
    assert all(("://" in p) or (Path(p).is_absolute() and "{" not in p) for p in resolved), resolved


def test_an_environment_override_is_validated_like_a_file_value(tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as err:
        load_config(env={"DBT_TARGET": "prod"}, cwd=tmp_path)
    assert err.value.code == "INVALID_CONFIG_VALUE" and "DBT_TARGET" in err.value.params["key"]
    assert load_config(env={"DBT_TARGET": "thrift"}, cwd=tmp_path).gold.target == "thrift"
