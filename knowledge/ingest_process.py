"""Ingest jobs in a process of their own, one per job, so no input can starve the server.

`serve` acknowledges Slack and Teams and answers /health on one event loop, while parsing a
DOCX, chunking it and embedding a thousand chunks takes a core and hundreds of MB for
minutes; done in `serve` itself, that memory was never given back. So each job (the files
and text of one post) runs in a fresh `python -m knowledge.ingest_process`, at a lower CPU
priority, and its memory goes back to the OS when it exits. The job goes in on stdin and
the outcome comes back on stdout, both pickled; a child that crashes, fails or outlives its
timeout becomes an `IngestJobError` whose message is for the poster.

A fresh interpreter rather than a process pool: a job can be stopped (SIGTERM, then SIGKILL)
without breaking a pool, and a crash is seen as the exit status of that job alone.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import pickle
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from knowledge.access import AccessPolicy
from knowledge.errors import DocumentError
from knowledge.input_limits import check_text
from knowledge.loaders import DocumentDefaults, LoaderSettings, build_document, load_file
from knowledge.types import IngestResult, IngestStatus, SourceDocument

if TYPE_CHECKING:
    from knowledge.settings import KnowledgeSettings

logger = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parent.parent  # the child imports `knowledge` from here
_STOP_GRACE = 30.0  # seconds a stopped child has to finish the batch it is embedding
_PR_SET_PDEATHSIG = 1  # prctl(2)
_NICENESS = 10  # below serve's priority: the kernel runs acknowledgements and /health first


@dataclass(frozen=True)
class PostedText:
    """Text posted in the ingest channel (its header lines already read)."""

    source: str
    text: str
    defaults: DocumentDefaults
    fallback_title: str = "Untitled post"


@dataclass(frozen=True)
class PostedPath:
    """A posted file, saved where the job can read it; `source` is what citations show."""

    path: Path
    source: str
    defaults: DocumentDefaults


@dataclass(frozen=True)
class IngestJob:
    items: tuple[PostedText | PostedPath, ...]


@dataclass(frozen=True)
class JobOutcome:
    results: list[IngestResult] = field(default_factory=list)
    error: str = ""  # the job failed as a whole (say, Weaviate unreachable)
    peak_rss_mb: int = 0
    seconds: float = 0.0


class IngestJobError(Exception):
    """The job did not run to its end; the message says why, for the poster."""


class DocumentWriter(Protocol):
    def ingest_documents(self, docs: list[SourceDocument]) -> list[IngestResult]: ...


def load_items(
    items: Sequence[PostedText | PostedPath], loader: LoaderSettings
) -> tuple[list[SourceDocument], list[IngestResult]]:
    """The documents to index, and a failed result for each item that cannot be read."""
    docs: list[SourceDocument] = []
    failed: list[IngestResult] = []
    for item in items:
        try:
            if isinstance(item, PostedText):
                check_text(item.source, item.text, loader)
                docs.append(build_document(item.source, item.text, item.defaults, item.fallback_title))
            else:
                doc = load_file(item.path, item.defaults, loader)
                doc.source = item.source
                docs.append(doc)
        except DocumentError as error:
            # A file that cannot be read is named as posted: the poster knows it by that name.
            source = item.source if isinstance(item, PostedText) else item.path.name
            failed.append(IngestResult(source, IngestStatus.FAILED, error=error.reason))
    return docs, failed


class InProcessIngest:
    """The same steps in a thread of this process: for tests and benchmarks that hold a
    knowledge base already, not for `serve`."""

    def __init__(self, kb: DocumentWriter, loader: LoaderSettings) -> None:
        self.kb = kb
        self.loader = loader

    async def run(self, job: IngestJob) -> list[IngestResult]:
        return await asyncio.to_thread(self._run, job)

    def _run(self, job: IngestJob) -> list[IngestResult]:
        docs, failed = load_items(job.items, self.loader)
        return failed + (self.kb.ingest_documents(docs) if docs else [])


@dataclass(frozen=True)
class _ChildJob:
    job: IngestJob
    settings: KnowledgeSettings
    access: AccessPolicy
    data_dir: Path
    log_level: int
    parent: int = field(default_factory=os.getpid)


class ProcessIngest:
    """Runs each job in a child process, `concurrency` at a time (the rest wait their turn)."""

    def __init__(
        self,
        settings: KnowledgeSettings,
        access: AccessPolicy,
        data_dir: Path,
        timeout: float,
        concurrency: int = 1,
        command: Sequence[str] = (sys.executable, "-m", "knowledge.ingest_process"),
    ) -> None:
        self.settings = settings
        self.access = access
        self.data_dir = data_dir
        self.timeout = timeout
        self.command = list(command)
        self._turns = asyncio.Semaphore(concurrency)

    async def run(self, job: IngestJob) -> list[IngestResult]:
        request = pickle.dumps(
            _ChildJob(job, self.settings, self.access, self.data_dir, logging.getLogger().getEffectiveLevel())
        )
        async with self._turns:
            outcome = await self._run_child(request)
        if outcome.error:
            raise IngestJobError(f"the ingest failed ({outcome.error})")
        logger.info(
            "ingest job done in %.1f s: %d result(s), child peak %d MB",
            outcome.seconds,
            len(outcome.results),
            outcome.peak_rss_mb,
        )
        return outcome.results

    async def _run_child(self, request: bytes) -> JobOutcome:
        path = os.pathsep.join(p for p in (str(_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        child = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )
        logger.info("ingest job started in process %d", child.pid)
        try:
            output, _ = await asyncio.wait_for(child.communicate(request), self.timeout)
        except TimeoutError:
            await _stop(child)
            raise IngestJobError(
                f"it took longer than {self.timeout:g} s (ingest.job_timeout) and was stopped; "
                "`docs` lists what is indexed"
            ) from None
        except BaseException:  # serve is stopping: the child must not outlive it
            await _stop(child)
            raise
        if child.returncode != 0 or not output:
            raise IngestJobError(
                f"the ingest process ended unexpectedly ({_exit_reason(child.returncode)}); "
                "post it again, and `docs` lists what is indexed"
            )
        try:
            outcome = pickle.loads(output)  # noqa: S301 (our own child, over its own pipe)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as err:
            raise IngestJobError(f"the ingest process gave an unreadable answer ({err})") from err
        if not isinstance(outcome, JobOutcome):
            raise IngestJobError(f"the ingest process gave an unreadable answer ({type(outcome).__name__})")
        return outcome


async def _stop(child: asyncio.subprocess.Process) -> None:
    """SIGTERM lets the child finish the chunk batch it is on (no half-written document);
    SIGKILL if it has not ended after the grace period."""
    if child.returncode is not None:
        return
    child.terminate()
    try:
        await asyncio.wait_for(child.wait(), _STOP_GRACE)
    except TimeoutError:
        child.kill()
        await child.wait()


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = ", perhaps out of memory" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit status {code}"


# -- the child ---------------------------------------------------------------------------------


class _Stopped(BaseException):
    """Raised between embedding batches once SIGTERM arrived; not an Exception, so the
    ingestor's per-document handlers do not go on to the next document."""


