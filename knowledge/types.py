"""Typed values that cross the knowledge package boundary.

Weaviate and LlamaIndex objects stay inside `knowledge/`; callers only ever see these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class AccessScope:
    """The access groups one channel may read. Built only by `AccessPolicy.scope_for`."""

    channel: str
    groups: frozenset[str]

    @property
    def is_empty(self) -> bool:
        return not self.groups


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk, with everything needed to cite it."""

    chunk_id: str
    doc_id: str
    title: str
    section: str
    version: str
    source: str
    score: float
    text: str
    effective_date: str = ""
    acl: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "title": self.title,
            "section": self.section,
            "version": self.version,
            "source": self.source,
            "score": self.score,
            "text": self.text,
        }


@dataclass(frozen=True)
class DocumentInfo:
    """One indexed document version, as `docs list` shows it."""

    doc_id: str
    title: str
    version: str
    effective_date: str
    audience: tuple[str, ...]
    source: str
    content_hash: str
    chunks: int
    ingested_at: str


class IngestStatus(StrEnum):
    ADDED = "added"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"
    SKIPPED_OLDER = "skipped-older"
    FAILED = "failed"


@dataclass(frozen=True)
class IngestResult:
    """What happened to one source document during ingestion."""

    source: str
    status: IngestStatus
    doc_id: str = ""
    title: str = ""
    version: str = ""
    audience: tuple[str, ...] = ()
    chunks: int = 0
    replaced_version: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not IngestStatus.FAILED

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "status": self.status.value,
            "doc_id": self.doc_id,
            "title": self.title,
            "version": self.version,
            "audience": list(self.audience),
            "chunks": self.chunks,
            "replaced_version": self.replaced_version,
            "error": self.error,
        }


@dataclass
class SourceDocument:
    """A parsed document before chunking: text plus the metadata that versions it.

    `text` is Markdown-ish: headings marked with `#` so the chunker can keep each
    chunk's heading path; PDFs carry page breaks as form feeds instead.
    """

    source: str
    text: str
    title: str
    doc_id: str
    audience: tuple[str, ...]
    version: str = ""
    effective_date: str = ""
    pages: list[str] = field(default_factory=list)
