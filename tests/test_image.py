"""The container image, checked without a Docker engine: hadolint passes, .dockerignore lets
in what the COPY lines need and nothing else, and the build stage's own install steps,
replayed outside Docker, give a tree whose `serve` passes the image's HEALTHCHECK."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from knowledge.weaviate_server import free_port
from tests.cli_runner import REPO
from tests.conftest import model_path
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import SECRET

pytestmark = [pytest.mark.weaviate, pytest.mark.slow]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per stage name, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        word, _, rest = line.strip().partition(" ")
        if word.upper() == "FROM":
            current = found.setdefault(rest.split(" AS ")[-1].strip(), [])
        current.append((word.upper(), rest.strip()))
    return found


def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_runtime_stage_is_slim_and_unprivileged() -> None:
    runtime = dict(stages()["runtime"])
    steps = stages()["runtime"]
    assert runtime["USER"] == "10001:10001" and "HEALTHCHECK" in runtime
    assert not any(word == "RUN" and re.search(r"\b(apt-get|pip|uv|gcc)\b", rest) for word, rest in steps)
    copies = [rest for word, rest in steps if word == "COPY"]
    assert copies == ["--from=build /app /app", "--from=model /models /models"]  # no uv, no caches
    assert runtime["ENTRYPOINT"] == '["python", "app.py"]'


def test_dockerignore_admits_exactly_what_is_copied() -> None:
    copies = [
        rest.split()[:-1] for word, rest in stages()["build"] if word == "COPY" and "--from" not in rest
    ]
    copied = {source for sources in copies for source in sources}
    admitted = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert copied == admitted and {".env", "data", "tests"}.isdisjoint(admitted)


def test_the_build_steps_give_a_tree_that_serves(
    tmp_path: Path, weaviate_url: str, weaviate_server: object
) -> None:
    build = stages()["build"]
    app = tmp_path / "app"
    app.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    for word, rest in build:
        if word == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", rest):
                env[key] = value.replace("/app", str(app))
        elif word == "COPY" and "--from" not in rest:
            *sources, _ = rest.split()
            for source in sources:
                (shutil.copytree if (REPO / source).is_dir() else shutil.copy2)(REPO / source, app / source)
        elif word == "RUN":
            command = shlex.split(rest)
            assert command[:2] == ["uv", "sync"], f"an install step this test does not replay: {rest}"
            uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
            done = subprocess.run(
                [uv, *command[1:]], cwd=app, env=env, capture_output=True, text=True, timeout=900
            )
            assert done.returncode == 0, done.stderr[-3000:]
    python = app / ".venv" / "bin" / "python"
    assert python.exists() and not (app / ".venv" / "bin" / "pytest").exists()  # --no-dev
    # The runtime stage's environment, with the test's Weaviate, a fake Slack and the shared model.
    runtime = {
        k: v
        for word, rest in stages()["runtime"]
        if word == "ENV"
        for k, v in re.findall(r"(\w+)=(\S+)", rest)
    }
    port = free_port()
    with FakeSlack(bot_token="xoxb-image") as fake:
        serve_env = {
            **{k: v for k, v in os.environ.items() if k in {"HOME", "LANG"}},
            **{
                k: v.replace("/app", str(app)).replace("/data", str(tmp_path / "data"))
                for k, v in runtime.items()
            },
            "PATH": f"{python.parent}:/usr/bin:/bin",
            "WEAVIATE_URL": weaviate_url,
            "WEAVIATE_GRPC_URL": f"http://127.0.0.1:{weaviate_server.grpc_port}",  # type: ignore[attr-defined]
            "EMBED_MODEL_PATH": str(model_path()),
            "SLACK_BOT_TOKEN": "xoxb-image",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
        }
        process = subprocess.Popen(
            [str(python), "app.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=app,
            env=serve_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            healthcheck = dict(stages()["runtime"])["HEALTHCHECK"]
            check = [c.replace("3000", str(port)) for c in json.loads(healthcheck.split(" CMD ", 1)[1])]
            deadline = time.monotonic() + 120
            while (
                subprocess.run([str(python), *check[1:]], env=serve_env, capture_output=True).returncode != 0
            ):
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
                time.sleep(0.5)
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, output
