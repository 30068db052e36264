"""`medallion serve`'s pure halves: accounts from the environment and the guard's policy from the
registry (the JVM half is exercised for real in tests/integration/test_serving.py)."""
from __future__ import annotations

import hashlib

import pytest

from pipelines.core.config import Config
from pipelines.core.errors import PipelineError
from pipelines.core.registry import PersonalData, all_tables
from pipelines.serving.accounts import USERS_VAR, load_accounts, password_var
from pipelines.serving.policy import build_policy
from pipelines.serving.server import check_bind, is_loopback


def test_accounts_are_hashed_and_their_passwords_leave_the_environment():
    env = {USERS_VAR: "alice:analyst, dbt.ci:pipeline", "MEDALLION_SERVE_PASSWORD_ALICE": "alice-pw-123",
           "MEDALLION_SERVE_PASSWORD_DBT_CI": "dbt-pw-4567", "OTHER": "kept"}
    accounts = load_accounts(env)
    assert [(a.user, a.role) for a in accounts] == [("alice", "analyst"), ("dbt.ci", "pipeline")]
    alice = accounts[0]
    assert alice.hash == hashlib.pbkdf2_hmac("sha256", b"alice-pw-123", alice.salt, alice.iterations, 32)
    assert env == {USERS_VAR: "alice:analyst, dbt.ci:pipeline", "OTHER": "kept"}
    assert load_accounts({}) == []


@pytest.mark.parametrize("users, code", [
    ("alice", "SERVE_BAD_USERS"), ("alice:admin", "SERVE_BAD_USERS"), ("alice:analyst,alice:pipeline", "SERVE_BAD_USERS"),
    ("bob:analyst", "SERVE_PASSWORD_MISSING"),
])
def test_bad_accounts_fail_naming_the_variable(users, code):
    with pytest.raises(PipelineError) as caught:
        load_accounts({USERS_VAR: users, password_var("alice"): "long-enough"})
    assert caught.value.code == code
    assert (USERS_VAR if code == "SERVE_BAD_USERS" else password_var("bob")) in str(caught.value)


def test_a_short_password_is_refused():
    with pytest.raises(PipelineError) as caught:
        load_accounts({USERS_VAR: "alice:analyst", password_var("alice"): "short"})
    assert caught.value.code == "SERVE_PASSWORD_MISSING"


def test_the_policy_hides_bronze_quarantine_and_logs_and_lists_every_direct_column():
    policy = build_policy(Config(), [], local_role="unrestricted")
    visible = set(policy["visible_tables"])
    assert {"silver.events", "audit.batch_ledger", "audit.gold_builds"} <= visible
    assert not visible & {"bronze.events_raw", "silver.events_quarantine", "audit.sql_access_log",
                          "audit.erasure_log"}
    assert "gold" in policy["visible_schemas"] and "bronze" not in policy["visible_schemas"]
    assert policy["bronze_schemas"] == ["bronze"]
    direct = {t.qualified_name: list(t.personal_columns(PersonalData.DIRECT)) for t in all_tables()
              if t.personal_columns(PersonalData.DIRECT)}
    assert policy["direct_columns"] == direct and "properties" in direct["silver.events"]
    assert policy["locked_confs"] == {"spark.sql.runSQLOnFiles": "false"}
    assert policy["authenticated"] is False and policy["users"] == {}


def test_only_loopback_may_go_without_authentication():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    with pytest.raises(PipelineError) as caught:
        check_bind("0.0.0.0", 10000, [])
    assert caught.value.code == "SERVE_INSECURE_BIND"
