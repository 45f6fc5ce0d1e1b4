"""Content gaps: the week's unanswered and thumbs-down questions, grouped by what they ask.

With an embedding function (the knowledge base's own model), questions join the most
similar group whose centroid is at least `similarity` away in cosine terms, or start a
new one (single-pass leader clustering: a week holds hundreds of such questions, not
millions, and the groups must not depend on a random seed). Without one, questions with
the same content words (the fine-tuning export's near-duplicate key) form a group.
The example shown for a group is the question nearest its centroid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from eval.finetune.select import question_group

Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Gap:
    example: str
    questions: tuple[str, ...]  # every question of the group, example first
    abstained: int
    thumbs_down: int
    channels: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.questions)


def find_gaps(
    items: Sequence[tuple[str, str, str]], embed: Embed | None = None, similarity: float = 0.6, top: int = 8
) -> list[Gap]:
    """`items`: (question, "abstained" | "thumbs-down", channel). The largest groups first."""
    if not items:
        return []
    groups = _by_embedding(items, embed, similarity) if embed is not None else _by_words(items)
    gaps = [_gap(items, members, example) for members, example in groups]
    gaps.sort(key=lambda g: (-g.size, g.example))
    return gaps[:top]


def _by_words(items: Sequence[tuple[str, str, str]]) -> list[tuple[list[int], int]]:
    keyed: dict[str, list[int]] = {}
    for i, (question, _, _) in enumerate(items):
        keyed.setdefault(question_group(question), []).append(i)
    return [(members, members[0]) for members in keyed.values()]


def _by_embedding(
    items: Sequence[tuple[str, str, str]], embed: Embed, similarity: float
) -> list[tuple[list[int], int]]:
    vectors = np.asarray(embed([q for q, _, _ in items]), dtype=np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
    members: list[list[int]] = []
    sums: list[np.ndarray] = []
    for i, vector in enumerate(vectors):
        if sums:
            centroids = np.stack(sums)
            centroids /= np.linalg.norm(centroids, axis=1, keepdims=True).clip(min=1e-12)
            scores = centroids @ vector
            best = int(np.argmax(scores))
            if scores[best] >= similarity:
                members[best].append(i)
                sums[best] = sums[best] + vector
                continue
        members.append([i])
        sums.append(vector.copy())
    groups = []
    for group, total in zip(members, sums, strict=True):
        centroid = total / max(float(np.linalg.norm(total)), 1e-12)
        example = max(group, key=lambda i: (float(vectors[i] @ centroid), -i))
        groups.append((group, example))
    return groups


def _gap(items: Sequence[tuple[str, str, str]], members: list[int], example: int) -> Gap:
    reasons = Counter(items[i][1] for i in members)
    ordered = [example] + [i for i in members if i != example]
    return Gap(
        example=items[example][0],
        questions=tuple(items[i][0] for i in ordered),
        abstained=reasons["abstained"],
        thumbs_down=reasons["thumbs-down"],
        channels=tuple(sorted({items[i][2] for i in members})),
    )
