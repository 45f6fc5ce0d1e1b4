"""Ingestion with versions: plan what changes, embed only that, write, then retire old versions.

Order matters for "nothing lost on failure": the new version's chunks are written
first; only when every chunk is stored are the old version's chunks deleted. If the
write fails, the partial new chunks are removed and the old version stays in place.
Each document is embedded and written on its own, so one that fails does not stop the others.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from knowledge.access import AccessPolicy
from knowledge.catalog import Catalog
from knowledge.types import DocumentInfo, IngestResult, IngestStatus, SourceDocument

if TYPE_CHECKING:  # LlamaIndex loads only when something is chunked or embedded
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.schema import TextNode

    from knowledge.chunking import Chunker, ChunkSettings
    from knowledge.store import ScopedWeaviateVectorStore

logger = logging.getLogger(__name__)

_EMBED_STEP = 256
# What loading and chunking make of a document: bump it whenever a change to them (tables
# kept as rows, new chunk sizes, headings in the text) should re-index unchanged sources.
PIPELINE_VERSION = 3


class Progress(Protocol):
    """Told how many chunks will be embedded, then as each batch is done."""

    def start(self, total: int) -> None: ...

    def advance(self, done: int) -> None: ...


def chunking_fingerprint(chunking: ChunkSettings, embed_model_name: str) -> str:
    """The settings that decide how a text is cut: the chunk sizes, and the embedding model
    whose window bounds them. A change re-chunks every document at its next ingest."""
    return json.dumps([chunking.chunk_size, chunking.chunk_overlap, embed_model_name], separators=(",", ":"))


def content_hash(doc: SourceDocument, chunking: str = "") -> str:
    """Everything that makes a version differ: text, the metadata that changes who sees it,
    and how it is chunked (`chunking_fingerprint`)."""
    payload = json.dumps(
        [
            PIPELINE_VERSION,
            chunking,
            doc.doc_id,
            doc.title,
            sorted(doc.audience),
            doc.effective_date,
            doc.version,
            doc.text,
        ],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def audience_problem(access: AccessPolicy, audience: tuple[str, ...]) -> str:
    """Why a document with this audience cannot be indexed; empty when it can."""
    if not audience:
        return "no audience: give --audience, an `audience:` line, or ingest.default_audience"
    unknown = access.unknown_groups(audience)
    if unknown:
        known = ", ".join(sorted(access.groups)) or "(none defined)"
        return f"unknown audience {', '.join(unknown)}; known groups: {known}"
    return ""


def next_version(current: DocumentInfo | None) -> str:
    if current is None:
        return "1"
    if current.version.isdigit():
        return str(int(current.version) + 1)
    return f"{current.version}+1"


@dataclass
class _Planned:
    doc: SourceDocument
    hash: str
    version: str
    replaces: DocumentInfo | None
    nodes: list[TextNode]


class Ingestor:
    def __init__(
        self,
        store: ScopedWeaviateVectorStore,
        catalog: Catalog,
        embed_model: BaseEmbedding,
        chunker: Chunker,
        access: AccessPolicy,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._embed = embed_model
        self._chunker = chunker
        self._access = access
        self._clock = clock
        self.fingerprint = chunking_fingerprint(chunker.settings, embed_model.model_name)

    def ingest(
        self,
        docs: list[SourceDocument],
        progress: Progress | None = None,
        file_keys: Mapping[str, str] | None = None,
        on_result: Callable[[IngestResult], None] | None = None,
    ) -> list[IngestResult]:
        """`file_keys`: per source, the key of the file it was read from, stored with the version
        (see `file_ingest`). `on_result` hears of each document as soon as its fate is known."""
        results: list[IngestResult] = []
        planned = self._plan(docs, results, file_keys or {})
        if on_result is not None:
            for result in results:
                on_result(result)
        if progress is not None:
            progress.start(sum(len(p.nodes) for p in planned))
        for item in planned:
            result = self._embed_and_write(item, progress)
            results.append(result)
            if on_result is not None:
                on_result(result)
        position = {d.source: i for i, d in enumerate(docs)}
        return sorted(results, key=lambda r: position.get(r.source, len(docs)))

    def _plan(
        self, docs: list[SourceDocument], results: list[IngestResult], file_keys: Mapping[str, str]
    ) -> list[_Planned]:
        """Decide per document, in version order, as if earlier ones were already written."""
        state: dict[str, DocumentInfo | None] = {}
        planned: list[_Planned] = []
        for doc in sorted(docs, key=lambda d: (d.doc_id, d.effective_date, d.version)):
            problem = audience_problem(self._access, doc.audience)
            if problem:
                results.append(
                    IngestResult(doc.source, IngestStatus.FAILED, doc.doc_id, doc.title, error=problem)
                )
                continue
            if doc.doc_id not in state:
                state[doc.doc_id] = self._catalog.current(doc.doc_id)
            current = state[doc.doc_id]
            digest = content_hash(doc, self.fingerprint)
            base = IngestResult(
                doc.source, IngestStatus.UNCHANGED, doc.doc_id, doc.title, audience=doc.audience
            )
            if current is not None and current.content_hash == digest:
                results.append(replace(base, version=current.version, chunks=current.chunks))
                continue
            if current and doc.effective_date and current.effective_date > doc.effective_date:
                results.append(
                    replace(
                        base,
                        status=IngestStatus.SKIPPED_OLDER,
                        version=doc.version,
                        error=f"older than indexed version {current.version} (effective {current.effective_date})",
                    )
                )
                continue
            version = doc.version or next_version(current)
            metadata: dict[str, object] = {
                "title": doc.title,
                "acl": list(doc.audience),
                "version": version,
                "effective_date": doc.effective_date,
                "source": doc.source,
                "content_hash": digest,
                "file_key": file_keys.get(doc.source, ""),
                "ingested_at": self._clock().isoformat(timespec="microseconds"),
            }
            try:
                nodes = self._chunker.chunk(doc, metadata, digest)
            except Exception as err:  # a document the chunker cannot cut fails alone
                logger.exception("chunking %s failed", doc.source)
                results.append(replace(base, status=IngestStatus.FAILED, error=f"chunking failed: {err}"))
                continue
            planned.append(_Planned(doc, digest, version, current, nodes))
            state[doc.doc_id] = DocumentInfo(
                doc.doc_id,
                doc.title,
                version,
                doc.effective_date,
                doc.audience,
                doc.source,
                digest,
                len(nodes),
                str(metadata["ingested_at"]),
            )
        return planned

    def _embed_and_write(self, item: _Planned, progress: Progress | None) -> IngestResult:
        try:
            self._embed_nodes(item.nodes, progress)
        except Exception as err:  # the model choked on this document: the others still go in
            logger.exception("embedding %s failed", item.doc.source)
            if progress is not None:  # the run's chunk count stays right for its rate and ETA
                progress.advance(sum(1 for n in item.nodes if n.embedding is None))
            doc = item.doc
            return IngestResult(
                doc.source, IngestStatus.FAILED, doc.doc_id, doc.title, error=f"embedding failed: {err}"
            )
        return self._write(item)

    def _embed_nodes(self, nodes: list[TextNode], progress: Progress | None) -> None:
        from llama_index.core.schema import MetadataMode

        for start in range(0, len(nodes), _EMBED_STEP):
            batch = nodes[start : start + _EMBED_STEP]
            texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in batch]
            for node, vector in zip(batch, self._embed.get_text_embedding_batch(texts), strict=True):
                node.embedding = vector
            if progress is not None:
                progress.advance(len(batch))

    def _write(self, item: _Planned) -> IngestResult:
        doc = item.doc
        result = IngestResult(
            doc.source,
            IngestStatus.REPLACED if item.replaces else IngestStatus.ADDED,
            doc.doc_id,
            doc.title,
            item.version,
            doc.audience,
            len(item.nodes),
            replaced_version=item.replaces.version if item.replaces else "",
        )
        try:
            self._store.add(list(item.nodes))
        except Exception as err:
            logger.exception("writing %s failed; removing its partial chunks", doc.source)
            self._catalog.delete(doc.doc_id, content_hash=item.hash)
            return replace(
                result,
                status=IngestStatus.FAILED,
                error=f"index write failed: {err}",
                chunks=0,
                replaced_version="",
            )
        if item.replaces is not None:
            removed = self._catalog.delete(doc.doc_id, keep_hash=item.hash)
            logger.info(
                "%s v%s replaced v%s (%d old chunks removed)",
                doc.doc_id,
                item.version,
                item.replaces.version,
                removed,
            )
        return result
