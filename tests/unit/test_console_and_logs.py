"""A calm console and a complete log file (pipelines/core/logs.py), and the run's closing summary
built from plain facts (pipelines/run_summary.py). No Spark."""
from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import pytest

from pipelines.core.config import config_from_dict
from pipelines.core.errors import PipelineError
from pipelines.core.logs import log_file, logging_to_file, redact
from pipelines.run_summary import (IngestFacts, RefineFacts, build_facts, closing_line, reasons_line,
                                   summary_rows)

EMAIL = "jane.doe+ads@example.com"
KEY = "known-test-hmac-key-1234"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MEDALLION_PII_KEY", KEY)
    return config_from_dict({"paths": {"root": str(tmp_path / "lake")}})


def _emit_everything() -> None:
    logging.getLogger("great_expectations.registry").info("third-party chatter")
    logging.getLogger("bronze.events_raw").info("our info")
    logging.getLogger("silver.refine").warning("our warning about %s with key %s", EMAIL, KEY)
    logging.getLogger("pipelines.orchestration").debug("our debug")
    warnings.warn("a library's warning", UserWarning)


@pytest.mark.parametrize(("verbosity", "console_has", "console_lacks"), [
    (0, ["warning: our warning"], ["our info", "third-party", "our debug"]),
    (1, ["our info", "our warning"], ["third-party", "our debug"]),
    (-1, [], ["our warning", "our info", "third-party"]),
])
def test_console_shows_only_the_products_messages_at_the_chosen_level(config, verbosity, console_has,
                                                                        console_lacks) -> None:
    console = io.StringIO()
    with logging_to_file(config, verbosity, console=console):
        _emit_everything()
    shown = console.getvalue()
    assert all(text in shown for text in console_has), shown
    assert not any(text in shown for text in console_lacks), shown


def test_the_log_file_has_everything_including_third_party_output_and_warnings(config) -> None:
    with logging_to_file(config, 1, console=io.StringIO()):
        _emit_everything()
    text = log_file(config).read_text()
    for expected in ("third-party chatter", "our info", "our warning", "our debug", "a library's warning"):
        assert expected in text
    assert log_file(config) == Path(config.paths.root) / "logs" / "medallion.log"


def test_emails_and_secret_values_never_reach_the_console_or_the_log_file(config) -> None:
    console = io.StringIO()
    with logging_to_file(config, 2, console=console):
        _emit_everything()
        try:
            raise ValueError(f"bad row for {EMAIL}")
        except ValueError:
            logging.getLogger("medallion").exception("failed with key %s", KEY)
    for sink in (console.getvalue(), log_file(config).read_text()):
        assert EMAIL not in sink and KEY not in sink
        assert "<email>" in sink and "<redacted>" in sink


def test_leaving_the_command_restores_logging_as_it_was(config) -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    with logging_to_file(config, 1, console=io.StringIO()):
        assert len(root.handlers) == len(before[0]) + 2
    assert (list(root.handlers), root.level) == before


def test_an_unwritable_log_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    config = config_from_dict({"paths": {"root": str(tmp_path / "file" / "lake")}})
    with pytest.raises(PipelineError) as caught:
        with logging_to_file(config, 0, console=io.StringIO()):
            pass
    assert caught.value.code == "LOG_UNWRITABLE"


def test_redact_masks_emails_secrets_and_colour_codes() -> None:
    assert redact(f"\x1b[32mOK\x1b[0m {EMAIL} {KEY}", (KEY,)) == "OK <email> <redacted>"


def test_summary_has_one_row_per_stage_with_silver_quarantine_duplicates_models_and_tests() -> None:
    refine = RefineFacts(rows_read=20_000, rows_inserted=19_567, rows_quarantined=367, rows_duplicate=66,
                         batches=1, quarantined_by_reason={"malformed_json": 34, "unknown_currency": 40})
    build = build_facts({("model", "success"): 14, ("test", "pass"): 33, ("test", "fail"): 1,
                         ("seed", "success"): 3}, success=False, seconds=12.0)
    rows = summary_rows(IngestFacts(rows=20_000, batches=1, files=4), refine, build)
    assert rows == [
        ("ingest", "20,000", "20,000 Bronze", "", "", ""),
        ("refine", "20,000", "19,567 Silver", "367", "66", ""),
        ("build", "", "14/14 models", "", "", "33/34 passed"),
    ]
    assert reasons_line(refine) == "quarantined by reason: unknown_currency 40, malformed_json 34"
    assert closing_line("r1", 95.25, IngestFacts(20_000, 1, 4), refine, build) == (
        "run r1 finished in 95.2s (ingest: 4 files in 1 batch; refine: 1 batch; dbt build FAILED in 12.0s)")


def test_summary_of_a_single_stage_run_has_only_that_stage() -> None:
    assert summary_rows(ingest=IngestFacts(rows=5, batches=2)) == [("ingest", "5", "5 Bronze", "", "", "")]
    assert reasons_line(None) == "" and reasons_line(RefineFacts(1, 1, 0, 0, 1)) == ""


def test_dbt_keeps_no_log_of_its_own_inside_a_command_and_the_callers_choice_wins(config, monkeypatch) -> None:
    from gold.dbt_build import console_args

    for env in ("DBT_LOG_LEVEL", "DBT_LOG_LEVEL_FILE", "DBT_USE_COLORS"):
        monkeypatch.delenv(env, raising=False)
    assert "--log-level-file" not in console_args([])  # no medallion log file: dbt keeps its own
    with logging_to_file(config, 0, console=io.StringIO()):
        args = console_args([])
        assert args[args.index("--log-level-file") + 1] == "none"
        assert args[args.index("--log-level") + 1] == "none"
        assert "--log-level-file" not in console_args(["--log-level-file", "debug"])
        monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "info")
        assert "--log-level-file" not in console_args([])
    with logging_to_file(config, 2, console=io.StringIO()):  # -vv: dbt's console output shown
        monkeypatch.delenv("DBT_LOG_LEVEL_FILE")
        assert "--log-level" not in console_args([]) and "--log-level-file" in console_args([])
