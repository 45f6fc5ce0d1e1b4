"""`serve` posts the weekly digest at the configured weekday and time.

Every replica runs this loop; the database claim (eval.digest.runs) lets exactly one post
each week's digest per target. The digest covers the last complete ISO week before the
scheduled moment, and a replica that was down at that moment posts it when it comes back
(later that week), since the week is still unclaimed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from adapters.digests import DigestPublisher
from bot.settings import WEEKDAYS, DigestSettings
from eval.digest.week import Week

logger = logging.getLogger(__name__)
RETRY_FIRST, RETRY_MAX = timedelta(minutes=5), timedelta(hours=4)


def due_week(settings: DigestSettings, now: datetime) -> Week | None:
    """The week whose digest is due at `now` (UTC-aware), or None before this week's moment."""
    zone = ZoneInfo(settings.timezone)
    local = now.astimezone(zone)
    hour, minute = (int(x) for x in settings.time.split(":"))
    monday = local.date() - timedelta(days=local.weekday())
    moment = datetime.combine(
        monday + timedelta(days=WEEKDAYS.index(settings.weekday)), time(hour, minute), zone
    )
    if local < moment:
        return None
    return Week.of(moment.date(), settings.timezone).previous


class DigestSchedule:
    def __init__(self, publisher: DigestPublisher, settings: DigestSettings, tick_s: float = 60.0) -> None:
        self.publisher, self.settings, self.tick_s = publisher, settings, tick_s
        self._done: set[tuple[str, str]] = set()  # (week, target) this process knows is handled
        # (week, target) -> (failures, not before): a failing lead waits, the others do not.
        self._failing: dict[tuple[str, str], tuple[int, datetime]] = {}

    def describe(self) -> str:
        leads = ", ".join(f"{t.name} ({t.platform})" for t in self.settings.leads)
        return f"{self.settings.weekday} {self.settings.time} {self.settings.timezone} to {leads}"

    async def run(self) -> None:
        while True:
            try:
                await self.tick(datetime.now(UTC))
            except asyncio.CancelledError:
                raise
            except Exception:  # never crashes serve; the next tick tries again
                logger.exception("the weekly digest schedule failed; retrying later")
            await asyncio.sleep(self.tick_s)

    async def tick(self, now: datetime) -> list[str]:
        """Post whatever is due; returns the targets posted by this process."""
        await self.publisher.record_pending()  # a posted digest the database missed, first
        week = due_week(self.settings, now)
        if week is None:
            return []
        posted = []
        for target in self.settings.leads:
            key = (str(week), target.name)
            failures, not_before = self._failing.get(key, (0, now))
            if key in self._done or now < not_before:
                continue
            try:
                outcome = await self.publisher.publish(week, target)
            except Exception:
                # Each retry rebuilds the digest (and its RAGAS scores): back off, 5 min doubling to 4 h.
                wait = min(RETRY_FIRST * 2 ** min(failures, 8), RETRY_MAX)  # no overflow after days
                self._failing[key] = (failures + 1, now + wait)
                logger.exception("digest %s for %s failed; retrying in %s", week, target.name, wait)
                continue
            self._failing.pop(key, None)
            if outcome.posted or outcome.elsewhere:
                self._done.add(key)
            if outcome.posted:
                posted.append(target.name)
            else:
                # Claimed by a live replica (or one that died: retried once its claim expires).
                logger.debug("digest %s for %s: %s", week, target.name, outcome.detail)
        return posted
