"""Working-day calendar: which days and office hours count towards a statutory time."""

from shared.calendar.duration import Duration, DurationUnit, OfficeHours
from shared.calendar.window import DateOutOfWindowError, DateWindow
from shared.calendar.working_calendar import CalendarOverrides, WorkingCalendar

__all__ = [
    "CalendarOverrides",
    "DateOutOfWindowError",
    "DateWindow",
    "Duration",
    "DurationUnit",
    "OfficeHours",
    "WorkingCalendar",
]
