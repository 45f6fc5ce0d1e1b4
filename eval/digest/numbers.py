"""A week of the interaction log in numbers: what the digest shows, computed in one place.

Definitions (the README's digest section repeats them):

- questions: logged interactions of the week in the lead's channels; askers: distinct users.
- helpful rate: thumbs-up among the current votes on the week's answers (retracted votes
  do not count); vote share: answers with at least one current vote, over all questions.
- abstention rate: answers where the bot said it could not find the answer, over questions;
  failed answers (an apology) are counted apart.
- latency: p50 / p95 of the time to answer, in milliseconds.
- worst-rated: answers with more thumbs-down than up, most down first, with the voters' comments.
- a document's use: answers citing it; in thumbs-down answers: answers with more down than
  up votes citing it. Stale: cited this week, but its current version took effect (or was
  indexed) more than `stale_after_days` ago. Superseded: this week's answers cited a version
  that has since been replaced or removed: they may now be wrong.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import ColumnElement, Engine, and_, or_, select, true
from sqlalchemy.orm import Session

from bot.store.database import read_only
from bot.store.models import AnswerMessage, Interaction, InteractionPassage, Vote
from eval.digest.gaps import Gap, find_gaps
from eval.digest.week import Week
from eval.finetune.scrub import Scrubber
from eval.finetune.select import asker_names
from knowledge.types import DocumentInfo

EVERY_CHANNEL = "*"
# (platform, channel, message id) -> a link to the posted answer, or None.
LinkMaker = Callable[[str, str, str], str | None]
Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Headline:
    questions: int = 0
    askers: int = 0
    abstained: int = 0
    failed: int = 0
    votes_up: int = 0
    votes_down: int = 0
    voted_answers: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None

    @property
    def helpful_rate(self) -> float | None:
        votes = self.votes_up + self.votes_down
        return self.votes_up / votes if votes else None

    @property
    def vote_share(self) -> float | None:
        return self.voted_answers / self.questions if self.questions else None

    @property
    def abstention_rate(self) -> float | None:
        return self.abstained / self.questions if self.questions else None


@dataclass(frozen=True)
class Day:
    day: date
    questions: int
    abstained: int
    votes_up: int
    votes_down: int


@dataclass(frozen=True)
class RatedAnswer:
    interaction_id: str
    created_at: datetime
    platform: str
    channel: str
    question: str
    answer: str
    ups: int
    downs: int
    comments: tuple[str, ...]
    link: str | None


@dataclass(frozen=True)
class DocumentUse:
    doc_id: str
    title: str
    cited: int  # answers citing it this week
    in_down: int  # of which more thumbs-down than up
    cited_versions: tuple[str, ...]
    current_version: str | None  # None: no longer indexed
    effective: str  # the current version's effective date, or when it was indexed
    on_old_version: int  # answers that cited a version since replaced or removed


@dataclass(frozen=True)
class WeekNumbers:
    week: Week
    scope: tuple[str, ...]  # the channels covered, or ("*",)
    headline: Headline
    previous: Headline
    days: tuple[Day, ...]
    latencies_ms: tuple[float, ...]
    worst: tuple[RatedAnswer, ...]
    gaps: tuple[Gap, ...]
    documents: tuple[DocumentUse, ...]  # every cited document, most cited first
    stale: tuple[DocumentUse, ...]
    superseded: tuple[DocumentUse, ...]

    @property
    def most_cited(self) -> tuple[DocumentUse, ...]:
        return self.documents[:10]

    @property
    def most_down(self) -> tuple[DocumentUse, ...]:
        ranked = sorted((d for d in self.documents if d.in_down), key=lambda d: (-d.in_down, d.doc_id))
        return tuple(ranked[:10])


@dataclass
class _Row:
    id: str
    created_at: datetime
    platform: str
    channel: str
    user_id: str
    question: str
    answer: str
    kind: str
    abstained: bool
    latency_ms: float
    ups: int = 0
    downs: int = 0
    comments: list[str] = field(default_factory=list)

    @property
    def net_down(self) -> bool:
        return self.downs > self.ups


def week_numbers(
    engine: Engine,
    week: Week,
    channels: Collection[str] = (EVERY_CHANNEL,),
    documents: Mapping[str, DocumentInfo] | None = None,
    *,
    stale_after_days: int = 365,
    worst: int = 5,
    embed: Embed | None = None,
    gap_similarity: float = 0.6,
    link: LinkMaker | None = None,
    private: Collection[str] = (),
) -> WeekNumbers:
    """Everything the digest shows for `week` in `channels` ("*": all but the `private`
    ones), from the log alone plus the current document catalogue (`documents`, doc_id ->
    its indexed version)."""
    scope = tuple(sorted(channels)) if EVERY_CHANNEL not in channels else (EVERY_CHANNEL,)
    where = in_scope(channels, private)
    with Session(read_only(engine)) as session:  # on SQLite, no write lock held while reading
        rows = _rows(session, week, where)
        previous = _headline(_rows(session, week.previous, where).values())
        cited = _cited(session, list(rows))
        worst_rows = sorted(
            (r for r in rows.values() if r.net_down), key=lambda r: (r.ups - r.downs, r.created_at)
        )[:worst]
        links = _links(session, [r.id for r in worst_rows], link) if link else {}  # only those shown
    if any(r.comments for r in worst_rows):  # comments are free text: scrubbed as the export scrubs
        scrub = Scrubber(names=asker_names(engine))
        for r in worst_rows:
            r.comments = [scrub(c) for c in r.comments]
    catalogue = documents or {}
    uses = _document_uses(rows, cited, catalogue)
    gaps_from = [
        (r.question, "abstained" if r.abstained else "thumbs-down", r.channel)
        for r in rows.values()
        if r.abstained or r.net_down
    ]
    return WeekNumbers(
        week=week,
        scope=scope,
        headline=_headline(rows.values()),
        previous=previous,
        days=_days(week, rows.values()),
        latencies_ms=tuple(r.latency_ms for r in rows.values() if r.kind != "failed"),
        worst=tuple(_rated(r, links.get(r.id), ZoneInfo(week.zone)) for r in worst_rows),
        gaps=tuple(find_gaps(gaps_from, embed, gap_similarity)),
        documents=tuple(uses),
        stale=tuple(d for d in uses if _is_stale(d, week, stale_after_days)),
        superseded=tuple(d for d in uses if d.on_old_version),
    )


def excluded(channels: Collection[str], private: Collection[str]) -> tuple[str, ...]:
    """The private scopes a lead's "*" leaves out: none once the lead names one of them."""
    if EVERY_CHANNEL not in channels or any(p in channels for p in private):
        return ()
    return tuple(private)


