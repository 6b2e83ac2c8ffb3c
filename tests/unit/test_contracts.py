"""The ingress contract: what the public-service software may send, and what it may not."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.contracts import Channel, EventType, parse_dossier_event
from shared.contracts.events import DossierAccepted, DossierStepCompleted
from shared.contracts.schemas import SCHEMA_DIR, render_schemas

BASE = {
    "event_id": "e-1",
    "occurred_at": "2025-03-10T09:15:00+07:00",
    "source": "motcua.cantho",
    "dossier_code": "000.00.13.H13-250310-0001",
    "agency_code": "000.00.13.H13",
    "procedure_code": "1.001612",
}


def event(**over: object) -> bytes:
    return json.dumps({**BASE, **over}).encode()


def test_accepted_event_parses_to_its_own_type() -> None:
    e = parse_dossier_event(
        event(
            event_type="dossier.accepted",
            payload={"channel": 2, "appointed_return_at": "2025-03-14T16:00:00+07:00"},
        )
    )
    assert isinstance(e, DossierAccepted)
    assert e.payload.channel is Channel.ONLINE
    assert e.occurred_at.utcoffset() is not None and e.occurred_at.utcoffset().total_seconds() == 7 * 3600


def test_step_row_keeps_units() -> None:
    e = parse_dossier_event(
        event(
            event_type="dossier.step_completed",
            payload={"step_code": "B2", "from_unit": "VP", "to_unit": "PTNMT"},
        )
    )
    assert isinstance(e, DossierStepCompleted)
    assert (e.payload.step_code, e.payload.from_unit, e.payload.to_unit) == ("B2", "VP", "PTNMT")


def test_datetime_without_offset_is_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        parse_dossier_event(
            event(event_type="dossier.resolved", occurred_at="2025-03-10T09:15:00", payload={})
        )
    assert any(e["loc"][-1] == "occurred_at" and "timezone" in e["msg"] for e in err.value.errors())


def test_unknown_event_type_is_rejected() -> None:
    with pytest.raises(ValidationError) as err:
        parse_dossier_event(event(event_type="dossier.teleported", payload={}))
    assert err.value.errors()[0]["type"] == "union_tag_invalid"


@pytest.mark.parametrize(
    ("field", "value"),
    [("dossier_code", "not a code"), ("channel", 9), ("event_id", ""), ("agency_code", "x y")],
)
def test_bad_fields_are_rejected(field: str, value: object) -> None:
    if field == "channel":
        raw = event(event_type="dossier.accepted", payload={"channel": value})
    else:
        raw = event(event_type="dossier.resolved", payload={}, **{field: value})
    with pytest.raises(ValidationError) as err:
        parse_dossier_event(raw)
    assert field in {str(p) for e in err.value.errors() for p in e["loc"]}


def test_unexpected_payload_field_is_rejected() -> None:
    with pytest.raises(ValidationError):
        parse_dossier_event(event(event_type="dossier.accepted", payload={"channel": 1, "chanel": 2}))


def test_every_event_type_has_a_model() -> None:
    schema = json.loads(render_schemas()["tthc.dossier-events.v1.json"])
    mapped = set(schema["discriminator"]["mapping"])
    assert mapped == {t.value for t in EventType}


def test_committed_schemas_match_the_models() -> None:
    for name, text in render_schemas().items():
        path = SCHEMA_DIR / name
        assert path.exists(), f"{name} missing: run `tthc schemas`"
        assert path.read_text(encoding="utf-8") == text, f"{name} is stale: run `tthc schemas` and commit"


def test_nul_character_is_refused_but_an_escaped_backslash_u0000_text_is_not() -> None:
    with pytest.raises(ValidationError) as err:
        parse_dossier_event(
            event(event_type="dossier.not_accepted", payload={"reason": "thiếu\u0000giấy tờ"})
        )
    assert "NUL" in str(err.value)
    # the six characters \u0000 written as text (an escaped backslash) are a normal string
    e = parse_dossier_event(
        event(event_type="dossier.not_accepted", payload={"reason": "mã \\u0000 trong văn bản"})
    )
    assert e.payload.reason == "mã \\u0000 trong văn bản"  # type: ignore[union-attr]
