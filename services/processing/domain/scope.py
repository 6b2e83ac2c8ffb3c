"""OUT_OF_SCOPE (Decision 19/2014): a dossier whose procedure is unknown or has no ISO process."""

from __future__ import annotations

from dataclasses import dataclass

from services.processing.domain.clauses import Findings
from services.processing.domain.history import DossierHistory
from services.processing.domain.inputs import ProcedureTerms, ProcessContext, version_in_force
from shared.calendar import WorkingCalendar
from shared.contracts.compliance import NonconformityCode
from shared.contracts.registry import IsoProcessRecord


@dataclass(slots=True)  # never changed once built; not frozen: a frozen init costs 7× on the hot path
class Scope:
    """The verdict on scope and the ISO process version the step rules apply (None: none apply)."""

    in_scope: bool
    process: IsoProcessRecord | None
    findings: Findings


def judge_scope(
    history: DossierHistory,
    terms: ProcedureTerms | None,
    context: ProcessContext | None,
    calendar: WorkingCalendar,
) -> Scope:
    """Is the dossier's procedure known, in the agency's announced ISO scope, with a process in force?

    ``context`` None means the caller has no ISO coverage data: only the procedure is checked
    and no step rule applies. The version in force is taken on the local acceptance date, or
    on the first event's date before acceptance.
    """
    found = Findings()
    first = history.first
    reference = history.accepted or first
    if terms is None:
        found.raise_(
            NonconformityCode.OUT_OF_SCOPE,
            first.occurred_at,
            [first.event_id],
            f"procedure {first.procedure_code} is not in the registry (thủ tục chưa được công bố); "
            "add it to the registry so the dossier can be judged",
        )
        return Scope(False, None, found)
    if context is None:
        return Scope(True, None, found)
    if not context.in_iso_scope:
        found.raise_(
            NonconformityCode.OUT_OF_SCOPE,
            first.occurred_at,
            [first.event_id],
            f"procedure {first.procedure_code} is not in the announced ISO scope of agency "
            f"{first.agency_code} (phạm vi áp dụng HTQLCL)",
        )
        return Scope(False, None, found)
    on = reference.occurred_at.astimezone(calendar.tz).date()
    process = version_in_force(context.versions, on)
    if process is None:
        found.raise_(
            NonconformityCode.OUT_OF_SCOPE,
            reference.occurred_at,
            [reference.event_id],
            f"agency {first.agency_code} has no ISO process (quy trình ISO) for procedure "
            f"{first.procedure_code} in force on {on.isoformat()}",
        )
        return Scope(False, None, found)
    return Scope(True, process, found)
