"""ISO weeks ("2026-W47"): the digest's unit of time, Monday 00:00 to Monday 00:00 in the
digest's time zone (digest.timezone), so a Sydney team's week is Sydney's week."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class WeekError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Week:
    year: int
    number: int
    # Where the week's days begin and end; not part of its identity ("2026-W47" is one
    # digest, recorded under that name, whatever the zone).
    zone: str = field(default="UTC", compare=False)

    @classmethod
    def parse(cls, text: str, zone: str = "UTC") -> Week:
        match = _WEEK.match(text.strip())
        if not match:
            raise WeekError(f"a week looks like 2026-W47 (ISO year and week), not {text!r}")
        year, number = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, number, 1)
        except ValueError:
            raise WeekError(f"{year} has no ISO week {number}") from None
        return cls(year, number, zone)

    @classmethod
    def of(cls, moment: datetime | date, zone: str = "UTC") -> Week:
        """The week holding `moment` (an aware datetime, seen in `zone`; or a day in `zone`)."""
        if isinstance(moment, datetime):
            moment = moment.astimezone(ZoneInfo(zone)).date()
        year, number, _ = moment.isocalendar()
        return cls(year, number, zone)

    @classmethod
    def last_complete(cls, now: datetime | None = None, zone: str = "UTC") -> Week:
        """The week before the current one: what a Monday-morning digest reports on."""
        return cls.of((now or datetime.now(UTC)) - timedelta(days=7), zone)

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def start(self) -> datetime:
        """Monday 00:00 in the week's zone, as a UTC time (what the log stores)."""
        local = datetime.combine(self.monday, datetime.min.time(), ZoneInfo(self.zone))
        return local.astimezone(UTC)

    @property
    def end(self) -> datetime:
        # The next Monday's midnight, not start + 7 days: a week with a clock change is 167 or 169 hours.
        return Week.of(self.monday + timedelta(days=7), self.zone).start

    @property
    def previous(self) -> Week:
        return Week.of(self.monday - timedelta(days=7), self.zone)

    def days(self) -> list[date]:
        return [self.monday + timedelta(days=i) for i in range(7)]

    def __str__(self) -> str:
        return f"{self.year}-W{self.number:02d}"
