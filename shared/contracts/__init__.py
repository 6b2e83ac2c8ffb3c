"""Versioned event contracts between the public-service software and our services."""

from shared.contracts.compliance import DossierAssessment, NonconformityRecord, Outcome
from shared.contracts.events import (
    Channel,
    DossierEvent,
    EventType,
    dossier_event_adapter,
    parse_dossier_event,
)
from shared.contracts.registry import ProcedureRecord, RegistryChange, StatutoryTime

__all__ = [
    "Channel",
    "DossierAssessment",
    "DossierEvent",
    "EventType",
    "NonconformityRecord",
    "Outcome",
    "ProcedureRecord",
    "RegistryChange",
    "StatutoryTime",
    "dossier_event_adapter",
    "parse_dossier_event",
]
