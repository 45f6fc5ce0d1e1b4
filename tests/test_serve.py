"""`python app.py serve` as an operator runs it: one subprocess answering Slack and Teams."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.settings import WEEKDAYS
from knowledge.weaviate_server import free_port
from tests.cli_runner import REPO, cli
from tests.fakes.bot_connector import FakeConnector
from tests.fakes.ms_identity import FakeIdentity
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import event_callback, mention_event, signed_headers
from tests.fakes.teams_payloads import BOT_APP_ID, TENANT_ID, channel_mention
from tests.slack.harness import REMOTE, SECRET

TEAMS_PASSWORD = "serve-teams-secret"

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


def with_digest(
    environ: dict[str, str], tmp_path: Path, service_url: str, slack_only: bool = False
) -> dict[str, str]:
    """A settings file whose weekly digest is due now, for one Slack and (unless `slack_only`) one Teams lead."""
    today = WEEKDAYS[datetime.now(UTC).weekday()]
    leads = [
        {"name": "hr-leads", "platform": "slack", "channel": "C0LEADS", "covers": ["C0HR", "C0ENG"]},
        {"name": "eng-leads", "platform": "teams", "channel": "19:leads@thread.tacv2", "covers": ["*"]},
    ][: 1 if slack_only else 2]
    digest = {"leads": leads, "weekday": today, "time": "00:00", "teams_service_url": service_url}
    config = tmp_path / "with-digest.yaml"
    config.write_text(Path(environ["CFG"]).read_text() + "\n" + yaml.safe_dump({"digest": digest}))
    return {**environ, "CFG": str(config)}


def test_one_serve_answers_slack_and_teams_and_stops_cleanly_on_sigterm(
    samples_env: dict[str, str], tmp_path: Path
) -> None:
    with (
        FakeSlack(bot_token="xoxb-serve") as fake,
        FakeIdentity(apps={BOT_APP_ID: TEAMS_PASSWORD}) as identity,
        FakeConnector(identity) as connector,
    ):
        environ = {
            **samples_env,
            "SLACK_BOT_TOKEN": "xoxb-serve",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "MICROSOFT_APP_ID": BOT_APP_ID,
            "MICROSOFT_APP_PASSWORD": TEAMS_PASSWORD,
            "MICROSOFT_APP_TENANT_ID": TENANT_ID,  # a multi-tenant app answering its own tenant only
            "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL": identity.openid_metadata_url,
            "TO_CHANNEL_FROM_BOT_LOGIN_URL": identity.login_url(),
            "REQUESTS_CA_BUNDLE": identity.ca_bundle,
        }
        environ = with_digest(environ, tmp_path, connector.service_url)
        with serving(environ) as (process, url):
            with urllib.request.urlopen(url + "/health", timeout=60) as response:
                assert json.loads(response.read()) == {"status": "ok", "slack": True, "teams": True}
            body = json.dumps(
                event_callback(mention_event(REMOTE, "C0ENG", "U1", "1700000070.000100"), "EvServe")
            )
            request = urllib.request.Request(
                url + "/slack/events", body.encode(), signed_headers(body, SECRET)
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                assert response.status == 200
            activity = channel_mention(REMOTE, service_url=connector.service_url)
            token = identity.channel_token(BOT_APP_ID, connector.service_url)
            request = urllib.request.Request(
                url + "/api/messages",
                json.dumps(activity).encode(),
                {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                assert response.status == 201
            deadline = time.monotonic() + 60  # the digest posts to Slack too, in its own time
            while not (
                answers := [c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == "C0ENG"]
            ):
                assert time.monotonic() < deadline, "no answer in C0ENG"
                time.sleep(0.1)
            [post] = answers
            assert post.params["thread_ts"] == "1700000070.000100" and post.token == "xoxb-serve"
            assert "three days per week" in json.dumps(post.params.get("blocks"))
            [reply] = connector.wait_for("replies", timeout=60)
            assert reply.activity_id == activity["id"] and "three days per week" in json.dumps(reply.body)
            # The weekly digest was due at start: posted to both leads, charts uploaded in Slack.
            [created] = connector.wait_for("create_conversation", timeout=120)
            assert created.body["channelData"]["channel"]["id"] == "19:leads@thread.tacv2"
            fake.wait_for("files.completeUploadExternal", timeout=120)
            digests = [c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == "C0LEADS"]
            assert len(digests) == 1 and digests[0].params["blocks"][0]["type"] == "header"
            # Prometheus sees both answers, by platform and kind, and their latencies.
            with urllib.request.urlopen(url + "/metrics", timeout=60) as response:
                metrics = response.read().decode()
            for platform in ("slack", "teams"):
                assert f'supportbot_questions_total{{kind="extracted",platform="{platform}"}} 1.0' in metrics
                assert (
                    f'supportbot_answer_seconds_count{{kind="extracted",platform="{platform}"}} 1.0'
                    in metrics
                )
            assert "supportbot_retrieval_seconds_bucket" in metrics and "C0ENG" not in metrics
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, output
    assert "Serving Slack events" in output and "Serving Teams" in output and "WARNING" not in output
    assert "Weekly digest: " in output and "hr-leads (slack), eng-leads (teams)" in output
    for secret in ["xoxb-serve", SECRET, TEAMS_PASSWORD, token]:
        assert secret not in output


def test_serve_says_what_is_missing(env: dict[str, str]) -> None:
    blank = {
        "SLACK_BOT_TOKEN": "",
        "SLACK_SIGNING_SECRET": "",
        "MICROSOFT_APP_ID": "",
        "MICROSOFT_APP_PASSWORD": "",
    }
    result = cli(["serve"], {**env, **blank})
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET" in result.stderr and "MICROSOFT_APP_ID" in result.stderr
    result = cli(["serve"], {**env, **blank, "SLACK_BOT_TOKEN": "xoxb-x"})
    assert result.returncode == 2 and "Slack needs both" in result.stderr
    result = cli(
        ["serve"], {**env, **blank, "MICROSOFT_APP_ID": BOT_APP_ID, "MICROSOFT_APP_TYPE": "SingleTenant"}
    )
    assert result.returncode == 2 and "MICROSOFT_APP_PASSWORD" in result.stderr
    teams = {**env, **blank, "MICROSOFT_APP_ID": BOT_APP_ID, "MICROSOFT_APP_PASSWORD": "p"}
    result = cli(["serve"], {**teams, "MICROSOFT_APP_TYPE": "SingleTenant"})
    assert result.returncode == 2 and "MICROSOFT_APP_TENANT_ID" in result.stderr
    result = cli(["serve"], {**teams, "MICROSOFT_APP_TYPE": "Personal"})
    assert result.returncode == 2 and "MultiTenant or SingleTenant" in result.stderr


def test_sigterm_lets_answers_under_way_finish(samples_env: dict[str, str]) -> None:
    """Containers stop with SIGTERM: an answer being posted when it arrives still lands."""
    with FakeSlack(bot_token="xoxb-serve") as fake:
        environ = {
            **samples_env,
            "SLACK_BOT_TOKEN": "xoxb-serve",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
        }
        with serving(environ) as (process, url):
            fake.rate_limit("chat.postMessage", times=1, retry_after=3)  # the answer waits 3 s to post
            body = json.dumps(
                event_callback(mention_event(REMOTE, "C0ENG", "U1", "1700000071.000100"), "EvTerm")
            )
            request = urllib.request.Request(
                url + "/slack/events", body.encode(), signed_headers(body, SECRET)
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                assert response.status == 200
            fake.wait_for("chat.postMessage", timeout=60)  # the throttled first attempt
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
            posts = fake.calls_to("chat.postMessage")
    assert process.returncode == 128 + signal.SIGTERM, output
    assert len(posts) == 2 and "three days per week" in json.dumps(posts[1].params.get("blocks")), output
    assert "Finishing 1 answer(s) under way" in output
