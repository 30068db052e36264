"""Which micro-batch a stream's sink must check for rows of an earlier attempt."""
from __future__ import annotations

from pipelines.core.config import config_from_dict
from pipelines.core.replay import ReplayCheck
from pipelines.core.streams import INTERPRETED, micro_batch_conf


def test_only_the_first_batch_after_a_start_or_a_gap_is_checked():
    check = ReplayCheck()
    assert check.needed(7)  # first batch this process runs: may be a replay of a crashed attempt
    check.committed(7)
    assert not check.needed(8)  # follows a batch this process watched commit
    check.committed(8)
    assert check.needed(10)  # a gap: this process did not see 9 commit
    assert check.needed(8)  # the same id again (never from Spark, but not trusted either)


def test_continuous_micro_batches_run_interpreted_unless_configured(tmp_path):
    config = config_from_dict({}, base_dir=tmp_path, source=str(tmp_path / "medallion.yaml"))
    assert micro_batch_conf(config, continuous=True) == INTERPRETED
    assert micro_batch_conf(config, continuous=False) == {}
    compiled = config_from_dict({"spark": {"continuous_codegen": True}}, base_dir=tmp_path,
                                source=str(tmp_path / "medallion.yaml"))
    assert micro_batch_conf(compiled, continuous=True) == {}
