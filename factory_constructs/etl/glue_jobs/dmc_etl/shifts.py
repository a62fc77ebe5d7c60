"""The shift calendar: each configured shift of each day, as UTC instants. Plain Python.

Shift times are the plant's wall-clock times in the site's time zone. A shift whose end is not after
its start ends on the next day (a night shift). Planned time is the real elapsed time, so a night
shift across a daylight-saving change lasts 7 or 9 hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from .config import LineConfig


@dataclass(frozen=True)
class ShiftInstance:
    line_path: str
    shift: str
    day: date  # plant-local day the shift starts on
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC


def shift_instances(lines: Iterable[LineConfig], timezone: str, days: Iterable[date]) -> list[ShiftInstance]:
    """Every shift of every line starting on one of ``days`` (plant-local calendar days)."""
    zone = ZoneInfo(timezone)
    found = []
    for day in sorted(set(days)):
        for line in lines:
            for shift in line.shifts:
                start = datetime.combine(day, shift.start, tzinfo=zone)
                end_day = day if shift.end > shift.start else day + timedelta(days=1)
                end = datetime.combine(end_day, shift.end, tzinfo=zone)
                found.append(ShiftInstance(line.line_path, shift.name, day, start.astimezone(UTC), end.astimezone(UTC)))
    return found
