"""The fine-tuning export's core: selection rules, the formats' schemas, the manifest.

Runs on SQLite and on the session's PostgreSQL (the `engine` fixture)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.store.interactions import InteractionLog, PassageRecord
from bot.store.models import Handoff
from bot.types import VoteSource, VoteValue
from eval.finetune.export import ExportOptions, export
from eval.finetune.formats import FORMATS
from eval.finetune.select import SelectOptions, question_group, split_of
from tests.records import make_record

OPEN = frozenset({"everyone"})
CURRENT = {"parental-leave": "3", "remote-work": "2", "hr-investigations": "1"}
T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def passage(
    rank: int, doc: str, version: str, acl: list[str], marker: int | None, chunk: str | None = None
) -> PassageRecord:
    return PassageRecord(
        rank,
        chunk or f"{doc}-{rank}",
        doc,
        doc.title(),
        "",
        version,
        f"{doc}.md",
        acl,
        0.5,
        f"Text of {doc}.",
        marker,
    )


class Log:
    """A log to seed: answers with votes, at given times."""

    def __init__(self, engine: Engine) -> None:
        self.log = InteractionLog(engine)
        self.minutes = 0

    def answer(self, question: str, *votes: tuple[str, str], **fields: Any) -> str:
        self.minutes += 1
        record = make_record(
            question=question, created_at=(T0 + timedelta(minutes=self.minutes)).isoformat(), **fields
        )
        assert self.log.record(record)
        for user, value in votes:
            self.log.vote(record.id, user, VoteValue(value), VoteSource.REACTION)
        return record.id


def run(
    engine: Engine, tmp_path: Path, fmt: str, **select: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    out = tmp_path / fmt
    result = export(engine, ExportOptions(fmt, out, SelectOptions(**select), eval_percent=0), OPEN, CURRENT)
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    evals = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert json.loads((out / "manifest.json").read_text()) == json.loads(json.dumps(result.manifest))
    return result.manifest, train, evals


def test_votes_decide_by_majority_and_ties_or_retractions_drop_out(engine: Engine, tmp_path: Path) -> None:
    log = Log(engine)
    log.answer("How long is parental leave?", ("U1", "up"), ("U2", "up"), ("U3", "down"))
    log.answer("Can I work from abroad?", ("U1", "up"), ("U2", "down"))  # a tie
    retracted = log.answer("Who pays for my chair?", ("U1", "up"))
    log.log.retract(retracted, "U1")
    log.answer("Is there a gym?")  # no vote at all
    manifest, train, _ = run(engine, tmp_path, "trl-kto")
    assert [(line["completion"][0]["content"], line["label"]) for line in train] == [
        ("Birth parents get 20 weeks [1].", True)
    ]
    counts = manifest["counts"]
    assert counts["voted"] == 2 and counts["excluded_tied_votes"] == 1 and counts["interactions_in_log"] == 4
    assert manifest["selection"]["vote_rule"] == "majority of current votes; ties left out"


def test_restricted_and_superseded_answers_are_left_out_unless_asked_for(
    engine: Engine, tmp_path: Path
) -> None:
    log = Log(engine)
    log.answer("How long is parental leave?", ("U1", "up"))
    log.answer(
        "How are complaints handled?",
        ("U1", "up"),
        passages=[passage(1, "hr-investigations", "1", ["hr-team"], 1)],
    )
    log.answer(
        "What did the old remote policy say?",
        ("U1", "up"),
        passages=[passage(1, "remote-work", "1", ["everyone"], 1)],
    )
    manifest, train, _ = run(engine, tmp_path, "openai-sft")
    assert len(train) == 1 and manifest["counts"]["excluded_restricted"] == 1
    assert manifest["counts"]["excluded_superseded"] == 1 and manifest["restricted_text_included"] is False
    manifest, train, _ = run(engine, tmp_path, "openai-sft", include_restricted=True, include_superseded=True)
    assert len(train) == 3 and manifest["restricted_text_included"] is True


def test_near_duplicates_collapse_and_groups_never_straddle_the_split(engine: Engine, tmp_path: Path) -> None:
    assert question_group("How long is parental leave?") == question_group("parental leave: how long??")
    assert question_group("How many days of leave?") == question_group("how many day of leave")
    assert question_group("parental leave") != question_group("annual leave")
    log = Log(engine)
    for i, question in enumerate(
        ["How long is parental leave?", "how long is PARENTAL leave", "Parental leave, how long?"]
    ):
        log.answer(question, (f"U{i}", "up"))
    manifest, train, _ = run(engine, tmp_path, "trl-sft")
    assert len(train) == 1 and manifest["counts"]["collapsed_near_duplicate"] == 2
    # The split is by question group and seeded: stable, and about the asked share.
    groups = [f"question {i}" for i in range(2000)]
    evals = [g for g in groups if split_of(g, "seed", 10) == "eval"]
    assert 150 < len(evals) < 250 and evals == [g for g in groups if split_of(g, "seed", 10) == "eval"]
    assert evals != [g for g in groups if split_of(g, "other seed", 10) == "eval"]


def test_dpo_pairs_are_mined_from_the_same_question_under_the_same_passages(
    engine: Engine, tmp_path: Path
) -> None:
    log = Log(engine)
    log.answer("How long is parental leave?", ("U1", "up"), answer_text="Birth parents get 20 weeks [1].")
    log.answer("how long is parental leave", ("U2", "down"), answer_text="It depends [1].")
    log.answer("Can I work from abroad?", ("U1", "down"))  # a down without an up: no pair
    for fmt in ("trl-dpo", "openai-dpo"):
        _, train, _ = run(engine, tmp_path, fmt)
        assert len(train) == 1, fmt
        line = train[0]
        if fmt == "trl-dpo":
            assert (
                line["chosen"][0]["content"].startswith("Birth parents")
                and line["rejected"][0]["content"] == "It depends [1]."
            )
            assert [m["role"] for m in line["prompt"]] == ["system", "user"]
        else:
            assert line["preferred_output"][0]["content"].startswith("Birth parents")
            assert line["non_preferred_output"][0]["content"] == "It depends [1]."


def test_every_format_validates_and_keeps_the_prompt_as_the_bot_saw_it(
    engine: Engine, tmp_path: Path
) -> None:
    log = Log(engine)
    log.answer(
        "How long is parental leave? Mail me at jane.doe@example.com",
        ("U1", "up"),
        user_prompt='<documents><document index="1">The birth parent receives 20 weeks.</document></documents>',
        system_prompt="You answer from documents.",
    )
    # Citations were renumbered in citation order; the export puts the prompt's numbers back.
    log.answer(
        "What does remote work allow?",
        ("U1", "up"),
        answer_text="Up to three days [1].",
        passages=[
            passage(1, "parental-leave", "3", ["everyone"], None),
            passage(2, "remote-work", "2", ["everyone"], 1),
        ],
        user_prompt="",
        system_prompt="",
        kind="extracted",
    )
    for name, fmt in FORMATS.items():
        manifest, train, evals = run(engine, tmp_path, name)
        for line in train + evals:
            fmt.model.model_validate(line)  # the schema again, from the file
        if fmt.kind == "pairs":
            assert train == [] and manifest["empty_because"].startswith("no question got both")
            continue
        assert len(train) == 2, name
        text = json.dumps(train)
        assert "20 weeks" in text and "jane.doe@example.com" not in text
        assert "Up to three days [2]." in text  # [1] in the stored answer was passage 2
        assert manifest["counts"]["prompts_reconstructed"] == 1
        assert (
            manifest["files"]["train.jsonl"] and manifest["scrubber_version"] and manifest["schema_version"]
        )
    bedrock = json.loads((tmp_path / "bedrock-claude-sft" / "train.jsonl").read_text().splitlines()[0])
    assert bedrock["system"] == "You answer from documents." and [m["role"] for m in bedrock["messages"]] == [
        "user",
        "assistant",
    ]


def test_askers_names_are_scrubbed_wherever_they_appear(engine: Engine, tmp_path: Path) -> None:
    log = Log(engine)
    extractive: dict[str, Any] = {"user_prompt": "", "kind": "extracted"}  # the question is in the prompt
    # Priya's own question signs with her name; Tomasz names her in his; Ola asked but got
    # no vote, and her name still goes, since the scrubber knows every asker in the log.
    log.answer(
        "Priya here: how long is parental leave?",
        ("U1", "up"),
        asker_names=["Priya Sharma", "priya.s"],
        **extractive,
    )
    log.answer(
        "Can Priya Sharma or Ola approve my remote days?",
        ("U2", "up"),
        user_id="U2",
        asker_names=["Tomasz Nowak"],
        **extractive,
    )
    log.answer("Is there a gym?", user_id="U3", asker_names=["Ola Kowalska"])
    manifest, train, _ = run(engine, tmp_path, "openai-sft")
    text = json.dumps(train)
    assert len(train) == 2 and "Priya" not in text and "Ola" not in text
    assert "[NAME] here: how long is parental leave?" in text
    assert "Can [NAME] or [NAME] approve my remote days?" in text
    assert manifest["counts"]["asker_names_known"] == 4
    assert manifest["counts"]["scrubbed"]["name"] == 3


def test_an_empty_selection_gives_empty_files_and_says_why(engine: Engine, tmp_path: Path) -> None:
    manifest, train, evals = run(engine, tmp_path, "openai-sft")
    assert (
        train == evals == []
        and manifest["empty_because"] == "no interaction in the date range has a current vote"
    )
    log = Log(engine)
    log.answer("How long is parental leave?", ("U1", "up"))
    manifest, train, _ = run(engine, tmp_path, "openai-sft", since=T0 + timedelta(days=1))
    assert train == [] and manifest["counts"]["voted"] == 0
    sources = (tmp_path / "openai-sft" / "sources.tsv").read_text().splitlines()
    assert sources == ["interaction_id\tsplit\trole"]


@pytest.mark.parametrize("name", ["trl-sft", "trl-kto", "trl-dpo"])
def test_hugging_face_datasets_loads_the_trl_files(name: str, engine: Engine, tmp_path: Path) -> None:
    """TRL trains from `datasets`; its JSON loader must read our files with the columns TRL expects."""
    import datasets  # a dev dependency: the check always runs

    log = Log(engine)
    log.answer("How long is parental leave?", ("U1", "up"), answer_text="Birth parents get 20 weeks [1].")
    log.answer("how long is parental leave", ("U2", "down"), answer_text="It depends [1].")
    log.answer("Can I work from abroad?", ("U3", "up"))
    run(engine, tmp_path, name)
    loaded = datasets.load_dataset(
        "json", data_files=str(tmp_path / name / "train.jsonl"), split="train", cache_dir=str(tmp_path / "hf")
    )
    columns = {
        "trl-sft": ["messages"],
        "trl-kto": ["completion", "label", "prompt"],
        "trl-dpo": ["chosen", "prompt", "rejected"],
    }
    assert sorted(loaded.column_names) == columns[name] and len(loaded) >= 1
    first = loaded[0]
    conversation = first["messages"] if name == "trl-sft" else first["prompt"]
    assert [m["role"] for m in conversation][:2] == ["system", "user"]


def test_a_persons_answer_to_a_handed_off_question_is_the_preferred_completion(
    engine: Engine, tmp_path: Path
) -> None:
    log = Log(engine)
    handed = log.answer("Can I bring my dog to the office?", ("U1", "down"), answer_text="It depends [1].")
    restricted = log.answer(
        "What happens in an investigation?",
        answer_text="See the HR guide [1].",
        passages=[passage(1, "hr-investigations", "1", ["hr-team"], 1)],
    )
    with Session(engine) as session, session.begin():
        for iid, text in (
            (handed, "Yes, on Fridays, if your team agrees. Ask jane.doe@example.com."),
            (restricted, "Ask HR."),
        ):
            session.add(
                Handoff(
                    interaction_id=iid,
                    requested_by="U1",
                    escalation_platform="slack",
                    escalation_channel="C0HELP",
                    escalation_message_id="1.2",
                    human_answer=text,
                    answered_by="U9",
                )
            )
    manifest, train, _ = run(engine, tmp_path, "trl-dpo")
    # The person's answer is chosen over the bot's; restricted ones stay out; personal data scrubbed.
    assert len(train) == 1 and manifest["counts"]["human_answers"] == 1
    assert "Yes, on Fridays" in json.dumps(train[0]["chosen"]) and "It depends" in json.dumps(
        train[0]["rejected"]
    )
    assert "jane.doe@example.com" not in json.dumps(train)
    manifest, train, _ = run(engine, tmp_path, "openai-sft")
    assert [line["messages"][-1]["content"] for line in train] == [
        "Yes, on Fridays, if your team agrees. Ask [EMAIL]."
    ]
    manifest, train, _ = run(engine, tmp_path, "openai-sft", human_answers=False)
    assert train == [] and manifest["counts"]["human_answers"] == 0


def test_a_voted_up_abstention_is_never_a_target_only_a_rejected_beside_a_persons_answer(
    engine: Engine, tmp_path: Path
) -> None:
    log = Log(engine)
    shy = dict(kind="abstained", abstained=True, answer_text="I could not find this in the documents.")
    alone = log.answer("How long is parental leave?", ("U1", "up"), **shy)  # type: ignore[arg-type]
    manifest, train, _ = run(engine, tmp_path, "openai-sft")
    assert train == [] and manifest["counts"]["excluded_upvoted_abstention"] == 1
    manifest, train, _ = run(engine, tmp_path, "trl-kto")
    assert train == []  # not a "good" example either
    with Session(engine) as session, session.begin():
        session.add(
            Handoff(
                interaction_id=alone,
                requested_by="U1",
                escalation_platform="slack",
                escalation_channel="C0HELP",
                escalation_message_id="1.3",
                human_answer="Birth parents get 20 weeks.",
                answered_by="U9",
            )
        )
    _, train, _ = run(engine, tmp_path, "trl-dpo")
    assert len(train) == 1
    assert "20 weeks" in json.dumps(train[0]["chosen"])
    assert "could not find" in json.dumps(train[0]["rejected"])
