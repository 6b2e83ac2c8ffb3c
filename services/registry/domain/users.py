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
    """How many wrong passwords in a row lock a user at one client address, for how long; how many
    from one address (any names) within a window throttle that address; the shortest password."""

    max_failures: int
    lock_minutes: int
    min_password_length: int
    address_max_failures: int = 30
    address_window_minutes: int = 15


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


def after_failure(
    failed_logins: int, last_failure: datetime | None, now: datetime, policy: LoginPolicy
) -> AfterFailure:
    """One more wrong password for a user from one address: the ``max_failures``-th in a row locks
    the user *at that address* for ``lock_minutes`` (and the count starts again, so the next lock
    needs as many failures again). Failures older than ``lock_minutes`` are forgotten."""
    if last_failure is None or now - last_failure >= timedelta(minutes=policy.lock_minutes):
        failed_logins = 0
    failed = failed_logins + 1
    if failed >= policy.max_failures:
        return AfterFailure(0, now + timedelta(minutes=policy.lock_minutes))
    return AfterFailure(failed, None)


@dataclass(frozen=True)
class AddressFailures:
    """Wrong passwords from one client address in the current window, and whether it is throttled."""

    window_start: datetime
    failed: int
    blocked_until: datetime | None


def after_address_failure(
    current: AddressFailures | None, now: datetime, policy: LoginPolicy
) -> AddressFailures:
    """One more wrong password from an address, whatever the name: the ``address_max_failures``-th
    within ``address_window_minutes`` refuses every login from it for ``address_window_minutes``
    (so at most that many guesses per window and address, spread over any number of names)."""
    window = timedelta(minutes=policy.address_window_minutes)
    if current is None or now - current.window_start >= window:
        current = AddressFailures(now, 0, None)
    failed = current.failed + 1
    if failed >= policy.address_max_failures:
        return AddressFailures(now, 0, now + window)
    return AddressFailures(current.window_start, failed, current.blocked_until)
