"""Weaviate killed under a running `serve`, the way the probe did it (issue 19, item 2).

Through the real command: a signed mention to /slack/events, the answer read from the
fake Slack API, /health over HTTP, and `kill -9` of the real weaviate-server process.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.core import RETRIEVAL_FAILED
from knowledge.weaviate_files import ServerFiles, flocked
from knowledge.weaviate_server import EmbeddedWeaviate, free_ports
from tests.cli_runner import cli
from tests.conftest import weaviate_binary
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import event_callback, mention_event, signed_headers
from tests.server_processes import alive, server_processes, wait_gone
from tests.slack.harness import REMOTE, SECRET
from tests.test_serve import serving

pytestmark = pytest.mark.weaviate

APOLOGY = RETRIEVAL_FAILED.split(" (")[0]  # "Sorry, I couldn't search the documents just now"
ANSWER = "three days per week"


def health(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url + "/health", timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_health(url: str, status: int, timeout: float = 180) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while (found := health(url))[0] != status:
        assert time.monotonic() < deadline, f"/health stayed {found}"
        time.sleep(0.1)
    return found[1]


class Asker:
    """Signed mentions into serve, replies read back from the fake Slack API by thread."""

    def __init__(self, url: str, fake: FakeSlack) -> None:
        self.url = url
        self.fake = fake
        self.asked = 0

    def ask(self) -> str:
        self.asked += 1
        ts = f"1700000{self.asked:03d}.000100"
        body = json.dumps(event_callback(mention_event(REMOTE, "C0ENG", "U1", ts), f"EvOutage{self.asked}"))
        request = urllib.request.Request(
            self.url + "/slack/events", body.encode(), signed_headers(body, SECRET)
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
        return ts

    def reply(self, ts: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while True:
            posts = [c for c in self.fake.calls_to("chat.postMessage") if c.params.get("thread_ts") == ts]
            if posts:
                assert len(posts) == 1, posts  # one outcome per question
                return json.dumps(posts[0].params)
            assert time.monotonic() < deadline, f"no reply to {ts}"
            self.fake.wait_for("chat.postMessage", len(self.fake.calls_to("chat.postMessage")) + 1, timeout)


@contextmanager
def slack_serve(environ: dict[str, str]) -> Iterator[tuple[str, Asker]]:
    with FakeSlack(bot_token="xoxb-outage") as fake:
        environ = {
            **environ,
            "SLACK_BOT_TOKEN": "xoxb-outage",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
        }
        with serving(environ) as (process, url):
            yield url, Asker(url, fake)
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=120)
            assert process.returncode == 128 + signal.SIGTERM, output


def test_serve_restarts_a_killed_embedded_weaviate(env: dict[str, str], data_dir: Path) -> None:
    embedded = {**env, "WEAVIATE_URL": "", "WEAVIATE_GRPC_URL": ""}
    ingested = cli(["ingest", "samples/policies"], embedded)
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    files = ServerFiles.of(data_dir)
    with slack_serve(embedded) as (url, asker):
        assert ANSWER in asker.reply(asker.ask())
        killed = files.read_state()
        assert killed is not None
        # Held by the test, the start lock keeps the supervisor from starting the next
        # server until the outage has been seen from outside.
        with flocked(files.start_lock, fcntl.LOCK_EX):
            os.kill(killed.pid, signal.SIGKILL)
            down = wait_health(url, 503)
            assert "weaviate" in down["failing"], down  # type: ignore[operator]
            assert "database" not in down["failing"], down  # type: ignore[operator]
            asked = time.monotonic()
            reply = asker.reply(asker.ask())
            print(f"apology {time.monotonic() - asked:.2f} s after the mention while Weaviate was down")
            assert APOLOGY in reply and ANSWER not in reply
        assert wait_health(url, 200)["status"] == "ok"
        assert ANSWER in asker.reply(asker.ask())  # the first question after the restart
        restarted = files.read_state()
        assert restarted is not None and restarted.pid != killed.pid and alive(restarted.pid)
        assert [p.kind for p in server_processes(data_dir)].count("weaviate") == 1


@pytest.fixture
def external_server(tmp_path: Path) -> Iterator[EmbeddedWeaviate]:
    http_port, grpc_port = free_ports(2)
    server = EmbeddedWeaviate(weaviate_binary(), tmp_path / "external", http_port, grpc_port=grpc_port)
    server.start()
    yield server
    server.stop()


def test_serve_reports_an_external_weaviate_down_and_never_restarts_it(
    env: dict[str, str], data_dir: Path, external_server: EmbeddedWeaviate
) -> None:
    endpoint = external_server.endpoint
    assert endpoint is not None
    external = {
        **env,
        "WEAVIATE_URL": f"http://127.0.0.1:{endpoint.http_port}",
        "WEAVIATE_GRPC_URL": f"http://127.0.0.1:{endpoint.grpc_port}",
    }
    ingested = cli(["ingest", "samples/policies"], external)
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    with slack_serve(external) as (url, asker):
        os.kill(endpoint.pid, signal.SIGKILL)
        assert wait_gone(endpoint.pid)
        down = wait_health(url, 503)
        assert "not restarted" in down["failing"]["weaviate"], down  # type: ignore[index]
        assert APOLOGY in asker.reply(asker.ask())
        assert server_processes(data_dir) == []  # serve started no server of its own
        external_server.stop()
        external_server.start()  # its operator brings it back, on the same ports
        assert wait_health(url, 200)["status"] == "ok"
        assert ANSWER in asker.reply(asker.ask())


def test_health_names_a_locked_database_and_is_back_once_it_is_free(
    env: dict[str, str], data_dir: Path
) -> None:
    with slack_serve(env) as (url, _):
        locker = sqlite3.connect(data_dir / "supportbot.db", isolation_level=None)
        try:
            locker.execute("BEGIN IMMEDIATE")  # another writer holds the database
            down = wait_health(url, 503)
            assert list(down["failing"]) == ["database"], down  # type: ignore[call-overload]
        finally:
            locker.close()
        assert wait_health(url, 200)["status"] == "ok"
