"""LlamaIndex's Weaviate vector store, made safe: every query is scoped, every write checked.

This subclass is the only way the knowledge package reads chunks for a channel. It
fixes the upstream traps listed in DESIGN.md: an access scope is required on every
query path and becomes the `acl` filter (ANDed with any caller filter, never replaced);
alpha 0 really means BM25 only; BM25 searches only chunk text and title; vectors are
not shipped back; and batch insert failures raise instead of vanishing.

LlamaIndex's store has no consistency level of its own: it calls
`client.collections.get(index_name)` in each method. Every sync data path it has (query,
add, delete, delete_nodes) is overridden here to go through `CollectionHandles`, which
carry the configured read and write consistency levels.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.vector_stores.weaviate import WeaviateVectorStore
from llama_index.vector_stores.weaviate.base import _to_weaviate_filter
from llama_index.vector_stores.weaviate.utils import get_data_object
from pydantic import PrivateAttr
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery

from knowledge.access import acl_filter
from knowledge.connection import CollectionHandles, collection_handles
from knowledge.schema import SEARCHABLE_PROPERTIES
from knowledge.types import AccessScope

logger = logging.getLogger(__name__)

_INSERT_BATCH = 256
DEFAULT_ALPHA = 0.5
FUSIONS = {"relative_score": HybridFusion.RELATIVE_SCORE, "ranked": HybridFusion.RANKED}


class AccessScopeRequired(TypeError):
    """A query reached the store without an access scope."""


class IndexWriteError(RuntimeError):
    """Weaviate rejected some chunks of a batch."""


class ScopedWeaviateVectorStore(WeaviateVectorStore):
    """Pass `scope=AccessScope` to every query (retrievers: `vector_store_kwargs`), and
    optionally `fusion=` ("relative_score", Weaviate's default, or "ranked") for hybrid queries.

    `collections`: the handles (with consistency levels) for `index_name`; default, the
    server's own levels.
    """

    _handles: CollectionHandles = PrivateAttr()

    def __init__(self, *args: Any, collections: CollectionHandles | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handles = collections or collection_handles(self.client, self.index_name)
        if self._handles.reads.name != self.index_name or self._handles.writes.name != self.index_name:
            raise ValueError(f"collection handles are not for {self.index_name}")

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        scope = kwargs.pop("scope", None)
        if not isinstance(scope, AccessScope):
            raise AccessScopeRequired("every knowledge query needs an AccessScope (scope=...)")
        fusion = FUSIONS[kwargs.pop("fusion", "relative_score")]
        if kwargs:
            raise TypeError(f"unsupported query arguments: {', '.join(sorted(kwargs))}")
        if scope.is_empty:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        collection = self._handles.reads
        where = acl_filter(scope)
        if query.filters is not None:
            where = where & _to_weaviate_filter(query.filters, self._get_property_types())  # type: ignore[operator]
        alpha = DEFAULT_ALPHA if query.alpha is None else float(query.alpha)
        if query.mode == VectorStoreQueryMode.DEFAULT or not query.query_str:
            alpha = 1.0
        common: dict[str, Any] = {
            "limit": query.similarity_top_k,
            "filters": where,
            "return_metadata": MetadataQuery(score=True, distance=True),
            "include_vector": False,
        }
        # The pure modes call the pure searches: a hybrid call at alpha 0 or 1 still
        # fuses in zero-weighted hits of the other leg to fill the limit.
        if alpha <= 0.0:
            result = collection.query.bm25(
                query=query.query_str or "", query_properties=SEARCHABLE_PROPERTIES, **common
            )
        elif query.query_embedding is None:
            raise ValueError("a vector query needs the question's embedding")
        elif alpha >= 1.0:
            result = collection.query.near_vector(near_vector=query.query_embedding, **common)
            for obj in result.objects:  # cosine distance -> similarity, so scores compare
                obj.metadata.score = 1.0 - float(obj.metadata.distance or 0.0)
        else:
            result = collection.query.hybrid(
                query=query.query_str or "",
                vector=query.query_embedding,
                alpha=alpha,
                fusion_type=fusion,
                query_properties=SEARCHABLE_PROPERTIES,
                **common,
            )
        return self.parse_query_result(result, query)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        # The bot runs the sync client in a worker thread; an unscoped async path must not exist.
        raise NotImplementedError("use query() with scope=...; async queries are not supported")

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Insert nodes (with embeddings); raise if Weaviate refused any of them."""
        collection = self._handles.writes
        for start in range(0, len(nodes), _INSERT_BATCH):
            batch = [
                get_data_object(node, text_key=self.text_key) for node in nodes[start : start + _INSERT_BATCH]
            ]
            result = collection.data.insert_many(batch)
            if result.has_errors:
                first = next(iter(result.errors.values()))
                raise IndexWriteError(
                    f"Weaviate refused {len(result.errors)} of {len(batch)} chunks: {first.message}"
                )
        return [node.node_id for node in nodes]

    async def async_add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        raise NotImplementedError("use add(); it checks every batch for failures")

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """LlamaIndex's delete by document, at the write consistency level."""
        where = Filter.by_property("ref_doc_id").equal(ref_doc_id)
        extra = delete_kwargs.get("filter")
        if extra is not None:
            where = where & _to_weaviate_filter(extra, self._get_property_types())  # type: ignore[operator]
        self._delete_where(where)

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """LlamaIndex's delete by node ids and/or filters, at the write consistency level."""
        if not node_ids and not filters:
            return
        parts: list[Any] = []  # upstream annotates _to_weaviate_filter wrongly: it returns one filter
        if node_ids:
            parts.append(Filter.by_id().contains_any(node_ids))
        if filters:
            parts.append(_to_weaviate_filter(filters, self._get_property_types()))
        self._delete_where(Filter.all_of(parts))

    def _delete_where(self, where: Any) -> None:
        result = self._handles.writes.data.delete_many(where=where)
        if result.failed:
            raise IndexWriteError(f"Weaviate failed to delete {result.failed} chunks")
