"""`export-finetune`: voted answers -> train.jsonl, eval.jsonl, sources.tsv and manifest.json.

Files are written under temporary names and renamed at the end, so a failed export never
leaves a half-written dataset that looks complete. Every line is built through its format's
pydantic model (validated) and scrubbed of personal data and secrets first.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bot.answering.prompts import SYSTEM_PROMPT, render_user_message
from bot.store.database import read_only
from bot.store.models import Interaction, PromptText
from eval.finetune.formats import FORMATS, SCHEMA_VERSION, Example, Format, Pair
from eval.finetune.scrub import SCRUBBER_VERSION, Scrubber
from eval.finetune.select import (
    Pick,
    Selection,
    SelectOptions,
    asker_names,
    human_answered,
    load_interactions,
    select_examples,
    split_of,
)
from knowledge.types import Passage

_MARKER = re.compile(r"\[(\d{1,3})\]")
FILES = ("train.jsonl", "eval.jsonl", "sources.tsv")


@dataclass(frozen=True)
class ExportOptions:
    format: str
    out: Path
    select: SelectOptions
    eval_percent: int = 10
    seed: str = "supportbot"


@dataclass(frozen=True)
class ExportResult:
    out: Path
    counts: dict[str, int]
    manifest: dict[str, object]


class ExportError(ValueError):
    pass


def export(
    engine: Engine,
    options: ExportOptions,
    open_groups: frozenset[str],
    current_versions: Mapping[str, str],
    progress: Callable[[str, int, int], None] | None = None,
) -> ExportResult:
    fmt = FORMATS.get(options.format)
    if fmt is None:
        raise ExportError(f"unknown format {options.format!r}; one of: {', '.join(FORMATS)}")
    options.out.mkdir(parents=True, exist_ok=True)
    engine = read_only(engine)
    with tempfile.TemporaryDirectory(prefix="export-") as scratch:
        selection = select_examples(
            engine, options.select, open_groups, current_versions, Path(scratch) / "candidates.db"
        )
        try:
            names = asker_names(engine)
            with _Writer(options, fmt, engine, Scrubber(names=names)) as writer:
                if fmt.kind == "pairs":
                    for pairs in selection.preference_pairs():
                        for good, bad in pairs:
                            writer.pair(good.interaction_id, bad.interaction_id, good.group)
                        if progress:
                            progress("pairs", writer.lines, 0)
                else:
                    for picks in selection.chosen(good_only=fmt.kind == "sft"):
                        writer.examples(picks)
                        if progress:
                            progress("examples", writer.lines, selection.expected(fmt.kind == "sft"))
                if options.select.human_answers:
                    for interaction_id, group, text in human_answered(engine, options.select, open_groups):
                        writer.human(interaction_id, group, text)
        finally:
            selection.close()
    manifest = _manifest(engine, options, fmt, selection, writer, len(names))
    (options.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return ExportResult(options.out, dict(writer.counts), manifest)


class _Writer:
    """Streams lines into the three files, under temporary names until everything worked."""

    def __init__(self, options: ExportOptions, fmt: Format, engine: Engine, scrub: Scrubber) -> None:
        self.options, self.fmt, self.engine, self.scrub = options, fmt, engine, scrub
        self.counts: Counter[str] = Counter()
        self.scrubbed: Counter[str] = Counter()
        self.reconstructed = 0
        self.humans = 0
        self._files: dict[str, IO[str]] = {}
        self._system: dict[str | None, str] = {}

    def __enter__(self) -> _Writer:
        for name in FILES:
            self._files[name] = (self.options.out / f".{name}.partial").open("w", encoding="utf-8")
        self._files["sources.tsv"].write("interaction_id\tsplit\trole\n")
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        for handle in self._files.values():
            handle.close()
        for name in FILES:
            partial = self.options.out / f".{name}.partial"
            if kind is None:
                partial.replace(self.options.out / name)
            else:
                partial.unlink(missing_ok=True)

    @property
    def lines(self) -> int:
        return self.counts["train"] + self.counts["eval"]

    def examples(self, picks: list[Pick]) -> None:
        assert self.fmt.build_example is not None
        by_id = {p.interaction_id: p for p in picks}
        for interaction in load_interactions(self.engine, list(by_id)):
            pick = by_id[interaction.id]
            example = Example(*self._texts(interaction), good=pick.good)
            split = split_of(pick.group, self.options.seed, self.options.eval_percent)
            role = "up" if pick.good else "down"
            self._write(split, self.fmt.build_example(example).model_dump_json(), [(interaction.id, role)])

    def human(self, interaction_id: str, group: str, answer: str) -> None:
        """A person's answer to a handed-off question: the preferred completion for that prompt
        (for pairs, preferred over the bot's own answer)."""
        [interaction] = list(load_interactions(self.engine, [interaction_id]))
        system, user, bot_answer = self._texts(interaction)
        person = self._clean(answer)
        split = split_of(group, self.options.seed, self.options.eval_percent)
        if self.fmt.kind == "pairs":
            assert self.fmt.build_pair is not None
            if person == bot_answer:
                return
            line = self.fmt.build_pair(Pair(system, user, person, bot_answer)).model_dump_json()
            self._write(split, line, [(interaction_id, "human-chosen"), (interaction_id, "rejected")])
        else:
            assert self.fmt.build_example is not None
            line = self.fmt.build_example(Example(system, user, person, good=True)).model_dump_json()
            self._write(split, line, [(interaction_id, "human")])
        self.humans += 1

    def pair(self, good_id: str, bad_id: str, group: str) -> None:
        assert self.fmt.build_pair is not None
        good, bad = list(load_interactions(self.engine, [good_id, bad_id]))
        system, user, chosen = self._texts(good)
        rejected = self._answer(bad)
        line = self.fmt.build_pair(Pair(system, user, chosen, rejected)).model_dump_json()
        split = split_of(group, self.options.seed, self.options.eval_percent)
        self._write(split, line, [(good_id, "chosen"), (bad_id, "rejected")])

    def _write(self, split: str, line: str, sources: list[tuple[str, str]]) -> None:
        self._files[f"{split}.jsonl"].write(line + "\n")
        for interaction_id, role in sources:
            self._files["sources.tsv"].write(f"{interaction_id}\t{split}\t{role}\n")
        self.counts[split] += 1

    def _texts(self, interaction: Interaction) -> tuple[str, str, str]:
        system = self._system_prompt(interaction.system_prompt_sha256)
        user = interaction.user_prompt
        if not user:
            # Extractive answers had no model prompt: show the passages as Claude would see them.
            self.reconstructed += 1
            user = render_user_message(
                interaction.rewritten_question or interaction.question, _passages(interaction)
            )
        return system, self._clean(user), self._answer(interaction)

    def _answer(self, interaction: Interaction) -> str:
        # Stored answers number citations in citation order; the prompt numbers passages by rank.
        rank_of = {p.citation_marker: p.rank for p in interaction.passages if p.citation_marker is not None}
        text = _MARKER.sub(lambda m: f"[{rank_of.get(int(m.group(1)), m.group(1))}]", interaction.answer_text)
        return self._clean(text)

    def _clean(self, text: str) -> str:
        result = self.scrub.scrub(text)
        self.scrubbed.update(result.counts)
        return result.text

    def _system_prompt(self, sha: str | None) -> str:
        if sha not in self._system:
            text = ""
            if sha is not None:
                with Session(self.engine) as session:
                    found = session.get(PromptText, sha)
                    text = found.text if found else ""
            self._system[sha] = text or SYSTEM_PROMPT
        return self._system[sha]


def _passages(interaction: Interaction) -> list[Passage]:
    return [
        Passage(
            p.chunk_id,
            p.doc_id,
            p.title,
            p.section,
            p.version,
            p.source,
            p.score,
            p.text,
            acl=tuple(p.acl or []),
        )
        for p in interaction.passages
    ]


def _manifest(
    engine: Engine, options: ExportOptions, fmt: Format, selection: Selection, writer: _Writer, names: int
) -> dict[str, object]:
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(Interaction)) or 0
    files = {name: _sha256(options.out / name) for name in FILES}
    why = "" if writer.lines else _why_empty(selection, fmt)
    return {
        "dataset_version": hashlib.sha256("".join(files.values()).encode()).hexdigest()[:16],
        "created_at": datetime.now(UTC).isoformat(),
        "format": fmt.name,
        "format_description": fmt.description,
        "schema_version": SCHEMA_VERSION,
        "scrubber_version": SCRUBBER_VERSION,
        "selection": {
            "since": options.select.since.isoformat() if options.select.since else None,
            "until": options.select.until.isoformat() if options.select.until else None,
            "include_restricted": options.select.include_restricted,
            "include_superseded": options.select.include_superseded,
            "human_answers": options.select.human_answers,
            "vote_rule": "majority of current votes; ties left out",
            "eval_percent": options.eval_percent,
            "seed": options.seed,
        },
        "date_range": {
            "first": selection.first.isoformat() if selection.first else None,
            "last": selection.last.isoformat() if selection.last else None,
        },
        "counts": {
            "interactions_in_log": total,
            **dict(sorted(selection.counts.items())),
            "train_lines": writer.counts["train"],
            "eval_lines": writer.counts["eval"],
            "prompts_reconstructed": writer.reconstructed,
            "human_answers": writer.humans,
            "scrubbed": dict(sorted(writer.scrubbed.items())),
            "asker_names_known": names,
        },
        "restricted_text_included": options.select.include_restricted,
        "empty_because": why,
        "sources": "sources.tsv (interaction_id, split, role: up/down/chosen/rejected/human/human-chosen)",
        "files": files,
    }


def _why_empty(selection: Selection, fmt: Format) -> str:
    if not selection.counts["voted"]:
        return "no interaction in the date range has a current vote"
    if not selection.counts["kept_up"] + selection.counts["kept_down"]:
        return "every voted interaction was excluded (see counts)"
    if fmt.kind == "pairs":
        return "no question got both an up and a down vote under the same passages"
    return "no thumbs-up answers remained after the filters (see counts)"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
