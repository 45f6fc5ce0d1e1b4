"""The dataset formats people train with, as pydantic models: every exported line is
validated against its format's model before it is written.

An example is built from a voted interaction: the system prompt the bot used, the user
message it was shown (retrieved passages included), and its answer as the assistant turn.
SFT formats take thumbs-up answers; KTO takes both, labelled; DPO takes mined pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1"


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str = Field(min_length=1)


class UserTurn(Message):
    role: Literal[Role.USER] = Role.USER


class AssistantTurn(Message):
    role: Literal[Role.ASSISTANT] = Role.ASSISTANT


# -- the formats -----------------------------------------------------------------------


class BedrockClaudeSft(BaseModel):
    """Claude on Amazon Bedrock fine-tuning: the system prompt apart, then user/assistant turns."""

    model_config = ConfigDict(extra="forbid")

    system: str = Field(min_length=1)
    messages: list[UserTurn | AssistantTurn] = Field(min_length=2)


class ChatSft(BaseModel):
    """OpenAI chat fine-tuning and Hugging Face TRL SFT (conversational): one `messages` list."""

    model_config = ConfigDict(extra="forbid")

    messages: list[Message] = Field(min_length=2)


class OpenAiDpoInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[Message] = Field(min_length=1)


class OpenAiDpo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: OpenAiDpoInput
    preferred_output: list[AssistantTurn] = Field(min_length=1, max_length=1)
    non_preferred_output: list[AssistantTurn] = Field(min_length=1, max_length=1)


class TrlKto(BaseModel):
    """TRL's unpaired preference format: a prompt, a completion, and whether it was good."""

    model_config = ConfigDict(extra="forbid")

    prompt: list[Message] = Field(min_length=1)
    completion: list[AssistantTurn] = Field(min_length=1, max_length=1)
    label: bool


class TrlDpo(BaseModel):
    """TRL's paired preference format (conversational)."""

    model_config = ConfigDict(extra="forbid")

    prompt: list[Message] = Field(min_length=1)
    chosen: list[AssistantTurn] = Field(min_length=1, max_length=1)
    rejected: list[AssistantTurn] = Field(min_length=1, max_length=1)


# -- building lines --------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One voted answer, ready for any format (texts already scrubbed)."""

    system: str
    user: str
    answer: str
    good: bool


@dataclass(frozen=True)
class Pair:
    system: str
    user: str
    chosen: str
    rejected: str


def _prompt(system: str, user: str) -> list[Message]:
    return [Message(role=Role.SYSTEM, content=system), UserTurn(content=user)]


def bedrock_sft(e: Example) -> BaseModel:
    return BedrockClaudeSft(
        system=e.system, messages=[UserTurn(content=e.user), AssistantTurn(content=e.answer)]
    )


def chat_sft(e: Example) -> BaseModel:
    return ChatSft(messages=[*_prompt(e.system, e.user), AssistantTurn(content=e.answer)])


def trl_kto(e: Example) -> BaseModel:
    return TrlKto(
        prompt=_prompt(e.system, e.user), completion=[AssistantTurn(content=e.answer)], label=e.good
    )


def openai_dpo(p: Pair) -> BaseModel:
    return OpenAiDpo(
        input=OpenAiDpoInput(messages=_prompt(p.system, p.user)),
        preferred_output=[AssistantTurn(content=p.chosen)],
        non_preferred_output=[AssistantTurn(content=p.rejected)],
    )


def trl_dpo(p: Pair) -> BaseModel:
    return TrlDpo(
        prompt=_prompt(p.system, p.user),
        chosen=[AssistantTurn(content=p.chosen)],
        rejected=[AssistantTurn(content=p.rejected)],
    )


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    model: type[BaseModel]
    kind: Literal["sft", "kto", "pairs"]
    build_example: Callable[[Example], BaseModel] | None = None
    build_pair: Callable[[Pair], BaseModel] | None = None


FORMATS: dict[str, Format] = {
    f.name: f
    for f in [
        Format(
            "bedrock-claude-sft",
            "Claude on Amazon Bedrock, SFT (system + messages)",
            BedrockClaudeSft,
            "sft",
            bedrock_sft,
        ),
        Format("openai-sft", "OpenAI chat fine-tuning (messages)", ChatSft, "sft", chat_sft),
        Format(
            "openai-dpo",
            "OpenAI preference fine-tuning (input, preferred/non-preferred output)",
            OpenAiDpo,
            "pairs",
            build_pair=openai_dpo,
        ),
        Format("trl-sft", "Hugging Face TRL SFT, conversational (messages)", ChatSft, "sft", chat_sft),
        Format(
            "trl-kto", "Hugging Face TRL KTO, unpaired (prompt, completion, label)", TrlKto, "kto", trl_kto
        ),
        Format(
            "trl-dpo",
            "Hugging Face TRL DPO, conversational (prompt, chosen, rejected)",
            TrlDpo,
            "pairs",
            build_pair=trl_dpo,
        ),
    ]
}
