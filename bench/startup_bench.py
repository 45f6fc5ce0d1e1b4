"""How long the everyday commands take to start (issue 18), each as a ratio against
`python -c pass` in the same run, and in seconds (median of RUNS runs):

- `app.py --help` (target <= 0.8 s),
- an argument error (`ask` without --channel; no target of its own, as fast as --help),
- `docs list` with a Weaviate server already running (target <= 1.5 s): the bench starts
  one embedded server in a scratch folder and points WEAVIATE_URL at it;
- `ask` with that server running (target <= 3 s): imports, the embedding model, one search;
- `ask` with no server running (target <= 12 s): the command starts the shared embedded
  server for its data directory (stopped with `server stop` after each run, not timed).

Prints one table with PASS/MISS per target, then one JSON summary line.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from knowledge.weaviate_server import WEAVIATE_VERSION, EmbeddedWeaviate, default_binary_path

REPO = Path(__file__).resolve().parents[1]
RUNS = 5
TARGETS = {
    "--help": 0.8,
    "docs list (server running)": 1.5,
    "ask (server running)": 3.0,
    "ask (no server running)": 12.0,
}
QUESTION = "How long must my password be?"


def wall(args: list[str], env: dict[str, str], after: list[str] | None = None) -> float:
    """Median wall time of RUNS runs of `python ARGS` (output discarded); `after` runs
    untimed after each one."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
        if after:
            subprocess.run([sys.executable, *after], cwd=REPO, env=env, capture_output=True, check=False)
    return statistics.median(times)


def main() -> None:
    env = {**os.environ, "ANTHROPIC_API_KEY": "", "DATABASE_URL": ""}
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
            unserved = {k: v for k, v in env.items() if not k.startswith("WEAVIATE_")}
            figures = {
                "python -c pass": wall(["-c", "pass"], env),
                "--help": wall(["app.py", "--help"], env),
                "argument error": wall(["app.py", "ask"], env),
                "docs list (server running)": wall(docs, served),
                "ask (server running)": wall(ask, served),
                "ask (no server running)": wall(
                    [*alone, "ask", "--channel", "C0CONSOLE", QUESTION], unserved, [*alone, "server", "stop"]
                ),
            }
    baseline = figures["python -c pass"]
    print(f"{'command':<28} {'seconds':>8} {'x pass':>8} {'target':>8}  result")
    for name, seconds in figures.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else ("PASS" if seconds <= target else "MISS")
        shown = f"{target:.1f} s" if target is not None else "-"
        print(f"{name:<28} {seconds:>8.2f} {seconds / baseline:>8.1f} {shown:>8}  {verdict}")
    summary = {name: round(seconds, 3) for name, seconds in figures.items()}
    print(json.dumps({"bench": "startup", "runs": RUNS, "seconds": summary}))


if __name__ == "__main__":
    main()
