"""Many files in one run: unchanged files are skipped by their bytes, before any parsing.

A file's key hashes everything that decides what the index holds for it: its bytes and
name, the options it is ingested with (audience, title, id, version, effective date), the
pipeline version and the chunking settings (`chunking_fingerprint`). The key is stored with
the version the file produced (`file_key` on its chunks); a file whose key is indexed is
reported unchanged without being parsed. A changed key means the file is read again; if its
content turns out unchanged (say the embedding model's name changed but not the text), the
new key is recorded and nothing is re-embedded.

The embedding model, the chunker and LlamaIndex load only once a document has to be
chunked and embedded, so a run where every file is unchanged needs none of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from knowledge.access import AccessPolicy
from knowledge.catalog import Catalog
from knowledge.ingest import PIPELINE_VERSION, Ingestor, Progress, audience_problem, content_hash
from knowledge.loaders import DocumentDefaults, DocumentError, FileJob, LoaderSettings, iter_files, load_file
from knowledge.types import DocumentInfo, IngestResult, IngestStatus, SourceDocument

if TYPE_CHECKING:
    from knowledge.service import KnowledgeSettings

logger = logging.getLogger(__name__)

# Bump when the key's recipe changes, so no old key can match by accident.
KEY_FORMAT = 1


class RunProgress(Progress, Protocol):
    """Follows a whole run: the files, then the chunks embedded (`Progress`)."""

    def files(self, total: int) -> None:
        """How many files the run covers."""

    def reading(self, source: str) -> None:
        """A changed (or new) file is being parsed."""

    def finished(self, result: IngestResult) -> None:
        """One file's outcome, as soon as it is known."""


def file_key(path: Path, defaults: DocumentDefaults, chunking: str) -> str:
    """What the index holds for a file follows from this alone (see the module docstring).
    Raises OSError when the file cannot be read."""
    options = [
        sorted(defaults.audience),
        defaults.title,
        defaults.doc_id,
        defaults.version,
        defaults.effective_date,
    ]
    recipe = json.dumps([KEY_FORMAT, PIPELINE_VERSION, chunking, path.name, options], ensure_ascii=False)
    with path.open("rb") as handle:
        content = hashlib.file_digest(handle, "sha256").hexdigest()
    return hashlib.sha256(f"{recipe}\0{content}".encode()).hexdigest()[:32]


def expand(paths: Sequence[Path], defaults: DocumentDefaults) -> list[FileJob | DocumentError]:
    """Files and folders (walked for supported types) as jobs; a missing path is an error item."""
    return [
        item if isinstance(item, DocumentError) else FileJob(item, defaults)
        for item in iter_files(list(paths))
    ]


def _failed(source: str, reason: str) -> IngestResult:
    return IngestResult(source, IngestStatus.FAILED, error=reason)


