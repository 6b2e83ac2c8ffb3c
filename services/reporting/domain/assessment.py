"""What reporting reads from a ``tthc.compliance.v1`` message — a tolerant reader.

The contract model (:class:`shared.contracts.DossierAssessment`) forbids unknown fields, so
a producer that adds one (``steps``, ``index_outcome``, a nonconformity ``status``) would
make a strict consumer drop every message. Reporting validates the fields it uses with
the same types and ignores the rest; the whole JSON is kept for the control slip.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, ConfigDict, Field, TypeAdapter
from pydantic.dataclasses import dataclass

from shared.contracts.compliance import Outcome
from shared.contracts.events import Channel

NONCONFORMITY_STATUSES = ("open", "corrective_action", "closed")

# Slotted pydantic dataclasses, not models: the same validation, one object each instead of a model,
# its ``__dict__`` and its fields-set — a batch of assessments gives the garbage collector a third
# of the objects to traverse (issue #16, session 6).
_VIEW = ConfigDict(extra="ignore")


@dataclass(frozen=True, slots=True, config=_VIEW)
class NonconformityView:
    code: str
    clause: str
    detected_at: AwareDatetime
    detail: str = ""
    status: str = Field(default="open", description="open → corrective_action → closed")
    corrective_action: str | None = None


@dataclass(frozen=True, slots=True, config=_VIEW)
class AssessmentView:
    """The fields of a dossier assessment that reporting needs."""

    dossier_code: str
    agency_code: str
    procedure_code: str
    revision: int = Field(ge=1)
    status: int = Field(ge=1, le=10)
    # required, though nullable (no default): a message must state them
    outcome: Outcome | None = Field()
    channel: Channel | None = Field()
    accepted_at: AwareDatetime | None = Field()
    due_at: AwareDatetime | None = Field()
    index_due_at: AwareDatetime | None = Field()
    resolved_at: AwareDatetime | None = Field()
    index_outcome: Outcome | None = None
    closed_at: AwareDatetime | None = None
    processing_working_days: float | None = None
    nonconformities: tuple[NonconformityView, ...] = ()


_ADAPTER: TypeAdapter[AssessmentView] = TypeAdapter(AssessmentView)


def read_json(raw: bytes) -> AssessmentView:
    """The validated view of a message's bytes (raises pydantic's ``ValidationError`` on bad input)."""
    return _ADAPTER.validate_json(raw)


def parse(raw: bytes) -> tuple[AssessmentView, dict[str, Any]]:
    """The validated view and the whole document (raises ``ValueError`` on bad input)."""
    import json

    doc = json.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("an assessment is a JSON object")
    return _ADAPTER.validate_python(doc), doc
