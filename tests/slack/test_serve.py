"""`python app.py serve` as an operator runs it: a subprocess with Slack's environment variables."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from knowledge.weaviate_server import free_port
from tests.cli_runner import REPO, cli
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import event_callback, mention_event, signed_headers
from tests.slack.harness import REMOTE, SECRET

pytestmark = pytest.mark.weaviate


@contextmanager
def serving(environ: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "app.py", "--config", environ["CFG"], "serve", "--port", str(port)],
        cwd=REPO,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"serve did not come up:\n{process.communicate()[0]}") from None
                time.sleep(0.3)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_answers_slack_and_stops_cleanly_on_sigterm(samples_env: dict[str, str]) -> None:
    with FakeSlack(bot_token="xoxb-serve") as fake:
        environ = {
            **samples_env,
            "SLACK_BOT_TOKEN": "xoxb-serve",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
        }
        with serving(environ) as (process, url):
            body = json.dumps(
                event_callback(mention_event(REMOTE, "C0ENG", "U1", "1700000070.000100"), "EvServe")
            )
            request = urllib.request.Request(
                url + "/slack/events", body.encode(), signed_headers(body, SECRET)
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
            [post] = fake.wait_for("chat.postMessage", timeout=60)
            assert post.params["thread_ts"] == "1700000070.000100" and post.token == "xoxb-serve"
            assert "three days per week" in json.dumps(post.params.get("blocks"))
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, output
    assert "Serving Slack events" in output and "WARNING" not in output
    assert "xoxb-serve" not in output and SECRET not in output


def test_serve_without_slack_tokens_says_what_is_missing(env: dict[str, str]) -> None:
    result = cli(["serve"], {**env, "SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": ""})
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET" in result.stderr
