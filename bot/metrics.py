"""Prometheus metrics of the bot, served at /metrics by `serve` (prometheus_client's registry).

Counted where the core decides, so every front end is measured the same way. Labels are
kept to small fixed sets (platform, answer kind, vote value and source, ingest status):
channel and user ids would make a series per person.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from bot.types import Answer, AnswerKind, VoteOutcome, VoteSource

# Answers take from tens of milliseconds (extractive) to tens of seconds (a slow model).
_SECONDS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)

QUESTIONS = Counter(
    "supportbot_questions", "Questions answered, by platform and answer kind", ["platform", "kind"]
)
ABSTENTIONS = Counter(
    "supportbot_abstentions", "Questions the documents visible to the channel did not cover", ["platform"]
)
ANSWER_SECONDS = Histogram(
    "supportbot_answer_seconds", "Time from question to answer", ["platform", "kind"], buckets=_SECONDS
)
RETRIEVAL_SECONDS = Histogram(
    "supportbot_retrieval_seconds", "Hybrid search time, ACL filter included", buckets=_SECONDS
)
VOTES = Counter(
    "supportbot_votes", "Votes on answers, by value, source and outcome", ["value", "source", "status"]
)
INGESTED = Counter("supportbot_ingested_documents", "Documents posted for indexing, by outcome", ["status"])
INGEST_ERRORS = Counter("supportbot_ingest_errors", "Documents that could not be indexed")
UNRECORDED = Counter(
    "supportbot_unrecorded_interactions", "Answers neither the database nor the journal could store"
)
# The local journal (bot.journal): writes the database could not take, and their replay.
JOURNALLED = Counter(
    "supportbot_journalled_records", "Writes kept in the local journal while the database was down", ["kind"]
)
REPLAYED = Counter(
    "supportbot_replayed_records", "Journal entries written to the database on replay", ["kind"]
)
JOURNAL_REJECTED = Counter(
    "supportbot_journal_rejected_records",
    "Journal entries the database refused for good (set aside)",
    ["kind"],
)
LOST_RECORDS = Counter(
    "supportbot_lost_records", "Writes neither the database nor the journal took (disk full)", ["kind"]
)


def answered(platform: str, answer: Answer) -> None:
    kind = answer.kind.value
    QUESTIONS.labels(platform, kind).inc()
    ANSWER_SECONDS.labels(platform, kind).observe(answer.latency_ms / 1000)
    if answer.kind is AnswerKind.ABSTAINED:
        ABSTENTIONS.labels(platform).inc()


def voted(outcome: VoteOutcome, source: VoteSource | None) -> None:
    value = outcome.value.value if outcome.value is not None else "any"
    VOTES.labels(value, source.value if source else "retraction", outcome.status.value).inc()


def ingested(statuses: list[str]) -> None:
    for status in statuses:
        INGESTED.labels(status).inc()
        if status == "failed":
            INGEST_ERRORS.inc()
