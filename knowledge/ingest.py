"""Ingestion with versions: plan what changes, embed only that, write, then retire old versions.

Order matters for "nothing lost on failure": the new version's chunks are written
first; only when every chunk is stored are the old version's chunks deleted. If the
write fails, the partial new chunks are removed and the old version stays in place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import MetadataMode, TextNode

from knowledge.access import AccessPolicy
from knowledge.catalog import Catalog
from knowledge.chunking import Chunker
from knowledge.store import ScopedWeaviateVectorStore
from knowledge.types import DocumentInfo, IngestResult, IngestStatus, SourceDocument

logger = logging.getLogger(__name__)

_EMBED_STEP = 256
# What loading and chunking make of a document: bump it whenever a change to them (tables
# kept as rows, new chunk sizes, headings in the text) should re-index unchanged sources.
PIPELINE_VERSION = 3


class Progress(Protocol):
    """Told how many chunks will be embedded, then as each batch is done."""

    def start(self, total: int) -> None: ...

    def advance(self, done: int) -> None: ...


def content_hash(doc: SourceDocument) -> str:
    """Everything that makes a version differ: text and the metadata that changes who sees it."""
    payload = json.dumps(
        [
            PIPELINE_VERSION,
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

    def ingest(self, docs: list[SourceDocument], progress: Progress | None = None) -> list[IngestResult]:
        results: list[IngestResult] = []
        planned = self._plan(docs, results)
        self._embed_all([n for p in planned for n in p.nodes], progress)
        for item in planned:
            results.append(self._write(item))
        position = {d.source: i for i, d in enumerate(docs)}
        return sorted(results, key=lambda r: position.get(r.source, len(docs)))

    def _check_audience(self, doc: SourceDocument) -> str:
        if not doc.audience:
            return "no audience: give --audience, an `audience:` line, or ingest.default_audience"
        unknown = self._access.unknown_groups(doc.audience)
        if unknown:
            known = ", ".join(sorted(self._access.groups)) or "(none defined)"
            return f"unknown audience {', '.join(unknown)}; known groups: {known}"
        return ""

    def _plan(self, docs: list[SourceDocument], results: list[IngestResult]) -> list[_Planned]:
        """Decide per document, in version order, as if earlier ones were already written."""
        state: dict[str, DocumentInfo | None] = {}
        planned: list[_Planned] = []
        for doc in sorted(docs, key=lambda d: (d.doc_id, d.effective_date, d.version)):
            problem = self._check_audience(doc)
            if problem:
                results.append(
                    IngestResult(doc.source, IngestStatus.FAILED, doc.doc_id, doc.title, error=problem)
                )
                continue
            if doc.doc_id not in state:
                state[doc.doc_id] = self._catalog.current(doc.doc_id)
            current = state[doc.doc_id]
            digest = content_hash(doc)
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
                "ingested_at": self._clock().isoformat(timespec="microseconds"),
            }
            nodes = self._chunker.chunk(doc, metadata, digest)
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

    def _embed_all(self, nodes: list[TextNode], progress: Progress | None) -> None:
        if progress is not None:
            progress.start(len(nodes))
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
