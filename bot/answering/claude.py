"""Answers written by Claude through the Anthropic SDK (DESIGN.md: not the LlamaIndex wrapper).

The reply comes back as a forced `submit_answer` tool call, so abstention is a field and
not a phrase to pattern-match. The system prompt and tool definition never change
between questions; a cache breakpoint on the system block lets Anthropic reuse them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, cast

import anthropic
from anthropic.types import TextBlockParam, ToolParam
from pydantic import BaseModel, Field, ValidationError

from bot.answering.base import AnswererError, Draft, QuestionRewriter
from bot.answering.citations import cited_numbers
from bot.answering.prompts import (
    ANSWER_TOOL,
    REWRITE_SYSTEM_PROMPT,
    SYSTEM_PROMPT,
    render_rewrite_message,
    render_user_message,
)
from bot.answering.settings import ClaudeSettings
from bot.types import AnswerKind, Turn
from knowledge.types import Passage

logger = logging.getLogger(__name__)


def make_client(api_key: str, base_url: str | None, settings: ClaudeSettings) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=api_key,
        base_url=base_url,
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
    )


def _cached(text: str) -> TextBlockParam:
    # The tool definition and this fixed prompt form the cacheable prefix; it is kept above
    # the 1,024-token minimum below which Anthropic silently ignores a cache breakpoint.
    return {"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}


class _ToolAnswer(BaseModel):
    answer: str = Field(min_length=1)
    abstained: bool


def _describe(error: anthropic.APIError) -> str:
    if isinstance(error, anthropic.APITimeoutError):
        return "the language model did not reply in time"
    if isinstance(error, anthropic.APIConnectionError):
        return "the language model could not be reached"
    if isinstance(error, anthropic.RateLimitError):
        return "the language model is rate-limited"
    if isinstance(error, anthropic.APIStatusError):
        return f"the language model returned an error (HTTP {error.status_code})"
    return "the language model's reply could not be read"


class ClaudeAnswerer:
    name = "claude"

    def __init__(
        self,
        client: anthropic.Anthropic,
        settings: ClaudeSettings,
        source_priority: Mapping[str, int] | None = None,
    ) -> None:
        self._client = client
        self.settings = settings
        self._priority = dict(source_priority or {})

    def answer(self, question: str, passages: Sequence[Passage]) -> Draft:
        user_prompt = render_user_message(question, passages, self._priority)
        try:
            reply = self._client.messages.create(
                model=self.settings.model,
                max_tokens=self.settings.max_tokens,
                system=[_cached(SYSTEM_PROMPT)],
                tools=[cast(ToolParam, ANSWER_TOOL)],
                tool_choice={"type": "tool", "name": "submit_answer"},
                messages=[{"role": "user", "content": user_prompt}],
            )
        except anthropic.APIError as error:
            logger.warning("Claude request failed: %s: %s", type(error).__name__, error)
            raise AnswererError(_describe(error)) from error
        except ValueError as error:  # the SDK lets a 200 with a non-JSON body through as this
            logger.warning("Claude reply unreadable: %s", error)
            raise AnswererError("the language model's reply was malformed") from error
        usage = getattr(reply, "usage", None)
        if usage is not None:
            logger.info(
                "Claude usage: %s input, %s cache read, %s cache write, %s output tokens",
                usage.input_tokens,
                usage.cache_read_input_tokens,
                usage.cache_creation_input_tokens,
                usage.output_tokens,
            )
        parsed = self._parse(reply, len(passages))
        kind = AnswerKind.ABSTAINED if parsed.abstained else AnswerKind.GENERATED
        model = reply.model or self.settings.model
        return Draft(parsed.answer.strip(), kind, self.name, model, SYSTEM_PROMPT, user_prompt)

    @staticmethod
    def _parse(reply: Any, passage_count: int) -> _ToolAnswer:
        if getattr(reply, "stop_reason", None) == "max_tokens":
            raise AnswererError("the language model's answer was cut off")
        calls = [b for b in getattr(reply, "content", None) or [] if getattr(b, "type", "") == "tool_use"]
        if not calls or calls[0].name != "submit_answer":
            raise AnswererError("the language model's reply was malformed")
        try:
            parsed = _ToolAnswer.model_validate(calls[0].input)
        except ValidationError as error:
            raise AnswererError("the language model's reply was malformed") from error
        valid = [n for n in cited_numbers(parsed.answer) if 1 <= n <= passage_count]
        if not parsed.abstained and not valid:
            # Every claim must be traceable; an uncited answer is not shown.
            raise AnswererError("the language model's answer cited no document")
        return parsed


class ClaudeRewriter:
    """Rewrites follow-ups with a small model; falls back to the heuristic on any error."""

    def __init__(
        self, client: anthropic.Anthropic, settings: ClaudeSettings, fallback: QuestionRewriter
    ) -> None:
        # A rewrite is a nicety: one retry at most, then the heuristic.
        self._client = client.with_options(
            timeout=settings.rewrite_timeout_s, max_retries=min(1, settings.max_retries)
        )
        self.settings = settings
        self._fallback = fallback

    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        if not history:
            return question
        try:
            reply = self._client.messages.create(
                model=self.settings.rewrite_model,
                max_tokens=200,
                system=[
                    {"type": "text", "text": REWRITE_SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}
                ],
                messages=[{"role": "user", "content": render_rewrite_message(question, history)}],
            )
            text = " ".join(b.text for b in reply.content if b.type == "text").strip()
        except (anthropic.APIError, ValueError, AttributeError) as error:
            logger.warning("follow-up rewrite failed (%s); using the heuristic", type(error).__name__)
            text = ""
        if not text or len(text) > 1000:
            return self._fallback.rewrite(question, history)
        return text
