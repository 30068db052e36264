"""Shared fixtures: one local Spark + Delta session per test run; all data under tmp_path; one
pre-built lakehouse (`built_lakehouse`) for the tests that only read a built one."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

import pytest
import yaml

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# The suite's configs are `mode: prod` (the default): refine needs a key, as in production. The
# CLI processes the tests start inherit it; tests of a missing key unset it for their command.
os.environ.setdefault("MEDALLION_PII_KEY", "medallion-test-suite-pii-key")

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


def _randomly_seed(config: pytest.Config) -> int | None:
    """The seed pytest-randomly ordered this run with (None when it is off: `-p no:randomly`)."""
    seed = getattr(config.option, "randomly_seed", None)
    return seed if isinstance(seed, int) and config.pluginmanager.has_plugin("randomly") else None


def pytest_sessionstart(session: pytest.Session) -> None:
    """pytest-randomly names its seed in the report header, which `-q` (make test) hides."""
    seed, reporter = _randomly_seed(session.config), session.config.pluginmanager.get_plugin("terminalreporter")
    if seed is not None and reporter is not None and session.config.get_verbosity() < 0:
        reporter.write_line(f"Using --randomly-seed={seed}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """delta-rs objects still alive at interpreter shutdown can abort the process (delta-io/delta-rs#2184):
    the tests' DeltaTable readers are collected while the interpreter is whole."""
    import gc

    gc.collect()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    seed = _randomly_seed(config)
    if seed is not None:
        terminalreporter.write_line(f"tests ran in a random order; replay it with: -p randomly --randomly-seed={seed}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests of a module marked `in_order` (a scenario whose tests are its steps) run in the
    order the file defines them, in the slots pytest-randomly gave them: where the module runs
    stays random, its steps do not."""
    slots: dict[Any, list[int]] = {}
    for index, item in enumerate(items):
        if item.get_closest_marker("in_order") is not None:
            slots.setdefault(item.module, []).append(index)
    for indexes in slots.values():
        steps = sorted((items[i] for i in indexes), key=lambda item: item.location[1])
        for index, item in zip(indexes, steps):
            items[index] = item


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """The one Spark session of the test run (Spark start-up costs ~10 s)."""
    from pipelines.core.spark_session import build_session

    config = make_config(tmp_path_factory.mktemp("session-root"))
    # Under pytest-xdist (make test-slow) the workers start their sessions one at a time: two Ivy
    # resolutions of the Delta jars into a cold cache at once fail. The folder above basetemp is
    # shared by the workers of one run.
    with open(tmp_path_factory.getbasetemp().parent / "spark-session.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
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


# ---- a lakehouse driven through the CLI, and the session's pre-built one -------------------------

@dataclass(frozen=True)
class Lakehouse:
    """A lakehouse folder with its own `medallion.yaml`: `<root>/lakehouse` (landing, warehouse,
    checkpoints), and dbt's target and log folders under `<root>` while a command of its runs."""

    root: Path
    sections: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, root: Path, **sections: Any) -> "Lakehouse":
        """An empty lakehouse under `root`; `sections` merge over the test defaults (see
        make_config), e.g. `gold={"threads": 4}`."""
        lake = cls(root=root, sections=MappingProxyType(dict(sections)))
        root.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {"paths": {"root": str(root / "lakehouse")}, "spark": dict(TEST_SPARK)}
        for key, value in sections.items():
            both = isinstance(value, dict) and isinstance(data.get(key), dict)
            data[key] = {**data[key], **value} if both else value
        lake.config_file.write_text(yaml.safe_dump(data))
        return lake

    @property
    def config_file(self) -> Path:
        return self.root / "medallion.yaml"

    @property
    def config(self) -> Config:
        from pipelines.core.config import load_config

        return load_config(str(self.config_file))

    @property
    def dbt_target(self) -> Path:
        return self.root / "dbt-target"

    def medallion(self, *args: str) -> int:
        """`medallion --config <this lakehouse's file> <args>` in this process; dbt's target and
        logs go under `root` for this command only (never into the checkout's dbt_project)."""
        from pipelines.cli import main

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DBT_TARGET_PATH", str(self.dbt_target))
            patch.setenv("DBT_LOG_PATH", str(self.root / "dbt-logs"))
            return main(["--config", str(self.config_file), *args])

    def run_results(self) -> dict:
        """dbt's run_results.json of this lakehouse's latest dbt command."""
        return json.loads((self.dbt_target / "run_results.json").read_text())

    def copy(self, root: Path) -> "Lakehouse":
        """A copy under `root` (Delta tables address their files relatively, so the copy is a
        lakehouse of its own): for batch work on it, i.e. rows appended to its tables by path and
        dbt builds. Not for its streams: their checkpoints still name this lakehouse's files."""
        copy = Lakehouse.create(root, **self.sections)
        shutil.copytree(self.root / "lakehouse", root / "lakehouse", symlinks=True)
        return copy


@dataclass(frozen=True)
class BuiltLakehouse:
    """The session's pre-built lakehouse (see `built_lakehouse`): read it, never change it; a test
    that needs to change one works on `lake.copy(...)`."""

    lake: Lakehouse
    generation: Mapping[str, Any]  # the `medallion generate` arguments (generate_lines' keywords)
    landed_files: int              # files in the landing folder: generated ones and the hand-made one
    landed_lines: int              # ... and their lines
    rcs: Mapping[str, int]         # exit status of each CLI step
    _hand_made: tuple[dict, ...]
    _build_results: str

    def hand_made_events(self) -> list[dict]:
        """The hand-made events landed beside the generated ones, as the silver.events rows a
        correct pipeline makes of them (fresh copies)."""
        return [dict(row) for row in self._hand_made]

    def build_results(self) -> dict:
        """run_results.json of the build (a fresh copy)."""
        return json.loads(self._build_results)


BUILT_LAKEHOUSE_GENERATION = MappingProxyType({"events": 12000, "seed": 11, "days": 30, "bad_rate": 0.02})
BUILT_LAKEHOUSE_FILES = 2


@pytest.fixture(scope="session")
def built_lakehouse(spark, tmp_path_factory: pytest.TempPathFactory) -> BuiltLakehouse:
    """One lakehouse built once per test run, on first use, through the CLI as a user would:
    `medallion generate` (sample events with bad lines, duplicates and late events), plus one file
    of hand-made events landed beside them (the Gold edge cases of gold_testkit) -> `ingest
    --once` -> `refine --once` -> `medallion build --resource-type all` (unit tests too, as CI
    runs it). Every table in it was written by the pipeline. Shared by every test that only reads
    a built lakehouse; nothing may change it."""
    from tests.integration.gold_testkit import edge_case_events, landing_line

    lake = Lakehouse.create(tmp_path_factory.mktemp("built-lakehouse"), gold={"threads": 4})
    g = BUILT_LAKEHOUSE_GENERATION
    rcs = {"generate": lake.medallion("generate", "--events", str(g["events"]), "--seed", str(g["seed"]),
                                      "--days", str(g["days"]), "--bad-rate", str(g["bad_rate"]),
                                      "--files", str(BUILT_LAKEHOUSE_FILES))}
    hand_made = tuple(edge_case_events())
    landing = Path(lake.config.landing)
    hidden = landing / ".hand-made-events.jsonl.tmp"  # landed as producers must: a hidden name, then renamed
    hidden.write_text("".join(landing_line(row) + "\n" for row in hand_made), encoding="utf-8")
    hidden.rename(landing / "hand-made-events.jsonl")
    rcs["ingest"] = lake.medallion("ingest", "--once")
    rcs["refine"] = lake.medallion("refine", "--once")
    assert rcs == {"generate": 0, "ingest": 0, "refine": 0}, f"the shared lakehouse was not built: {rcs}"
    rcs["build"] = lake.medallion("build", "--resource-type", "all")
    return BuiltLakehouse(lake=lake, generation=g, landed_files=BUILT_LAKEHOUSE_FILES + 1,
                          landed_lines=g["events"] + len(hand_made), rcs=MappingProxyType(rcs),
                          _hand_made=hand_made, _build_results=(lake.dbt_target / "run_results.json").read_text())
