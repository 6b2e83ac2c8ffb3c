"""Checks on a legal profile beyond its field types (the record model validates each field)."""

from __future__ import annotations

from shared.contracts.registry import LegalProfileRecord


def profile_problems(record: LegalProfileRecord) -> list[tuple[str, str]]:
    """(field, problem) pairs: what makes ``record`` unusable although every field is valid."""
    problems: list[tuple[str, str]] = []
    both = sorted(set(record.days_off) & set(record.working_days))
    if both:
        listed = ", ".join(d.isoformat() for d in both)
        problems.append(("working_days", f"{listed} listed both as a day off and as a working day"))
    if record.rule_codes is not None and len(set(record.rule_codes)) != len(record.rule_codes):
        problems.append(("rule_codes", "a rule code is listed twice"))
    return problems
