"""LlamaIndex's Weaviate vector store, made safe: every query is scoped, every write checked.

This subclass is the only way the knowledge package reads chunks for a channel. It
fixes the upstream traps listed in DESIGN.md: an access scope is required on every
query path and becomes the `acl` filter (ANDed with any caller filter, never replaced);
alpha 0 really means BM25 only; BM25 searches only chunk text and title; vectors are
not shipped back; and batch insert failures raise instead of vanishing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.vector_stores.weaviate import WeaviateVectorStore
from llama_index.vector_stores.weaviate.base import _to_weaviate_filter
from llama_index.vector_stores.weaviate.utils import get_data_object
from weaviate.classes.query import MetadataQuery

from knowledge.access import acl_filter
from knowledge.schema import SEARCHABLE_PROPERTIES
from knowledge.types import AccessScope

logger = logging.getLogger(__name__)

_INSERT_BATCH = 256
DEFAULT_ALPHA = 0.5


class AccessScopeRequired(TypeError):
    """A query reached the store without an access scope."""


class IndexWriteError(RuntimeError):
    """Weaviate rejected some chunks of a batch."""


class ScopedWeaviateVectorStore(WeaviateVectorStore):
    """Pass `scope=AccessScope` to every query (retrievers: `vector_store_kwargs`)."""

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        scope = kwargs.pop("scope", None)
        if not isinstance(scope, AccessScope):
            raise AccessScopeRequired("every knowledge query needs an AccessScope (scope=...)")
        if kwargs:
            raise TypeError(f"unsupported query arguments: {', '.join(sorted(kwargs))}")
        if scope.is_empty:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        collection = self.client.collections.get(self.index_name)
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
                query_properties=SEARCHABLE_PROPERTIES,
                **common,
            )
        return self.parse_query_result(result, query)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        # The bot runs the sync client in a worker thread; an unscoped async path must not exist.
        raise NotImplementedError("use query() with scope=...; async queries are not supported")

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Insert nodes (with embeddings); raise if Weaviate refused any of them."""
        collection = self.client.collections.get(self.index_name)
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
