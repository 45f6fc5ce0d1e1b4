"""`make run`'s ingest: one manifest run against the old loop of one process per PDF.

    .venv/bin/python -m bench.ingest_bench [--before REF] [--skip-before]

- before: the code at REF (default 4984341, the last commit before issue 18's ingest work)
  in a temporary detached git worktree, run as its Makefile did: `ingest samples/policies`,
  then each policy-qa PDF in a process of its own with `--audience <folder group>`.
- after: this tree's `ingest --manifest samples/manifest.yaml`, once into a fresh data
  directory, then again with every file unchanged.
- per unchanged file: the skip check alone (hash of the bytes, catalogue lookup) for every
  file of the manifest in-process, against parsing the same files.

Each side has a fresh data directory and its own embedded Weaviate; both use this tree's
documents and config/sample.yaml. Times are printed in seconds and as ratios against the
other side or a baseline measured in the same run (`python -c pass`, the parse time), as the
machine's load moves every absolute figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "sample.yaml"
MANIFEST = REPO / "samples" / "manifest.yaml"
POLICY_QA = REPO.parent / "shared" / "data" / "policy-qa"


def run(code: Path, data: Path, args: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "app.py", "--config", str(CONFIG), "--data-dir", str(data), *args],
        cwd=code,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {code}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def chunks(code: Path, data: Path) -> int:
    listed = subprocess.run(
        [
            sys.executable,
            "app.py",
            "--config",
            str(CONFIG),
            "--data-dir",
            str(data),
            "docs",
            "list",
            "--json",
        ],
        cwd=code,
        capture_output=True,
        text=True,
        check=True,
    )
    return sum(int(json.loads(line)["chunks"]) for line in listed.stdout.splitlines() if line.strip())


def before(ref: str, data: Path) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="ingest-before-") as tmp:
        code = Path(tmp) / "code"
        subprocess.run(["git", "worktree", "add", "--detach", str(code), ref], cwd=REPO, check=True)
        try:
            total = run(code, data, ["ingest", str(REPO / "samples" / "policies")])
            for pdf in sorted(POLICY_QA.glob("*/*.pdf")):
                group = pdf.parent.name.split("_")[0].lower()
                total += run(code, data, ["ingest", str(pdf), "--audience", group])
            return total, chunks(code, data)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(code)], cwd=REPO, check=False)


def unchanged_check(data: Path) -> tuple[int, float, float]:
    """Files, seconds to check them all as unchanged, seconds to parse them all."""
    from bot.settings import load_settings
    from knowledge.file_ingest import open_file_ingest
    from knowledge.loaders import load_file
    from knowledge.manifest import load_manifest

    settings = load_settings(CONFIG, data)
    jobs = list(load_manifest(MANIFEST, settings.file.access).jobs)
    with open_file_ingest(settings.knowledge, settings.file.access, data) as ingest:
        warm = ingest.run(jobs)  # also warms the connection
        # Files that lose to a newer version (skipped-older) are read every run: not counted.
        jobs = [job for job, result in zip(jobs, warm, strict=True) if result.status.value == "unchanged"]
        start = time.perf_counter()
        results = ingest.run(jobs)
        check = time.perf_counter() - start
    skipped = sum(1 for r in results if r.status.value == "unchanged")
    start = time.perf_counter()
    for job in jobs:
        load_file(job.path, job.defaults, settings.knowledge.loader)
    parse = time.perf_counter() - start
    return skipped, check, parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="4984341", help="commit of the old per-PDF loop")
    parser.add_argument("--skip-before", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault(
        "EMBED_MODEL_PATH", str(REPO.parent / "shared" / "models" / "all-MiniLM-L6-v2-onnx")
    )
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        python = time.perf_counter() - start
        old_s, old_chunks = (0.0, 0) if args.skip_before else before(args.before, Path(tmp) / "before")
        after = Path(tmp) / "after"
        new_s = run(REPO, after, ["ingest", "--manifest", str(MANIFEST)])
        new_chunks = chunks(REPO, after)
        again_s = run(REPO, after, ["ingest", "--manifest", str(MANIFEST)])
        files, check_s, parse_s = unchanged_check(after)
    print(f"{'figure':<44}{'seconds':>10}{'chunks/s':>10}  ratio")
    if old_s:
        print(f"{'first ingest, before (one process per PDF)':<44}{old_s:10.1f}{old_chunks / old_s:10.1f}")
    ratio = f"  {new_s / old_s:.2f}x the time before" if old_s else ""
    print(f"{'first ingest, after (one manifest run)':<44}{new_s:10.1f}{new_chunks / new_s:10.1f}{ratio}")
    print(
        f"{'second run, every file unchanged':<44}{again_s:10.1f}{'':>10}  {again_s / python:.0f}x python -c pass"
    )
    per_file = check_s / max(files, 1)
    print(
        f"{'unchanged check per file (target <= 50 ms)':<44}{per_file:10.4f}{'':>10}  "
        f"{check_s / parse_s:.4f}x parsing them ({parse_s / max(files, 1):.3f} s per file)"
    )
    print(
        json.dumps(
            {
                "before_s": round(old_s, 1),
                "before_chunks": old_chunks,
                "after_s": round(new_s, 1),
                "after_chunks": new_chunks,
                "second_run_s": round(again_s, 1),
                "python_s": round(python, 3),
                "unchanged_files": files,
                "unchanged_ms_per_file": round(per_file * 1000, 2),
                "parse_ms_per_file": round(parse_s / max(files, 1) * 1000, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
