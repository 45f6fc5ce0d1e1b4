"""Hybrid retrieval (BM25 + vectors) through LlamaIndex, returning typed passages."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from llama_index.core import VectorStoreIndex
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import VectorStoreQueryMode

from knowledge.query_engine import Answered, AnswerFn, NoRetrieval, PassageSynthesizer, run_engine
from knowledge.settings import RetrievalSettings
from knowledge.store import ScopedWeaviateVectorStore
from knowledge.types import AccessScope, Passage

T = TypeVar("T")


def to_passage(hit: NodeWithScore) -> Passage:
    node, meta = hit.node, hit.node.metadata
    acl = meta.get("acl") or []
    return Passage(
        chunk_id=node.node_id,
        doc_id=node.ref_doc_id or "",
        title=str(meta.get("title", "")),
        section=str(meta.get("section", "")),
        version=str(meta.get("version", "")),
        source=str(meta.get("source", "")),
        score=round(float(hit.score or 0.0), 6),
        text=node.get_content(),
        effective_date=str(meta.get("effective_date") or ""),
        acl=tuple(str(a) for a in acl),
    )


class Retriever:
    def __init__(
        self, store: ScopedWeaviateVectorStore, embed_model: BaseEmbedding, settings: RetrievalSettings
    ) -> None:
        with _langchain_bridge_skipped():
            self._index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)
        self.settings = settings

    def retrieve(
        self, question: str, scope: AccessScope, top_k: int | None = None, alpha: float | None = None
    ) -> list[Passage]:
        """The passages a channel may see for a question: the query engine's first two steps."""
        bundle = QueryBundle(_checked(question))
        nodes = self._retriever(scope, top_k, alpha).retrieve(bundle)
        for step in self._postprocessors():
            nodes = step.postprocess_nodes(nodes, bundle)
        return [to_passage(n) for n in nodes]

    def answer(self, question: str, scope: AccessScope, answer: AnswerFn[T]) -> Answered[T]:
        """Retrieve, post-process and answer in one LlamaIndex query engine; `answer` gets the
        passages (possibly none) and its result comes back with them."""
        synthesizer = PassageSynthesizer(answer, to_passage)
        return run_engine(self._retriever(scope), self._postprocessors(), synthesizer, _checked(question))

    def _retriever(
        self, scope: AccessScope, top_k: int | None = None, alpha: float | None = None
    ) -> BaseRetriever:
        if scope.is_empty:
            return NoRetrieval()  # nothing is visible: don't even ask Weaviate
        return self._index.as_retriever(
            similarity_top_k=top_k or self.settings.top_k,
            vector_store_query_mode=VectorStoreQueryMode.HYBRID,
            alpha=self.settings.alpha if alpha is None else alpha,
            vector_store_kwargs={"scope": scope, "fusion": self.settings.fusion},
        )

    def _postprocessors(self) -> list[BaseNodePostprocessor]:
        """The second stage over what the store returned."""
        floor = self.settings.score_floor
        return [] if floor is None else [SimilarityPostprocessor(similarity_cutoff=floor)]


_LANGCHAIN_BRIDGE = "llama_index.core.bridge.langchain"


@contextmanager
def _langchain_bridge_skipped() -> Iterator[None]:
    """Building an index, LlamaIndex imports LangChain (when installed, as RAGAS installs it)
    only to ask whether the embedding model is a LangChain one: about a second of start-up.
    Ours is a LlamaIndex model, so the import is refused for that moment (a None entry in
    sys.modules makes it raise ImportError, which LlamaIndex takes as "no LangChain")."""
    if _LANGCHAIN_BRIDGE in sys.modules:
        yield
        return
    sys.modules[_LANGCHAIN_BRIDGE] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.modules.get(_LANGCHAIN_BRIDGE, ...) is None:
            del sys.modules[_LANGCHAIN_BRIDGE]


def _checked(question: str) -> str:
    question = question.strip()
    if not question:
        raise ValueError("the question is empty")
    return question
