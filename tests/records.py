"""Sample interaction records for the store tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from bot.store.interactions import InteractionRecord, PassageRecord


def make_record(**overrides: object) -> InteractionRecord:
    fields: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "created_at": datetime.now(UTC).isoformat(),
        "platform": "slack",
        "channel": "C0HR",
        "user_id": "U1",
        "thread_id": "1700000000.000100",
        "question": "How long is parental leave?",
        "rewritten_question": "",
        "scope_groups": ["everyone", "hr-team"],
        "answer_text": "Birth parents get 20 weeks [1].",
        "kind": "generated",
        "abstained": False,
        "answerer": "claude",
        "model": "claude-sonnet-5-5",
        "latency_ms": 812.5,
        "system_prompt": "You answer from documents.",
        "user_prompt": "<documents>...</documents>",
        "prompt_version": 1,
        "passages": [
            PassageRecord(
                1,
                "chunk-a",
                "parental-leave",
                "Parental Leave",
                "Birth parent",
                "3",
                "pl.md",
                ["everyone"],
                0.91,
                "The birth parent receives 20 weeks.",
                1,
            ),
            PassageRecord(
                2,
                "chunk-b",
                "remote-work",
                "Remote Work",
                "Eligibility",
                "2",
                "rw.md",
                ["everyone"],
                0.42,
                "Up to three days.",
                None,
            ),
        ],
    }
    fields.update(overrides)
    return InteractionRecord(**fields)  # type: ignore[arg-type]
