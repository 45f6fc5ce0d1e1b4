"""Which voted answers become training examples, decided row by row while streaming the log.

Rules (each exclusion is counted and reported in the manifest):
- Only current votes count; retracted ones are gone. An answer's label is the majority of
  its current votes; a tie leaves it out (the staff could not agree, neither can we).
- Failed answers are left out (there was no answer to learn from).
- Restricted: an answer whose prompt held a passage of an audience not open to every
  channel is left out unless asked for, so restricted text does not end up in weights.
- Superseded: an answer that cited a document version which has since been replaced (or
  removed) is left out unless asked for: it teaches stale facts.
- Near-duplicate questions form one group (same content words, in any order or case, with
  simple plural folding); per group and label only the most recent answer is kept, and a
  group lands whole in train or in eval, chosen by a seeded hash.
- Preference pairs: an up- and a down-voted answer to the same question group under the
  same passages.

Memory stays flat as the log grows: the first pass keeps its candidates (id, group, label,
passage set) in a scratch SQLite file and settles groups and pairs there with GROUP BY; the
second pass reads the chosen interactions back a batch at a time.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, and_, case, func, select
from sqlalchemy.orm import Session, selectinload

from bot.store.models import Handoff, Interaction, InteractionPassage, Vote

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an the is are was were be been am do does did can could should would will shall may might must "
    "i me my we our you your he she it its they them their this that these those what which who whom "
    "how when where why of to in on at for from by with about as and or but if then so than too very "
    "there here any some all per please hi hello thanks thank".split()
)
BATCH = 500
COUNTED = (
    "voted",
    "excluded_failed_answer",
    "excluded_tied_votes",
    "excluded_upvoted_abstention",
    "excluded_restricted",
    "excluded_superseded",
    "collapsed_near_duplicate",
    "kept_up",
    "kept_down",
)


def question_group(question: str) -> str:
    """Near-duplicates share a key: content words, lower case, plurals folded, sorted."""
    words = {_fold(w) for w in _WORD.findall(question.lower()) if w not in _STOP}
    return " ".join(sorted(words)) or question.strip().lower()


def _fold(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def split_of(group: str, seed: str, eval_percent: int) -> str:
    digest = hashlib.sha256(f"{seed}\x00{group}".encode()).digest()
    return "eval" if int.from_bytes(digest[:8], "big") % 100 < eval_percent else "train"


@dataclass(frozen=True)
class SelectOptions:
    since: datetime | None = None
    until: datetime | None = None
    include_restricted: bool = False
    include_superseded: bool = False
    human_answers: bool = True


@dataclass(frozen=True)
class Pick:
    interaction_id: str
    group: str
    good: bool


# Rows go in oldest first, so the highest rowid of a group is its latest answer.
LATEST_BOTH = (
    "SELECT c.id, c.grp, c.good FROM cand c JOIN (SELECT max(rowid) AS r FROM cand GROUP BY grp, good) "
    "latest ON c.rowid = latest.r ORDER BY c.rowid"
)
LATEST_UP = (
    "SELECT c.id, c.grp, c.good FROM cand c JOIN (SELECT max(rowid) AS r FROM cand WHERE good = 1 "
    "GROUP BY grp, good) latest ON c.rowid = latest.r ORDER BY c.rowid"
)
PAIRS = (
    "SELECT up.id, up.grp, down.id FROM cand up "
    "JOIN (SELECT max(rowid) AS r FROM cand WHERE good = 1 GROUP BY grp, passages) lu ON up.rowid = lu.r "
    "JOIN cand down ON down.grp = up.grp AND down.passages = up.passages "
    "JOIN (SELECT max(rowid) AS r FROM cand WHERE good = 0 GROUP BY grp, passages) ld ON down.rowid = ld.r "
    "ORDER BY up.rowid"
)


class Selection:
    """The first pass's result: candidates in a scratch SQLite file, not in memory.

    Keeping the latest answer per question group, and pairing ups with downs, are GROUP BY
    queries over that file; the export then reads the chosen ones back a batch at a time.
    """

    def __init__(self, scratch: Path) -> None:
        self._db = sqlite3.connect(scratch)
        self._db.execute(
            "CREATE TABLE cand (id TEXT, grp TEXT, good INTEGER, passages TEXT)"  # rowid: oldest first
        )
        self._pending: list[tuple[str, str, int, str]] = []
        self.counts: Counter[str] = Counter()
        self.first: datetime | None = None
        self.last: datetime | None = None

    def add(self, interaction_id: str, created_at: datetime, group: str, good: bool, passages: str) -> None:
        self.first = self.first or created_at
        self.last = created_at
        self._pending.append((interaction_id, group, int(good), passages))
        if len(self._pending) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        self._db.executemany("INSERT INTO cand VALUES (?, ?, ?, ?)", self._pending)
        self._pending.clear()

    def finish(self) -> None:
        self._flush()
        self._db.execute("CREATE INDEX cand_grp ON cand (grp, good, passages)")
        total = self._db.execute("SELECT count(*) FROM cand").fetchone()[0]
        kept = self._db.execute("SELECT count(*) FROM (SELECT 1 FROM cand GROUP BY grp, good)").fetchone()[0]
        self.counts["collapsed_near_duplicate"] = total - kept
        self.counts["kept_up"], self.counts["kept_down"] = self._db.execute(
            "SELECT coalesce(sum(good), 0), coalesce(sum(1 - good), 0) FROM "
            "(SELECT good FROM cand GROUP BY grp, good)"
        ).fetchone()

    def chosen(self, good_only: bool) -> Iterator[list[Pick]]:
        """Per question group and label, the latest answer; in batches, oldest first."""
        rows = self._db.execute(LATEST_UP if good_only else LATEST_BOTH)
        while batch := rows.fetchmany(BATCH):
            yield [Pick(i, g, bool(good)) for i, g, good in batch]

    def preference_pairs(self) -> Iterator[list[tuple[Pick, Pick]]]:
        """The latest up and the latest down answer to one question group under the same passages."""
        rows = self._db.execute(PAIRS)
        while batch := rows.fetchmany(BATCH):
            yield [(Pick(u, g, True), Pick(d, g, False)) for u, g, d in batch]

    def expected(self, good_only: bool) -> int:
        return self.counts["kept_up"] + (0 if good_only else self.counts["kept_down"])

    def close(self) -> None:
        self._db.close()


def _voted(options: SelectOptions):  # type: ignore[no-untyped-def]
    """Interactions with their current up and down counts, oldest first."""
    return voted_interactions(options.since, options.until)


def voted_interactions(since: datetime | None, until: datetime | None):  # type: ignore[no-untyped-def]
    """(Interaction, ups, downs) for every interaction with a current vote, asked in
    [since, until), oldest first: the export's and the golden set's starting point."""
    ups = func.sum(case((Vote.value == "up", 1), else_=0)).label("ups")
    downs = func.sum(case((Vote.value == "down", 1), else_=0)).label("downs")
    tally = (
        select(Vote.interaction_id, ups, downs)
        .where(Vote.retracted_at.is_(None))
        .group_by(Vote.interaction_id)
        .subquery()
    )
    conditions = []
    if since is not None:
        conditions.append(Interaction.created_at >= since)
    if until is not None:
        conditions.append(Interaction.created_at < until)
    return (
        select(Interaction, tally.c.ups, tally.c.downs)
        .join(tally, tally.c.interaction_id == Interaction.id)
        .where(and_(True, *conditions))
        .order_by(Interaction.created_at, Interaction.id)
    )


def select_examples(
    engine: Engine,
    options: SelectOptions,
    open_groups: frozenset[str],
    current_versions: Mapping[str, str],
    scratch: Path,
) -> Selection:
    """First pass: stream every voted interaction once (passages loaded per batch)."""
    result = Selection(scratch)
    for counted in COUNTED:  # every rule appears in the manifest, also when it dropped nothing
        result.counts[counted] = 0
    query = _voted(options).options(selectinload(Interaction.passages)).execution_options(yield_per=BATCH)
    with Session(engine) as session:
        for interaction, ups, downs in session.execute(query):
            result.counts["voted"] += 1
            reason = _excluded(interaction, ups, downs, options, open_groups, current_versions)
            if reason:
                result.counts[f"excluded_{reason}"] += 1
            else:
                passages = "|".join(p.chunk_id for p in interaction.passages)
                group = question_group(_asked(interaction))
                result.add(interaction.id, interaction.created_at, group, ups > downs, passages)
            session.expunge(interaction)  # keep the session's identity map from growing
    result.finish()
    return result


def _asked(interaction: Interaction) -> str:
    return interaction.rewritten_question or interaction.question


def _excluded(
    interaction: Interaction,
    ups: int,
    downs: int,
    options: SelectOptions,
    open_groups: frozenset[str],
    current_versions: Mapping[str, str],
) -> str:
    if interaction.kind == "failed":
        return "failed_answer"
    if ups == downs:
        return "tied_votes"
    # "I could not find this" voted up teaches a model to abstain, though the passages may hold
    # the answer: never a target. Where a person answered it, the human pairs use it as rejected.
    if interaction.kind == "abstained" and ups > downs:
        return "upvoted_abstention"
    passages: Sequence[InteractionPassage] = interaction.passages
    if not options.include_restricted and any(not open_groups.intersection(p.acl or []) for p in passages):
        return "restricted"
    if not options.include_superseded and any(
        current_versions.get(p.doc_id) != p.version for p in passages if p.citation_marker is not None
    ):
        return "superseded"
    return ""


def human_answered(
    engine: Engine, options: SelectOptions, open_groups: frozenset[str]
) -> Iterator[tuple[str, str, str]]:
    """(interaction id, question group, the person's answer) of answers handed to a person and
    answered by them, in the date range; restricted ones left out as for voted answers."""
    query = (
        select(Interaction, Handoff.human_answer)
        .join(Handoff, Handoff.interaction_id == Interaction.id)
        .where(Handoff.human_answer.is_not(None))
        .options(selectinload(Interaction.passages))
        .order_by(Interaction.created_at, Interaction.id)
        .execution_options(yield_per=BATCH)
    )
    if options.since is not None:
        query = query.where(Interaction.created_at >= options.since)
    if options.until is not None:
        query = query.where(Interaction.created_at < options.until)
    with Session(engine) as session:
        for interaction, answer in session.execute(query):
            restricted = any(not open_groups.intersection(p.acl or []) for p in interaction.passages)
            if answer and answer.strip() and (options.include_restricted or not restricted):
                yield interaction.id, question_group(_asked(interaction)), answer.strip()
            session.expunge(interaction)


def asker_names(engine: Engine) -> set[str]:
    """Every asker's names in the whole log, not just the selection: staff name colleagues
    in their questions ("can Priya approve this?"), so each example is scrubbed of all of them."""
    names: set[str] = set()
    query = select(Interaction.asker_names).execution_options(yield_per=BATCH * 10)
    with Session(engine) as session:
        for listed in session.scalars(query):
            names.update(listed or ())
    return names


def load_interactions(engine: Engine, ids: Sequence[str]) -> Iterator[Interaction]:
    """Second pass: the chosen interactions with their passages, a batch at a time, in order."""
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        with Session(engine) as session:
            rows = session.scalars(
                select(Interaction)
                .where(Interaction.id.in_(batch))
                .options(selectinload(Interaction.passages))
            ).all()
            found = {row.id: row for row in rows}
            for interaction_id in batch:
                if interaction_id in found:
                    yield found[interaction_id]
