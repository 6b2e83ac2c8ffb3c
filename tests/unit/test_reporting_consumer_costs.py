"""Reporting's cheaper consumers (issue #16): the batch's rollup delta and the 766 event filter
give what the plain definitions give."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.reporting.domain.index766_facts import Accumulator as Accumulator766
from services.reporting.domain.index766_facts import Facts766, carries_facts
from services.reporting.domain.index766_facts import add_delta as add_delta766
from services.reporting.domain.index766_facts import contributions as contributions766
from services.reporting.domain.index766_facts import delta as delta766
from services.reporting.domain.index766_facts import grouped as grouped766
from services.reporting.domain.rollup import Accumulator, Fact, add_delta, contributions, delta, grouped
from services.reporting.handlers_766 import may_carry_facts
from services.simulator.simulate import Options, encoded, generate
from shared.contracts.events import parse_dossier_event
from shared.settings import CommonSettings

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def plain_delta(old: Fact | None, new: Fact | None) -> dict[tuple[object, ...], Counter[str]]:
    """contributions(new) - contributions(old) by the definition, zero counts dropped."""
    out: dict[tuple[object, ...], Counter[str]] = {}
    for sign, fact in ((-1, old), (1, new)):
        for key, counts in contributions(fact, TZ).items():
            for name, n in counts.items():
                out.setdefault(key, Counter())[name] += sign * n
    return {k: Counter({n: v for n, v in c.items() if v}) for k, c in out.items() if any(c.values())}


def random_fact(rng: random.Random, base: datetime) -> Fact | None:
    if rng.random() < 0.1:
        return None

    def moment() -> datetime | None:
        # near local midnight half of the time: the local day differs from the UTC one
        return None if rng.random() < 0.3 else base + timedelta(hours=rng.choice([16, 17, 18, 40, 65, 90]))

    resolved = moment()
    return Fact(
        agency_code=rng.choice(["A", "B"]),
        procedure_code=rng.choice(["P", "Q"]),
        channel=rng.choice([None, 1, 2, 3]),
        accepted_at=moment(),
        due_at=moment(),
        index_due_at=moment(),
        resolved_at=resolved,
        closed_at=rng.choice([None, resolved, moment()]),
        outcome=rng.choice([None, "early", "on_time", "late", "pending_within", "withdrawn"]),
        index_outcome=rng.choice([None, "late", "on_time"]),
        processing_working_days=rng.choice([None, 0.0, 0.0004, 2.5, 7.25]),
    )


def mutate(rng: random.Random, f: Fact | None, base: datetime) -> Fact | None:
    """A next revision: the same fact with one to three fields redrawn (or a fresh one)."""
    other = random_fact(rng, base)
    if f is None or other is None or rng.random() < 0.2:
        return other
    fields = dataclasses.asdict(f)
    for name in rng.sample(sorted(fields), rng.randint(0, 3)):
        fields[name] = getattr(other, name)
    return Fact(**fields)


def test_the_delta_of_a_revision_is_the_difference_of_the_contributions() -> None:
    rng = random.Random(16)
    base = datetime(2025, 3, 9, tzinfo=UTC)
    for _ in range(3000):
        old = random_fact(rng, base)
        new = mutate(rng, old, base)
        assert delta(old, new, TZ) == plain_delta(old, new), (old, new)
        assert delta(old, old, TZ) == {}


def test_a_batch_summed_once_equals_the_sum_of_its_revisions_deltas() -> None:
    rng = random.Random(766)
    base = datetime(2025, 12, 30, tzinfo=UTC)  # a year's end in the middle of the days drawn
    acc: Accumulator = {}
    expected: dict[tuple[object, ...], Counter[str]] = {}
    for _ in range(500):
        old = random_fact(rng, base)
        new = mutate(rng, old, base)
        add_delta(acc, old, new, TZ)
        for key, counts in plain_delta(old, new).items():
            expected.setdefault(key, Counter()).update(counts)
    assert grouped(acc) == {
        k: Counter({n: v for n, v in c.items() if v}) for k, c in expected.items() if +c or -c
    }
    assert all(all(v != 0 for v in c.values()) and c for c in grouped(acc).values())


@pytest.fixture(scope="module")
def simulated_events() -> list[bytes]:
    options = Options(dossiers=150, seed=766, reference=datetime(2025, 6, 16, tzinfo=TZ))
    _, dossiers = generate(CommonSettings(), options)
    return [raw for _, _, raw, _ in encoded(dossiers, options)]


def test_no_event_with_a_766_fact_is_left_unvalidated(simulated_events: list[bytes]) -> None:
    events = [parse_dossier_event(raw) for raw in simulated_events]
    with_fact = [carries_facts(e) for e in events]
    kept = [may_carry_facts(raw) for raw in simulated_events]
    assert all(k for k, w in zip(kept, with_fact, strict=True) if w)
    assert any(with_fact) and not all(kept)  # the filter drops something, and the stream has facts
    # result returned: validated only when the citizen rated it
    returned = [
        (k, e) for k, e in zip(kept, events, strict=True) if e.event_type == "dossier.result_returned"
    ]
    assert {k for k, _ in returned} == {True, False}
    assert all(k == (e.payload.satisfaction is not None) for k, e in returned)  # type: ignore[union-attr]


def test_a_type_spelt_with_an_escape_is_still_validated(simulated_events: list[bytes]) -> None:
    plain = next(raw for raw in simulated_events if b'"dossier.accepted"' in raw)
    escaped = plain.replace(b'"dossier.accepted"', b'"dossier\\u002eaccepted"')
    assert parse_dossier_event(escaped).event_type == "dossier.accepted"
    assert may_carry_facts(plain) and may_carry_facts(escaped)
    assert not may_carry_facts(plain.replace(b"dossier.accepted", b"dossier.submitted"))


def random_facts766(rng: random.Random, base: datetime) -> Facts766 | None:
    if rng.random() < 0.1:
        return None

    def moment() -> datetime | None:
        # near local midnight half of the time: the local day differs from the UTC one
        return None if rng.random() < 0.3 else base + timedelta(hours=rng.choice([16, 17, 18, 40, 65]))

    return Facts766(
        agency_code=rng.choice(["A", "B"]),
        accepted_at=moment(),
        digitized=rng.choice([None, False, True]),
        resolved_at=moment(),
        result_digitized=rng.choice([None, False, True]),
        fee_paid_at=moment(),
        fee_online=rng.choice([None, False, True]),
        rated_at=moment(),
        satisfaction=rng.choice([None, 1, 3, 5]),
    )


def test_the_766_daily_delta_summed_once_per_batch_is_the_difference_of_the_contributions() -> None:
    """``index766_facts.add_delta`` (parts that did not change are not booked) against the definition."""
    rng = random.Random(6)
    base = datetime(2025, 12, 30, tzinfo=UTC)
    acc: Accumulator766 = {}
    expected: dict[tuple[object, ...], Counter[str]] = {}
    for _ in range(3000):
        old = random_facts766(rng, base)
        new = random_facts766(rng, base)
        if old is not None and new is not None and rng.random() < 0.7:  # a next event: a few fields redrawn
            fields = dict(old.__dict__)
            for name in rng.sample(sorted(fields), rng.randint(0, 3)):
                fields[name] = getattr(new, name)
            new = Facts766(**fields)
        one: Accumulator766 = {}
        add_delta766(one, old, new, TZ)
        assert grouped766(one) == delta766(old, new, TZ), (old, new)
        add_delta766(acc, old, new, TZ)
        for sign, f in ((-1, old), (1, new)):
            for key, counts in contributions766(f, TZ).items():
                for name, n in counts.items():
                    expected.setdefault(key, Counter())[name] += sign * n
    assert grouped766(acc) == {
        k: Counter({n: v for n, v in c.items() if v}) for k, c in expected.items() if any(c.values())
    }
