"""Numbered citation markers: check them against the passages and renumber them for display.

The model (or the extractive answerer) writes `[n]` for passage n of the prompt. Users see
markers numbered 1, 2, 3 in order of first use, each mapped to one `Citation`. Markers
that point at no passage are removed: a citation must never point at nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.types import Citation
from knowledge.types import Passage

# [1], [1][2], and the list forms models sometimes write: [1, 2] / [1,2]
_MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")


@dataclass(frozen=True)
class ResolvedText:
    text: str
    citations: tuple[Citation, ...]
    cited_ranks: tuple[int, ...]  # 0-based passage indexes, in citation order
    dropped_markers: int


def neutralise_markers(text: str) -> str:
    """Document text may contain "[2]" of its own (a clause, a footnote): shown to a model or
    quoted, it would read as a citation of passage 2. Parentheses keep the meaning."""
    return _MARKER.sub(r"(\1)", text)


def cited_numbers(text: str) -> list[int]:
    return [int(n) for m in _MARKER.finditer(text) for n in m.group(1).split(",")]


def resolve_citations(text: str, passages: Sequence[Passage]) -> ResolvedText:
    display: dict[int, int] = {}  # prompt number -> display number
    dropped = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal dropped
        out = []
        for raw in match.group(1).split(","):
            number = int(raw)
            if not 1 <= number <= len(passages):
                dropped += 1
                continue
            display.setdefault(number, len(display) + 1)
            marker = f"[{display[number]}]"
            if marker not in out:
                out.append(marker)
        return "".join(out)

    rewritten = _MARKER.sub(replace, text)
    rewritten = re.sub(r"(\[\d+\])(?:\1)+", r"\1", rewritten)  # "[1][1]" says it once
    # A removed marker can leave "word ." behind.
    rewritten = re.sub(r"[ \t]+([.,;:!?])", r"\1", rewritten).strip()
    citations = []
    for number, shown in sorted(display.items(), key=lambda item: item[1]):
        p = passages[number - 1]
        citations.append(Citation(shown, p.doc_id, p.title, p.section, p.version, p.source, p.chunk_id))
    ranks = tuple(n - 1 for n, _ in sorted(display.items(), key=lambda item: item[1]))
    return ResolvedText(rewritten, tuple(citations), ranks, dropped)
