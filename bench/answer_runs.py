"""How the answer-quality bench runs the code under test: `app.py` in a subprocess, on one side
(the working tree, or an older commit checked out into a temporary worktree) and its own data
directory, with an environment that cannot reach a developer's key, database or Weaviate.
Nothing of the code under test is imported here."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CHANNEL = "C0CONSOLE"
CONFIG = Path("config") / "sample.yaml"
ASK_TIMEOUT_S = 4 * 3600  # ~1,000 questions; the slowest answerer seen took about 0.3 s each
# Environment the CLI must not inherit: a developer's key (answers would be Claude's), a shared
# Weaviate or database, another settings file or data directory.
UNSET = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "WEAVIATE_URL",
    "WEAVIATE_GRPC_URL",
    "WEAVIATE_API_KEY",
    "DATABASE_URL",
    "SUPPORTBOT_CONFIG",
    "SUPPORTBOT_DATA_DIR",
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Side:
    name: str  # "before" / "after"
    code: Path  # the tree whose app.py runs
    data_dir: Path
    label: str  # commit or "working tree"


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    model = os.environ.get("EMBED_MODEL_PATH") or str(SHARED / "models" / "all-MiniLM-L6-v2-onnx")
    if not (Path(model) / "model.onnx").is_file():
        raise SystemExit(f"embedding model not found at {model}: run `make bench` or set EMBED_MODEL_PATH")
    env["EMBED_MODEL_PATH"] = model
    env["PYTHONUNBUFFERED"] = "1"
    return env


def app_command(side: Side, *args: str) -> list[str]:
    return [
        sys.executable,
        "app.py",
        "--config",
        str(side.code / CONFIG),
        "--data-dir",
        str(side.data_dir),
        *args,
    ]


def run_app(side: Side, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        app_command(side, *args),
        cwd=side.code,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(
            f"{side.name}: app.py {' '.join(args[:2])} failed ({result.returncode}):\n{result.stderr[-3000:]}"
        )
    return result


def _tree_digest(code: Path, documents: Sequence[Path]) -> str:
    """What decides the index: the ingesting code, the settings file, the documents."""
    digest = hashlib.sha256()
    for path in sorted([*code.glob("knowledge/**/*.py"), code / "app.py", code / CONFIG]):
        digest.update(str(path.relative_to(code)).encode() + b"\0" + path.read_bytes())
    for path in documents:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def ingest(side: Side, samples: Path, pdfs: dict[str, list[Path]]) -> float:
    """Samples (their own audiences) then the PDFs per group; skipped when nothing changed.
    Returns the seconds it took (0 when skipped)."""
    documents = [*sorted(samples.iterdir()), *(p for group in pdfs.values() for p in group)]
    stamp = side.data_dir / ".answer-quality-ingested"
    digest = _tree_digest(side.code, documents)
    if stamp.is_file() and stamp.read_text().strip() == digest:
        log(f"{side.name}: index up to date in {side.data_dir}")
        return 0.0
    side.data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    log(f"{side.name}: ingesting samples and {sum(map(len, pdfs.values()))} PDFs into {side.data_dir}")
    run_app(side, "ingest", str(samples))
    for group, paths in pdfs.items():
        run_app(side, "ingest", *map(str, paths), "--audience", group)
    stamp.write_text(digest + "\n")
    seconds = time.perf_counter() - started
    log(f"{side.name}: ingested in {seconds:.0f} s")
    return seconds


def timed_lines(side: Side, *args: str) -> Iterator[tuple[dict[str, Any], float]]:
    """The command's JSON output lines, each with the milliseconds since the line before it
    (NaN for the first, which also carries the start-up)."""
    with subprocess.Popen(
        app_command(side, *args),
        cwd=side.code,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        last: float | None = None
        deadline = time.monotonic() + ASK_TIMEOUT_S
        for line in process.stdout:
            now = time.perf_counter()
            if line.strip():
                yield json.loads(line), (float("nan") if last is None else 1000 * (now - last))
                last = now
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"{side.name}: app.py {args[0]} took longer than {ASK_TIMEOUT_S} s")
        error = process.stderr.read()
        if process.wait() != 0:
            raise SystemExit(f"{side.name}: app.py {args[0]} failed ({process.returncode}):\n{error[-3000:]}")


def ask_all(side: Side, questions: Path, total: int) -> dict[str, dict[str, Any]]:
    answers: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    for answer, _ in timed_lines(side, "ask", "--channel", CHANNEL, "--questions", str(questions), "--json"):
        answers[str(answer["id"])] = answer
        if len(answers) % 100 == 0:
            log(f"{side.name}: {len(answers)}/{total} answered ({time.perf_counter() - started:.0f} s)")
    return answers


def retrieval_ms(side: Side, questions: Path) -> dict[str, float]:
    """Per question, the wall time `retrieve` took for it (see the module's docstring)."""
    args = ("retrieve", "--channel", CHANNEL, "--questions", str(questions), "--json")
    return {str(row["id"]): ms for row, ms in timed_lines(side, *args) if ms == ms}  # NaN: the first


@contextmanager
def worktree(ref: str) -> Iterator[tuple[Path, str]]:
    """The repository at `ref`, detached, in a temporary directory removed afterwards."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", f"{ref}^{{commit}}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parent = Path(tempfile.mkdtemp(prefix="answer-quality-"))
    tree = parent / commit
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), commit], cwd=REPO, capture_output=True, check=True
    )
    try:
        yield tree, commit
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True, check=False
        )
        shutil.rmtree(parent, ignore_errors=True)


def stop_server(side: Side) -> None:
    """The embedded Weaviate that the side's commands kept running between them: stopped when
    the bench is done with the side, so no server outlives the run."""
    subprocess.run(
        app_command(side, "server", "stop"), cwd=side.code, env=cli_env(), capture_output=True, check=False
    )
