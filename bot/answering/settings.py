"""How answers are written: Claude's and the extractive answerer's settings.

Apart from the answerers, so that reading the settings file loads neither the Anthropic
SDK nor nltk.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ClaudeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field("claude-sonnet-5-5", description="Model that writes answers.")
    rewrite_model: str = Field(
        "claude-haiku-5-5", description="Smaller model that rewrites follow-ups into standalone questions."
    )
    max_tokens: int = Field(800, ge=64, le=8192, description="Upper bound on an answer's length.")
    # Worst case before the fallback answers: (max_retries + 1) * timeout_s plus backoff.
    timeout_s: float = Field(20.0, gt=0, description="Per-request timeout, after which we fall back.")
    rewrite_timeout_s: float = Field(8.0, gt=0, description="Timeout for the follow-up rewrite.")
    max_retries: int = Field(
        2, ge=0, le=10, description="SDK retries on 408/409/429/5xx and connection errors."
    )


class ExtractiveSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # 0.65 on policy-qa (957 questions) and the benches' 40 off-topic ones: 94% answered, every
    # off-topic question abstains; 0.6 answers 96% but lets one off-topic question through.
    min_confidence: float = Field(
        0.65,
        ge=0.0,
        le=2.0,
        description="Abstain when the best sentence's meaning similarity plus half its word support is below this.",
    )
    max_sentences: int = Field(3, ge=1, le=10, description="Sentences or table rows quoted at most.")
    semantic_pool: int = Field(
        16, ge=1, le=500, description="Sentences compared in meaning per question (the best by words first)."
    )
    max_chars: int = Field(600, ge=100, description="Length cap of an extracted answer.")
    conflict_margin: float = Field(
        0.12,
        ge=0.0,
        le=1.0,
        description="Another document's differing figure is named when its sentence is this close in meaning "
        "similarity to the best one...",
    )
    conflict_floor: float = Field(
        0.5, ge=0.0, le=1.0, description="... and at least this similar to the question."
    )


class AnswerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    claude: ClaudeSettings = Field(default_factory=ClaudeSettings)
    extractive: ExtractiveSettings = Field(default_factory=ExtractiveSettings)
    abstain_text: str = Field(
        "I couldn't find this in the documents visible to this channel.",
        description="The reply when the documents do not answer the question.",
    )
    max_question_chars: int = Field(2000, ge=50, description="Longer questions are refused politely.")
    history_turns: int = Field(6, ge=0, le=50, description="Earlier turns of a thread used for follow-ups.")
    source_priority: dict[str, int] = Field(
        default_factory=dict,
        description="Document ids or access groups ranked against each other (higher first) "
        "when sources differ; unlisted ones rank 0.",
    )
