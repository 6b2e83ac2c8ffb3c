"""The compliance topic's message is built from the stored JSON, not a second serialisation.

Whatever the assessment holds (steps, nonconformities with details, index dates), the message
must read back as exactly that assessment at the given revision.
"""

from __future__ import annotations

from services.processing.adapters.repository import stored_json
from services.processing.handlers import compliance_message
from shared.contracts import DossierAssessment
from tests.unit.test_engine_fixtures import Dossier, at


def test_the_message_reads_back_as_the_assessment_at_its_revision() -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 3, 8))
    d.supplement_requested(at(2025, 3, 4, 9))
    d.supplement_requested(at(2025, 3, 6, 9))  # twice: SUPPLEMENT_REPEATED, a nonconformity
    assessment = d.assess(now=at(2025, 4, 1))
    assert assessment.nonconformities, "the case must carry findings for the test to mean anything"

    message = compliance_message(assessment, stored_json(assessment), 7)

    back = DossierAssessment.model_validate_json(message)
    assert back == assessment.model_copy(update={"revision": 7})
    assert back.assessed_at == at(2025, 4, 1)


def test_the_at_risk_warning_is_published_but_not_stored() -> None:
    d = Dossier()
    d.accepted(at(2025, 3, 3, 8))
    warned = d.assess(now=at(2025, 3, 5)).model_copy(
        update={"at_risk_since": at(2025, 3, 4, 10), "forecast_resolved_at": at(2025, 3, 20, 9)}
    )
    stored = stored_json(warned)

    # the stored JSON is the events' verdict alone: the same whatever model warned (replays agree)
    assert stored == stored_json(warned.model_copy(update={"at_risk_since": None, "forecast_resolved_at": None}))
    assert "at_risk_since" not in stored and "forecast_resolved_at" not in stored
    back = DossierAssessment.model_validate_json(compliance_message(warned, stored, 3))
    assert (back.at_risk_since, back.forecast_resolved_at) == (at(2025, 3, 4, 10), at(2025, 3, 20, 9))
    assert back == warned.model_copy(update={"revision": 3})
