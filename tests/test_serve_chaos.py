"""The chaos test of issue 19, item 7: `serve` with its embedded Weaviate takes a steady,
bounded stream of signed Slack mentions, and a reaction on each reply, while the Weaviate
server is killed once and the database is unavailable for a while (SQLite locked by
another writer, or the PostgreSQL cluster stopped). Afterwards every mention has exactly
one reply (answer or apology), every vote is in the database, and /health is 200 again.

The helpers are the two outage modules': signed traffic and database counts from the
database one, the /health probe and the kill from the Weaviate one."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.store.database import create_db_engine, read_only
from bot.store.models import AnswerMessage
from knowledge.weaviate_files import ServerFiles, flocked
from tests.cli_runner import cli
from tests.fakes.postgres_server import PostgresServer
from tests.slack.harness import wait_until
from tests.test_serve_database_outage import (
    Traffic,
    counts,
    postgres_stopped,
    slack_serve,
    sqlite_locked,
)
from tests.test_serve_weaviate_outage import ANSWER, APOLOGY, health, wait_health

pytestmark = pytest.mark.weaviate

BATCH = 3  # mentions in flight at once
Outage = Callable[[], AbstractContextManager[None]]
MENTIONS = 30  # ten batches: two calm, one with Weaviate dead, two with the database down, the rest after


class Stream:
    """Batches of mentions into `serve`; each reply, once its message link is kept (in the
    database or the journal), gets a +1 reaction, as a person would leave one."""

    def __init__(self, traffic: Traffic, engine: Engine, data_dir: Path) -> None:
        self.traffic, self.engine = traffic, engine
        self.journal = data_dir / "journal" / "journal.jsonl"
        self.replies: dict[str, str] = {}  # mention ts -> reply ts

    def batch(self) -> list[str]:
        """Send one batch; the texts of its replies once each is posted and voted on."""
        first = len(self.traffic.threads) + 1
        threads = [self.traffic.mention(n) for n in range(first, first + BATCH)]
        texts = []
        for n, thread in enumerate(threads, first):
            reply = self.traffic.answer_of(thread)
            self.replies[thread] = reply
            wait_until(lambda reply=reply: self.linked(reply), timeout=120)  # type: ignore[misc]
            self.traffic.react(reply, "U6", n)
            texts.append(self.text_of(thread))
        return texts

    def linked(self, reply: str) -> bool:
        if self.journal.exists() and f'"message_id": "{reply}"' in self.journal.read_text():
            return True
        try:
            with Session(read_only(self.engine)) as session:  # on SQLite: no write lock to wait for
                query = select(func.count()).where(AnswerMessage.message_id == reply)
                return bool(session.scalar(query))
        except SQLAlchemyError:  # PostgreSQL is stopped: the link can only be in the journal
            return False

    def posts(self, thread: str) -> list[str]:
        fake = self.traffic.fake
        return [
            json.dumps(c.params)
            for c in fake.calls_to("chat.postMessage")
            if c.params.get("thread_ts") == thread
        ]

    def text_of(self, thread: str) -> str:
        [post] = self.posts(thread)
        return post

    def outcomes(self) -> tuple[int, int]:
        """Answers and apologies; fails unless every mention has exactly one of them."""
        answers = apologies = 0
        for thread in self.traffic.threads:
            posts = self.posts(thread)
            assert len(posts) == 1, f"thread {thread}: {posts}"
            answered, apologised = ANSWER in posts[0], APOLOGY in posts[0]
            assert answered != apologised, posts[0]
            answers, apologies = answers + answered, apologies + apologised
        return answers, apologies


def storm(traffic: Traffic, engine: Engine, data_dir: Path, outage: Outage) -> tuple[int, int, float]:
    """The stream with both outages in it; answers, apologies and journalled records."""
    files = ServerFiles.of(data_dir)
    stream = Stream(traffic, engine, data_dir)
    for _ in range(2):
        assert all(ANSWER in text for text in stream.batch())
    killed = files.read_state()
    assert killed is not None
    # The held start lock keeps the supervisor from starting the next server until a
    # batch has been apologised for: the outage lasts until events pile up, not a sleep.
    with flocked(files.start_lock, fcntl.LOCK_EX):
        os.kill(killed.pid, signal.SIGKILL)
        assert "weaviate" in wait_health(traffic.url, 503)["failing"]  # type: ignore[operator]
        assert all(APOLOGY in text for text in stream.batch())
    # Weaviate back first: the database outage then journals answers, not only apologies.
    wait_until(lambda: "weaviate" not in health(traffic.url)[1].get("failing", {}), timeout=180)  # type: ignore[operator]
    # The reactions just sent are still being handled: in the database before it goes,
    # so that each "kept" notice below answers a vote of the outage.
    wait_until(lambda: counts(engine)[2] == len(traffic.threads))
    journalled = traffic.metric("supportbot_journalled_records_total")
    kept = traffic.kept_notices()
    with outage():
        for _ in range(2):
            stream.batch()
        # Every vote of the outage was answered with "kept", and its writes are journalled.
        wait_until(lambda: traffic.kept_notices() == kept + 2 * BATCH, timeout=120)
        assert traffic.metric("supportbot_journalled_records_total") > journalled
    while len(traffic.threads) < MENTIONS - BATCH:
        stream.batch()
    assert wait_health(traffic.url, 200)["status"] == "ok"
    # Once /health says all is back, questions are answered again, not apologised for.
    last = stream.batch()
    assert all(ANSWER in text for text in last), last
    wait_until(lambda: counts(engine)[0] == MENTIONS and counts(engine)[2] == MENTIONS, timeout=180)
    journalled = traffic.metric("supportbot_journalled_records_total")
    wait_until(lambda: traffic.metric("supportbot_replayed_records_total") == journalled, timeout=120)
    return *stream.outcomes(), journalled


class Drained:
    """serve's output read as it comes: each apology logs a traceback, and a pipe nobody
    reads fills (64 KiB) and then blocks serve's next log line, and with it serve."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self.stream = process.stdout
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.stream:
            self.lines.append(line)

    def text(self) -> str:
        self.thread.join(timeout=60)  # the process has exited: the pipe is at its end
        return "".join(self.lines)


