"""Sources that disagree: the same thing stated with different figures in different documents.

"What is the minimum password length?" may find 14 characters in the helpdesk page and
eight in an older security policy. Quoting one hides the other; running both together
reads as one muddled rule. The answer says they differ and cites each, the source the
settings rank higher first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from knowledge.types import Passage


def priority(passage: Passage, ranks: Mapping[str, int]) -> int:
    """A passage's rank from the settings: its document id, else the best of its access groups."""
    if passage.doc_id in ranks:
        return ranks[passage.doc_id]
    return max((ranks[g] for g in passage.acl if g in ranks), default=0)


def differ(first: frozenset[str], second: frozenset[str]) -> bool:
    """Two statements' figures disagree when both state some and they share none."""
    return bool(first) and bool(second) and not first & second


def ordered_sources(passages: Sequence[Passage], ranks: Mapping[str, int]) -> list[int]:
    """Passage indexes by settings rank (higher first), keeping retrieval order within a rank."""
    return sorted(range(len(passages)), key=lambda i: (-priority(passages[i], ranks), i))
