"""AT_RISK (dự báo trễ hạn) from observed durations: exact moments on a hand-made model.

Model: from acceptance, 20 resolved dossiers took 1, 2, …, 20 days; the 0.8 quantile of the
durations longer than the elapsed time is the estimate. Suffix quantiles, by hand: of all 20 →
the 17th value (17 d); of those > 5 d (6…20, 15 values) → index 12 → 18 d; of those > 9 d (10…20,
11 values) → index 8 → 18 d; of those > 10 d (11…20) → index 8 → 19 d.
"""

from __future__ import annotations

from datetime import timedelta

from services.processing.domain.engine import evaluate
from services.processing.domain.forecast import ACCEPTED, RemainingTimes, forecast
from services.processing.domain.history import fold
from tests.unit.test_engine_fixtures import CAL, PROCEDURE, RULES, Dossier, at, terms

DAY = 86_400.0
MODEL = RemainingTimes(
    {
        (PROCEDURE, ACCEPTED): [d * DAY for d in range(1, 21)],
        (PROCEDURE, "B1"): [h * 3600.0 for h in range(1, 21)],  # after B1: 1 … 20 hours
    },
    quantile=0.8,
    min_samples=20,
)
ACC = at(2025, 3, 3, 9)
DUE = ACC + timedelta(days=18, hours=12)


def test_an_open_dossier_is_at_risk_once_its_estimate_passes_the_due_moment() -> None:
    d = Dossier()
    d.accepted(ACC)
    h = fold(d.events)
    early = forecast(h, DUE, MODEL, ACC + timedelta(days=5))
    assert early.at_risk_since is None
    assert early.estimate == ACC + timedelta(days=18)  # open after 5 d: 0.8 quantile of 6…20 d
    assert early.wake_at == ACC + timedelta(days=10)  # from then on the estimate is 19 d > 18.5 d
    late = forecast(h, DUE, MODEL, ACC + timedelta(days=12))
    assert late.at_risk_since == ACC + timedelta(days=10)
    assert late.wake_at is None


def test_progress_changes_the_estimate_and_a_step_beyond_experience_is_a_risk() -> None:
    d = Dossier()
    d.accepted(ACC)
    d.step(ACC + timedelta(days=8), "B1", "BPMC")
    f = forecast(fold(d.events), DUE, MODEL, ACC + timedelta(days=8, hours=2))
    # After B1 the model expects 0.8 quantile of 3…20 h: index 14 of 18 → 17 h.
    assert (f.at_risk_since, f.estimate) == (None, ACC + timedelta(days=8, hours=17))
    # Open 20 h after B1, longer than any dossier seen: at risk then.
    assert f.wake_at == ACC + timedelta(days=8, hours=20)
    later = forecast(fold(d.events), DUE, MODEL, ACC + timedelta(days=9))
    assert later.at_risk_since == ACC + timedelta(days=8, hours=20)


def test_a_resolved_dossier_keeps_its_first_warning_and_has_no_estimate() -> None:
    d = Dossier()
    d.accepted(ACC)
    d.resolved(ACC + timedelta(days=11))
    f = forecast(fold(d.events), DUE, MODEL, ACC + timedelta(days=30))
    assert (f.at_risk_since, f.estimate, f.wake_at) == (ACC + timedelta(days=10), None, None)
    quick = Dossier()
    quick.accepted(ACC)
    quick.resolved(ACC + timedelta(days=9))  # resolved before the warning would have come
    assert forecast(fold(quick.events), DUE, MODEL, ACC + timedelta(days=30)).at_risk_since is None


def test_too_few_observations_give_no_forecast() -> None:
    thin = RemainingTimes({(PROCEDURE, ACCEPTED): [DAY] * 19}, min_samples=20)
    d = Dossier()
    d.accepted(ACC)
    assert forecast(fold(d.events), DUE, thin, ACC + timedelta(days=15)).at_risk_since is None


def test_the_model_learns_time_from_each_milestone_to_the_resolution() -> None:
    d = Dossier()
    d.accepted(ACC)
    d.step(ACC + timedelta(days=2), "B1", "BPMC")
    d.resolved(ACC + timedelta(days=3))
    open_one = Dossier("0002")
    open_one.accepted(ACC)
    model = RemainingTimes.learn([fold(d.events), fold(open_one.events)], min_samples=1)
    assert model.samples == {(PROCEDURE, ACCEPTED): (3 * DAY,), (PROCEDURE, "B1"): (DAY,)}


def test_the_engine_publishes_the_warning_and_wakes_for_it() -> None:
    d = Dossier()
    d.accepted(ACC)  # 15 working days from Mon 3 Mar 09:00 → Mon 24 Mar 09:00 (21 days later)
    a = evaluate(d.events, terms(15), CAL, RULES, ACC + timedelta(days=1), forecast_model=MODEL).assessment
    assert a.due_at == at(2025, 3, 24, 9)
    # 21 d allowed; the estimate stays ≤ 20 d until the dossier outlives every observation (20 d).
    assert (a.at_risk_since, a.forecast_resolved_at) == (None, ACC + timedelta(days=17))
    # After the apology deadline (Fri 21 Mar 09:00) the next change is the warning, Sun 23 Mar 09:00.
    e = evaluate(d.events, terms(15), CAL, RULES, at(2025, 3, 22, 9), forecast_model=MODEL)
    assert e.next_deadline == at(2025, 3, 23, 9)
    warned = evaluate(d.events, terms(15), CAL, RULES, at(2025, 3, 23, 10), forecast_model=MODEL)
    assert warned.assessment.at_risk_since == at(2025, 3, 23, 9)
    assert warned.next_deadline == at(2025, 3, 24, 9)  # OVERDUE next
    # Without a model nothing changes.
    assert evaluate(d.events, terms(15), CAL, RULES, at(2025, 3, 23, 10)).assessment.at_risk_since is None


def test_a_model_that_cannot_estimate_yet_is_relearned_within_a_minute() -> None:
    """`make run` starts on an empty database: the model learned at start knows nothing, and with
    the hourly refresh the demo showed no at-risk dossier for an hour."""
    from services.processing.bootstrap import relearn_every
    from services.processing.settings import ProcessingSettings

    settings = ProcessingSettings(forecast_refresh_s=3600, forecast_warmup_refresh_s=60)
    empty = RemainingTimes({}, min_samples=20)
    thin = RemainingTimes({(PROCEDURE, ACCEPTED): [DAY] * 19}, min_samples=20)
    enough = RemainingTimes({(PROCEDURE, ACCEPTED): [DAY] * 20}, min_samples=20)
    assert (empty.usable, thin.usable, enough.usable) == (0, 0, 1)
    assert relearn_every(None, settings) == 60
    assert relearn_every(empty, settings) == 60
    assert relearn_every(thin, settings) == 60
    assert relearn_every(enough, settings) == 3600
