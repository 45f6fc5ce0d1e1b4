"""Claude as the RAGAS judge, and the project's embedding model for RAGAS, behind RAGAS's own
interfaces (`InstructorBaseRagasLLM`, `BaseRagasEmbedding`). Nothing here talks to OpenAI.

Why not `ragas.llms.llm_factory("...", provider="anthropic")`: its InstructorLLM always sends
`temperature` and `top_p`. Current Claude models reject the two together, and anthropic>=1.0
has no such keyword arguments at all (the call fails before leaving the process). This judge
sends only what the SDK takes, through the project's own client (`make_client`: key, base
URL, retries), with instructor's tool mode for the structured verdicts RAGAS asks for.
"""

from __future__ import annotations

import os

os.environ["RAGAS_DO_NOT_TRACK"] = "true"  # before ragas loads: it reports usage otherwise

import asyncio
import threading
from typing import Any, TypeVar

import anthropic
import instructor
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import BaseModel
from ragas.embeddings.base import BaseRagasEmbedding
from ragas.llms.base import InstructorBaseRagasLLM

from bot.answering.claude import ClaudeSettings, make_client

T = TypeVar("T", bound=BaseModel)
JUDGE_MAX_TOKENS = 2048  # a verdict per statement of a long answer needs more than an answer's 800
JUDGE_TIMEOUT_S = 60.0  # judge prompts carry every retrieved passage


class ClaudeJudge(InstructorBaseRagasLLM):
    """RAGAS's structured-output LLM interface, answered by Claude through the Anthropic SDK."""

    # RAGAS's prompt code checks this to pick agenerate(); the sync client runs in a thread.
    is_async = True

    def __init__(self, client: anthropic.Anthropic, model: str, max_tokens: int = JUDGE_MAX_TOKENS) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self._client = instructor.from_anthropic(client)  # forced tool call -> validated model

    def generate(self, prompt: str, response_model: type[T]) -> T:
        reply: T = self._client.messages.create(
            model=self.model,
            max_tokens=self.max_tokens,
            messages=[{"role": "user", "content": prompt}],
            response_model=response_model,
            max_retries=2,  # one re-ask when the tool input does not validate
        )
        return reply

    async def agenerate(self, prompt: str, response_model: type[T]) -> T:
        return await asyncio.to_thread(self.generate, prompt, response_model)


def claude_judge(
    api_key: str, base_url: str | None, settings: ClaudeSettings, model: str | None = None
) -> ClaudeJudge:
    """The judge on the project's Anthropic client settings (answers.claude; ANTHROPIC_BASE_URL)."""
    client = make_client(api_key, base_url, settings)
    client = client.with_options(timeout=max(JUDGE_TIMEOUT_S, settings.timeout_s))
    return ClaudeJudge(client, model or settings.model)


def is_fatal(error: BaseException) -> bool:
    """A refused key, a forbidden or unknown model: every other row would fail the same way."""
    fatal = (anthropic.AuthenticationError, anthropic.PermissionDeniedError, anthropic.NotFoundError)
    seen: BaseException | None = error
    for _ in range(10):  # instructor wraps the SDK's error in its own retry error
        if seen is None:
            break
        if isinstance(seen, fatal):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class FastEmbedForRagas(BaseRagasEmbedding):
    """The knowledge base's own embedding model (fastembed all-MiniLM-L6-v2, via LlamaIndex) for
    RAGAS metrics that compare texts by meaning (answer relevancy)."""

    def __init__(self, model: BaseEmbedding) -> None:
        super().__init__()
        self._model = model
        self._lock = threading.Lock()  # RAGAS embeds from several threads: one call at a time

    def embed_text(self, text: str, **kwargs: Any) -> list[float]:
        with self._lock:
            return list(self._model.get_text_embedding(text))

    async def aembed_text(self, text: str, **kwargs: Any) -> list[float]:
        return await asyncio.to_thread(self.embed_text, text)

    def embed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        with self._lock:
            return [list(v) for v in self._model.get_text_embedding_batch(list(texts))]

    async def aembed_texts(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_texts, texts)
