"""Dashboard users (người dùng): names, password rules and the lock-out after repeated failures.

Pure rules; the hashing (argon2id, ``argon2-cffi``) and the table live in the adapters. The
numbers (failures allowed, minutes locked, shortest password) are settings, passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,99}$")


@dataclass(frozen=True)
class LoginPolicy:
    """How many wrong passwords in a row lock a user, for how long; the shortest password."""

    max_failures: int
    lock_minutes: int
    min_password_length: int


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a user name (None when it can)."""
    if not NAME.match(name):
        return (
            "a user name has 2 to 100 characters: lower-case letters, digits and . _ @ -, "
            "starting with a letter or digit (e.g. nguyen.van.a)"
        )
    return None


def password_problem(password: str, policy: LoginPolicy) -> str | None:
    """Why ``password`` is refused (None when it is accepted)."""
    if len(password) < policy.min_password_length:
        return f"a password needs at least {policy.min_password_length} characters"
    if len(password) > 1000:
        return "a password has at most 1000 characters"
    if password != password.strip():
        return "a password may not start or end with a space"
    return None


def locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and now < locked_until


@dataclass(frozen=True)
class AfterFailure:
    failed_logins: int
    locked_until: datetime | None


def after_failure(failed_logins: int, now: datetime, policy: LoginPolicy) -> AfterFailure:
    """One more wrong password: the ``max_failures``-th in a row locks the user for ``lock_minutes``
    (and the count starts again, so the next lock needs as many failures again)."""
    failed = failed_logins + 1
    if failed >= policy.max_failures:
        return AfterFailure(0, now + timedelta(minutes=policy.lock_minutes))
    return AfterFailure(failed, None)
