"""Seeded hostile items for the ingress, each with the answer it must get.

Every item is built from a valid event by one mutation whose expected refusal is written down
here, by hand, from the contract (DESIGN §3, docs/ingress.md) — not computed by the code under
test. ``Hostile.field`` is the field the refusal must name; ``code`` the per-item HTTP code
(422 invalid, 403 outside the key's scope, 409 conflicting duplicate).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PROCEDURE = "1.004845"

Event = dict[str, Any]


@dataclass(frozen=True)
class Hostile:
    kind: str  # the generator family, for the figures
    item: Any  # what is sent (any JSON value)
    code: int  # 422, 403 or 409
    field: str  # the field the answer must name
    on_kafka: bool = True  # whether the same bytes, raw on the topic, must be dead-lettered


def valid_events(agency: str, n_dossiers: int, start: datetime, prefix: str) -> list[Event]:
    """Per dossier: submitted, accepted, a step, resolved, result returned (5 events, all types' shape)."""
    out: list[Event] = []
    for i in range(n_dossiers):
        at = start + timedelta(minutes=11 * i)
        code = f"{agency}-{at:%y%m%d}-{i:06d}"
        base = {
            "source": "hostile-suite",
            "dossier_code": code,
            "agency_code": agency,
            "procedure_code": PROCEDURE,
        }
        out += [
            {
                **base,
                "event_id": f"{prefix}{i}-n",
                "event_type": "dossier.submitted",
                "occurred_at": (at - timedelta(minutes=5)).isoformat(),
                "payload": {"channel": 2},
            },
            {
                **base,
                "event_id": f"{prefix}{i}-a",
                "event_type": "dossier.accepted",
                "occurred_at": at.isoformat(),
                "payload": {"channel": 1 + i % 3},
            },
            {
                **base,
                "event_id": f"{prefix}{i}-s",
                "event_type": "dossier.step_completed",
                "occurred_at": (at + timedelta(hours=2)).isoformat(),
                # odd but valid Unicode: Vietnamese, zero-width joiner, right-to-left mark, emoji
                "payload": {"step_code": "B1", "from_unit": "MC", "handler": "Nguyễn Văn A\u200d\u200f 🙂"},
            },
            {
                **base,
                "event_id": f"{prefix}{i}-r",
                "event_type": "dossier.resolved",
                "occurred_at": (at + timedelta(days=1)).isoformat(),
                "payload": {},
            },
            {
                **base,
                "event_id": f"{prefix}{i}-t",
                "event_type": "dossier.result_returned",
                "occurred_at": (at + timedelta(days=1, hours=1)).isoformat(),
                "payload": {},
            },
        ]
    return out


def _with(event: Event, **changes: Any) -> Event:
    return {**event, **changes}


def _payload(event: Event, **changes: Any) -> Event:
    return {**event, "payload": {**event["payload"], **changes}}


def _without(event: Event, key: str) -> Event:
    return {k: v for k, v in event.items() if k != key}


def _accepted(base: Event) -> Event:
    return _with(base, event_type="dossier.accepted", payload={"channel": 1})


def _fee(base: Event) -> Event:
    return _with(base, event_type="dossier.fee_requested", payload={"amount": "50000", "online": False})


def _apology(base: Event) -> Event:
    return _with(
        base,
        event_type="dossier.apology_issued",
        payload={"new_appointment_at": "2025-05-05T08:00:00+07:00", "reason": "quá tải"},
    )


Mutation = Callable[[Event, random.Random], Hostile]


def _missing(event: Event, key: str) -> Hostile:
    return Hostile("missing", _without(event, key), 422, key)


def _mutations(foreign: str, today: date) -> list[tuple[str, Mutation]]:
    too_late = (today + timedelta(days=5 * 366 + 2)).isoformat() + "T08:00:00+07:00"
    m: list[tuple[str, Mutation]] = [
        # wrong types: no coercion of numbers to dates, booleans to numbers, numbers to texts
        (
            "wrong_type",
            lambda e, r: Hostile("wrong_type", _with(e, occurred_at=r.randint(0, 2**40)), 422, "occurred_at"),
        ),
        (
            "wrong_type",
            lambda e, r: Hostile(
                "wrong_type", _payload(_accepted(e), channel=r.choice([True, False])), 422, "payload.channel"
            ),
        ),
        (
            "wrong_type",
            lambda e, r: Hostile("wrong_type", _payload(_accepted(e), channel="1"), 422, "payload.channel"),
        ),
        (
            "wrong_type",
            lambda e, r: Hostile(
                "wrong_type",
                _payload(_accepted(e), channel=r.choice([0, 4, -1, 1.5])),
                422,
                "payload.channel",
            ),
        ),
        (
            "wrong_type",
            lambda e, r: Hostile("wrong_type", _with(e, event_id=r.randint(1, 10**9)), 422, "event_id"),
        ),
        (
            "wrong_type",
            lambda e, r: Hostile(
                "wrong_type", _with(e, dossier_code=r.randint(1, 10**9)), 422, "dossier_code"
            ),
        ),
        ("wrong_type", lambda e, r: Hostile("wrong_type", _with(e, source=None), 422, "source")),
        (
            "wrong_type",
            lambda e, r: Hostile("wrong_type", _payload(_fee(e), amount=True), 422, "payload.amount"),
        ),
        (
            "wrong_type",
            lambda e, r: Hostile("wrong_type", _payload(_fee(e), online=1), 422, "payload.online"),
        ),
        (
            "wrong_type",
            lambda e, r: Hostile("wrong_type", _payload(_fee(e), amount="-5"), 422, "payload.amount"),
        ),
        ("wrong_type", lambda e, r: Hostile("wrong_type", _with(e, payload=[1, 2]), 422, "payload")),
        (
            "wrong_type",
            lambda e, r: Hostile("wrong_type", r.choice([42, "event", None, True, [e]]), 422, "(event)"),
        ),
        (
            "missing",
            lambda e, r: _missing(
                e,
                r.choice(
                    ["event_id", "occurred_at", "source", "dossier_code", "agency_code", "procedure_code"]
                ),
            ),
        ),
        ("extra", lambda e, r: Hostile("extra", _with(e, chanel=2), 422, "chanel")),
        # huge strings: over the field's bound, or over the event's byte bound (checked before decoding)
        ("huge", lambda e, r: Hostile("huge", _with(e, source="x" * r.randint(101, 5000)), 422, "source")),
        (
            "huge",
            lambda e, r: Hostile("huge", _with(e, event_id="e" * r.randint(129, 3000)), 422, "event_id"),
        ),
        (
            "huge",
            lambda e, r: Hostile(
                "huge",
                _with(e, event_type="dossier.stopped", payload={"reason": "lý do " * r.randint(400, 2000)}),
                422,
                "payload.reason",
            ),
        ),
        (
            "huge",
            lambda e, r: Hostile(
                "huge",
                _with(e, event_type="dossier.stopped", payload={"reason": "x" * 70_000}),
                422,
                "(message)",
            ),
        ),
        # NUL and odd Unicode
        ("nul", lambda e, r: Hostile("nul", _with(e, source="motcua\x00cantho"), 422, "source")),
        (
            "nul",
            lambda e, r: Hostile(
                "nul",
                _with(e, event_type="dossier.stopped", payload={"reason": "a\x00b"}),
                422,
                "payload.reason",
            ),
        ),
        (
            "unicode",
            lambda e, r: Hostile(
                "unicode",
                _with(e, dossier_code=e["dossier_code"].replace("-", "\u2011", 1)),
                422,
                "dossier_code",
            ),
        ),
        (
            "unicode",
            lambda e, r: Hostile(
                "unicode", _with(e, agency_code=e["agency_code"] + "\u200b"), 422, "agency_code"
            ),
        ),
        (
            "unicode",
            lambda e, r: Hostile("unicode", _with(e, procedure_code="١.٠٠٤٨٤٥"), 422, "procedure_code"),
        ),
        ("unicode", lambda e, r: Hostile("unicode", _with(e, source="   "), 422, "source")),
        # extreme dates, outside the window [2000-01-01, today + 5 years] or malformed
        (
            "date",
            lambda e, r: Hostile(
                "date",
                _with(
                    e,
                    occurred_at=r.choice(
                        [
                            "0001-01-01T00:00:00+07:00",
                            "9999-12-31T23:59:59+07:00",
                            "3025-03-10T08:00:00+07:00",
                            "1999-12-31T23:00:00+07:00",
                            too_late,
                        ]
                    ),
                ),
                422,
                "occurred_at",
            ),
        ),
        (
            "date",
            lambda e, r: Hostile(
                "date",
                _with(
                    e,
                    occurred_at=r.choice(
                        [
                            "2025-03-10T08:00:00",
                            "2025-02-30T08:00:00+07:00",
                            "10/03/2025",
                            "",
                            "2025-03-10T25:00:00+07:00",
                        ]
                    ),
                ),
                422,
                "occurred_at",
            ),
        ),
        (
            "date",
            lambda e, r: Hostile(
                "date",
                _payload(_accepted(e), appointed_return_at="9999-12-31T00:00:00+07:00"),
                422,
                "payload.appointed_return_at",
            ),
        ),
        (
            "date",
            lambda e, r: Hostile(
                "date",
                _payload(_apology(e), new_appointment_at="0001-01-01T00:00:00+00:00"),
                422,
                "payload.new_appointment_at",
            ),
        ),
        # unknown types
        (
            "unknown_type",
            lambda e, r: Hostile(
                "unknown_type",
                _with(e, event_type=r.choice(["dossier.teleported", "DOSSIER.ACCEPTED", "", 5, None])),
                422,
                "event_type",
            ),
        ),
        ("unknown_type", lambda e, r: Hostile("unknown_type", _without(e, "event_type"), 422, "event_type")),
        # outside the key's scope (the bytes are valid: on Kafka they would be taken)
        (
            "cross_agency",
            lambda e, r: Hostile(
                "cross_agency", _with(e, agency_code=foreign), 403, "agency_code", on_kafka=False
            ),
        ),
        (
            "cross_agency",
            lambda e, r: Hostile(
                "cross_agency",
                _with(e, dossier_code=e["dossier_code"].replace(e["agency_code"], foreign)),
                403,
                "dossier_code",
                on_kafka=False,
            ),
        ),
    ]
    return m


def hostile_items(
    valid: list[Event], n: int, seed: int, foreign: str, agencies: tuple[str, str]
) -> Iterator[tuple[int, Hostile]]:
    """``n`` hostile items, each with the position in ``valid`` after which it is to be sent.

    Besides the mutations: conflicting duplicates (an id already sent with other content → 409)
    and agency changes (an event moving an already-seen dossier to the other of ``agencies``, both
    of which the key may write for → 403) are placed after the valid event they refer to.
    """
    rng = random.Random(seed)
    mutations = _mutations(foreign, date.today())
    for _ in range(n):
        pos = rng.randrange(len(valid))
        base = valid[pos]
        roll = rng.random()
        if roll < 0.06:
            changed = _with(base, source=base["source"] + "-changed")
            yield pos, Hostile("conflict", changed, 409, "event_id", on_kafka=False)
        elif roll < 0.10:
            other = agencies[1] if base["agency_code"] == agencies[0] else agencies[0]
            moved = _with(base, event_id=f"{base['event_id']}-moved{rng.randrange(10**9)}", agency_code=other)
            yield pos, Hostile("agency_change", moved, 403, "agency_code", on_kafka=False)
        else:
            _, mutate = rng.choice(mutations)
            fresh = _with(base, event_id=f"h{rng.randrange(10**12)}")
            hostile = mutate(fresh, rng)
            yield pos, hostile


def deep(levels: int) -> bytes:
    """A JSON array of one event whose payload nests ``levels`` arrays deep."""
    inner = b"[" * levels + b"]" * levels
    return (
        b'[{"event_id":"deep","event_type":"dossier.stopped","occurred_at":"2025-03-10T08:00:00+07:00",'
        b'"source":"x","dossier_code":"000.00.13.H13-250310-0001","agency_code":"000.00.13.H13",'
        b'"procedure_code":"1.004845","payload":{"reason":' + inner + b"}}]"
    )


#: Whole bodies that are refused as a request (422/413), never as a 500.
BAD_BODIES: list[tuple[str, bytes]] = [
    ("bad_json", b"[{oops"),
    ("bad_json", b""),
    ("bad_json", b"\xff\xfe\x00["),
    ("bad_json", b'[{"event_id": "\\ud800"}]'),
    ("bad_json", b"[" + b"1," * 1000 + b"]"),
    ("bad_json", b'{"event_id": "x"}'),
    ("bad_json", b"null"),
    ("bad_json", b'"[]"'),
    ("bad_json", b"[1e999999]"),
    ("bad_json", b"[NaN]"),
    ("deep", deep(20)),
    ("deep", deep(250)),
    ("deep", deep(254)),
    ("deep", deep(600)),
    ("deep", deep(1100)),
    ("deep", b"[" * 100_000),
    ("deep", b'[{"a":' * 5_000 + b"1" + b"}" * 5_000 + b"]"),
]
