"""A replay mapping names or defines the law its log is judged by, and says how the log ends."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
import pytest

from services.replay.adapters.registry_client import RegistryClient
from services.replay.domain.mapping import Mapping, MappingError, parse_mapping
from tests.unit.test_replay_mapping import MAPPING

END = datetime.fromisoformat("2012-01-23T15:42:54+01:00")


def mapping(extra: str) -> Mapping:
    text = MAPPING.replace("[dossier]", f"{extra}\n\n[dossier]", 1) if "[log]" not in extra else extra
    return parse_mapping(text)


def with_log_end(end: str) -> str:
    return MAPPING.replace("[log]\n", f'[log]\nend = "{end}"\n', 1)


def test_an_inline_profile_is_the_procedures_law_and_carries_the_end_of_a_censored_log() -> None:
    m = mapping(
        '[profile]\ncode = "NL.TEST"\ntimezone = "Europe/Amsterdam"\nholiday_country = "NL"\nin_person_cutoff = "none"'
    )
    assert m.log.end == "censored"  # the default: a historical log
    assert m.judging_profile == "NL.TEST"
    record = m.inline_profile(END)
    assert record is not None
    assert (record.timezone, record.in_person_cutoff, record.observed_until, record.version) == (
        "Europe/Amsterdam",
        None,
        END,
        1,
    )


def test_a_named_or_default_profile_of_a_censored_log_is_judged_by_a_copy_live_logs_by_the_original() -> None:
    source = mapping("").log.source
    assert mapping('[profile]\ncode = "EU"').judging_profile == f"EU.{source}"
    assert mapping("").judging_profile == f"VN.{source}"
    live = parse_mapping(with_log_end("live").replace("[dossier]", '[profile]\ncode = "EU"\n\n[dossier]', 1))
    assert live.judging_profile == "EU"
    assert parse_mapping(with_log_end("live")).judging_profile is None


def test_an_invalid_inline_profile_or_end_is_refused_naming_the_field() -> None:
    with pytest.raises(MappingError, match="timezone"):
        mapping('[profile]\ncode = "X"\ntimezone = "Mars/Olympus"')
    with pytest.raises(MappingError, match=r"log\.end"):
        parse_mapping(with_log_end("forever"))


async def test_the_registry_gets_a_censored_copy_of_every_version_of_a_named_profile() -> None:
    written: dict[str, dict[str, Any]] = {}
    stored = [
        {"code": "EU", "version": v, "effective_from": f"20{10 + v}-01-01", "name": "EU law", "revision": 1}
        for v in (1, 2)
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        if request.method == "GET" and path == "/legal-profiles":
            return httpx.Response(200, json={"items": stored, "total": 2})
        if request.method == "GET":
            return httpx.Response(404, json={})
        written[path] = json.loads(request.content)
        return httpx.Response(201, json={})

    client = RegistryClient("http://registry", "t", transport=httpx.MockTransport(answer))
    m = mapping('[profile]\ncode = "EU"')
    try:
        done = await client.record_log_end(m, END)
    finally:
        await client.aclose()
    source = m.log.source
    assert sorted(written) == [f"/legal-profiles/EU.{source}/1", f"/legal-profiles/EU.{source}/2"]
    assert {w["observed_until"] for w in written.values()} == {"2012-01-23T15:42:54+01:00"}
    assert {w["effective_from"] for w in written.values()} == {"2011-01-01", "2012-01-01"}
    assert len(done) == 2
