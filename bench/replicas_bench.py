"""Throughput of answered questions per second with one and with two `serve` replicas.

One embedded Weaviate node (samples/policies ingested), one PostgreSQL, the fake Slack Web
API, the extractive answerer. Each replica is a real `python app.py serve` process; signed
@-mentions are sent by 20 client threads, spread round-robin over the replicas, and the
clock stops when the fake has received every answer. Each setup runs RUNS times, alternating
(1, 2, 1, 2, ...) after a warm-up, and the median is reported with the ratio 2 / 1. On a
2-core machine both replicas share the same two cores with Weaviate and PostgreSQL: the
ratio shows what a second process buys when the GIL, not the CPU count, is the limit.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.retrieval_bench import REPO, embed_model_path, write_results
from knowledge.weaviate_server import EmbeddedWeaviate, default_binary_path, free_port
from tests.fakes.postgres_server import PostgresServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import event_callback, mention_event, signed_headers

SECRET = "bench-signing-secret"
MENTIONS, SENDERS, RUNS = 240, 20, 3
CHANNEL = "C0CONSOLE"
QUESTIONS = [
    "How many days per week can I work remotely?",
    "How many weeks of paid leave does the birth parent get?",
    "What is the daily limit for meals when travelling?",
    "How long must a password be?",
    "What counts as a SEV1 security incident?",
    "How quickly must HR acknowledge a workplace complaint?",
]


def start_replica(env: dict[str, str], config: Path, data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "app.py", "--config", str(config), "serve", "--port", str(port)],
        cwd=REPO,
        env={**env, "SUPPORTBOT_DATA_DIR": str(data)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("a serve replica did not come up") from None
            time.sleep(0.3)


def send(url: str, n: int, tag: str) -> None:
    ts = f"17{n:08d}.{hash(tag) % 1000000:06d}"
    event = mention_event(QUESTIONS[n % len(QUESTIONS)], CHANNEL, f"U{n % 50}", ts)
    body = json.dumps(event_callback(event, f"Ev{tag}{n}"))
    request = urllib.request.Request(url + "/slack/events", body.encode(), signed_headers(body, SECRET))
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def burst(fake: FakeSlack, urls: list[str], count: int, tag: str) -> float:
    """Seconds from the first mention sent to the last answer received."""
    before = len(fake.calls_to("chat.postMessage"))
    started = time.perf_counter()
    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(lambda n: send(urls[n % len(urls)], n, tag), range(count)))
    deadline = time.monotonic() + 600
    while len(fake.calls_to("chat.postMessage")) - before < count:
        if time.monotonic() > deadline:
            raise SystemExit("answers went missing")
        time.sleep(0.02)
    return time.perf_counter() - started


def main() -> None:
    figures: dict[str, list[float]] = {"1": [], "2": []}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="replicas-bench-")))
        weaviate = stack.enter_context(EmbeddedWeaviate(default_binary_path(), tmp))
        postgres = stack.enter_context(PostgresServer())
        fake = stack.enter_context(FakeSlack(bot_token="xoxb-bench"))
        config = tmp / "settings.yaml"
        config.write_text((REPO / "config" / "sample.yaml").read_text())
        env = {
            **os.environ,
            "WEAVIATE_URL": f"http://127.0.0.1:{weaviate.http_port}",
            "WEAVIATE_GRPC_URL": f"http://127.0.0.1:{weaviate.grpc_port}",
            "EMBED_MODEL_PATH": str(embed_model_path()),
            "DATABASE_URL": postgres.create_database("replicas_bench"),
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "ANTHROPIC_API_KEY": "",
        }
        ingest = [sys.executable, "app.py", "--config", str(config), "ingest", "samples/policies"]
        subprocess.run(
            ingest,
            cwd=REPO,
            env={**env, "SUPPORTBOT_DATA_DIR": str(tmp / "ingest")},
            check=True,
            capture_output=True,
        )
        replicas = []
        for i in range(2):
            process, url = start_replica(env, config, tmp / f"replica-{i}")
            stack.callback(process.wait, 60)
            stack.callback(process.terminate)
            replicas.append(url)
        burst(fake, replicas, 40, "warm")  # both replicas load their model and caches
        print(f"{MENTIONS} mentions from {SENDERS} clients per run; cpus {os.cpu_count()}")
        for run in range(RUNS):
            for count in ("1", "2"):
                seconds = burst(fake, replicas[: int(count)], MENTIONS, f"r{run}n{count}")
                figures[count].append(MENTIONS / seconds)
                print(
                    f"run {run + 1}: {count} replica(s): {MENTIONS / seconds:6.1f} answers/s ({seconds:.1f} s)"
                )
    one, two = statistics.median(figures["1"]), statistics.median(figures["2"])
    print(f"median: 1 replica {one:.1f}/s, 2 replicas {two:.1f}/s, ratio {two / one:.2f}")
    summary: dict[str, Any] = {
        "bench": "replicas",
        "cpus": os.cpu_count(),
        "mentions_per_run": MENTIONS,
        "answers_per_s": {"1": figures["1"], "2": figures["2"]},
        "median_1": one,
        "median_2": two,
        "ratio_2_vs_1": two / one,
    }
    write_results("replicas_bench", summary)


if __name__ == "__main__":
    main()
