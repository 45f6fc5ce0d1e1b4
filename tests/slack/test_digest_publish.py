"""Posting a digest once: the claim is renewed while a slow digest builds, a posted digest
the database missed is recorded later (never posted again), a forced post keeps another
replica's claim, and a lead failing for days keeps a bounded back-off."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from adapters import digests as digests_module
from adapters.digest_schedule import RETRY_MAX
from adapters.slack import web_client
from bot.store.models import DigestRun
from eval.digest import runs
from tests.digest_helpers import publisher, slack_schedule
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import wait_until
from tests.test_digest_numbers import WEEK, seeded  # noqa: F401 (fixture)

HR_LEADS = {"name": "hr-leads", "platform": "slack", "channel": "C0LEADS", "covers": ["C0HR"]}
DUE = datetime(2026, 11, 9, 9, 0, tzinfo=UTC)  # the digest of WEEK is due


def claimed_at(engine: Engine) -> datetime:
    with Session(engine) as session:
        run = session.get(DigestRun, (str(WEEK), "hr-leads"))
        assert run is not None
        return run.claimed_at


def test_a_slow_build_keeps_its_claim_fresh(
    fake: FakeSlack,
    engine: Engine,
    seeded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    digests = publisher(engine, tmp_path, [HR_LEADS], slack=web_client(fake.bot_token, fake.api_url))
    digests.claim_refresh_s = 0.05
    seen: list[datetime] = []
    build = digests.build

    def slow_build(*args: Any) -> Any:
        # RAGAS with a slow judge, in miniature: the build lasts until the claim is renewed
        # (or 60 s, and the test fails), however slowly the heartbeat gets to run.
        seen.append(claimed_at(engine))
        wait_until(lambda: claimed_at(engine) > seen[0])
        seen.append(claimed_at(engine))
        return build(*args)

    digests.build = slow_build  # type: ignore[method-assign]
    [target] = digests.targets()
    assert asyncio.run(digests.publish(WEEK, target)).posted
    assert seen[1] > seen[0]  # renewed during the build: no other replica sees a dead owner


def test_a_posted_digest_the_database_missed_is_recorded_later_not_posted_again(
    fake: FakeSlack,
    engine: Engine,
    seeded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(digests_module, "RECORD_BACKOFF_S", 0.01)
    record = runs.record
    failures = {"left": digests_module.RECORD_ATTEMPTS}  # every attempt of the first round

    def flaky_record(*args: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("the database went away")
        record(*args)

    monkeypatch.setattr(runs, "record", flaky_record)
    schedule = slack_schedule(engine, tmp_path, [HR_LEADS], fake)
    assert asyncio.run(schedule.tick(DUE)) == ["hr-leads"]
    assert runs.posted_at(engine, WEEK, "hr-leads") is None  # posted, but not recorded yet
    assert asyncio.run(schedule.tick(DUE + timedelta(minutes=1))) == []
    assert runs.posted_at(engine, WEEK, "hr-leads") is not None  # recorded at the next tick
    assert len(fake.calls_to("chat.postMessage")) == 1


def test_a_forced_post_that_fails_keeps_another_replicas_claim(
    fake: FakeSlack,
    engine: Engine,
    seeded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    assert runs.claim(engine, WEEK, "hr-leads")  # another replica is building it
    before = claimed_at(engine)
    digests = publisher(engine, tmp_path, [HR_LEADS], slack=web_client(fake.bot_token, fake.api_url))
    fake.fail("chat.postMessage", "not_in_channel")
    [target] = digests.targets()
    with pytest.raises(Exception, match="not_in_channel"):
        asyncio.run(digests.publish(WEEK, target, force=True))
    assert claimed_at(engine) == before  # still theirs: not released by our failure


def test_a_lead_failing_for_days_waits_at_most_four_hours_between_tries(
    engine: Engine,
    seeded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    with FakeSlack() as fake:
        schedule = slack_schedule(engine, tmp_path, [HR_LEADS], fake)
        key = (str(WEEK), "hr-leads")
        schedule._failing[key] = (60, DUE)  # failed every few hours for more than a week
        fake.fail("chat.postMessage", "not_in_channel")
        assert asyncio.run(schedule.tick(DUE)) == []
        failures, not_before = schedule._failing[key]
        assert failures == 61 and not_before == DUE + RETRY_MAX