class FileIngest:
    """`ingestor` builds the chunking and embedding side when first needed (it loads the model)."""

    def __init__(
        self,
        catalog: Catalog,
        access: AccessPolicy,
        loader: LoaderSettings,
        chunking: str,
        ingestor: Callable[[], Ingestor],
    ) -> None:
        self._catalog = catalog
        self._access = access
        self._loader = loader
        self._chunking = chunking
        self._make_ingestor = ingestor
        self._ingestor: Ingestor | None = None

    def run(
        self, jobs: Sequence[FileJob | DocumentError], progress: RunProgress | None = None
    ) -> list[IngestResult]:
        """Every job's result, in job order; a file that fails does not stop the others."""
        report = progress.finished if progress is not None else (lambda result: None)
        if progress is not None:
            progress.files(len(jobs))
        results: dict[int, IngestResult] = {}
        keys: dict[int, str] = {}
        for n, job in enumerate(jobs):
            if isinstance(job, DocumentError):
                results[n] = _failed(job.source, job.reason)
                continue
            try:
                keys[n] = file_key(job.path, job.defaults, self._chunking)
            except OSError as err:
                results[n] = _failed(str(job.path), err.strerror or str(err))
        indexed = self._catalog.by_file_keys(keys.values())
        for n, key in keys.items():
            if key in indexed:
                results[n] = self._unchanged(str(_job(jobs, n).path), indexed[key])
        for n in sorted(results):
            report(results[n])
        changed = [n for n in keys if n not in results]
        for n, result in zip(changed, self._ingest_changed(jobs, changed, keys, progress), strict=True):
            results[n] = result
        return [results[n] for n in range(len(jobs))]

    def _unchanged(self, source: str, info: DocumentInfo) -> IngestResult:
        # The groups a document was indexed for may since have left the settings.
        problem = audience_problem(self._access, info.audience)
        if problem:
            return IngestResult(source, IngestStatus.FAILED, info.doc_id, info.title, error=problem)
        return IngestResult(
            source,
            IngestStatus.UNCHANGED,
            info.doc_id,
            info.title,
            info.version,
            info.audience,
            info.chunks,
        )

    def _ingest_changed(
        self,
        jobs: Sequence[FileJob | DocumentError],
        changed: list[int],
        keys: dict[int, str],
        progress: RunProgress | None,
    ) -> list[IngestResult]:
        """Parse the changed files, then chunk, embed and write what differs from the index."""
        report = progress.finished if progress is not None else (lambda result: None)
        done: dict[int, IngestResult] = {}
        pending: dict[int, SourceDocument] = {}
        for n in changed:
            job = _job(jobs, n)
            if progress is not None:
                progress.reading(str(job.path))
            try:
                doc = load_file(job.path, job.defaults, self._loader)
            except DocumentError as err:
                done[n] = _failed(err.source, err.reason)
            except OSError as err:
                done[n] = _failed(str(job.path), err.strerror or str(err))
            else:
                same = self._same_content(doc, keys[n])
                if same is None:
                    pending[n] = doc
                else:
                    done[n] = same
            if n in done:
                report(done[n])
        if pending:
            by_source = {doc.source: keys[n] for n, doc in pending.items()}
            written = self._get_ingestor().ingest(list(pending.values()), progress, by_source, report)
            for n, result in zip(pending, written, strict=True):
                done[n] = result
                if result.status is IngestStatus.UNCHANGED:  # an earlier file of this run wrote it
                    self._catalog.set_file_key(result.doc_id, keys[n])
        return [done[n] for n in changed]

    def _same_content(self, doc: SourceDocument, key: str) -> IngestResult | None:
        """The result when the index already holds exactly this content (the file's new key is
        then recorded, so the next run skips it unread); None when it has to be ingested."""
        current = self._catalog.current(doc.doc_id)
        if current is None or current.content_hash != content_hash(doc, self._chunking):
            return None
        self._catalog.set_file_key(doc.doc_id, key)
        return self._unchanged(doc.source, current)

    def _get_ingestor(self) -> Ingestor:
        if self._ingestor is None:
            self._ingestor = self._make_ingestor()
        return self._ingestor


def _job(jobs: Sequence[FileJob | DocumentError], n: int) -> FileJob:
    job = jobs[n]
    assert isinstance(job, FileJob)
    return job


@contextmanager
def open_file_ingest(
    settings: KnowledgeSettings, access: AccessPolicy, data_dir: Path
) -> Iterator[FileIngest]:
    """Connect and open the collection; the chunking and embedding side waits until needed."""
    from knowledge.connection import collection_handles, connect
    from knowledge.ingest import chunking_fingerprint
    from knowledge.schema import open_collection, schema_stamp

    with connect(settings.weaviate, data_dir) as client:
        name = open_collection(
            client, settings.weaviate.collection, schema_stamp(settings), settings.weaviate.replication_factor
        )
        handles = collection_handles(client, name, settings.weaviate)
        catalog = Catalog(handles)

        def build_ingestor() -> Ingestor:
            from knowledge.chunking import Chunker
            from knowledge.embeddings import embedding_window, load_embedding_model
            from knowledge.schema import TEXT_KEY
            from knowledge.store import ScopedWeaviateVectorStore

            embed_model = load_embedding_model(settings.embedding)
            store = ScopedWeaviateVectorStore(
                weaviate_client=client, index_name=name, text_key=TEXT_KEY, url=None, collections=handles
            )
            chunker = Chunker(settings.chunking, embedding_window(embed_model))
            return Ingestor(store, catalog, embed_model, chunker, access)

        chunking = chunking_fingerprint(settings.chunking, settings.embedding.model_name)
        yield FileIngest(catalog, access, settings.loader, chunking, build_ingestor)
