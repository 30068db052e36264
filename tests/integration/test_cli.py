"""The `medallion` CLI end to end: generate -> ingest -> sql (on the session's pre-built lakehouse),
and the errors users can hit."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.cli import main
from tests.conftest import TEST_SPARK

pytestmark = pytest.mark.integration


def write_config(root: Path, **extra) -> Path:
    cfg = root / "medallion.yaml"
    cfg.write_text(yaml.safe_dump({"paths": {"root": str(root / "lake")}, "spark": dict(TEST_SPARK), **extra}))
    return cfg


def test_generate_ingest_and_query_bronze_by_name(built_lakehouse, capsys) -> None:
    """On the session's pre-built lakehouse: `medallion generate`, then `ingest --once` (and the
    later stages) ran through this CLI; Bronze holds every landed line, once."""
    lake, lines, files = built_lakehouse.lake, built_lakehouse.landed_lines, built_lakehouse.landed_files
    assert (built_lakehouse.rcs["generate"], built_lakehouse.rcs["ingest"]) == (0, 0)
    cfg = lake.config_file
    capsys.readouterr()

    assert main(["--config", str(cfg), "sql",
                 "select count(*) as n, count(distinct _bronze_id) as ids, count(distinct _source) as files "
                 "from bronze.events_raw", "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"n": lines, "ids": lines, "files": files}]

    assert main(["--config", str(cfg), "sql", "select _source, count(*) as n from bronze.events_raw "
                 "group by _source order by _source", "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "_source,n" and len(out) == files + 1

    assert main(["--config", str(cfg), "show"]) == 0
    assert "Bronze: lines landed per ingest date" in capsys.readouterr().out


def test_sql_cannot_delete_update_or_alter_bronze_with_or_without_allow_writes(built_lakehouse, capsys) -> None:
    """Through the real CLI on the shared lakehouse (refused statements never reach Spark, so it
    stays unchanged): each write to bronze.events_raw exits 2 with its code on stderr and no
    traceback; Bronze keeps its rows, its version and `delta.appendOnly`; a SELECT still runs."""
    lake = built_lakehouse.lake

    def bronze_state() -> tuple[int, int, str]:
        assert lake.medallion("sql", "select count(*) as n from bronze.events_raw", "--format", "json") == 0
        rows = json.loads(capsys.readouterr().out)["n"]
        assert lake.medallion("sql", "describe history bronze.events_raw", "--format", "json") == 0
        version = max(json.loads(line)["version"] for line in capsys.readouterr().out.splitlines())
        assert lake.medallion("sql", "show tblproperties bronze.events_raw", "--format", "json") == 0
        props = {r["key"]: r["value"] for r in map(json.loads, capsys.readouterr().out.splitlines())}
        return rows, version, props["delta.appendOnly"]

    capsys.readouterr()
    before = bronze_state()
    assert before[0] == built_lakehouse.landed_lines and before[2] == "true"
    for statement in ("DELETE FROM bronze.events_raw",
                      "UPDATE bronze.events_raw SET raw = 'x' WHERE true",
                      "ALTER TABLE bronze.events_raw SET TBLPROPERTIES ('delta.appendOnly'='false')"):
        for flags in ((), ("--allow-writes",)):
            assert lake.medallion("sql", statement, *flags) == 2, (statement, flags)
            err = capsys.readouterr().err
            assert "[SQL_BRONZE_APPEND_ONLY]" in err and "Traceback" not in err, (statement, flags, err)
    assert lake.medallion("sql", "DELETE FROM silver.events WHERE false") == 2  # other writes: opt-in
    assert "[SQL_READ_ONLY]" in capsys.readouterr().err
    assert bronze_state() == before


def test_sql_on_a_missing_table_is_a_clear_error(spark, tmp_path: Path, capsys) -> None:
    cfg = write_config(tmp_path)
    assert main(["--config", str(cfg), "sql", "select * from gold.nothing_here"]) == 2
    assert "[SQL_FAILED]" in capsys.readouterr().err


def test_unknown_config_key_fails_before_spark_starts_naming_key_and_file(tmp_path: Path, capsys) -> None:
    cfg = write_config(tmp_path, ingest={"max_file_per_trigger": 5})
    assert main(["--config", str(cfg), "ingest", "--once"]) == 2
    err = capsys.readouterr().err
    assert "[UNKNOWN_CONFIG_KEY]" in err and "ingest.max_file_per_trigger" in err and str(cfg) in err


@pytest.mark.slow
def test_unresolvable_delta_jars_give_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    empty_repo = tmp_path / "empty-repo"
    empty_repo.mkdir()
    settings = tmp_path / "ivysettings.xml"
    settings.write_text(f"""<ivysettings>
  <settings defaultResolver="only-empty"/>
  <resolvers><filesystem name="only-empty">
    <ivy pattern="{empty_repo}/[organisation]/[module]/[revision]/ivy.xml"/>
    <artifact pattern="{empty_repo}/[organisation]/[module]/[revision]/[artifact].[ext]"/>
  </filesystem></resolvers>
</ivysettings>""")
    cfg = write_config(tmp_path, spark={**TEST_SPARK, "conf": {
        "spark.jars.ivy": str(tmp_path / "ivy"), "spark.jars.ivySettings": str(settings)}})
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "--config", str(cfg), "sql", "select 1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "[DELTA_JARS_UNAVAILABLE]" in result.stderr
    assert "mvn dependency:get -Dartifact=io.delta:delta-spark_" in result.stderr
