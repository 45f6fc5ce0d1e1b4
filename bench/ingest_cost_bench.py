"""What one ingest-channel post costs `serve` (issue 19, item 3): its memory and /health.

One `python app.py -v serve` on a fresh embedded Weaviate and the fake Slack Web API gets, from
a poster, one post after another:
1. a DOCX bomb (a few KB zipped, 8 MB of XML: 1.3 million empty paragraphs), refused;
2. the largest DOCX the loader limits accept (179,000 elements, 960,000 characters of text);
3. a text post just under loader.max_text_chars;
4. the largest policy-qa PDF (Information_Security.pdf).
For each it prints serve's resident memory (VmRSS) before and after, and its peak (VmHWM)
as it rises over the run (target: any accepted input raises serve's memory by <= 300 MB), the
ingest child's own peak and time (from serve's log), and /health's latency while the post is
in flight, polled back to back, against /health on the idle server in the same run (target:
< 100 ms during the bomb). `--posts 1` posts the bomb alone. Prints one JSON summary line
last; also writes bench/results/.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from docx import Document

from bench.retrieval_bench import DATA, REPO, embed_model_path, verdict, write_results
from knowledge.weaviate_server import WEAVIATE_VERSION, EmbeddedWeaviate, default_binary_path
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import event_callback, message_event, signed_headers

SECRET, TOKEN = "bench-signing-secret", "xoxb-bench"
POSTER, CHANNEL = "U0HR1", "C0INGEST"
MEMORY_TARGET_MB, HEALTH_TARGET_MS = 300.0, 100.0
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
LARGEST_PDF = DATA / "Security_Information_Security" / "Information_Security.pdf"


def docx_with_body(body: bytes) -> bytes:
    """A real DOCX (python-docx's blank document) with `body` as its paragraphs."""
    plain = io.BytesIO()
    Document().save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/document.xml":
                data = data.replace(b"<w:body>", b"<w:body>" + body, 1)
            target.writestr(item.filename, data)
    return out.getvalue()


def largest_docx() -> bytes:
    # 4 elements a paragraph: 160,000 of them with the blank document's 18,600, under 200,000;
    # 40,000 x (22 characters + a blank line) = 960,000 characters, under 1,000,000.
    words = [f"Rule {n:05d} applies now." for n in range(40_000)]
    return docx_with_body(b"".join(b"<w:p><w:r><w:t>%s</w:t></w:r></w:p>" % w.encode()[:22] for w in words))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (the highest it has been) of `pid`, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    figures = {}
    for key in ("VmRSS", "VmHWM"):
        found = re.search(rf"^{key}:\s+(\d+) kB", status, re.M)
        assert found is not None, status
        figures[key] = int(found.group(1)) / 1024
    return figures


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else values[0]


def health_ms(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url + "/health", timeout=30) as response:
        response.read()
    return (time.perf_counter() - start) * 1000


def post(url: str, event: dict[str, Any], event_id: str) -> None:
    body = json.dumps(event_callback(event, event_id))
    request = urllib.request.Request(url + "/slack/events", body.encode(), signed_headers(body, SECRET))
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def reply_in(fake: FakeSlack, thread: str) -> str | None:
    for call in fake.calls_to("chat.postMessage"):
        if call.params.get("thread_ts") == thread:
            return str(call.params.get("text", ""))
    return None


def run_post(
    fake: FakeSlack, url: str, pid: int, n: int, text: str, files: list[dict[str, Any]]
) -> dict[str, Any]:
    """Post, poll /health until the reply comes; memory before and after, latencies during."""
    thread = f"1700001{n:03d}.000100"
    before = memory_mb(pid)
    start = time.monotonic()
    post(
        url,
        message_event(text, CHANNEL, POSTER, thread, channel_type="channel", files=files or None),
        f"EvB{n}",
    )
    latencies = []
    while (reply := reply_in(fake, thread)) is None:
        latencies.append(health_ms(url))
        if time.monotonic() - start > 3600:
            raise SystemExit(f"no reply to post {n} within an hour")
    after = memory_mb(pid)
    return {
        "reply": reply[:160],
        "seconds": round(time.monotonic() - start, 1),
        "rss_before_mb": round(before["VmRSS"], 1),
        "rss_after_mb": round(after["VmRSS"], 1),
        "rss_rise_mb": round(after["VmRSS"] - before["VmRSS"], 1),
        "peak_rise_mb": round(after["VmHWM"] - before["VmHWM"], 1),
        "peak_mb": round(after["VmHWM"], 1),
        "health_n": len(latencies),
        "health_p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "health_p99_ms": round(p99(latencies), 2) if latencies else None,
        "health_max_ms": round(max(latencies), 2) if latencies else None,
    }


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: serve and Weaviate are stopped on the way out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--posts", type=int, default=4, choices=range(1, 5), help="the first N posts only (1: the bomb alone)"
    )
    count = parser.parse_args().posts
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="ingest-cost-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        binary = Path(os.environ.get("WEAVIATE_BIN") or default_binary_path(WEAVIATE_VERSION))
        with EmbeddedWeaviate(binary, scratch / "weaviate") as server, FakeSlack(bot_token=TOKEN) as fake:
            config = scratch / "settings.yaml"
            config.write_text(
                (REPO / "config" / "sample.yaml").read_text()
                + "\nslack:\n  file_hosts: [127.0.0.1]\n"
                + "ingest:\n  channels: [C0INGEST]\n  posters: [U0HR1]\n  default_audience: [everyone]\n"
            )
            env = {
                **os.environ,
                "WEAVIATE_URL": f"http://{server.host}:{server.http_port}",
                "WEAVIATE_GRPC_URL": f"http://{server.host}:{server.grpc_port}",
                "EMBED_MODEL_PATH": str(embed_model_path()),
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": fake.api_url,
                "ANTHROPIC_API_KEY": "",
                "DATABASE_URL": "",
            }
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            log = scratch / "serve.log"
            args = ["app.py", "-v", "--config", str(config), "--data-dir", str(scratch / "data")]
            with log.open("w") as out:
                serve = subprocess.Popen(
                    [sys.executable, *args, "serve", "--port", str(port)],
                    cwd=REPO,
                    env=env,
                    stdout=out,
                    stderr=out,
                )
            try:
                results = measure(fake, url, serve, log, count)
            finally:
                serve.terminate()
                serve.wait(timeout=120)
    report(results)


