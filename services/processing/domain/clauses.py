"""Which ISO 9001:2015 clause each rule code touches, and how a rule reports what it found.

Mapping (why):

================== ====== ==================================================================
code               clause why
================== ====== ==================================================================
LATE               8.7    the result left the agency after its due time: a nonconforming output
OVERDUE            9.1    found by monitoring (a timer) while the output does not exist yet
STEP_LATE          9.1    the control slip measures each step against its budget (9.1.1)
STEP_OVERDUE       9.1    the same measurement, raised by a timer on the open step
STEP_SKIPPED       8.5.1  the documented process was not followed (controlled conditions)
STEP_ORDER         8.5.1  idem: steps out of the defined order, or not in the process
WRONG_UNIT         8.5.1  idem: the step was done by another unit than the responsible one
APPOINTMENT        8.5.1  the receipt promised a return date the statutory time does not allow
APOLOGY_MISSING    8.7    8.7.1 c): the customer must be informed of a nonconforming output
APOLOGY_LATE       8.7    idem, informed too late or the date reset more than allowed
SUPPLEMENT_LATE    8.5.1  the supplement request came outside the allowed window
SUPPLEMENT_REPEATED 8.5.1 the missing documents must be requested at once, not piecemeal
OUT_OF_SCOPE       8.5.1  service provided without a documented, announced ISO process
IMPOSSIBLE_ORDER   9.1    data quality: the monitoring data cannot be analysed (9.1.3) as recorded
================== ====== ==================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from shared.contracts.compliance import NonconformityCode, NonconformityRecord, new_nonconformity

CONTROL_OF_SERVICE_PROVISION = "8.5.1"
NONCONFORMING_OUTPUTS = "8.7"
MONITORING = "9.1"

CLAUSE: dict[NonconformityCode, str] = {
    NonconformityCode.LATE: NONCONFORMING_OUTPUTS,
    NonconformityCode.OVERDUE: MONITORING,
    NonconformityCode.STEP_LATE: MONITORING,
    NonconformityCode.STEP_OVERDUE: MONITORING,
    NonconformityCode.STEP_SKIPPED: CONTROL_OF_SERVICE_PROVISION,
    NonconformityCode.STEP_ORDER: CONTROL_OF_SERVICE_PROVISION,
    NonconformityCode.WRONG_UNIT: CONTROL_OF_SERVICE_PROVISION,
    NonconformityCode.APPOINTMENT: CONTROL_OF_SERVICE_PROVISION,
    NonconformityCode.APOLOGY_MISSING: NONCONFORMING_OUTPUTS,
    NonconformityCode.APOLOGY_LATE: NONCONFORMING_OUTPUTS,
    NonconformityCode.SUPPLEMENT_LATE: CONTROL_OF_SERVICE_PROVISION,
    NonconformityCode.SUPPLEMENT_REPEATED: CONTROL_OF_SERVICE_PROVISION,
    NonconformityCode.OUT_OF_SCOPE: CONTROL_OF_SERVICE_PROVISION,
    NonconformityCode.IMPOSSIBLE_ORDER: MONITORING,
}
# code -> (its text, its clause): an enum's .value is a Python-level property, read per finding.
_RECORDED = {code: (code.value, clause) for code, clause in CLAUSE.items()}


def nonconformity(
    code: NonconformityCode, detected_at: datetime, evidence: Iterable[str], detail: str
) -> NonconformityRecord:
    """A nonconformity of ``code`` with its clause; evidence keeps its order, without repeats."""
    text, clause = _RECORDED[code]
    return new_nonconformity(  # built from validated values: no re-validation on the hot path
        code=text,
        clause=clause,
        detected_at=detected_at,
        evidence=tuple(dict.fromkeys(evidence)),
        detail=detail,
    )


class Findings:
    """What one rule group found: nonconformities, and the future moments its verdict changes."""

    __slots__ = ("raised", "wake_at")

    def __init__(
        self, raised: list[NonconformityRecord] | None = None, wake_at: list[datetime] | None = None
    ) -> None:
        self.raised: list[NonconformityRecord] = [] if raised is None else raised
        self.wake_at: list[datetime] = [] if wake_at is None else wake_at

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Findings):
            return NotImplemented
        return self.raised == other.raised and self.wake_at == other.wake_at

    def __repr__(self) -> str:
        return f"Findings(raised={self.raised!r}, wake_at={self.wake_at!r})"

    def raise_(
        self, code: NonconformityCode, detected_at: datetime, evidence: Iterable[str], detail: str
    ) -> None:
        self.raised.append(nonconformity(code, detected_at, evidence, detail))

    def wake(self, moment: datetime | None, now: datetime) -> None:
        """Remember ``moment`` if the verdict changes then and it is still to come."""
        if moment is not None and moment > now:
            self.wake_at.append(moment)

    def extend(self, other: Findings) -> None:
        self.raised.extend(other.raised)
        self.wake_at.extend(other.wake_at)
