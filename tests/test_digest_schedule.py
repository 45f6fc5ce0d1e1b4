"""serve's weekly digest schedule: due at the configured local time, posted once per week
and target however many replicas tick, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from adapters.digest_schedule import DigestSchedule, due_week
from adapters.slack import web_client
from bot.settings import DigestSettings
from bot.store.database import create_db_engine
from eval.digest import runs
from eval.digest.week import Week
from tests.digest_helpers import publisher, slack_schedule
from tests.fakes.slack_api import FakeSlack
from tests.test_digest_numbers import seeded  # noqa: F401 (fixture)

LEADS = [
    {"name": "hr-leads", "platform": "slack", "channel": "C0HRLEADS", "covers": ["C0HR"]},
    {"name": "eng-leads", "platform": "slack", "channel": "C0ENGLEADS", "covers": ["C0ENG"]},
]


def test_the_digest_is_due_at_the_local_time_for_the_week_before() -> None:
    london = DigestSettings(weekday="mon", time="09:00", timezone="Europe/London")
    assert due_week(london, datetime(2026, 11, 9, 8, 59, tzinfo=UTC)) is None
    assert due_week(london, datetime(2026, 11, 9, 9, 0, tzinfo=UTC)) == Week(2026, 45)
    assert due_week(london, datetime(2026, 11, 15, 23, 0, tzinfo=UTC)) == Week(2026, 45)  # late, still due
    assert due_week(london, datetime(2026, 11, 16, 9, 0, tzinfo=UTC)) == Week(2026, 46)
    summer = datetime(2026, 6, 1, 8, 30, tzinfo=UTC)  # 09:30 in London (BST)
    assert due_week(london, summer) == Week(2026, 22)
    new_york = DigestSettings(weekday="fri", time="16:30", timezone="America/New_York")
    assert due_week(new_york, datetime(2026, 11, 13, 21, 29, tzinfo=UTC)) is None
    assert due_week(new_york, datetime(2026, 11, 13, 21, 30, tzinfo=UTC)) == Week(2026, 45)
    # Ahead of UTC: Monday 09:00 in Sydney is Sunday 22:00 UTC, and the week due is Sydney's last.
    sydney = DigestSettings(weekday="mon", time="09:00", timezone="Australia/Sydney")
    week = due_week(sydney, datetime(2026, 11, 8, 22, 0, tzinfo=UTC))
    assert week == Week(2026, 45) and week.zone == "Australia/Sydney"
    assert week.start == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)  # Mon 2 Nov 00:00 AEDT (UTC+11)
    assert week.end == datetime(2026, 11, 8, 13, 0, tzinfo=UTC)  # complete 9 hours before the post
    assert week.previous.zone == "Australia/Sydney" and week.previous.end == week.start
    # A week with a clock change: London's ends an hour later in UTC than it begins (GMT vs BST).
    october = Week(2026, 43, "Europe/London")
    assert october.start == datetime(2026, 10, 18, 23, 0, tzinfo=UTC)
    assert october.end == datetime(2026, 10, 26, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=True)
def test_two_replicas_post_each_weeks_digest_once(
    engine: Engine,
    seeded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    other = create_db_engine(engine.url.render_as_string(hide_password=False))  # a replica's own pool
    try:
        with FakeSlack() as fake:
            settings = {"weekday": "mon", "time": "09:00", "timezone": "Europe/London"}
            replicas = [
                DigestSchedule(
                    publisher(
                        db, tmp_path / name, LEADS, slack=web_client(fake.bot_token, fake.api_url), **settings
                    ),
                    DigestSettings(leads=LEADS, **settings),  # type: ignore[arg-type]
                )
                for db, name in ((engine, "one"), (other, "two"))
            ]

            async def tick_all(now: datetime) -> list[list[str]]:
                return list(await asyncio.gather(*(r.tick(now) for r in replicas)))

            assert asyncio.run(tick_all(datetime(2026, 11, 9, 8, 0, tzinfo=UTC))) == [[], []]  # not yet
            posted = asyncio.run(tick_all(datetime(2026, 11, 9, 9, 1, tzinfo=UTC)))
            assert sorted(name for names in posted for name in names) == [
                "eng-leads",
                "hr-leads",
            ]  # each once, by either replica
            asyncio.run(tick_all(datetime(2026, 11, 9, 10, 0, tzinfo=UTC)))
            channels = sorted(c.params["channel"] for c in fake.calls_to("chat.postMessage"))
            assert channels == ["C0ENGLEADS", "C0HRLEADS"]
            # A restarted replica (no memory of what it did) posts nothing more that week...
            fresh = DigestSchedule(replicas[0].publisher, replicas[0].settings)
            assert asyncio.run(fresh.tick(datetime(2026, 11, 12, 9, 0, tzinfo=UTC))) == []
            # ...and the next week's digest goes out the next Monday.
            posted = asyncio.run(tick_all(datetime(2026, 11, 16, 9, 0, tzinfo=UTC)))
            assert sorted(name for names in posted for name in names) == ["eng-leads", "hr-leads"]
            assert len(fake.calls_to("chat.postMessage")) == 4
    finally:
        other.dispose()


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_failing_lead_backs_off_without_holding_up_the_others(
    engine: Engine,
    seeded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    with FakeSlack() as fake:
        schedule = slack_schedule(engine, tmp_path, LEADS, fake)
        fake.fail("chat.postMessage", "not_in_channel")  # the first lead's post (hr-leads)
        monday = datetime(2026, 11, 9, 9, 0, tzinfo=UTC)
        assert asyncio.run(schedule.tick(monday)) == ["eng-leads"]
        # A minute later hr-leads is not rebuilt and retried yet; five minutes later it is.
        assert asyncio.run(schedule.tick(monday + timedelta(minutes=1))) == []
        assert len(fake.calls_to("chat.postMessage")) == 2
        assert asyncio.run(schedule.tick(monday + timedelta(minutes=5))) == ["hr-leads"]
        channels = [c.params["channel"] for c in fake.calls_to("chat.postMessage")]
        assert channels == ["C0HRLEADS", "C0ENGLEADS", "C0HRLEADS"]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_failed_chart_upload_does_not_post_the_digest_again(
    engine: Engine,
    seeded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    with FakeSlack() as fake:
        schedule = slack_schedule(engine, tmp_path, LEADS[:1], fake)
        fake.fail("files.getUploadURLExternal", "missing_scope", times=5)
        monday = datetime(2026, 11, 9, 9, 0, tzinfo=UTC)
        assert asyncio.run(schedule.tick(monday)) == ["hr-leads"]  # the message went out: posted
        assert fake.calls_to("files.getUploadURLExternal")  # the upload was tried, and refused
        assert runs.posted_at(engine, Week(2026, 45), "hr-leads") is not None
        fresh = DigestSchedule(schedule.publisher, schedule.settings)  # e.g. after a restart
        assert asyncio.run(fresh.tick(monday + timedelta(hours=2))) == []
        assert len(fake.calls_to("chat.postMessage")) == 1