def measure(
    fake: FakeSlack, url: str, serve: subprocess.Popen[bytes], log: Path, count: int
) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while True:
        try:
            health_ms(url)
            break
        except OSError:
            if serve.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve did not come up:\n{log.read_text()}") from None
            time.sleep(0.3)
    idle = [health_ms(url) for _ in range(2000)]
    print(
        f"/health on the idle server: p50 {statistics.median(idle):.2f} ms, max {max(idle):.2f} ms",
        flush=True,
    )
    bomb = docx_with_body(b"<w:p/>" * 1_300_000)
    posts = {
        "docx bomb": ("audience: everyone", [fake.add_file("FB1", "bomb.docx", "docx", bomb, DOCX_TYPE)]),
        "largest docx": (
            "audience: everyone",
            [fake.add_file("FB2", "rules.docx", "docx", largest_docx(), DOCX_TYPE)],
        ),
        "text post": (
            "Long handbook\n\n" + ("Staff keep their desks clear at night. " * 25_000)[:995_000],
            [],
        ),
        "largest policy-qa pdf": (
            "audience: everyone",
            [fake.add_file("FB3", LARGEST_PDF.name, "pdf", LARGEST_PDF.read_bytes(), "application/pdf")],
        ),
    }
    figures: dict[str, Any] = {"bomb_zip_kb": round(len(bomb) / 1024, 1)}
    for n, (name, (text, files)) in enumerate(list(posts.items())[:count]):
        figures[name] = run_post(fake, url, serve.pid, n, text, files)
        print(f"{name}: {figures[name]}", flush=True)
    children = re.findall(
        r"ingest job done in ([\d.]+) s: \d+ result\(s\), child peak (\d+) MB", log.read_text()
    )
    figures["children"] = [{"seconds": float(s), "peak_mb": int(mb)} for s, mb in children]
    figures["idle_health_p50_ms"] = round(statistics.median(idle), 2)
    figures["idle_health_max_ms"] = round(max(idle), 2)
    figures["idle_health_p99_ms"] = round(p99(idle), 2)
    return figures


def report(figures: dict[str, Any]) -> None:
    idle = figures["idle_health_p50_ms"]
    print()
    print(
        f"/health on the idle server: p50 {idle:.2f} ms, p99 {figures['idle_health_p99_ms']:.2f} ms, "
        f"max {figures['idle_health_max_ms']:.2f} ms"
    )
    print(
        f"{'post':<24}{'s':>7}{'RSS before':>12}{'after':>8}{'rise':>8}{'peak rise':>11}"
        f"{'health n':>10}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'max/idle p50':>14}"
    )
    rises = []
    for name in [
        n for n in ("docx bomb", "largest docx", "text post", "largest policy-qa pdf") if n in figures
    ]:
        row = figures[name]
        rises.append(max(row["rss_rise_mb"], row["peak_rise_mb"]))
        worst = row["health_max_ms"] or 0.0
        print(
            f"{name:<24}{row['seconds']:>7.1f}{row['rss_before_mb']:>12.1f}{row['rss_after_mb']:>8.1f}"
            f"{row['rss_rise_mb']:>8.1f}{row['peak_rise_mb']:>11.1f}{row['health_n']:>10}"
            f"{row['health_p50_ms'] or 0:>8.2f}{row['health_p99_ms'] or 0:>8.2f}{worst:>8.2f}{worst / idle:>14.1f}"
        )
        print(f"{'':<24}reply: {row['reply']}")
    for n, child in enumerate(figures["children"]):
        print(f"ingest child {n + 1}: {child['seconds']:.1f} s, peak {child['peak_mb']} MB (its own process)")
    bomb_max = figures["docx bomb"]["health_max_ms"] or 0.0
    print(
        f"serve's memory rise, worst post: {max(rises):.1f} MB (<= {MEMORY_TARGET_MB:g}) {verdict(max(rises) <= MEMORY_TARGET_MB)}"
    )
    bomb_p99 = figures["docx bomb"]["health_p99_ms"] or 0.0
    for label, value in (("p99", bomb_p99), ("max", bomb_max)):
        shown = f"{value:.2f} ms (< {HEALTH_TARGET_MS:g})"
        print(f"/health during the bomb, {label}: {shown} {verdict(value < HEALTH_TARGET_MS)}")
    write_results("ingest_cost", {"bench": "ingest_cost", **figures})


if __name__ == "__main__":
    main()
