"""Golden sets: reading them (every bad line named by file and line), and building one from
the answers the staff voted up (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.settings import load_file_config
from bot.store.interactions import InteractionLog, PassageRecord
from bot.types import VoteSource, VoteValue
from eval.golden import GoldenError, GoldenItem, golden_from_log, load_golden, load_golden_sets, write_golden
from knowledge.loaders import DocumentDefaults, LoaderSettings, load_file
from tests.conftest import REPO
from tests.records import make_record

GOOD = {
    "id": "q1",
    "question": "How long is parental leave?",
    "reference": "20 weeks.",
    "reference_doc_ids": ["parental-leave"],
    "channel": "C0HR",
}


def write_lines(path: Path, *lines: object) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_a_golden_set_round_trips(tmp_path: Path) -> None:
    items = [GoldenItem(**GOOD), GoldenItem(**{**GOOD, "id": "q2", "reference_contexts": ["Twenty weeks."]})]
    path = tmp_path / "golden.jsonl"
    write_golden(path, items)
    assert load_golden(path) == items
    numeric = write_lines(
        tmp_path / "n.jsonl", {**GOOD, "id": 7}, "", {**GOOD, "id": 8}
    )  # blank lines are fine
    assert [i.id for i in load_golden(numeric)] == ["7", "8"]


@pytest.mark.parametrize(
    ("second_line", "problem"),
    [
        ("{not json", ":2: not valid JSON"),
        ('["a list"]', ":2: expected a JSON object"),
        ({k: v for k, v in GOOD.items() if k != "reference"} | {"id": "q2"}, ":2: reference: missing"),
        ({**GOOD, "id": "q2", "reference_doc_ids": []}, ":2: reference_doc_ids: List should have at least 1"),
        ({**GOOD, "id": "q2", "question": "   "}, ":2: question: Value error, must not be blank"),
        ({**GOOD, "id": "q2", "refrence": "typo"}, ":2: refrence: unknown key (expected: id, question"),
        ({**GOOD, "id": "q2", "channel": 5}, ":2: channel: Input should be a valid string"),
        (GOOD, ":2: id 'q1' is already used on line 1"),
    ],
)
def test_a_bad_line_is_named_by_file_and_line(tmp_path: Path, second_line: object, problem: str) -> None:
    path = write_lines(tmp_path / "golden.jsonl", GOOD, second_line)
    with pytest.raises(GoldenError) as caught:
        load_golden(path)
    assert str(caught.value).startswith(str(path)) and problem in str(caught.value)


UNANSWERABLE = {
    "id": "u1",
    "question": "What is on the canteen menu?",
    "channel": "C0ENG",
    "answerable": False,
}


def test_an_unanswerable_question_has_no_reference(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "golden.jsonl", GOOD, UNANSWERABLE)
    good, unanswerable = load_golden(path)
    assert good.answerable and good.reference == "20 weeks."
    assert not unanswerable.answerable and unanswerable.reference is None
    assert unanswerable.reference_doc_ids == [] and unanswerable.reference_contexts == []
    write_golden(tmp_path / "again.jsonl", [good, unanswerable])  # written as it was read
    lines = (tmp_path / "again.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{**GOOD, "reference_contexts": []}, UNANSWERABLE]


@pytest.mark.parametrize(
    ("second_line", "problem"),
    [
        (
            {**UNANSWERABLE, "reference": "Pasta."},
            ":2: reference: an unanswerable question (answerable: false)",
        ),
        ({**UNANSWERABLE, "reference_doc_ids": ["menu"]}, ":2: reference_doc_ids: an unanswerable question"),
        ({**GOOD, "id": "q2", "answerable": True, "reference_doc_ids": []}, ":2: reference_doc_ids: List"),
        ({**UNANSWERABLE, "answerable": "perhaps"}, ":2: answerable: Input should be a valid boolean"),
    ],
)
def test_answerable_and_reference_must_agree(tmp_path: Path, second_line: object, problem: str) -> None:
    path = write_lines(tmp_path / "golden.jsonl", GOOD, second_line)
    with pytest.raises(GoldenError) as caught:
        load_golden(path)
    assert str(caught.value).startswith(str(path)) and problem in str(caught.value)


def test_a_folder_is_every_golden_set_in_it(tmp_path: Path) -> None:
    write_lines(tmp_path / "b.jsonl", UNANSWERABLE)
    write_lines(tmp_path / "a.jsonl", GOOD)
    (tmp_path / "notes.txt").write_text("not a golden set")
    assert [i.id for i in load_golden_sets(tmp_path)] == ["q1", "u1"]
    write_lines(tmp_path / "c.jsonl", {**GOOD, "question": "Again?"})
    with pytest.raises(GoldenError, match=r"c.jsonl: id 'q1' is already used in .*a.jsonl"):
        load_golden_sets(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GoldenError, match="no golden sets"):
        load_golden_sets(tmp_path / "empty")


# -- the shipped golden sets (eval/golden) ------------------------------------------------

SHIPPED = REPO / "eval" / "golden"
# The word that makes each off-topic question off-topic: none of the samples has it (the policy-qa
# PDFs were checked when the set was written; parsing them takes too long for a test).
OFF_TOPIC_WORDS = {
    "off-topic-1": "espresso",
    "off-topic-2": "ticker",
    "off-topic-3": "chef",
    "off-topic-4": "emoji",
    "off-topic-5": "greenland",
    "off-topic-6": "podcast",
    "off-topic-7": "tennis",
    "off-topic-8": "aquarium",
    "off-topic-9": "font",
    "off-topic-10": "spotify",
    "off-topic-11": "barbecue",
    "off-topic-12": "kayak",
    "off-topic-13": "karaoke",
    "off-topic-14": "sauna",
    "off-topic-15": "lanyard",
    "off-topic-16": "moon",
    "off-topic-17": "chess",
    "off-topic-18": "streaming",
}


def sample_audiences() -> dict[str, set[str]]:
    """doc id -> the access groups its front matter (or the default, everyone) gives it."""
    audiences: dict[str, set[str]] = {}
    for path in sorted((REPO / "samples" / "policies").iterdir()):
        doc = load_file(path, DocumentDefaults(audience=("everyone",)), LoaderSettings())
        audiences.setdefault(doc.doc_id, set()).update(doc.audience)
    return audiences


def test_the_shipped_sets_cover_samples_policy_qa_and_off_topic_questions() -> None:
    items = load_golden_sets(SHIPPED)  # ids unique across the files
    by_file = {path.stem: load_golden(path) for path in sorted(SHIPPED.glob("*.jsonl"))}
    assert set(by_file) == {"samples", "policy-qa", "off-topic"}
    assert len(items) == sum(map(len, by_file.values()))
    assert len(by_file["policy-qa"]) == 40 and all(i.answerable for i in by_file["policy-qa"])
    assert 15 <= len(by_file["off-topic"]) <= 20 and not any(i.answerable for i in by_file["off-topic"])
    answerable = [i for i in by_file["samples"] if i.answerable]
    assert 10 <= len(answerable) <= 15


def test_each_samples_question_is_asked_where_its_document_may_be_read() -> None:
    groups = load_file_config(REPO / "config" / "sample.yaml").access.groups
    audiences = sample_audiences()

    def visible(doc_id: str, channel: str) -> bool:
        return any(channel in groups[g] or "*" in groups[g] for g in audiences[doc_id])

    items = load_golden(SHIPPED / "samples.jsonl")
    answers = {i.question: i.reference_doc_ids for i in items if i.answerable}
    for item in items:
        if item.answerable:
            assert all(visible(d, item.channel) for d in item.reference_doc_ids), item.id
        else:  # a question some sample answers, asked where that sample may not be read
            assert not any(visible(d, item.channel) for d in answers[item.question]), item.id


def test_no_sample_answers_an_off_topic_question() -> None:
    text = " ".join(p.read_text().lower() for p in (REPO / "samples" / "policies").iterdir())
    items = load_golden(SHIPPED / "off-topic.jsonl")
    assert {i.id for i in items} == set(OFF_TOPIC_WORDS)
    for item in items:
        word = OFF_TOPIC_WORDS[item.id]
        assert word in item.question.lower() and word not in text, item.id


def test_an_empty_or_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GoldenError, match="no questions"):
        load_golden(write_lines(tmp_path / "empty.jsonl", ""))
    with pytest.raises(GoldenError, match="cannot read golden set"):
        load_golden(tmp_path / "missing.jsonl")


def hr_passage(rank: int, cited: bool, acl: list[str] | None = None) -> PassageRecord:
    return PassageRecord(
        rank,
        f"chunk-hr-{rank}",
        "hr-handbook",
        "HR Handbook",
        "Leave",
        "2",
        "hr.md",
        acl or ["hr-team"],
        0.8,
        "Carers get five days of paid leave.",
        1 if cited else None,
    )


def seed_votes(engine: Engine) -> dict[str, str]:
    """A small log: question -> interaction id."""
    log = InteractionLog(engine)
    ids: dict[str, str] = {}
    cases = [
        # (question, created, votes, overrides)
        ("How long is parental leave?", "2026-10-05T09:00:00+00:00", ["up", "up", "down"], {}),
        ("how long is the parental leave", "2026-10-06T09:00:00+00:00", ["up"], {"channel": "C0ENG"}),
        ("Can I expense a monitor?", "2026-10-06T10:00:00+00:00", ["down"], {}),
        ("Is the office open on Sunday?", "2026-10-06T11:00:00+00:00", ["up", "down"], {}),
        (
            "What is the canteen menu?",
            "2026-10-06T12:00:00+00:00",
            ["up"],
            {"kind": "abstained", "abstained": True, "answer_text": "I couldn't find this."},
        ),
        (
            "How many carer days are there?",
            "2026-10-07T09:00:00+00:00",
            ["up"],
            {"channel": "C0HR", "answer_text": "Five days [1].", "passages": [hr_passage(1, True)]},
        ),
        ("Who approves travel?", "2026-11-20T09:00:00+00:00", ["up"], {}),
    ]
    for question, created, votes, overrides in cases:
        record = make_record(question=question, created_at=created, **overrides)
        log.record(record)
        ids[question] = record.id
        for n, value in enumerate(votes):
            log.vote(record.id, f"U{n}", VoteValue(value), VoteSource.REACTION)
    # A retracted thumbs-up no longer counts: the monitor answer stays net down.
    log.vote(ids["Can I expense a monitor?"], "U9", VoteValue.UP, VoteSource.BUTTON)
    log.retract(ids["Can I expense a monitor?"], "U9")
    return ids


def test_golden_from_the_log_keeps_net_thumbs_up_answers(engine: Engine) -> None:
    ids = seed_votes(engine)
    since = datetime(2026, 10, 1, tzinfo=UTC)
    until = datetime(2026, 11, 1, tzinfo=UTC)
    found = golden_from_log(engine, since, until, open_groups=frozenset({"everyone"}))
    by_question = {item.question: item for item in found.items}
    # The two parental-leave questions are near-duplicates: the later one stands.
    assert sorted(by_question) == ["How many carer days are there?", "how long is the parental leave"]
    leave = by_question["how long is the parental leave"]
    assert leave.id == ids["how long is the parental leave"] and leave.channel == "C0ENG"
    assert leave.reference == "Birth parents get 20 weeks [1]."
    assert leave.reference_doc_ids == ["parental-leave"]  # cited only, not every retrieved passage
    assert leave.reference_contexts == ["The birth parent receives 20 weeks."]
    carers = by_question["How many carer days are there?"]
    assert carers.channel == "C0HR" and carers.reference_doc_ids == ["hr-handbook"]
    assert (found.voted, found.not_net_up, found.not_answered, found.collapsed) == (6, 2, 1, 1)
    assert found.restricted == 1  # the HR handbook is for hr-team only: kept, and counted
    assert len(golden_from_log(engine, open_groups=frozenset({"everyone"})).items) == 3  # no date limits


def test_golden_from_the_log_leaves_out_private_conversations_and_scrubs_personal_data(
    engine: Engine,
) -> None:
    from eval.finetune.scrub import Scrubber

    log = InteractionLog(engine)
    cases = [
        ("Can I see my payslip?", "@dm", "slack", "Ask payroll@acme.example [1]."),
        ("What is my leave balance?", "D0ABC", "slack", "Look in the HR portal [1]."),
        ("When is the team offsite?", "19:chat@thread.v2", "teams", "In May [1]."),
        ("Who signs off carer leave?", "C0HR", "slack", "Priya Raman signs it off, on +44 20 7946 0958 [1]."),
    ]
    for question, channel, platform, answer in cases:
        record = make_record(
            question=question,
            channel=channel,
            platform=platform,
            answer_text=answer,
            created_at="2026-10-05T09:00:00+00:00",
            # cites the open parental-leave passage; an hr-team passage was retrieved, not cited
            passages=[*make_record().passages[:1], hr_passage(2, cited=False)],
        )
        log.record(record)
        log.vote(record.id, "U1", VoteValue.UP, VoteSource.REACTION)
    found = golden_from_log(
        engine,
        open_groups=frozenset({"everyone"}),
        private=("@dm",),
        scrubber=Scrubber(names=["Priya Raman"]),
    )
    assert found.private == 3 and [i.question for i in found.items] == ["Who signs off carer leave?"]
    [item] = found.items
    assert item.reference is not None
    assert "Priya" not in item.reference and "7946" not in item.reference and found.scrubbed >= 2
    assert found.restricted == 0  # only what the answer cites counts, and it cites an open document
    # Without the private scopes (a caller that wants every conversation), all four are kept.
    assert len(golden_from_log(engine, open_groups=frozenset({"everyone"})).items) == 4
