"""The units an extractive answer is made of: sentences and table rows, each under its heading.

Passages come from Markdown (headings marked `#`), plain text, and PDFs, whose text is
wrapped lines with numbered clauses ("4.2 The rates ...") and headings on lines of their
own. Headings, titles and contents-page lines are never answers: they become the context
the following sentences are read under. Table rows (lines `| Header: value | ... |`, as
the loaders write them) stand alone, each with its headers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.answering.citations import neutralise_markers
from knowledge.types import Passage

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_ITEM_MARKER = re.compile(r"^\s*(?:[-*•▪●◦]|\d{1,2}[.)]|\d+(?:\.\d+)+\.?|\(?[a-zA-Z]{1,4}\)|\(\d{1,2}\))\s+")
_MD_HEADING = re.compile(r"^\s*#{1,6}\s+(.*?)\s*#*\s*$")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|[\s:|-]+\|\s*$")
_CONTENTS_LINE = re.compile(r"(?:\.\s*){4,}\s*\d+\s*$|(?:…\s*)+\d+\s*$|\s{3,}\d{1,3}\s*$")
_PAGE_LINE = re.compile(r"^\s*(?:page\s+)?\d+\s*(?:of\s+\d+)?\s*$", re.IGNORECASE)
_END_PUNCT = (".", ":", ";", "?", "!", ",")
_MIN_WORDS = 4
_JOINING_WORDS = frozenset("a an the of to by for and or in on at with from after before that which".split())
_DIGIT = re.compile(r"\d")  # a short line with a figure is a wrapped table cell, not a heading


@dataclass(frozen=True)
class Candidate:
    """One sentence or table row of passage `rank`, at `position` within it."""

    rank: int
    position: int
    text: str
    context: str  # the heading it sits under (or the passage's section or title)
    table: int = 0  # rows of one table share a number (0: not a row)

    @property
    def is_row(self) -> bool:
        return self.table > 0

    @property
    def embed_text(self) -> str:
        """What the embedding model compares with the question: the unit read under its heading."""
        if self.context and self.context.lower() not in self.text.lower():
            return f"{self.context}: {self.text}"
        return self.text


def looks_like_heading(line: str) -> bool:
    """A short line with no closing punctuation, in capitals or title case ("4. TRANSPORT",
    "Annual Leave", "Mode of Transport Rates"): a heading or a flattened table header."""
    text = _ITEM_MARKER.sub("", line).strip()
    words = re.findall(r"[A-Za-z][A-Za-z'’-]*", text)
    if not words or len(text.split()) > 9:
        return False
    if text.endswith("?") and text[0].isupper():  # an FAQ's or a module's question heading
        return True
    if text.endswith(_END_PUNCT):
        return False
    if text.isupper():
        return True
    small = {"of", "and", "or", "the", "a", "an", "to", "for", "in", "on", "at", "by", "with", "from"}
    capitalised = [w for w in words if w.lower() not in small]
    return bool(capitalised) and all(w[0].isupper() for w in capitalised)


def _sentence_case_heading(line: str, previous: str | None, following: str) -> bool:
    """ "Scope of this policy" on a line of its own, between a finished sentence and a new one:
    a heading written in sentence case. A wrapped line mid-sentence follows unfinished text;
    a passage's first line may be the tail of a sentence cut by chunking, so it never counts."""
    words = line.split()
    if not 1 <= len(words) <= 8 or line.endswith(_END_PUNCT) or not line[0].isupper() or _DIGIT.search(line):
        return False
    if previous is None or words[-1].lower() in _JOINING_WORDS:
        return False
    finished = not previous or previous.endswith((".", ":", ";", "?", "!"))
    return finished and following[:1].isupper()


def row_text(line: str) -> str:
    """`| Mode: For motor-car | Rate: 60 cents per km |` -> `Mode: For motor-car; Rate: 60 cents per km`."""
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return "; ".join(c for c in cells if c)


def _clean(text: str) -> str:
    return " ".join(text.split()).strip()


def candidates(passages: Sequence[Passage]) -> list[Candidate]:
    out: list[Candidate] = []
    for rank, passage in enumerate(passages):
        out.extend(_passage_candidates(rank, passage))
    return out


def _passage_candidates(rank: int, passage: Passage) -> list[Candidate]:
    section = passage.section if not passage.section.startswith("page ") else ""
    context = section.split(" > ")[-1] if section else passage.title
    not_answers = {_clean(passage.title).lower(), _clean(section).lower(), _clean(context).lower()}
    units: list[tuple[str, str, int]] = []  # text, context, table number (0: a sentence)
    block: list[str] = []
    table, in_table = 0, False

    def flush() -> None:
        nonlocal in_table
        in_table = False
        joined = _clean(" ".join(block))
        block.clear()
        for piece in _SENTENCE_END.split(joined):
            sentence = piece.strip()
            if len(sentence.split()) >= _MIN_WORDS:
                units.append((sentence, context, 0))

    lines = [raw.strip() for raw in neutralise_markers(passage.text).splitlines()]
    for index, line in enumerate(lines):
        if not line or _CONTENTS_LINE.search(line) or _PAGE_LINE.match(line):
            flush()
            continue
        heading = _MD_HEADING.match(line)
        if heading:
            flush()
            context = _clean(heading.group(1)) or context
            continue
        if _TABLE_ROW.match(line):
            if not in_table:
                flush()
                table, in_table = table + 1, True
            if not _TABLE_RULE.match(line) and (cells := row_text(line)):
                units.append((cells, context, table))
            continue
        following = next((n for n in lines[index + 1 :] if n), "")
        previous = lines[index - 1] if index else None
        if looks_like_heading(line) or _sentence_case_heading(line, previous, following):
            flush()
            context = _clean(_ITEM_MARKER.sub("", line)) or context
            continue
        if _ITEM_MARKER.match(line):
            flush()
        block.append(_ITEM_MARKER.sub("", line))
    flush()
    return [
        Candidate(rank, position, text, ctx, table)
        for position, (text, ctx, table) in enumerate(units)
        if text.lower().rstrip(".") not in not_answers
    ]
