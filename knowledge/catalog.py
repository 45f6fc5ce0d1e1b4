"""What is indexed, per document: list, look up the current version, forget.

Chunk 0 of each document version carries the document's metadata, so one filtered
fetch lists documents without scanning every chunk. Its `file_key` names the source file
(bytes and ingest options) the version was made from, for skipping unchanged files.

Reads go through the read handle, deletes through the write handle (their consistency
levels). The chunk counts are aggregations, which Weaviate answers from one replica
whatever the level (its aggregate API takes none).

`open_catalog` opens the catalogue alone: no embedding model and no LlamaIndex, so
`docs list` starts in about a second. It checks the collection's schema stamp as
`open_knowledge` does, so a model change is still reported.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from weaviate.classes.aggregate import GroupByAggregate
from weaviate.classes.query import Filter
from weaviate.collections.classes.filters import _Filters

from knowledge.connection import CollectionHandles, collection_handles, connect
from knowledge.schema import open_collection, schema_stamp
from knowledge.settings import KnowledgeSettings
from knowledge.types import DocumentInfo

_MAX_DOCUMENTS = 10_000
_FIELDS = [
    "doc_id",
    "title",
    "version",
    "effective_date",
    "acl",
    "source",
    "content_hash",
    "file_key",
    "ingested_at",
]
# Values per `contains_any` filter: a run over many files asks in a few queries, not one per file.
_KEYS_PER_QUERY = 200


class Catalog:
    def __init__(self, collections: CollectionHandles) -> None:
        self._reads = collections.reads
        self._writes = collections.writes

    def _heads(self, where: _Filters | None = None) -> list[dict[str, object]]:
        first = Filter.by_property("chunk_index").equal(0)
        result = self._reads.query.fetch_objects(
            filters=first & where if where is not None else first,
            limit=_MAX_DOCUMENTS,
            return_properties=_FIELDS,
        )
        return [dict(obj.properties) for obj in result.objects]

    def _chunk_counts(self, where: _Filters | None = None) -> dict[str, int]:
        """Chunks per document version (content hashes are unique per document version)."""
        result = self._reads.aggregate.over_all(
            filters=where,
            group_by=GroupByAggregate(prop="content_hash", limit=_MAX_DOCUMENTS),
            total_count=True,
        )
        return {str(g.grouped_by.value): int(g.total_count or 0) for g in result.groups}

    def _info(self, head: dict[str, object], chunks: int) -> DocumentInfo:
        acl = head.get("acl") or []
        return DocumentInfo(
            doc_id=str(head.get("doc_id", "")),
            title=str(head.get("title", "")),
            version=str(head.get("version", "")),
            effective_date=str(head.get("effective_date") or ""),
            audience=tuple(str(a) for a in acl) if isinstance(acl, list) else (),
            source=str(head.get("source", "")),
            content_hash=str(head.get("content_hash", "")),
            chunks=chunks,
            ingested_at=str(head.get("ingested_at", "")),
        )

    def current(self, doc_id: str) -> DocumentInfo | None:
        """The indexed version of `doc_id` (the newest, if a crash left two)."""
        heads = self._heads(Filter.by_property("doc_id").equal(doc_id))
        if not heads:
            return None
        head = max(heads, key=lambda h: str(h.get("ingested_at", "")))
        where = Filter.by_property("doc_id").equal(doc_id) & Filter.by_property("content_hash").equal(
            str(head.get("content_hash", ""))
        )
        total = self._reads.aggregate.over_all(filters=where, total_count=True).total_count
        return self._info(head, int(total or 0))

    def by_file_keys(self, keys: Collection[str]) -> dict[str, DocumentInfo]:
        """The indexed versions made from files with these keys, by key (unknown keys are absent)."""
        wanted = sorted({k for k in keys if k})
        heads: list[dict[str, object]] = []
        for start in range(0, len(wanted), _KEYS_PER_QUERY):
            part = wanted[start : start + _KEYS_PER_QUERY]
            heads += self._heads(Filter.by_property("file_key").contains_any(part))
        if not heads:
            return {}
        hashes = sorted({str(h.get("content_hash", "")) for h in heads})
        counts = self._chunk_counts(Filter.by_property("content_hash").contains_any(hashes))
        found: dict[str, DocumentInfo] = {}
        for head in sorted(heads, key=lambda h: str(h.get("ingested_at", ""))):  # newest wins
            found[str(head["file_key"])] = self._info(head, counts.get(str(head.get("content_hash", "")), 0))
        return found

    def set_file_key(self, doc_id: str, file_key: str) -> None:
        """Record on the current version of `doc_id` the key of a file found to hold it
        (read again after a settings change that left its content as it was)."""
        heads = self._reads.query.fetch_objects(
            filters=Filter.by_property("chunk_index").equal(0) & Filter.by_property("doc_id").equal(doc_id),
            limit=_MAX_DOCUMENTS,
            return_properties=["ingested_at", "file_key"],
        ).objects
        if not heads:
            return
        head = max(heads, key=lambda o: str(o.properties.get("ingested_at", "")))
        if head.properties.get("file_key") != file_key:
            self._writes.data.update(uuid=head.uuid, properties={"file_key": file_key})

    def list(self) -> list[DocumentInfo]:
        counts = self._chunk_counts()
        docs = [self._info(h, counts.get(str(h.get("content_hash", "")), 0)) for h in self._heads()]
        return sorted(docs, key=lambda d: (d.doc_id, d.ingested_at))

    def delete(self, doc_id: str, content_hash: str | None = None, keep_hash: str | None = None) -> int:
        """Delete chunks of `doc_id`: all, one version (`content_hash`), or all but one (`keep_hash`)."""
        where = Filter.by_property("doc_id").equal(doc_id)
        if content_hash is not None:
            where = where & Filter.by_property("content_hash").equal(content_hash)
        if keep_hash is not None:
            where = where & Filter.by_property("content_hash").not_equal(keep_hash)
        result = self._writes.data.delete_many(where=where)
        if result.failed:
            raise RuntimeError(f"Weaviate failed to delete {result.failed} chunks of {doc_id}")
        return int(result.successful)


@contextmanager
def open_catalog(settings: KnowledgeSettings, data_dir: Path) -> Iterator[Catalog]:
    """The catalogue of the configured collection, refused (SchemaError) if another schema or
    embedding model built it."""
    with connect(settings.weaviate, data_dir) as client:
        name = open_collection(
            client, settings.weaviate.collection, schema_stamp(settings), settings.weaviate.replication_factor
        )
        yield Catalog(collection_handles(client, name, settings.weaviate))


def current_versions(settings: KnowledgeSettings, data_dir: Path) -> dict[str, str]:
    """The indexed version of every document (nothing is embedded to read the catalogue)."""
    with open_catalog(settings, data_dir) as catalog:
        return {d.doc_id: d.version for d in catalog.list()}
