"""Reports as submitted (báo cáo đã gửi): what a snapshot holds and how it compares to the live report.

A snapshot is the report's JSON document at the moment it was frozen; its hash is the SHA-256
of the canonical JSON (keys sorted, no spaces, UTF-8), so anyone can check that a stored
report is the one that was sent. The difference between the live report and the submitted one
is taken key by key over the numbers of ``totals`` (the late events' effect); for the Decision 766
scored index (``index766``, rules version 2022) over its ``totals.measures``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

Report = Literal["form06", "qms-status", "indicators", "index766"]
REPORTS: tuple[Report, ...] = ("form06", "qms-status", "indicators", "index766")
#: reports built from dossier events: a late event changes them, so they carry adjustments
EVENT_REPORTS: tuple[Report, ...] = ("form06", "indicators", "index766")
PROVINCE = ""  # the agency key of a snapshot of every agency


def canonical(content: Any) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(content: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``content``."""
    return hashlib.sha256(canonical(content)).hexdigest()


def figures(report: Report, totals: Mapping[str, Any]) -> Mapping[str, Any]:
    """The counts of a report's ``totals`` that :func:`difference` compares: the Decision 766
    index keeps its counts under ``measures`` (its points are recomputed from them)."""
    if report == "index766":
        measures: Mapping[str, Any] = totals.get("measures", {})
        return measures
    return totals


def difference(live: Mapping[str, Any], submitted: Mapping[str, Any]) -> dict[str, Any]:
    """live − submitted for every integer figure that differs (rates are recomputed, not subtracted)."""
    out: dict[str, Any] = {}
    for key in sorted(set(live) | set(submitted)):
        a, b = live.get(key), submitted.get(key)
        if isinstance(a, bool) or isinstance(b, bool):
            continue
        if isinstance(a, int | None) and isinstance(b, int | None) and (a or 0) != (b or 0):
            out[key] = (a or 0) - (b or 0)
    return out