class _StopBetweenBatches:
    """A `Progress` that ends the job at the next batch boundary after SIGTERM."""

    def __init__(self) -> None:
        self.stopping = False
        signal.signal(signal.SIGTERM, self._on_term)

    def _on_term(self, signum: int, frame: object) -> None:
        self.stopping = True

    def start(self, total: int) -> None:
        self.advance(0)

    def advance(self, done: int) -> None:
        if self.stopping:
            raise _Stopped


def _child_main() -> int:
    # stdout carries the outcome alone: anything a library prints goes to stderr instead.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    os.nice(_NICENESS)
    started = time.monotonic()
    progress = _StopBetweenBatches()
    request = pickle.load(sys.stdin.buffer)  # noqa: S301 (sent by the serve that started us)
    assert isinstance(request, _ChildJob)
    logging.basicConfig(level=request.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _stop_with_parent(request.parent)
    try:
        outcome = JobOutcome(_ingest(request, progress))
    except _Stopped:
        logger.warning("ingest job stopped between batches")
        return 1
    except Exception as err:  # reported to the poster as the job's failure
        logger.exception("ingest job failed")
        outcome = JobOutcome(error=f"{type(err).__name__}: {err}")
    outcome = JobOutcome(outcome.results, outcome.error, _peak_mb(), time.monotonic() - started)
    with out:
        pickle.dump(outcome, out)
    return 0


def _peak_mb() -> int:
    """This process's peak resident memory. Not ru_maxrss: Linux carries that over from
    serve through fork and exec, so it would report serve's size."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    line = next((line for line in status.splitlines() if line.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1]) // 1024


def _stop_with_parent(parent: int) -> None:
    """A serve killed outright cannot stop its job: Linux sends the child SIGTERM for it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the job runs to its end
        return
    if os.getppid() != parent:  # gone before the request was read
        os.kill(os.getpid(), signal.SIGTERM)


def _ingest(request: _ChildJob, progress: _StopBetweenBatches) -> list[IngestResult]:
    docs, failed = load_items(request.job.items, request.settings.loader)
    if not docs:  # every item refused: no model to load, no server to reach
        return failed
    progress.advance(0)
    from knowledge.service import open_knowledge

    with open_knowledge(request.settings, request.access, request.data_dir) as kb:
        return failed + kb.ingest_documents(docs, progress)


if __name__ == "__main__":
    # Run under the module's own name: what serve pickled refers to its classes there.
    from knowledge.ingest_process import _child_main as child_main

    sys.exit(child_main())
