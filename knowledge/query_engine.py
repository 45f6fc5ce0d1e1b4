"""The answer path as a LlamaIndex query engine: scoped retriever -> node postprocessors -> synthesizer.

LlamaIndex's `RetrieverQueryEngine` runs the steps; what is ours is at each seam:
- the retriever is the index's retriever over the scoped store, built for one channel's
  `AccessScope` per question (access control stays inside `ScopedWeaviateVectorStore`);
- node postprocessors are the second stage (today the optional score floor);
- the response synthesizer hands the surviving passages, as typed `Passage`s, to whatever
  answers (the bot's Claude or extractive answerer) and keeps its typed result.
LlamaIndex types stay in this package: callers get an `Answered` back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.llms.mock import MockLLM
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.response_synthesizers.base import BaseSynthesizer
from llama_index.core.schema import NodeWithScore, QueryBundle, QueryType

from knowledge.types import Passage

T = TypeVar("T")
AnswerFn = Callable[[str, list[Passage]], T]


class RetrievalError(RuntimeError):
    """The search itself failed (Weaviate down, a timeout): nothing was retrieved."""


@dataclass(frozen=True)
class Answered(Generic[T]):
    """What the engine found and what the answerer made of it."""

    passages: list[Passage]
    result: T
    retrieval_s: float


class TimedRetriever(BaseRetriever):
    """The scoped retriever, timed, its failures told apart from the answerer's."""

    def __init__(self, inner: BaseRetriever) -> None:
        super().__init__()
        self._inner = inner
        self.elapsed_s = 0.0

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        started = time.perf_counter()
        try:
            return self._inner.retrieve(query_bundle)
        except Exception as error:
            raise RetrievalError(f"retrieval failed: {type(error).__name__}") from error
        finally:
            self.elapsed_s = time.perf_counter() - started


class NoRetrieval(BaseRetriever):
    """A scope that may read nothing: Weaviate is not even asked."""

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return []


class PassageSynthesizer(BaseSynthesizer, Generic[T]):
    """Synthesis by our own answerers: typed passages in, their typed result kept on the response.

    No LlamaIndex LLM is involved (the answerers call the Anthropic SDK themselves, or none), so
    a `MockLLM` stands in where the base class wants one instead of resolving a default LLM.
    """

    def __init__(self, answer: AnswerFn[T], to_passage: Callable[[NodeWithScore], Passage]) -> None:
        super().__init__(llm=MockLLM())
        self._answer = answer
        self._to_passage = to_passage

    def synthesize(
        self,
        query: QueryType,
        nodes: list[NodeWithScore],
        additional_source_nodes: Sequence[NodeWithScore] | None = None,
        **response_kwargs: Any,
    ) -> Response:
        question = query.query_str if isinstance(query, QueryBundle) else str(query)
        passages = [self._to_passage(n) for n in nodes]  # no passages is the answerer's call too
        result = self._answer(question, passages)
        return Response(
            response=None, source_nodes=list(nodes), metadata={"passages": passages, "result": result}
        )

    async def asynthesize(self, *args: Any, **kwargs: Any) -> Response:
        raise NotImplementedError("the answer path is synchronous (the bot runs it in worker threads)")

    def get_response(self, query_str: str, text_chunks: Sequence[str], **kwargs: Any) -> str:
        raise NotImplementedError("synthesize() answers from typed passages, not text chunks")

    async def aget_response(self, query_str: str, text_chunks: Sequence[str], **kwargs: Any) -> str:
        raise NotImplementedError("synthesize() answers from typed passages, not text chunks")

    def _get_prompts(self) -> PromptDictType:
        return {}  # the answerers own their prompts (bot/answering/prompts.py)

    def _update_prompts(self, prompts_dict: PromptDictType) -> None:
        return None


def run_engine(
    retriever: BaseRetriever,
    postprocessors: list[BaseNodePostprocessor],
    synthesizer: PassageSynthesizer[T],
    question: str,
) -> Answered[T]:
    timed = TimedRetriever(retriever)
    engine = RetrieverQueryEngine(timed, response_synthesizer=synthesizer, node_postprocessors=postprocessors)
    response = engine.query(question)
    metadata = response.metadata or {}
    return Answered(list(metadata["passages"]), metadata["result"], timed.elapsed_s)
