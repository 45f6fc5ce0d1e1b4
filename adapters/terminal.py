"""The terminal as a front end: rich tables and a progress bar for the CLI's typed results."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from bot.types import Answer, AnswerKind
from knowledge.types import DocumentInfo, IngestResult, IngestStatus, Passage

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str) -> str:
    """Document text made safe to print: no rich markup, and no terminal control sequences
    (a document must not be able to clear the screen or plant a hyperlink)."""
    return escape(_CONTROL.sub("", text))


out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class EmbeddingProgress:
    """A progress bar on stderr while chunks are embedded; silent when nothing is to do."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def start(self, total: int) -> None:
        if total == 0:
            return
        self._bar = Progress(
            TextColumn("embedding chunks"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("embed", total=total)

    def advance(self, done: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def error(message: str) -> None:
    err.print(f"[red]error:[/] {escape(message)}")


def print_json_line(payload: object) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    sys.stdout.flush()


_STATUS_STYLE = {
    IngestStatus.ADDED: "green",
    IngestStatus.REPLACED: "cyan",
    IngestStatus.UNCHANGED: "dim",
    IngestStatus.SKIPPED_OLDER: "yellow",
    IngestStatus.FAILED: "red",
}


def show_ingest_results(results: Iterable[IngestResult]) -> None:
    for r in results:
        style = _STATUS_STYLE[r.status]
        if r.status is IngestStatus.FAILED:
            out.print(f"[{style}]failed[/] {safe(r.source)}: {safe(r.error)}")
            continue
        line = f"[{style}]{r.status.value}[/] {safe(r.source)} -> {safe(r.doc_id)} v{safe(r.version)}"
        if r.status is not IngestStatus.SKIPPED_OLDER:
            line += f" for {safe(', '.join(r.audience))} ({r.chunks} chunks)"
        if r.replaced_version:
            line += f", replaces v{safe(r.replaced_version)}"
        if r.error:
            line += f": {safe(r.error)}"
        out.print(line)


def show_passages(passages: list[Passage]) -> None:
    if not passages:
        out.print("[yellow]No passages visible to this channel match.[/]")
        return
    for rank, p in enumerate(passages, 1):
        where = " > ".join(x for x in (p.title, p.section) if x)
        out.print(
            f"[bold]{rank}. {safe(where)}[/] [dim](v{safe(p.version)}, score {p.score:.3f}, {safe(p.source)})[/]"
        )
        text = " ".join(p.text.split())
        out.print("   " + safe(text[:400] + ("…" if len(text) > 400 else "")))


def show_documents(docs: list[DocumentInfo]) -> None:
    if not docs:
        out.print("No documents indexed yet.")
        return
    table = Table("doc id", "title", "version", "effective", "audience", "chunks", "source")
    for d in docs:
        table.add_row(
            safe(d.doc_id),
            safe(d.title),
            safe(d.version),
            safe(d.effective_date or "-"),
            safe(", ".join(d.audience)),
            str(d.chunks),
            safe(d.source),
        )
    out.print(table)


def show_answer(answer: Answer) -> None:
    style = {AnswerKind.ABSTAINED: "yellow", AnswerKind.FAILED: "red"}.get(answer.kind, "")
    out.print(f"[{style}]{safe(answer.text)}[/]" if style else safe(answer.text))
    if answer.notice:
        out.print(f"[yellow]{safe(answer.notice)}[/]")
    for c in answer.citations:
        where = " > ".join(x for x in (c.title, c.section) if x)
        out.print(f"  [bold][{c.marker}][/] {safe(where)} [dim](v{safe(c.version)}, {safe(c.source)})[/]")
    if answer.label:
        out.print(f"[dim]{safe(answer.label)}[/]")


def answer_json(answer: Answer, qid: object = None) -> dict[str, object]:
    return {
        "id": qid,
        "answer": answer.text,
        "abstained": answer.abstained,
        "kind": answer.kind.value,
        "notice": answer.notice,
        "model": answer.model,
        "citations": [{"marker": c.marker, **c.as_dict()} for c in answer.citations],
        "passages": [p.as_dict() for p in answer.passages],
        "interaction_id": answer.interaction_id,
        "recorded": answer.recorded,
        "latency_ms": answer.latency_ms,
    }
