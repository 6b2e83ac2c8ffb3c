"""What the engine is given besides the events: clock rules, procedure terms, ISO coverage.

All of it is data the service loads (settings, the registry's local copy) and passes in; the
engine never looks anything up itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from shared.calendar import Duration
from shared.contracts.events import Channel
from shared.contracts.registry import IsoProcessRecord, ProcedureRecord, QmsRecord, QmsState

if TYPE_CHECKING:
    from shared.settings import CommonSettings


class ClockStop(StrEnum):
    """The event that stops a dossier's clock (a legal profile's choice)."""

    RESOLVED = "resolved"  # Đã xử lý xong (Vietnam)
    RESULT_RETURNED = "result_returned"  # Đã trả kết quả


# QMS states in which the agency has announced (công bố) its scope and applies it.
_ANNOUNCED_STATES = frozenset({QmsState.ANNOUNCED, QmsState.UPDATING, QmsState.REANNOUNCED})


@dataclass(frozen=True)
class ClockRules:
    """The configurable legal numbers (settings or registry data, never constants in rules).

    ``in_person_cutoff``: dossiers received in person at/after it count from the next working day.
    ``supplement_window_working_days``: a supplement request must come within this many working
    days of acceptance (Decree 61/2018 art. 19(4)).
    ``apology_lead_working_days``: the apology (phiếu xin lỗi) must be issued at least this many
    working days before the due moment.
    ``apology_resets_allowed``: how many times the return date may be reset by an apology.
    ``clock_stop``: the event that stops the clock (the legal profile's; ``resolved`` in Vietnam).
    ``rule_codes``: the rule codes that apply (the legal profile's); None = all of them.
    ``in_person_transfer``: False when the law has no cut-off (the clock starts at reception).
    ``observed_until``: the end of a historical log; a dossier still open then is censored.
    """

    in_person_cutoff: time
    supplement_window_working_days: Decimal
    apology_lead_working_days: Decimal
    apology_resets_allowed: int = 1
    clock_stop: ClockStop = ClockStop.RESOLVED
    rule_codes: frozenset[str] | None = None
    in_person_transfer: bool = True
    observed_until: datetime | None = None

    def applies(self, code: str) -> bool:
        """Whether rule ``code`` is switched on (``rule_codes`` None: every rule is)."""
        return self.rule_codes is None or code in self.rule_codes

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> ClockRules:
        """The legal numbers as the deployment configures them."""
        return cls(
            in_person_cutoff=settings.in_person_cutoff,
            supplement_window_working_days=settings.supplement_window_working_days,
            apology_lead_working_days=settings.apology_lead_working_days,
            apology_resets_allowed=settings.apology_resets_allowed,
        )


@dataclass(frozen=True)
class ProcedureTerms:
    """What the registry says about the dossier's procedure (thủ tục hành chính).

    ``channel_times`` holds per-channel statutory times (e.g. shorter online) that replace
    ``statutory_time`` for that channel; ``in_person_cutoff`` overrides the general cut-off
    for this procedure.
    """

    code: str
    statutory_time: Duration
    channel_times: Mapping[Channel, Duration] = field(default_factory=dict)
    in_person_cutoff: time | None = None

    def time_for(self, channel: Channel | None) -> Duration:
        """The statutory time that applies to a dossier received through ``channel``."""
        if channel is not None and channel in self.channel_times:
            return self.channel_times[channel]
        return self.statutory_time

    @classmethod
    def from_record(cls, record: ProcedureRecord, in_person_cutoff: time | None = None) -> ProcedureTerms:
        """The terms of a registry procedure record."""
        return cls(
            code=record.code,
            statutory_time=Duration(record.statutory_time.value, record.statutory_time.unit),
            channel_times={
                Channel(ct.channel): Duration(ct.statutory_time.value, ct.statutory_time.unit)
                for ct in record.channel_times
            },
            in_person_cutoff=in_person_cutoff,
        )


@dataclass(frozen=True)
class ProcessContext:
    """The agency's ISO coverage of the dossier's procedure.

    ``in_iso_scope``: the procedure is in the scope the agency announced for its QMS.
    ``versions``: every version of the agency's ISO process (quy trình ISO) for the procedure;
    the engine applies the one in force on the acceptance date.
    """

    in_iso_scope: bool
    versions: tuple[IsoProcessRecord, ...] = ()

    @classmethod
    def from_registry(
        cls, qms: QmsRecord | None, processes: Iterable[IsoProcessRecord], procedure_code: str
    ) -> ProcessContext:
        """Coverage from the agency's QMS record (None if it has none) and its ISO processes."""
        in_scope = qms is not None and qms.state in _ANNOUNCED_STATES and procedure_code in qms.scope
        return cls(
            in_iso_scope=in_scope,
            versions=tuple(p for p in processes if p.procedure_code == procedure_code),
        )


def version_in_force(versions: Iterable[IsoProcessRecord], on: date) -> IsoProcessRecord | None:
    """The ISO process version in force on ``on``: latest ``effective_from`` not after it."""
    candidates = [v for v in versions if v.effective_from <= on]
    if not candidates:
        return None
    return max(candidates, key=lambda v: (v.effective_from, v.version))
