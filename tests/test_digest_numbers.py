"""The digest's numbers from a seeded log whose figures are known, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.store.interactions import InteractionLog, PassageRecord
from bot.store.models import AnswerMessage, DigestRun
from bot.types import VoteSource, VoteValue
from eval.digest import runs
from eval.digest.gaps import find_gaps
from eval.digest.numbers import week_numbers
from eval.digest.week import Week, WeekError
from knowledge.types import DocumentInfo
from tests.records import make_record

WEEK = Week(2026, 45)  # Mon 2 Nov to Sun 8 Nov 2026
MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def cited(doc: str, version: str, marker: int | None = 1, rank: int = 1) -> PassageRecord:
    return PassageRecord(
        rank,
        f"{doc}-{rank}",
        doc,
        doc.replace("-", " ").title(),
        "",
        version,
        f"{doc}.md",
        ["everyone"],
        0.5,
        "...",
        marker,
    )


def catalogue() -> dict[str, DocumentInfo]:
    def info(doc: str, version: str, effective: str) -> DocumentInfo:
        return DocumentInfo(
            doc,
            doc.replace("-", " ").title(),
            version,
            effective,
            ("everyone",),
            "",
            "h",
            3,
            "2026-10-01T00:00:00+00:00",
        )

    return {
        "parental-leave": info("parental-leave", "3", "2026-09-01"),
        "remote-work": info("remote-work", "2", "2026-10-15"),  # v1 was replaced
        "expenses": info("expenses", "1", "2019-04-01"),  # old, still cited: stale
    }


class Seed:
    def __init__(self, engine: Engine) -> None:
        self.log = InteractionLog(engine)
        self.engine = engine

    def answer(self, when: datetime, votes: tuple[tuple[str, str, str], ...] = (), **fields: Any) -> str:
        record = make_record(created_at=when.isoformat(), **fields)
        assert self.log.record(record)
        for user, value, comment in votes:
            self.log.vote(record.id, user, VoteValue(value), VoteSource.REACTION, comment)
        return record.id


@pytest.fixture
def seeded(engine: Engine) -> dict[str, Any]:
    seed = Seed(engine)
    ids: dict[str, Any] = {}
    # Last week: 4 questions from 3 askers, one thumbs-up.
    for i, user in enumerate(["U1", "U1", "U2", "U3"]):
        seed.answer(
            MONDAY - timedelta(days=7) + timedelta(hours=i),
            user_id=user,
            latency_ms=1000.0,
            votes=(("U9", "up", ""),) if i == 0 else (),
        )
    # This week: 10 questions from 5 askers in two channels; latencies 100..900 ms plus a failure.
    pl, rw1, ex = cited("parental-leave", "3"), cited("remote-work", "1"), cited("expenses", "1")
    plan = [
        # (day, user, channel, kind, latency, passages, votes)
        (0, "U1", "C0HR", "generated", 100, [pl], (("U5", "up", ""), ("U6", "up", ""))),
        (
            0,
            "U2",
            "C0HR",
            "generated",
            200,
            [pl, cited("expenses", "1", 2, 2)],
            (("U5", "down", "wrong amount"), ("U6", "down", ""), ("U7", "up", "")),
        ),
        (1, "U3", "C0HR", "generated", 300, [rw1], (("U5", "down", "that policy changed"),)),
        (1, "U3", "C0ENG", "abstained", 400, [], ()),
        (2, "U4", "C0ENG", "abstained", 500, [], ()),
        (2, "U4", "C0ENG", "generated", 600, [ex], (("U5", "up", ""),)),
        (3, "U5", "C0ENG", "generated", 700, [ex], ()),
        (4, "U5", "C0HR", "extracted", 800, [pl], (("U8", "up", ""),)),
        (4, "U1", "C0HR", "generated", 900, [rw1], ()),
        (6, "U2", "C0HR", "failed", 5000, [], ()),
    ]
    questions = [
        "How long is parental leave?",
        "How much can I claim for a monitor?",
        "Can I work from home on Fridays?",
        "Is there a company gym?",
        "is there a gym at the office",
        "Can I expense a taxi?",
        "Who approves expenses?",
        "When does leave start?",
        "How many remote days do I get?",
        "Broken question",
    ]
    for n, ((day, user, channel, kind, latency, passages, votes), question) in enumerate(
        zip(plan, questions, strict=True)
    ):
        iid = seed.answer(
            MONDAY + timedelta(days=day, minutes=n),
            votes,
            user_id=user,
            channel=channel,
            kind=kind,
            abstained=kind == "abstained",
            latency_ms=float(latency),
            passages=passages,
            question=question,
            answer_text="I couldn't find this." if kind == "abstained" else f"Answer {n} [1].",
        )
        ids[question] = iid
    # A retracted vote does not count; an answer next week does not either.
    seed.log.retract(ids["When does leave start?"], "U8")
    seed.answer(MONDAY + timedelta(days=7, hours=1), (("U5", "down", ""),))
    with Session(engine) as session, session.begin():
        session.add(
            AnswerMessage(
                platform="slack",
                channel="C0HR",
                message_id="1762074000.000200",
                interaction_id=ids["How much can I claim for a monitor?"],
            )
        )
    return ids


def test_the_weeks_numbers_are_what_the_log_says(engine: Engine, seeded: dict[str, Any]) -> None:
    links: list[tuple[str, str, str]] = []

    def link(platform: str, channel: str, message: str) -> str:
        links.append((platform, channel, message))
        return f"https://acme.slack.com/archives/{channel}/p{message.replace('.', '')}"

    numbers = week_numbers(engine, WEEK, ["*"], catalogue(), stale_after_days=365, link=link)
    head = numbers.headline
    assert (head.questions, head.askers, head.abstained, head.failed) == (10, 5, 2, 1)
    # Votes: up 2+1+1 (the retracted one is gone), down 2+1.
    assert (head.votes_up, head.votes_down, head.voted_answers) == (4, 3, 4)
    assert head.helpful_rate == pytest.approx(4 / 7) and head.vote_share == pytest.approx(0.4)
    assert head.abstention_rate == pytest.approx(0.2)
    expected = np.percentile([100, 200, 300, 400, 500, 600, 700, 800, 900], [50, 95])
    assert (head.latency_p50_ms, head.latency_p95_ms) == (pytest.approx(500.0), pytest.approx(expected[1]))
    assert (numbers.previous.questions, numbers.previous.askers, numbers.previous.votes_up) == (4, 3, 1)
    assert [d.questions for d in numbers.days] == [2, 2, 2, 1, 2, 0, 1]
    assert [(d.votes_up, d.votes_down) for d in numbers.days][:2] == [(3, 2), (0, 1)]
    # Worst first: -1 (one down) ... ties by time; comments kept; the link from the posted message.
    assert [(w.question, w.ups, w.downs) for w in numbers.worst] == [
        ("How much can I claim for a monitor?", 1, 2),
        ("Can I work from home on Fridays?", 0, 1),
    ]
    assert numbers.worst[0].comments == ("wrong amount",) and numbers.worst[1].comments == (
        "that policy changed",
    )
    assert numbers.worst[0].link == "https://acme.slack.com/archives/C0HR/p1762074000000200"
    assert numbers.worst[1].link is None and links == [("slack", "C0HR", "1762074000.000200")]
    # Documents: cited counts per answer, thumbs-down answers, stale and superseded.
    uses = {d.doc_id: d for d in numbers.documents}
    assert {k: (u.cited, u.in_down) for k, u in uses.items()} == {
        "parental-leave": (3, 1),
        "expenses": (3, 1),
        "remote-work": (2, 1),
    }
    assert [d.doc_id for d in numbers.most_down] == ["expenses", "parental-leave", "remote-work"]
    assert [d.doc_id for d in numbers.stale] == ["expenses"]
    assert [(d.doc_id, d.on_old_version, d.current_version) for d in numbers.superseded] == [
        ("remote-work", 2, "2")
    ]
    # Gaps: the unanswered and thumbs-down questions (without a model: grouped by content words).
    assert sorted((g.example, g.abstained, g.thumbs_down) for g in numbers.gaps) == [
        ("Can I work from home on Fridays?", 0, 1),
        ("How much can I claim for a monitor?", 0, 1),
        ("Is there a company gym?", 1, 0),
        ("is there a gym at the office", 1, 0),
    ]


def test_a_leads_digest_sees_only_its_channels(engine: Engine, seeded: dict[str, Any]) -> None:
    numbers = week_numbers(engine, WEEK, ["C0ENG"], catalogue())
    assert (numbers.headline.questions, numbers.headline.abstained, numbers.headline.votes_up) == (4, 2, 1)
    assert numbers.worst == () and {d.doc_id for d in numbers.documents} == {"expenses"}
    assert all(set(g.channels) == {"C0ENG"} for g in numbers.gaps)
    assert numbers.scope == ("C0ENG",)


def test_every_channel_leaves_direct_messages_out_of_a_leads_digest(
    engine: Engine, seeded: dict[str, Any]
) -> None:
    seed = Seed(engine)
    private = [("@dm", "slack"), ("@dm", "teams"), ("D0ABC", "slack"), ("19:chat@thread.v2", "teams")]
    shared = [("D0ABC", "teams"), ("19:general@thread.tacv2", "teams")]  # Teams channels, whatever the name
    for channel, platform in private + shared:
        seed.answer(
            MONDAY + timedelta(hours=3), channel=channel, platform=platform, question=f"about {channel}"
        )
    everything = week_numbers(engine, WEEK, ["*"], catalogue())
    assert everything.headline.questions == 16  # the local digest of every channel has them all
    lead = week_numbers(engine, WEEK, ["*"], catalogue(), private=("@dm",))
    assert lead.headline.questions == 12  # the seeded 10 and the two Teams channels
    named = week_numbers(engine, WEEK, ["*", "@dm"], catalogue(), private=("@dm",))
    assert named.headline.questions == 16  # a lead that names the DM scope gets them too
    explicit = week_numbers(engine, WEEK, ["@dm"], catalogue(), private=("@dm",))
    assert explicit.headline.questions == 2


def test_a_leads_week_and_its_days_are_in_the_leads_time_zone(engine: Engine) -> None:
    seed = Seed(engine)
    seed.answer(datetime(2026, 11, 1, 14, 0, tzinfo=UTC))  # Mon 2 Nov 01:00 in Sydney: week 45 there
    seed.answer(datetime(2026, 11, 8, 14, 0, tzinfo=UTC))  # Mon 9 Nov 01:00 in Sydney: week 46 there
    sydney = week_numbers(engine, Week(2026, 45, "Australia/Sydney"), ["*"], {})
    assert sydney.headline.questions == 1
    assert [d.questions for d in sydney.days] == [1, 0, 0, 0, 0, 0, 0]  # on Sydney's Monday
    utc = week_numbers(engine, Week(2026, 45), ["*"], {})
    assert utc.headline.questions == 1 and [d.questions for d in utc.days][-1] == 1  # UTC's Sunday


def test_an_empty_week_has_no_numbers_to_divide(engine: Engine) -> None:
    numbers = week_numbers(engine, WEEK, ["*"], {})
    head = numbers.headline
    assert head.questions == 0 and head.helpful_rate is None and head.latency_p95_ms is None
    assert numbers.gaps == () and numbers.documents == () and len(numbers.days) == 7


def test_gaps_group_questions_by_meaning_with_the_embedding_model(embed_model: Any) -> None:
    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(embed_model.get_text_embedding_batch(texts))

    items = [
        ("How do I claim mileage for my car?", "abstained", "C1"),
        ("Can I claim mileage when I drive my car for work?", "thumbs-down", "C2"),
        ("What is the mileage rate for business trips by car?", "abstained", "C1"),
        ("How much is the car mileage allowance?", "abstained", "C1"),
        ("Is there a gym in the office?", "abstained", "C1"),
    ]
    gaps = find_gaps(items, embed)  # the default similarity, as the digest uses it
    assert [g.size for g in gaps] == [4, 1]
    assert set(gaps[0].questions) == {q for q, _, _ in items[:4]} and gaps[0].channels == ("C1", "C2")
    assert (gaps[0].abstained, gaps[0].thumbs_down) == (3, 1)
    assert gaps[1].example == "Is there a gym in the office?"


def test_weeks_parse_and_step() -> None:
    week = Week.parse("2026-W01")
    assert week.start == datetime(2025, 12, 29, tzinfo=UTC) and str(week.previous) == "2025-W52"
    assert Week.last_complete(datetime(2026, 11, 23, 8, tzinfo=UTC)) == Week(2026, 47)
    for bad in ("2026-47", "2026-W54", "W47", "2025-W53"):
        with pytest.raises(WeekError):
            Week.parse(bad)


def test_a_week_is_claimed_once_and_a_dead_claim_is_taken_over(engine: Engine) -> None:
    assert runs.claim(engine, WEEK, "hr-leads") is True
    assert runs.claim(engine, WEEK, "hr-leads") is False  # another replica, the same week
    assert runs.claim(engine, WEEK, "eng-leads") is True  # another target
    # The first claimer died before posting: after the retry delay someone else may post.
    assert runs.claim(engine, WEEK, "hr-leads", retry_after=timedelta(0)) is True
    runs.record(engine, WEEK, "hr-leads", {"quality": {"golden": {"mrr": 0.5}}}, posted=True)
    assert runs.claim(engine, WEEK, "hr-leads", retry_after=timedelta(0)) is False  # posted: never again
    assert runs.previous_quality(engine, Week(2026, 46), "hr-leads") == {"golden": {"mrr": 0.5}}
    runs.release(engine, WEEK, "eng-leads")
    assert runs.claim(engine, WEEK, "eng-leads") is True  # a failed post may be retried
    with Session(engine) as session:
        assert session.get(DigestRun, (str(WEEK), "hr-leads")).posted_at is not None  # type: ignore[union-attr]


def test_vote_comments_are_scrubbed_before_a_lead_sees_them(engine: Engine) -> None:
    seed = Seed(engine)
    when = datetime.combine(WEEK.start.date(), datetime.min.time(), UTC) + timedelta(hours=10)
    seed.answer(
        when,
        (("U2", "down", "Wrong! Pay it to NL91ABNA0417164300 and ask <@U0ABCDEF12> or jane.doe@acme.com"),),
    )
    numbers = week_numbers(engine, WEEK, ["*"], {})
    [comment] = numbers.worst[0].comments
    assert "NL91ABNA0417164300" not in comment and "U0ABCDEF12" not in comment and "jane.doe" not in comment
    assert comment.startswith("Wrong! Pay it to [IBAN]")