def in_scope(channels: Collection[str], private: Collection[str] = ()) -> ColumnElement[bool]:
    """Which interactions a digest of `channels` covers ("*": every shared conversation).

    Private conversations are the askers' own business, so "*" leaves out the DM scopes
    (`private`, e.g. "@dm"), Slack /ask in a DM (logged under the DM's id, D...) and Teams
    group and meeting chats (logged under their conversation id, 19:...@thread.v2; Teams
    channels are @thread.tacv2 or @thread.skype)."""
    if EVERY_CHANNEL not in channels:
        return Interaction.channel.in_(sorted(channels))
    leave_out = excluded(channels, private)
    if not leave_out:
        return true()
    return ~or_(
        Interaction.channel.in_(leave_out),
        and_(Interaction.platform == "slack", Interaction.channel.like("D%")),
        and_(Interaction.platform == "teams", Interaction.channel.like("%@thread.v2")),
    )


def _rows(session: Session, week: Week, where: ColumnElement[bool]) -> dict[str, _Row]:
    query = select(
        Interaction.id,
        Interaction.created_at,
        Interaction.platform,
        Interaction.channel,
        Interaction.user_id,
        Interaction.question,
        Interaction.answer_text,
        Interaction.kind,
        Interaction.abstained,
        Interaction.latency_ms,
    ).where(Interaction.created_at >= week.start, Interaction.created_at < week.end, where)
    rows = {r[0]: _Row(*r) for r in session.execute(query.order_by(Interaction.created_at, Interaction.id))}
    votes = (
        select(Vote.interaction_id, Vote.value, Vote.comment)
        .join(Interaction, Interaction.id == Vote.interaction_id)
        .where(Vote.retracted_at.is_(None))
        .where(Interaction.created_at >= week.start, Interaction.created_at < week.end)
    )
    for interaction_id, value, comment in session.execute(votes):
        row = rows.get(interaction_id)
        if row is None:
            continue  # another lead's channel
        if value == "up":
            row.ups += 1
        else:
            row.downs += 1
        if comment:
            row.comments.append(comment)
    return rows


