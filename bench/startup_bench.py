"""How long the everyday commands take to start (issue 18), each as a ratio against
`python -c pass` in the same run, and in seconds (median of RUNS runs unless said):

- `app.py --help` (target <= 0.8 s),
- an argument error (`ask` without --channel; no target of its own, as fast as --help),
- `docs list` with a Weaviate server already running (target <= 1.5 s): the bench starts
  one embedded server in a scratch folder and points WEAVIATE_URL at it;
- `ask` with that server running (target <= 3 s): imports, the embedding model, one search;
- `ask` with no server running (target <= 12 s): the command starts the shared embedded
  server for its data directory (stopped with `server stop` after each run, not timed);
- `serve` until `/health` answers (target <= 10 s), with that server running and Slack
  configured against a fake Slack Web API (tests/fakes/slack_api.py), as the tests run it;
- `make run` until the console's `you>` prompt, on a scratch data directory
  (SUPPORTBOT_DATA_DIR): the first run once (target <= 3 min; it ingests samples/manifest.yaml,
  the virtualenv, Weaviate binary and int8 model being in place already), then a second run
  (<= 10 s) and a run after `touch config/sample.yaml` (<= 10 s), each leaving the data
  directory's shared server running for the next, as a user's runs in a row do.

The machine's load average is printed before and after: other work on the machine slows
every figure, the `python -c pass` ratios less so. Beside each wall time is the CPU time
(user + system) of the command's processes, which load changes far less (for `serve` and
`make run` it includes their shutdown; the Weaviate servers' own CPU is not in it).
Prints one table with PASS/MISS per target, then one JSON summary line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from knowledge.weaviate_server import WEAVIATE_VERSION, EmbeddedWeaviate, default_binary_path, free_port
from tests.fakes.slack_api import FakeSlack

REPO = Path(__file__).resolve().parents[1]
RUNS = 5
SLOW_RUNS = 3  # serve and make run: each start is a few seconds more
TARGETS = {
    "--help": 0.8,
    "docs list (server running)": 1.5,
    "ask (server running)": 3.0,
    "ask (no server running)": 12.0,
    "serve until /health": 10.0,
    "first make run": 180.0,
    "second make run": 10.0,
    "make run after touch config": 10.0,
}
QUESTION = "How long must my password be?"
PROMPT = b"you> "
START_TIMEOUT_S = 300.0
FIRST_RUN_TIMEOUT_S = 1800.0  # a first `make run` ingests every sample PDF


@dataclass(frozen=True)
class Figure:
    seconds: float  # wall time
    cpu: float  # user + system time of the processes it ran


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def median_of(runs: int, measure: Callable[[], float], after: Callable[[], object] | None = None) -> Figure:
    """Median wall time and CPU time of RUNS runs of `measure` (returning its wall time);
    `after` runs untimed after each one."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu = children_cpu()
        walls.append(measure())
        cpus.append(children_cpu() - cpu)
        if after is not None:
            after()
    return Figure(statistics.median(walls), statistics.median(cpus))


def wall(args: list[str], env: dict[str, str], after: list[str] | None = None) -> Figure:
    """`python ARGS` (output discarded) over RUNS runs; `after` runs untimed after each one."""

    def once() -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, check=False)
        return time.perf_counter() - start

    def then() -> object:
        assert after is not None
        return subprocess.run([sys.executable, *after], cwd=REPO, env=env, capture_output=True, check=False)

    return median_of(RUNS, once, then if after else None)


