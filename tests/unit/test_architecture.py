"""Dependencies run one way (DESIGN.md): composition root -> independent layers -> foundation.

The rules are import-linter contracts in pyproject.toml; these tests run them on the code, and
on a copy with one forbidden import added, to show a violation is caught.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("pipelines", "bronze", "silver", "gold")
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([LINT_IMPORTS, "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for name in PACKAGES:
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_code_keeps_every_dependency_contract():
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("module", "forbidden_import"), [
    ("bronze/events_raw.py", "import silver.refine"),  # one layer reaching into another
    ("pipelines/core/registry.py", "import gold.dbt_build"),  # the foundation importing a layer
    ("gold/summary.py", "import pipelines.orchestration"),  # a layer importing the composition root
    ("pipelines/lineage/backward.py", "import pipelines.core.spark_session"),  # a trace starting a JVM
    ("pipelines/lineage/grains.py", "import gold.dbt_build"),  # a trace re-running a model
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, forbidden_import):
    root = _copy(tmp_path)
    target = root / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{forbidden_import}  # noqa\n", encoding="utf-8")
    result = _lint(root)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout or "broken" in result.stdout


def test_a_trace_loads_no_spark_and_no_layer_code():
    """`medallion trace` answers in seconds because it never starts a JVM: importing the command
    imports neither pyspark nor any layer."""
    code = ("import sys; import pipelines.lineage.trace, pipelines.cli; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j', 'bronze', 'silver', 'gold', "
            "'great_expectations', 'dbt')); print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
