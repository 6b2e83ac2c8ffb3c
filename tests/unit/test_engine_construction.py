"""The engine builds its outputs without pydantic's model_construct (issue #16): the models it
builds must be the models pydantic builds — equal, the same JSON, the same ``fields_set``, the
same repr — for any dossier, and a wrong name must not go through silently."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from services.processing.domain.engine import ProcedureTerms, ProcessContext, evaluate
from services.processing.domain.history import fold_more
from shared.contracts.compliance import (
    ControlSlipRow,
    DossierAssessment,
    NonconformityRecord,
    new_assessment,
    new_control_slip_row,
    new_nonconformity,
)
from shared.contracts.events import DossierEvent
from tests.unit.test_engine_fixtures import CAL, RULES, at
from tests.unit.test_engine_properties import CONTEXTS, NOWS, PROCESS, TERMS, dossiers


def same_model(fast: BaseModel, cls: type[BaseModel]) -> None:
    """``fast`` is what pydantic builds from its values, constructed and validated."""
    given_values = {name: getattr(fast, name) for name in fast.model_fields_set}
    constructed = cls.model_construct(**given_values)
    assert list(fast.__dict__.items()) == list(constructed.__dict__.items())  # field order too
    assert fast.model_fields_set == constructed.model_fields_set
    assert repr(fast) == repr(constructed)
    validated = cls.model_validate(fast.model_dump())
    assert fast == validated
    assert validated == fast
    assert fast.model_dump_json() == validated.model_dump_json()
    assert fast.model_dump(mode="json") == validated.model_dump(mode="json")
    assert hash(fast) == hash(validated)
    for nested in fast.__dict__.values():
        for item in nested if isinstance(nested, tuple) else (nested,):
            if isinstance(item, ControlSlipRow | NonconformityRecord):
                same_model(item, type(item))


@settings(max_examples=150, deadline=None)
@given(
    events=dossiers(),
    procedure=st.sampled_from(TERMS),
    context=st.sampled_from([*CONTEXTS, PROCESS, PROCESS]),
    now=NOWS,
    kept=st.booleans(),
)
def test_the_engines_assessment_is_the_model_pydantic_builds(
    events: list[DossierEvent],
    procedure: ProcedureTerms | None,
    context: ProcessContext | None,
    now: datetime,
    kept: bool,
) -> None:
    state = fold_more(None, events) if kept else None
    assessment = evaluate(
        state if state is not None else events, procedure, CAL, RULES, now, context
    ).assessment
    same_model(assessment, DossierAssessment)
    # What model_construct gave the engine's calls: every field it passes, the defaults not passed.
    assert assessment.model_fields_set == set(DossierAssessment.model_fields) - {"kind"}
    assert all(row.model_fields_set == set(ControlSlipRow.model_fields) for row in assessment.steps)
    for nc in assessment.nonconformities:
        assert nc.model_fields_set == set(NonconformityRecord.model_fields) - {"status"}


def row_values() -> dict[str, Any]:
    return {
        "event_id": "e1",
        "step_code": "B1",
        "unit": "BPMC",
        "to_unit": None,
        "handler": "x",
        "received_at": at(2025, 3, 3, 8),
        "handed_over_at": at(2025, 3, 3, 9),
        "budget": None,
        "due_at": None,
        "status": None,
    }


def test_each_model_built_with_defaults_left_out_is_the_constructed_one() -> None:
    nc = new_nonconformity(code="LATE", clause="8.7", detected_at=at(2025, 3, 3, 9), evidence=("a",))
    same_model(nc, NonconformityRecord)
    assert nc.detail == "" and nc.status == "open"
    row = new_control_slip_row(**{k: v for k, v in row_values().items() if v is not None})
    same_model(row, ControlSlipRow)
    assessment = new_assessment(
        dossier_code="D-250303-0001",
        agency_code="A",
        procedure_code="P",
        revision=1,
        status=2,
        outcome=None,
        channel=None,
        accepted_at=None,
        due_at=None,
        index_due_at=None,
        resolved_at=None,
        assessed_at=at(2025, 3, 3, 9),
        steps=(row,),
        nonconformities=(nc,),
        processing_working_days=1.5,
    )
    same_model(assessment, DossierAssessment)
    assert assessment.kind == "dossier.assessed" and "kind" not in assessment.model_fields_set


def test_the_built_models_stay_frozen_and_copy_like_pydantics() -> None:
    nc = new_nonconformity(
        code="LATE", clause="8.7", detected_at=at(2025, 3, 3, 9), evidence=("a",), detail="d"
    )
    with pytest.raises(ValidationError):
        nc.detail = "changed"  # type: ignore[misc]
    moved = nc.model_copy(update={"status": "closed"})
    assert moved.status == "closed" and nc.status == "open"
    assert moved.model_fields_set == {"code", "clause", "detected_at", "evidence", "detail", "status"}
    assert nc.model_fields_set == {"code", "clause", "detected_at", "evidence", "detail"}


def test_a_wrong_or_missing_name_is_refused_not_kept() -> None:
    with pytest.raises(TypeError, match="unknown \\['evidense'\\]"):
        new_nonconformity(code="LATE", clause="8.7", detected_at=at(2025, 3, 3, 9), evidense=("a",))
    with pytest.raises(TypeError, match="missing"):
        new_nonconformity(code="LATE", detail="x")
    with pytest.raises(TypeError, match="unknown"):
        new_control_slip_row(**row_values(), due=Decimal(1))


def test_a_model_whose_default_is_made_per_instance_is_refused() -> None:
    from pydantic import BaseModel, Field

    from shared.contracts.compliance import trusted_constructor

    class WithList(BaseModel):
        items: list[str] = Field(default_factory=list)

    # one prepared default list would be shared by every model built: the constructor refuses
    with pytest.raises(TypeError, match="default factory"):
        trusted_constructor(WithList)
