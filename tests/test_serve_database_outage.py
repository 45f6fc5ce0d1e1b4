"""`serve` through a database outage, the way issue 19's probe did it: signed Slack events on
loopback while SQLite is locked or PostgreSQL is stopped. Every mention gets one answer,
every voter hears that the vote was kept, and once the database is back (or serve has
restarted) every claim, answer and vote is in it."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bot.core import VOTE_KEPT
from bot.store.database import create_db_engine, read_only
from bot.store.models import AnswerMessage, Interaction, ProcessedEvent, Vote
from tests.fakes.postgres_server import PostgresServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import event_callback, mention_event, reaction_event, signed_headers
from tests.slack.harness import REMOTE, SECRET, wait_until
from tests.test_serve import serving

pytestmark = pytest.mark.weaviate
CHANNEL = "C0ENG"
APOLOGY = "Sorry, something went wrong"


class Traffic:
    """Signed events into one `serve`, and what the fake Slack saw of them."""

    def __init__(self, url: str, fake: FakeSlack) -> None:
        self.url, self.fake = url, fake
        self.threads: list[str] = []

    def event(self, event: dict[str, Any], event_id: str) -> None:
        body = json.dumps(event_callback(event, event_id))
        request = urllib.request.Request(
            self.url + "/slack/events", body.encode(), signed_headers(body, SECRET)
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200

    def mention(self, n: int) -> str:
        """Mention number `n`; the ts of the bot's answer once it is posted."""
        ts = f"1700001{n:03d}.000100"
        self.threads.append(ts)
        self.event(mention_event(REMOTE, CHANNEL, "U1", ts), f"EvMention{n}")
        return ts

    def answer_of(self, thread: str) -> str:
        wait_until(lambda: bool(self.fake.posted_ts(CHANNEL, thread)))
        return self.fake.posted_ts(CHANNEL, thread)[0]

    def journalled_answer_of(self, thread: str, data_dir: Path) -> str:
        """The answer's ts once its message link is journalled: a reaction before that (a
        person reacting within milliseconds of the post) finds no answer to vote on."""
        ts = self.answer_of(thread)
        journal = data_dir / "journal" / "journal.jsonl"
        wait_until(lambda: f'"message_id": "{ts}"' in journal.read_text())
        return ts

    def react(self, answer_ts: str, user: str, n: int) -> None:
        self.event(reaction_event("reaction_added", "+1", user, CHANNEL, answer_ts), f"EvVote{n}")

    def kept_notices(self) -> int:
        return sum(c.params.get("text") == VOTE_KEPT for c in self.fake.calls_to("chat.postEphemeral"))

    def one_outcome_each(self) -> None:
        for thread in self.threads:
            posts = [c for c in self.fake.calls_to("chat.postMessage") if c.params.get("thread_ts") == thread]
            assert len(posts) == 1, f"thread {thread}: {[p.params.get('text') for p in posts]}"
            assert APOLOGY not in posts[0].params.get("text", ""), posts[0].params

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(self.url + "/metrics", timeout=60) as response:
            text = response.read().decode()
        return sum(float(v) for v in re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.MULTILINE))


def counts(engine: Engine) -> tuple[int, int, int, int]:
    """Answers, message links, current votes and claimed events in the database."""
    with Session(read_only(engine)) as session:  # on SQLite: no write lock to wait for
        return (
            session.scalar(select(func.count()).select_from(Interaction)) or 0,
            session.scalar(select(func.count()).select_from(AnswerMessage)) or 0,
            session.scalar(select(func.count()).where(Vote.retracted_at.is_(None))) or 0,
            session.scalar(select(func.count()).select_from(ProcessedEvent)) or 0,
        )


@contextmanager
def slack_serve(environ: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], Traffic, FakeSlack]]:
    with FakeSlack(bot_token="xoxb-serve") as fake:
        slack = {
            "SLACK_BOT_TOKEN": "xoxb-serve",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
        }
        with serving({**environ, **slack}) as (process, url):
            yield process, Traffic(url, fake), fake


@contextmanager
def sqlite_locked(database: Path) -> Iterator[None]:
    """Another process's write lock on the bot's SQLite file, as the probe held it."""
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


