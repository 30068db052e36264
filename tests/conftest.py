"""Shared fixtures: one local Spark + Delta session per test run; all data under tmp_path."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from pipelines.core.config import Config, config_from_dict  # noqa: E402

TEST_SPARK = {"master": "local[2]", "shuffle_partitions": 2, "driver_memory": "3g", "log_level": "ERROR"}


def make_config(root: Path, **sections: Any) -> Config:
    """A config whose every path is under `root` (sections merge over the test defaults)."""
    data: dict[str, Any] = {"paths": {"root": str(root)}, "spark": dict(TEST_SPARK)}
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return config_from_dict(data, base_dir=root, source=str(root / "medallion.yaml"))


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """The one Spark session of the test run (Spark start-up costs ~10 s)."""
    from pipelines.core.spark_session import build_session

    config = make_config(tmp_path_factory.mktemp("session-root"))
    session = build_session(config)
    yield session
    session.stop()


@pytest.fixture()
def lake(tmp_path: Path) -> Config:
    """A fresh lakehouse (landing, warehouse, checkpoints) under this test's tmp_path."""
    return make_config(tmp_path / "lakehouse")


@pytest.fixture()
def config_factory(tmp_path: Path) -> Callable[..., Config]:
    return lambda **sections: make_config(tmp_path / "lakehouse", **sections)
