"""Golden sets: questions with a known good answer and the documents it comes from.

One JSON object per line:
`{"id", "question", "reference", "reference_doc_ids": [...], "channel", "reference_contexts": [...]}`.
`channel` decides what the bot may read when the question is re-asked; `reference_contexts`
(optional) are the passages that hold the answer, for the context-recall metric that
compares texts rather than ids. A question no document visible to its channel answers is
`{"id", "question", "channel", "answerable": false}`, with no reference: the bot should
abstain on it.

Two sources ship with the repo: `eval/golden/policy-qa.jsonl` (built by
`python -m eval.golden_policyqa`) and the log itself (`golden_from_log`): questions whose
answer the staff voted up, with that answer as the reference.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import Engine, true
from sqlalchemy.orm import Session, selectinload

from bot.store.database import read_only
from bot.store.models import Interaction
from eval.digest.numbers import EVERY_CHANNEL, in_scope
from eval.finetune.scrub import Scrubber
from eval.finetune.select import question_group, voted_interactions


class GoldenError(ValueError):
    """A golden set that cannot be used; the message names the file and line."""


class GoldenItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="Unique within the file.")
    question: str = Field(min_length=1, description="Asked exactly as written, with no thread history.")
    reference: str | None = Field(None, description="A correct answer (none when not answerable).")
    reference_doc_ids: list[str] = Field(
        default_factory=list, description="Documents the answer comes from (none when not answerable)."
    )
    channel: str = Field(min_length=1, description="The channel the question is asked in (decides access).")
    reference_contexts: list[str] = Field(
        default_factory=list, description="Passages that hold the answer (optional)."
    )
    answerable: bool = Field(
        True, description="False: no document the channel sees answers it; the bot should abstain."
    )

    @field_validator("id", mode="before")
    @classmethod
    def _number_ids(cls, value: object) -> object:
        # `"id": 7` is a natural thing to write by hand; it means "7".
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("question", "reference", "channel")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return None if value is None else value.strip()

    @field_validator("reference_doc_ids")
    @classmethod
    def _ids_not_blank(cls, value: list[str]) -> list[str]:
        if any(not v.strip() for v in value):
            raise ValueError("document ids must not be blank")
        return [v.strip() for v in value]

    @model_validator(mode="after")
    def _reference_matches_answerable(self) -> GoldenItem:
        # Raised as "field: problem" (load_golden prints it as the field errors above).
        if self.answerable:
            if self.reference is None:
                raise ValueError("reference: missing")
            if not self.reference_doc_ids:
                raise ValueError("reference_doc_ids: List should have at least 1 item")
        else:
            given = [f for f in ("reference", "reference_doc_ids", "reference_contexts") if getattr(self, f)]
            if given:
                raise ValueError(f"{given[0]}: an unanswerable question (answerable: false) has none")
        return self

    def as_json(self) -> dict[str, object]:
        """The line as written: `answerable` only when false, the reference fields only when true."""
        data = self.model_dump()
        if self.answerable:
            del data["answerable"]
        else:
            for name in ("reference", "reference_doc_ids", "reference_contexts"):
                del data[name]
        return data


def load_golden(path: Path) -> list[GoldenItem]:
    """Every line validated; the first bad one is reported as `FILE:LINE: field: problem`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise GoldenError(f"cannot read golden set {path}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise GoldenError(f"{path}: not UTF-8 text ({err.reason})") from err
    items: list[GoldenItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as err:
            raise GoldenError(f"{path}:{number}: not valid JSON ({err})") from None
        if not isinstance(data, dict):
            raise GoldenError(f"{path}:{number}: expected a JSON object with id, question, reference...")
        try:
            item = GoldenItem.model_validate(data)
        except ValidationError as err:
            raise GoldenError(f"{path}:{number}: {_problems(err)}") from None
        if item.id in seen:
            raise GoldenError(f"{path}:{number}: id {item.id!r} is already used on line {seen[item.id]}")
        seen[item.id] = number
        items.append(item)
    if not items:
        raise GoldenError(f"{path}: no questions (one JSON object per line)")
    return items


def load_golden_sets(path: Path) -> list[GoldenItem]:
    """One golden set, or every `*.jsonl` in a folder (`eval/golden`: the shipped sets), in
    file-name order; ids must be unique across the files."""
    if not path.is_dir():
        return load_golden(path)
    files = sorted(path.glob("*.jsonl"))
    if not files:
        raise GoldenError(f"{path}: no golden sets (*.jsonl) in this folder")
    items: list[GoldenItem] = []
    seen: dict[str, Path] = {}
    for file in files:
        for item in load_golden(file):
            if item.id in seen:
                raise GoldenError(f"{file}: id {item.id!r} is already used in {seen[item.id]}")
            seen[item.id] = file
            items.append(item)
    return items


def _problems(error: ValidationError) -> str:
    problems = []
    for issue in error.errors():
        where = ".".join(str(p) for p in issue["loc"]) or "(line)"
        if issue["type"] == "value_error" and not issue["loc"]:  # the item's own check: "field: ..."
            problems.append(str(issue.get("ctx", {}).get("error", issue["msg"])))
            continue
        if issue["type"] == "extra_forbidden":
            message = f"unknown key (expected: {', '.join(GoldenItem.model_fields)})"
        elif issue["type"] == "missing":
            message = "missing"
        else:
            message = issue["msg"]
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def write_golden(path: Path, items: Sequence[GoldenItem]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(item.as_json(), ensure_ascii=False) for item in items]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


# -- from the log ------------------------------------------------------------------------


@dataclass
class LogGolden:
    """What `golden_from_log` found: the items, and why the other voted answers are not in."""

    items: list[GoldenItem] = field(default_factory=list)
    voted: int = 0  # answers with at least one current vote
    not_net_up: int = 0  # as many or more thumbs-down than up
    not_answered: int = 0  # abstained or failed: no answer to hold up as the reference
    no_citation: int = 0  # an answer that cites nothing names no reference document
    collapsed: int = 0  # near-duplicates of a later question (eval.finetune.select.question_group)
    private: int = 0  # asked in a direct message or group chat: the asker's own business
    restricted: int = 0  # kept items citing documents not open to every channel
    scrubbed: int = 0  # personal data replaced (names, emails, phone numbers, keys...)


def golden_from_log(
    engine: Engine,
    since: datetime | None = None,
    until: datetime | None = None,
    open_groups: frozenset[str] = frozenset(),
    private: Sequence[str] = (),
    scrubber: Scrubber | None = None,
) -> LogGolden:
    """Questions whose answer has a net thumbs-up (current votes only), as golden items.

    The reference is that answer, the reference documents are the ones it cited (their
    passages become the reference contexts), the channel is the one it was asked in. Of
    near-duplicate questions only the latest is kept. Questions asked in private
    conversations (the DM scopes in `private`, Slack DMs, Teams group chats) are left out;
    texts go through `scrubber` (the fine-tuning export's) when given. Answers citing
    restricted documents (an audience not in `open_groups`) are kept and counted: a golden
    set stays internal.
    """
    shared = in_scope([EVERY_CHANNEL], private) if private else true()
    query = (
        voted_interactions(since, until)
        .add_columns(shared)
        .options(selectinload(Interaction.passages))
        .execution_options(yield_per=500)
    )
    found = LogGolden()
    latest: dict[str, tuple[GoldenItem, bool]] = {}  # question group -> newest item, restricted
    with Session(read_only(engine)) as session:
        for interaction, up, down, is_shared in session.execute(query):
            found.voted += 1
            if not is_shared:
                found.private += 1
            elif up <= down:
                found.not_net_up += 1
            elif interaction.kind not in ("generated", "extracted") or interaction.abstained:
                found.not_answered += 1
            else:
                cited = [p for p in interaction.passages if p.citation_marker is not None]
                if not cited:
                    found.no_citation += 1
                else:
                    asked = interaction.rewritten_question or interaction.question
                    clean = _Cleaner(scrubber, found)
                    item = GoldenItem(
                        id=interaction.id,
                        question=clean(asked),
                        reference=clean(interaction.answer_text),
                        reference_doc_ids=list(dict.fromkeys(p.doc_id for p in cited)),
                        channel=interaction.channel,
                        reference_contexts=[clean(p.text) for p in cited],
                    )
                    restricted = any(not open_groups.intersection(p.acl or []) for p in cited)
                    group = question_group(asked)
                    found.collapsed += group in latest
                    latest[group] = (item, restricted)  # oldest first: a later answer replaces it
            session.expunge(interaction)
    found.items = [item for item, _ in latest.values()]
    found.restricted = sum(restricted for _, restricted in latest.values())
    return found


@dataclass
class _Cleaner:
    scrubber: Scrubber | None
    found: LogGolden

    def __call__(self, text: str) -> str:
        if self.scrubber is None:
            return text
        result = self.scrubber.scrub(text)
        self.found.scrubbed += sum(result.counts.values())
        return result.text
