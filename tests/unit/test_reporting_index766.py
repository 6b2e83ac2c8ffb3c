"""Decision 766 scored index: the shipped data, the scoring, the ranking, the contract fields."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from zoneinfo import ZoneInfo

import orjson
import pytest
from pydantic import ValidationError

from services.reporting.adapters.index766 import changes
from services.reporting.domain.forms import Frame
from services.reporting.domain.index766 import index766_form, parse_rules, rank, rules, score
from services.reporting.domain.index766_facts import measures
from services.simulator.simulate import Options, generate
from shared.contracts.events import DossierEvent, parse_dossier_event
from shared.settings import CommonSettings
from tests.unit.test_simulator import REFERENCE

R = rules("2022")


def test_the_shipped_2022_data_scores_out_of_100_with_its_source_and_assumptions() -> None:
    assert R.decision == "766/QĐ-TTg" and R.effective == date(2022, 6, 23)
    assert "Quyết định số 766/QĐ-TTg ngày 23/6/2022" in R.source
    assert sum(g.points for g in R.groups) == 100
    assert {g.name for g in R.groups} == {
        "Công khai, minh bạch",
        "Tiến độ, kết quả giải quyết",
        "Cung cấp dịch vụ công trực tuyến",
        "Mức độ hài lòng",
        "Số hóa hồ sơ",
    }
    assert len(R.assumptions) >= 8 and all(a.strip() for a in R.assumptions)


def test_points_are_linear_in_the_rate_rounded_per_indicator() -> None:
    m = {
        "received": 10, "received_online": 3,
        "resolved": 8, "resolved_index_on_time": 6,
        "fees_paid": 3, "fees_paid_online": 1,
        "rated": 4, "rated_satisfied": 3,
        "accepted": 10, "accepted_digitized": 7,
        "resolved_events": 8, "results_digitized": 5,
    }  # fmt: skip
    s = score(R, m)
    groups = {g["code"]: g["points"] for g in s["groups"]}
    # 20×6/8 = 15; 12×3/10 = 3.6 and 10×1/3 = 3.33; 18×3/4 = 13.5; 11×7/10 = 7.7 and 11×5/8 = 6.875 → 6.88
    assert groups == {"cong_khai": 0, "tien_do": 15.0, "truc_tuyen": 6.93, "hai_long": 13.5, "so_hoa": 14.58}
    assert s["total_points"] == 50.01


def test_nothing_to_measure_earns_nothing_and_says_so() -> None:
    s = score(R, {"received": 5, "received_online": 5})
    items = {i["code"]: i for g in s["groups"] for i in g["indicators"]}
    assert items["nop_truc_tuyen"] == {
        "code": "nop_truc_tuyen", "numerator": 5, "denominator": 5, "rate": 1.0, "points": 12.0, "measured": True,
    }  # fmt: skip
    assert items["dung_han"]["measured"] is False and items["dung_han"]["rate"] is None
    assert items["cong_khai_tthc"]["measured"] is False  # external: no data imported yet
    assert s["total_points"] == 12.0


def test_ranking_is_by_total_points_within_a_level_ties_share_a_rank() -> None:
    rows = [
        {"agency_code": "a", "name": "A", "level": "commune", "total_points": 70.5},
        {"agency_code": "b", "name": "B", "level": "commune", "total_points": 81.0},
        {"agency_code": "c", "name": "C", "level": "commune", "total_points": 70.5},
        {"agency_code": "d", "name": "D", "level": "commune", "total_points": 12.0},
        {"agency_code": "e", "name": "E", "level": "department", "total_points": 5.0},
    ]
    rank(rows)
    assert {r["agency_code"]: (r["rank"], r["ranked_among"]) for r in rows} == {
        "b": (1, 4), "a": (2, 4), "c": (2, 4), "d": (4, 4), "e": (1, 1),
    }  # fmt: skip


def test_a_data_file_whose_points_do_not_add_up_is_refused_naming_the_group() -> None:
    text = (
        'version="x"\ndecision="766/QĐ-TTg"\ntitle="t"\nsource="s"\neffective=2022-06-23\nmax_points=100\n'
        'assumptions=[]\nsatisfied_at_least=4\n[[groups]]\ncode="g"\nname="G"\npoints=100\n'
        '[[groups.indicators]]\ncode="i"\nname="I"\npoints=90\nnumerator="received_online"\ndenominator="received"\n'
    )
    with pytest.raises(ValidationError, match="group 'g'"):
        parse_rules(text)
    with pytest.raises(ValidationError, match="numerator"):
        parse_rules(text.replace("points=90", "points=100").replace('"received_online"', '"typo"'))
    with pytest.raises(ValidationError, match="source 'external' goes with imported measures"):
        parse_rules(text.replace("points=90", "points=100") + 'source="external"\n')
    with pytest.raises(ValueError, match="shipped: 2022"):
        rules("1999")


def test_events_without_the_new_fields_serialise_as_before() -> None:
    old = {
        "event_id": "e1", "event_type": "dossier.accepted", "occurred_at": "2025-03-10T08:30:00+07:00",
        "source": "t", "dossier_code": "000.00.13.H13-250310-0001", "agency_code": "000.00.13.H13",
        "procedure_code": "1.004845", "payload": {"channel": 2},
    }  # fmt: skip
    e = parse_dossier_event(json.dumps(old))
    assert e.model_dump(mode="json")["payload"] == {"channel": 2, "appointed_return_at": None}
    new = parse_dossier_event(json.dumps(old | {"payload": {"channel": 2, "digitized": True}}))
    assert new.model_dump(mode="json")["payload"]["digitized"] is True
    returned = old | {"event_type": "dossier.result_returned", "payload": {"satisfaction": 6}}
    with pytest.raises(ValidationError, match="satisfaction"):
        parse_dossier_event(json.dumps(returned))


TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def _events() -> list[DossierEvent]:
    base = {
        "source": "t", "dossier_code": "000.00.13.H13-250310-0001", "agency_code": "000.00.13.H13",
        "procedure_code": "1.004845",
    }  # fmt: skip
    return [
        parse_dossier_event(json.dumps(base | {"event_id": str(i), "occurred_at": at, **e}))
        for i, (at, e) in enumerate(
            [
                ("2025-03-10T08:00:00+07:00", {"event_type": "dossier.accepted", "payload": {"channel": 1, "digitized": True}}),
                ("2025-03-11T09:00:00+07:00", {"event_type": "dossier.fee_paid", "payload": {"amount": "1.00"}}),
                ("2025-03-12T09:00:00+07:00", {"event_type": "dossier.fee_paid", "payload": {"amount": "2.00", "online": True}}),
                ("2025-03-31T23:30:00+07:00", {"event_type": "dossier.resolved", "payload": {"result_digitized": False}}),
                ("2025-04-01T10:00:00+07:00", {"event_type": "dossier.result_returned", "payload": {}}),
                ("2025-04-02T10:00:00+07:00", {"event_type": "dossier.result_returned", "payload": {"satisfaction": 4}}),
                ("2025-03-10T09:00:00+07:00", {"event_type": "dossier.step_completed", "payload": {"step_code": "B1", "from_unit": "x"}}),
            ]
        )
    ]  # fmt: skip


def test_facts_are_booked_on_their_events_local_days_whatever_the_order() -> None:
    events = _events()
    a = "000.00.13.H13"
    expected = {
        (a, date(2025, 3, 10)): Counter({"accepted": 1, "accepted_digitized": 1}),
        (a, date(2025, 3, 11)): Counter(
            {"fees_paid": 1, "fees_paid_online": 1}
        ),  # first payment; one was online
        (a, date(2025, 3, 31)): Counter({"resolved_events": 1}),  # 23:30 local, 16:30 UTC: still 31/03
        (a, date(2025, 4, 2)): Counter({"rated_4": 1}),
    }
    _, forwards = changes({}, events, TZ)
    facts, backwards = changes({}, list(reversed(events)) + events, TZ)  # any order, delivered twice
    assert forwards == backwards == expected
    # a later rating replaces the first: the counters move from one day and level to the other
    again = parse_dossier_event(
        events[5].model_dump_json().replace('"satisfaction":4', '"satisfaction":2').replace("04-02", "04-03")
    )
    changed, moved = changes(facts, [again], TZ)
    assert moved == {
        (a, date(2025, 4, 2)): Counter({"rated_4": -1}),
        (a, date(2025, 4, 3)): Counter({"rated_2": 1}),
    }
    assert changes(changed, [again, *events], TZ) == ({}, {})  # nothing new


def test_measures_apply_the_data_files_satisfaction_threshold() -> None:
    m = measures({"accepted": 3, "rated_2": 1, "rated_4": 2, "rated_5": 1}, R.satisfied_at_least)
    assert m["rated"] == 4 and m["rated_satisfied"] == 3 and m["accepted"] == 3


def test_the_simulator_generates_the_766_facts_and_their_ground_truth() -> None:
    _, dossiers = generate(CommonSettings(), Options(dossiers=200, seed=4, reference=REFERENCE))
    truths = [d.truth() for d in dossiers]
    accepted = [t for t in truths if t["accepted_at"] is not None]
    assert {t["digitized"] for t in accepted} == {True, False}
    assert all(t["digitized"] for t in accepted if t["channel"] == 2)
    assert {t["satisfaction"] for t in truths} >= {None, 4, 5}
    for d in dossiers:  # the truth says what the events carry
        for e in d.events:
            if e["event_type"] == "dossier.resolved":
                assert e["payload"]["result_digitized"] == d.result_digitized
            if e["event_type"] == "dossier.result_returned":
                assert e["payload"].get("satisfaction") == d.satisfaction
        parse_dossier_event(orjson.dumps(d.events[0]))


def test_the_printed_form_has_names_ranks_and_every_group() -> None:
    doc = {
        "rules": R.describe(),
        "totals": score(R, {"received": 4, "received_online": 1}),
        "levels": [{"level": "commune"} | score(R, {"received": 4, "received_online": 1})],
        "rows": [
            {"agency_code": "x", "name": "UBND xã X", "level": "commune", "rank": 1, "ranked_among": 1}
            | score(R, {"received": 4, "received_online": 1})
        ],
    }
    frame = Frame(
        "Quyết định 766/QĐ-TTg",
        "T",
        "tháng 05/2025",
        date(2025, 5, 1),
        date(2025, 5, 31),
        "U",
        "V",
        date(2025, 6, 2),
    )
    form = index766_form(doc, frame)
    summary, detail = form.sheets
    assert [ln.label for ln in summary.lines] == ["TỔNG CỘNG", "Cấp xã", "UBND xã X"]
    assert summary.lines[2].values["rank_text"] == "1/1" and summary.lines[2].values["total_points"] == 3.0
    assert [c.heading for c in summary.columns][1] == "Tổng điểm (tối đa 100)"
    assert len(detail.columns) == sum(len(g.indicators) for g in R.groups)