def _headline(rows: Iterable[_Row]) -> Headline:
    listed = list(rows)
    latencies = [r.latency_ms for r in listed if r.kind != "failed"]
    p50, p95 = (float(v) for v in np.percentile(latencies, [50, 95])) if latencies else (None, None)
    return Headline(
        questions=len(listed),
        askers=len({(r.platform, r.user_id) for r in listed}),
        abstained=sum(r.abstained for r in listed),
        failed=sum(r.kind == "failed" for r in listed),
        votes_up=sum(r.ups for r in listed),
        votes_down=sum(r.downs for r in listed),
        voted_answers=sum(1 for r in listed if r.ups or r.downs),
        latency_p50_ms=p50,
        latency_p95_ms=p95,
    )


def _days(week: Week, rows: Iterable[_Row]) -> tuple[Day, ...]:
    by_day: dict[date, list[_Row]] = defaultdict(list)
    zone = ZoneInfo(week.zone)  # the days of the lead's week, not of UTC
    for row in rows:
        by_day[row.created_at.astimezone(zone).date()].append(row)
    return tuple(
        Day(
            day,
            len(by_day[day]),
            sum(r.abstained for r in by_day[day]),
            sum(r.ups for r in by_day[day]),
            sum(r.downs for r in by_day[day]),
        )
        for day in week.days()
    )


def _cited(session: Session, ids: list[str]) -> dict[str, list[tuple[str, str, str]]]:
    """interaction id -> (doc_id, version, title) of each cited passage, one per document."""
    cited: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        query = (
            select(
                InteractionPassage.interaction_id,
                InteractionPassage.doc_id,
                InteractionPassage.version,
                InteractionPassage.title,
            )
            .where(InteractionPassage.interaction_id.in_(ids[start : start + 500]))
            .where(InteractionPassage.cited.is_(True))
            .order_by(InteractionPassage.interaction_id, InteractionPassage.rank)
        )
        for interaction_id, doc_id, version, title in session.execute(query):
            if all(d != doc_id for d, _, _ in cited[interaction_id]):
                cited[interaction_id].append((doc_id, version, title))
    return cited


def _links(session: Session, ids: list[str], link: LinkMaker) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        query = select(
            AnswerMessage.interaction_id,
            AnswerMessage.platform,
            AnswerMessage.channel,
            AnswerMessage.message_id,
        ).where(AnswerMessage.interaction_id.in_(ids[start : start + 500]))
        for interaction_id, platform, channel, message_id in session.execute(query):
            url = link(platform, channel, message_id)
            if url:
                found[interaction_id] = url
    return found


def _document_uses(
    rows: Mapping[str, _Row],
    cited: Mapping[str, list[tuple[str, str, str]]],
    catalogue: Mapping[str, DocumentInfo],
) -> list[DocumentUse]:
    counts: Counter[str] = Counter()
    downs: Counter[str] = Counter()
    old: Counter[str] = Counter()
    versions: dict[str, set[str]] = defaultdict(set)
    titles: dict[str, str] = {}
    for interaction_id, docs in cited.items():
        row = rows[interaction_id]
        for doc_id, version, title in docs:
            counts[doc_id] += 1
            downs[doc_id] += row.net_down
            versions[doc_id].add(version)
            titles.setdefault(doc_id, title)
            current = catalogue.get(doc_id)
            old[doc_id] += current is None or current.version != version
    uses = []
    for doc_id, n in counts.items():
        current = catalogue.get(doc_id)
        uses.append(
            DocumentUse(
                doc_id=doc_id,
                title=current.title if current else titles[doc_id],
                cited=n,
                in_down=downs[doc_id],
                cited_versions=tuple(sorted(versions[doc_id])),
                current_version=current.version if current else None,
                effective=(current.effective_date or current.ingested_at[:10]) if current else "",
                on_old_version=old[doc_id],
            )
        )
    return sorted(uses, key=lambda d: (-d.cited, d.doc_id))


def _is_stale(use: DocumentUse, week: Week, stale_after_days: int) -> bool:
    if use.current_version is None or not use.effective:
        return False
    try:
        effective = date.fromisoformat(use.effective[:10])
    except ValueError:
        return False
    return effective < week.days()[-1] + timedelta(days=1 - stale_after_days)  # the week's own days


def _rated(row: _Row, link: str | None, zone: ZoneInfo) -> RatedAnswer:
    return RatedAnswer(
        row.id,
        row.created_at.astimezone(zone),  # shown as the lead's local time
        row.platform,
        row.channel,
        row.question,
        row.answer,
        row.ups,
        row.downs,
        tuple(row.comments),
        link,
    )
