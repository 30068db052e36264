"""The endpoint's accounts, from the environment (pure: no Spark).

`MEDALLION_SERVE_USERS` lists `user:role` pairs (roles: analyst, pipeline); each user's password is
in `MEDALLION_SERVE_PASSWORD_<USER>` (upper-cased, other characters as `_`). Passwords are hashed
(PBKDF2-HMAC-SHA256, random salt) and removed from the environment before Spark starts, so the
JVM, its logs and its child processes never hold them.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from typing import MutableMapping

from pipelines.core.errors import PipelineError

USERS_VAR = "MEDALLION_SERVE_USERS"
PASSWORD_PREFIX = "MEDALLION_SERVE_PASSWORD_"
ROLES = ("analyst", "pipeline")
ITERATIONS = 100_000


@dataclass(frozen=True)
class Account:
    user: str
    role: str
    salt: bytes
    hash: bytes
    iterations: int = ITERATIONS


def password_var(user: str) -> str:
    return PASSWORD_PREFIX + re.sub(r"[^A-Z0-9]", "_", user.upper())


def hash_password(password: str, salt: bytes, iterations: int = ITERATIONS) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, 32)


def load_accounts(environ: MutableMapping[str, str] | None = None, *, scrub: bool = True) -> list[Account]:
    """The configured accounts (empty: no authentication). With `scrub`, the password variables
    are removed from `environ` once hashed."""
    env = os.environ if environ is None else environ
    spec = env.get(USERS_VAR, "").strip()
    if not spec:
        return []
    accounts: list[Account] = []
    seen: set[str] = set()
    for item in (part.strip() for part in spec.split(",")):
        user, sep, role = item.partition(":")
        user, role = user.strip(), role.strip().lower()
        if not sep or not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", user) or role not in ROLES or user in seen:
            raise PipelineError("SERVE_BAD_USERS", {
                "variable": USERS_VAR, "detail": f"entry {item!r} is not user:role (roles: {', '.join(ROLES)}), "
                                                 "or repeats a user"})
        seen.add(user)
        var = password_var(user)
        password = env.get(var, "")
        if len(password) < 8:
            raise PipelineError("SERVE_PASSWORD_MISSING", {"variable": var, "user": user})
        salt = secrets.token_bytes(16)
        accounts.append(Account(user, role, salt, hash_password(password, salt)))
    if scrub:
        for account in accounts:
            env.pop(password_var(account.user), None)
    return accounts