def outage_traffic(traffic: Traffic, engine: Engine, before: str, data_dir: Path) -> None:
    """Three mentions (one redelivered) and four votes while the database is down; each
    mention is answered and each voter told the vote was kept."""
    threads = [traffic.mention(n) for n in (1, 2, 3)]
    traffic.event(mention_event(REMOTE, CHANNEL, "U1", threads[0]), "EvMention1")  # Slack's redelivery
    traffic.react(before, "U5", 0)  # on the answer given before the outage
    for n, thread in enumerate(threads, 1):
        traffic.react(traffic.journalled_answer_of(thread, data_dir), "U6", n)
    wait_until(lambda: traffic.kept_notices() == 4, timeout=120)
    if engine.dialect.name == "sqlite":  # still readable: nothing of the outage is in it yet
        assert counts(engine)[0] == 1


@contextmanager
def postgres_stopped(server: PostgresServer) -> Iterator[None]:
    server.halt()
    try:
        yield
    finally:
        server.resume()


def run_outage(
    environ: dict[str, str], engine: Engine, outage: Callable[[], AbstractContextManager[None]]
) -> None:
    with slack_serve(environ) as (process, traffic, _):
        before = traffic.answer_of(traffic.mention(0))
        wait_until(lambda: counts(engine)[1] == 1)  # its message link is written
        with outage():
            outage_traffic(traffic, engine, before, Path(environ["SUPPORTBOT_DATA_DIR"]))
        # The background replay writes everything, in order: answers before links before votes.
        try:
            wait_until(lambda: counts(engine) == (4, 4, 4, 8), timeout=120)
        except AssertionError:
            process.kill()
            raise AssertionError(f"{counts(engine)}\n{process.communicate()[0][-6000:]}") from None
        # 7 claims (3 mentions, 4 reactions), 3 answers, 3 message links, 4 votes.
        wait_until(lambda: traffic.metric("supportbot_replayed_records_total") == 17)
        assert traffic.metric("supportbot_journalled_records_total") == 17
        traffic.one_outcome_each()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, output
    print(f"outage: 4 mentions answered once each, 4 votes kept then written; {counts(engine)}")


def test_a_locked_sqlite_database_loses_no_mention_and_no_vote(samples_env: dict[str, str]) -> None:
    database = Path(samples_env["SUPPORTBOT_DATA_DIR"]) / "supportbot.db"
    engine = create_db_engine(f"sqlite:///{database}")
    try:
        run_outage(samples_env, engine, lambda: sqlite_locked(database))
    finally:
        engine.dispose()


def test_a_stopped_postgresql_loses_no_mention_and_no_vote(samples_env: dict[str, str]) -> None:
    # A cluster of the test's own: stopping the session's server would break other tests.
    with PostgresServer() as server:
        url = server.create_database("outage")
        engine = create_db_engine(url)
        try:
            run_outage({**samples_env, "DATABASE_URL": url}, engine, lambda: postgres_stopped(server))
        finally:
            engine.dispose()


def test_the_journal_is_replayed_when_serve_starts_again(samples_env: dict[str, str]) -> None:
    data = Path(samples_env["SUPPORTBOT_DATA_DIR"])
    engine = create_db_engine(f"sqlite:///{data / 'supportbot.db'}")
    try:
        with slack_serve(samples_env) as (process, traffic, _):
            before = traffic.answer_of(traffic.mention(0))
            wait_until(lambda: counts(engine)[1] == 1)
            with sqlite_locked(data / "supportbot.db"):
                traffic.answer_of(traffic.mention(1))
                traffic.react(before, "U5", 0)
                wait_until(lambda: traffic.kept_notices() == 1, timeout=120)
                process.send_signal(signal.SIGTERM)  # stopped while the database is still locked
                output, _ = process.communicate(timeout=60)
                assert process.returncode == 128 + signal.SIGTERM, output
        assert (data / "journal" / "journal.jsonl").stat().st_size > 0
        assert counts(engine) == (1, 1, 0, 1)
        with slack_serve(samples_env) as (process, traffic, _):
            # Replayed before serve answered /health: everything is in the database already.
            assert counts(engine) == (2, 2, 1, 3)
            assert (data / "journal" / "journal.jsonl").stat().st_size == 0
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)
    finally:
        engine.dispose()