def until_output(
    command: list[str], env: dict[str, str], marker: bytes, timeout: float = START_TIMEOUT_S
) -> float:
    """Seconds from starting `command` until `marker` appears in its output; then its stdin is
    closed (the console takes that as the end) and it is waited for, untimed."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None and process.stdin is not None
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while marker not in seen:
            left = timeout - (time.perf_counter() - start)
            chunk = os.read(process.stdout.fileno(), 65536) if left > 0 and selector.select(left) else b""
            if not chunk:  # it ended (or hung) without showing the marker
                process.kill()
                process.wait()
                tail = seen.decode(errors="replace")[-2000:]
                raise RuntimeError(f"{' '.join(command)} never printed {marker!r}:\n{tail}")
            seen += chunk
    elapsed = time.perf_counter() - start
    process.stdin.close()
    process.stdout.close()  # what it prints on the way out is not read
    process.wait(timeout=120)
    return elapsed


def until_health(command: list[str], env: dict[str, str], port: int) -> float:
    """Seconds from starting `command` until http://127.0.0.1:PORT/health answers 200; then
    it is stopped with SIGTERM as an operator stops it (untimed)."""
    url = f"http://127.0.0.1:{port}/health"
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                pass  # not listening yet
            if process.poll() is not None or time.perf_counter() - start > START_TIMEOUT_S:
                raise RuntimeError(f"serve never answered {url}:\n{process.communicate()[1][-2000:]}")
            time.sleep(0.05)  # the poll interval: the figure is at most this late
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=120)


def serve_figure(served: dict[str, str], scratch: str) -> Figure:
    with FakeSlack(bot_token="xoxb-bench") as fake:
        env = {
            **served,
            "SLACK_BOT_TOKEN": fake.bot_token,
            "SLACK_SIGNING_SECRET": "bench-signing-secret",
            "SLACK_API_URL": fake.api_url,
        }

        def once() -> float:
            port = free_port()
            args = ["app.py", "--config", "config/sample.yaml", "--data-dir", scratch]
            return until_health([sys.executable, *args, "serve", "--port", str(port)], env, port)

        return median_of(SLOW_RUNS, once)


def make_run_figures(env: dict[str, str], data_dir: Path) -> dict[str, Figure]:
    """First, second and after-touch `make run`, each until the console prompt."""
    make_env = {**env, "SUPPORTBOT_DATA_DIR": str(data_dir)}
    make_run = ["make", "--no-print-directory", "run"]
    try:
        figures = {
            "first make run": median_of(
                1, lambda: until_output(make_run, make_env, PROMPT, FIRST_RUN_TIMEOUT_S)
            )
        }
        figures["second make run"] = median_of(SLOW_RUNS, lambda: until_output(make_run, make_env, PROMPT))

        def touched() -> float:
            (REPO / "config" / "sample.yaml").touch()
            return until_output(make_run, make_env, PROMPT)

        figures["make run after touch config"] = median_of(SLOW_RUNS, touched)
        return figures
    finally:
        stop = [sys.executable, "app.py", "--data-dir", str(data_dir), "server", "stop", "--force"]
        subprocess.run(stop, cwd=REPO, env=make_env, capture_output=True, check=False)


def main() -> None:
    # No options: parsing still gives --help (the docstring) instead of a full run.
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    load_before = os.getloadavg()
    env = {**os.environ, "ANTHROPIC_API_KEY": "", "DATABASE_URL": ""}
    unserved = {k: v for k, v in env.items() if not k.startswith("WEAVIATE_")}
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as scratch:
        binary = Path(os.environ.get("WEAVIATE_BIN") or default_binary_path(WEAVIATE_VERSION))
        with EmbeddedWeaviate(binary, Path(scratch) / "weaviate") as server:
            served = {
                **env,
                "WEAVIATE_URL": f"http://{server.host}:{server.http_port}",
                "WEAVIATE_GRPC_URL": f"http://{server.host}:{server.grpc_port}",
            }
            base = ["app.py", "--config", "config/sample.yaml", "--data-dir", scratch]
            docs = [*base, "docs", "list"]
            ask = [*base, "ask", "--channel", "C0CONSOLE", QUESTION]
            wall(docs, served)  # the first run creates the collection
            alone = ["app.py", "--config", "config/sample.yaml", "--data-dir", str(Path(scratch) / "alone")]
            figures = {
                "python -c pass": wall(["-c", "pass"], env),
                "--help": wall(["app.py", "--help"], env),
                "argument error": wall(["app.py", "ask"], env),
                "docs list (server running)": wall(docs, served),
                "ask (server running)": wall(ask, served),
                "ask (no server running)": wall(
                    [*alone, "ask", "--channel", "C0CONSOLE", QUESTION], unserved, [*alone, "server", "stop"]
                ),
                "serve until /health": serve_figure(served, scratch),
            }
        figures |= make_run_figures(unserved, Path(scratch) / "make-run")
    load_after = os.getloadavg()
    baseline = figures["python -c pass"].seconds
    print(f"load average (1, 5, 15 min): before {_load(load_before)}, after {_load(load_after)}")
    print(f"{'command':<30} {'seconds':>8} {'x pass':>8} {'cpu s':>7} {'target':>8}  result")
    for name, figure in figures.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else ("PASS" if figure.seconds <= target else "MISS")
        shown = f"{target:.1f} s" if target is not None else "-"
        print(
            f"{name:<30} {figure.seconds:>8.2f} {figure.seconds / baseline:>8.1f} {figure.cpu:>7.2f} "
            f"{shown:>8}  {verdict}"
        )
    summary = {
        "bench": "startup",
        "runs": RUNS,
        "slow_runs": SLOW_RUNS,
        "load_average": [load_before, load_after],
        "seconds": {name: round(f.seconds, 3) for name, f in figures.items()},
        "cpu_seconds": {name: round(f.cpu, 3) for name, f in figures.items()},
    }
    print(json.dumps(summary))


def _load(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{x:.2f}" for x in load)


if __name__ == "__main__":
    main()