def run_chaos(environ: dict[str, str], engine: Engine, outage: Outage) -> None:
    with slack_serve(environ) as (process, traffic, fake):
        output = Drained(process)
        try:
            answers, apologies, journalled = storm(
                traffic, engine, Path(environ["SUPPORTBOT_DATA_DIR"]), outage
            )
        except AssertionError as error:
            process.kill()
            process.wait()
            notices = [c.params.get("text") for c in fake.calls_to("chat.postEphemeral")]
            log = output.text()
            (Path(environ["SUPPORTBOT_DATA_DIR"]).parent / "serve.log").write_text(log)
            message = f"{error}\ndatabase {counts(engine)}, {len(notices)} notices {set(notices)}"
            raise AssertionError(f"{message}\n{log[-6000:]}") from None
        replayed = traffic.metric("supportbot_replayed_records_total")
        interactions, links, votes, claims = counts(engine)
        assert (interactions, links, votes, claims) == (MENTIONS, MENTIONS, MENTIONS, 2 * MENTIONS)
        assert apologies >= BATCH and journalled > 0
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    (Path(environ["SUPPORTBOT_DATA_DIR"]).parent / "serve.log").write_text(output.text())
    assert process.returncode == 128 + signal.SIGTERM, output.text()[-6000:]
    print(
        f"chaos ({engine.dialect.name}): {MENTIONS} mentions, {answers} answers, {apologies} apologies, "
        f"{votes} votes recorded; {journalled:.0f} records journalled, {replayed:.0f} replayed"
    )


def ingest(environ: dict[str, str]) -> None:
    ingested = cli(["ingest", "samples/policies"], environ)
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr


@pytest.fixture(params=["sqlite", "postgresql"])
def chaos_database(
    request: pytest.FixtureRequest, env: dict[str, str]
) -> Iterator[tuple[dict[str, str], Engine, Outage]]:
    """`env` with serve's own supervised Weaviate (samples ingested), the bot's database,
    and how to make that database unavailable."""
    embedded = {**env, "WEAVIATE_URL": "", "WEAVIATE_GRPC_URL": ""}
    if request.param == "sqlite":
        database = Path(env["SUPPORTBOT_DATA_DIR"]) / "supportbot.db"
        ingest(embedded)
        engine = create_db_engine(f"sqlite:///{database}")
        yield embedded, engine, lambda: sqlite_locked(database)
        engine.dispose()
        return
    # A cluster of the test's own: stopping the session's server would break other tests.
    with PostgresServer() as server:
        url = server.create_database("chaos")
        environ = {**embedded, "DATABASE_URL": url}
        ingest(environ)
        engine = create_db_engine(url)
        yield environ, engine, lambda: postgres_stopped(server)
        engine.dispose()


def test_chaos_loses_no_mention_and_no_vote(
    chaos_database: tuple[dict[str, str], Engine, Outage],
) -> None:
    run_chaos(*chaos_database)
