"""`python app.py ingest`: files, folders or a manifest into the knowledge base, in one run.

Only argparse, rich and typed results are imported here: settings, Weaviate and the
embedding model load inside the command, and the model only when something is embedded.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path
from types import TracebackType

from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from adapters import terminal
from knowledge.types import IngestResult, IngestStatus

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class IngestUsageError(ValueError):
    """Arguments that cannot go together; reported before anything starts."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    ingest = commands.add_parser(
        "ingest", help="index files, folders or a manifest (PDF, DOCX, Markdown, HTML, text)"
    )
    ingest.add_argument("paths", nargs="*", type=Path, help="files or folders (folders are walked)")
    ingest.add_argument(
        "--manifest", type=Path, help="YAML list of paths (files, folders, globs) with their audiences"
    )
    ingest.add_argument("--audience", action="append", default=[], help="access group (repeatable)")
    ingest.add_argument("--title", default="", help="title (one document only)")
    ingest.add_argument("--doc-id", default="", help="stable document id (one document only)")
    ingest.add_argument("--version", default="", help="version label; default: next number")
    ingest.add_argument("--effective", default="", help="effective date, YYYY-MM-DD")
    ingest.add_argument("--json", action="store_true", help="one JSON line per document")
    ingest.set_defaults(handler=cmd_ingest)


def check_ingest_usage(args: argparse.Namespace) -> None:
    if args.manifest is not None:
        given = [
            name
            for name, value in (
                ("PATHS", args.paths),
                ("--audience", args.audience),
                ("--title", args.title),
                ("--doc-id", args.doc_id),
                ("--version", args.version),
                ("--effective", args.effective),
            )
            if value
        ]
        if given:
            raise IngestUsageError(f"--manifest says what to ingest and for whom: drop {', '.join(given)}")
        return
    if not args.paths:
        raise IngestUsageError("give files or folders to ingest, or --manifest FILE")
    if (args.title or args.doc_id) and (len(args.paths) > 1 or args.paths[0].is_dir()):
        raise IngestUsageError("--title and --doc-id apply to a single file")


def cmd_ingest(args: argparse.Namespace) -> int:
    from bot.settings import ConfigError, load_settings
    from knowledge.embeddings import EmbeddingModelError
    from knowledge.file_ingest import expand, open_file_ingest
    from knowledge.loaders import DocumentDefaults, DocumentError, FileJob, parse_effective_date
    from knowledge.manifest import ManifestError, load_manifest
    from knowledge.schema import SchemaError
    from knowledge.weaviate_server import WeaviateStartError

    try:
        check_ingest_usage(args)
        settings = load_settings(args.config, args.data_dir)
        access = settings.file.access
        jobs: list[FileJob | DocumentError] = []
        skipped: list[str] = []
        if args.manifest is not None:
            plan = load_manifest(args.manifest, access)
            jobs, skipped = [*plan.jobs], plan.skipped
        else:
            defaults = DocumentDefaults(
                audience=tuple(args.audience) or tuple(settings.file.ingest.default_audience),
                title=args.title,
                version=args.version,
                effective_date=parse_effective_date(args.effective, "--effective"),
                doc_id=args.doc_id,
            )
            jobs = expand(args.paths, defaults)
    except (IngestUsageError, ConfigError, ManifestError, DocumentError) as error:
        terminal.error(str(error))
        return EXIT_USAGE
    for note in skipped:
        terminal.err.print(f"[yellow]note:[/] {terminal.safe(note)}")
    display = RunDisplay(as_json=args.json)
    try:
        with open_file_ingest(settings.knowledge, access, settings.data_dir) as ingest, display:
            results = ingest.run(jobs, display)
    except (WeaviateStartError, SchemaError, EmbeddingModelError) as error:
        terminal.error(str(error))
        return EXIT_FAILED
    display.summary(results)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f} chunks/s" if task.speed else "", style="progress.data.speed")


class RunDisplay:
    """The run's one progress line at a terminal (file i of n, chunks, chunks/s, ETA), one
    result line per file as it finishes, and a summary. Not at a terminal: only the lines."""

    def __init__(self, as_json: bool = False) -> None:
        self._as_json = as_json
        self._files = 0
        self._done = 0
        self._embedded = 0
        self._embed_started: float | None = None
        self._embed_seconds = 0.0
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.fields[chunks]} chunks"),
            _RateColumn(),
            TimeRemainingColumn(),
            console=terminal.err,
            transient=True,
            disable=not terminal.err.is_terminal,
            # Result lines printed to a terminal's stdout go above the bar, not through it.
            redirect_stdout=terminal.out.is_terminal,
            redirect_stderr=False,
        )
        self._task = self._bar.add_task("", total=None, chunks="?")

    def __enter__(self) -> RunDisplay:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._bar.stop()
        if self._embed_started is not None:
            self._embed_seconds = time.monotonic() - self._embed_started

    def _describe(self, doing: str) -> None:
        self._bar.update(
            self._task, description=f"file {min(self._done + 1, self._files)}/{self._files} {doing}"
        )

    def files(self, total: int) -> None:
        self._files = total
        self._describe("checking")

    def reading(self, source: str) -> None:
        self._describe(f"reading {terminal.safe(Path(source).name)}")

    def start(self, total: int) -> None:
        self._embed_started = time.monotonic()
        self._bar.update(self._task, total=total, chunks=str(total))
        self._describe("embedding")

    def advance(self, done: int) -> None:
        self._embedded += done
        self._bar.advance(self._task, done)

    def finished(self, result: IngestResult) -> None:
        self._done += 1
        if self._as_json:
            terminal.print_json_line(result.as_dict())
        else:
            terminal.show_ingest_results([result])
        self._describe("embedding" if self._embed_started is not None else "checking")

    def summary(self, results: list[IngestResult]) -> None:
        counts = Counter(r.status for r in results)
        parts = [
            f"{counts[status]} {status.value}"
            for status in IngestStatus
            if counts[status] or status is not IngestStatus.SKIPPED_OLDER
        ]
        line = f"{len(results)} file{'' if len(results) == 1 else 's'}: {', '.join(parts)}"
        if self._embedded:
            rate = self._embedded / self._embed_seconds if self._embed_seconds else 0.0
            line += f"; {self._embedded} chunks embedded in {self._embed_seconds:.0f} s ({rate:.1f} chunks/s)"
        # JSON lines on stdout are results only; the summary is for the person watching.
        (terminal.err if self._as_json else terminal.out).print(line)
