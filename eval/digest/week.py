"""ISO weeks ("2026-W47"): the digest's unit of time, Monday 00:00 to Monday 00:00 UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class WeekError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Week:
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Week:
        match = _WEEK.match(text.strip())
        if not match:
            raise WeekError(f"a week looks like 2026-W47 (ISO year and week), not {text!r}")
        year, number = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, number, 1)
        except ValueError:
            raise WeekError(f"{year} has no ISO week {number}") from None
        return cls(year, number)

    @classmethod
    def of(cls, moment: datetime | date) -> Week:
        year, number, _ = moment.isocalendar()
        return cls(year, number)

    @classmethod
    def last_complete(cls, now: datetime | None = None) -> Week:
        """The week before the current one: what a Monday-morning digest reports on."""
        return cls.of((now or datetime.now(UTC)) - timedelta(days=7))

    @property
    def start(self) -> datetime:
        return datetime.combine(date.fromisocalendar(self.year, self.number, 1), datetime.min.time(), UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=7)

    @property
    def previous(self) -> Week:
        return Week.of(self.start - timedelta(days=7))

    def days(self) -> list[date]:
        return [(self.start + timedelta(days=i)).date() for i in range(7)]

    def __str__(self) -> str:
        return f"{self.year}-W{self.number:02d}"
