"""What reporting reads from a ``tthc.compliance.v1`` message — a tolerant reader.

The contract model (:class:`shared.contracts.DossierAssessment`) forbids unknown fields, so
a producer that adds one (``steps``, ``index_outcome``, a nonconformity ``status``) would
make a strict consumer drop every message. Reporting validates the fields it uses with
the same types and ignores the rest; the whole JSON is kept for the control slip.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.compliance import Outcome
from shared.contracts.events import Channel

NONCONFORMITY_STATUSES = ("open", "corrective_action", "closed")


class NonconformityView(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str
    clause: str
    detected_at: AwareDatetime
    detail: str = ""
    status: str = Field(default="open", description="open → corrective_action → closed")
    corrective_action: str | None = None


class AssessmentView(BaseModel):
    """The fields of a dossier assessment that reporting needs."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    dossier_code: str
    agency_code: str
    procedure_code: str
    revision: int = Field(ge=1)
    status: int = Field(ge=1, le=10)
    outcome: Outcome | None
    index_outcome: Outcome | None = None
    channel: Channel | None
    accepted_at: AwareDatetime | None
    due_at: AwareDatetime | None
    index_due_at: AwareDatetime | None
    resolved_at: AwareDatetime | None
    closed_at: AwareDatetime | None = None
    processing_working_days: float | None = None
    nonconformities: tuple[NonconformityView, ...] = ()


def parse(raw: bytes) -> tuple[AssessmentView, dict[str, Any]]:
    """The validated view and the whole document (raises ``ValueError`` on bad input)."""
    import json

    doc = json.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("an assessment is a JSON object")
    return AssessmentView.model_validate(doc), doc
