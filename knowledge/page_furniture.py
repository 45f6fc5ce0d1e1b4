"""Page furniture and headings of paginated text: what repeats on most pages is not content.

Running headers and footers, "Page 3 of 94", bare page numbers and contents lines with dot
leaders are removed once all of a document's pages are read, because "repeated on most
pages" is a property of the document, not of one page. Headings (numbered, or short lines in
capitals) are found per page for the chunker and the answerers.
"""

from __future__ import annotations

import re
from collections import Counter

_DOT_LEADER = re.compile(r"(\.\s?){4,}\s*\.?\s*(\d+|[ivxlc]+)\s*$", re.IGNORECASE)
_ELLIPSIS_LEADER = re.compile(r"…{2,}\s*\d+\s*$")
_PAGE_NUMBER = re.compile(
    r"^(page\s+)?[-–(]?\s*\d{1,4}\s*[-–)]?(\s*(of|/)\s*\d{1,4})?$|^page\s+\d{1,4}(\s+of\s+\d{1,4})?\b",
    re.IGNORECASE,
)
_EDGE_LINES = 4  # running headers and footers sit within the first or last few lines of a page


def _furniture_key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.lower().split()))


def remove_page_furniture(pages: list[str]) -> list[str]:
    """Drop running headers/footers, page numbers and contents lines; keep everything else.

    A line counts as a running header or footer when (with its digits ignored, so "Page 3 of 94"
    matches "Page 4 of 94") it sits near the top or bottom of at least half of the pages, and of
    three pages at least; it is then dropped wherever it stands. A line repeated on only a few
    pages stays.
    """
    page_lines = [page.split("\n") for page in pages]
    seen: Counter[str] = Counter()
    for lines in page_lines:
        keys = {_furniture_key(line) for line in _edges(lines) if line.strip()}
        seen.update(keys)
    threshold = max(3, (len(pages) + 1) // 2)
    repeated = {key for key, count in seen.items() if count >= threshold}
    offset = _page_number_offset(page_lines)
    cleaned: list[str] = []
    for number, lines in enumerate(page_lines, 1):
        edge = set(_edge_indexes(lines))
        own_number = str(number + offset) if offset is not None else None
        kept = [
            line
            for index, line in enumerate(lines)
            if not (
                _DOT_LEADER.search(line)
                or _ELLIPSIS_LEADER.search(line)
                # Anywhere, not only at an edge: text read around a table comes in content
                # order, which can put a footer between the table and the next paragraph.
                or (line.strip() and _furniture_key(line) in repeated)
                or (index in edge and _PAGE_NUMBER.match(line.strip()))
                or (own_number is not None and line.strip() == own_number)
            )
        ]
        cleaned.append(re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip())
    return cleaned


def _page_number_offset(page_lines: list[list[str]]) -> int | None:
    """How printed page numbers relate to page positions, if most pages print a bare number.

    Text read around a table is in content order, so a footer number can land mid-page;
    a bare line equal to the page's own printed number is furniture wherever it stands.
    """
    offsets: Counter[int] = Counter()
    for number, lines in enumerate(page_lines, 1):
        bare = {
            int(line.strip()) for line in _edges(lines) if line.strip().isdigit() and len(line.strip()) <= 4
        }
        offsets.update(value - number for value in bare)
    if not offsets:
        return None
    offset, count = offsets.most_common(1)[0]
    return offset if count >= max(3, len(page_lines) // 3) else None


def _edge_indexes(lines: list[str]) -> list[int]:
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return filled[:_EDGE_LINES] + filled[-_EDGE_LINES:]


def _edges(lines: list[str]) -> list[str]:
    return [lines[i] for i in _edge_indexes(lines)]


# --- headings -----------------------------------------------------------------------------------

_NUMBERED_HEADING = re.compile(r"^(\d+(\.\d+)*\.?|[A-Z]\.|[IVX]+\.)\s+\S.{0,80}$")


def page_headings(text: str) -> list[str]:
    """Lines that look like headings: "4. TRANSPORT CLAIMS", "4.2 Rates", or a short capitals line."""
    headings: list[str] = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line.startswith("|") or len(line) > 90:
            continue
        letters = [ch for ch in line if ch.isalpha()]
        capitals = len(letters) >= 4 and sum(ch.isupper() for ch in letters) >= 0.8 * len(letters)
        numbered = bool(_NUMBERED_HEADING.match(line)) and not line.endswith((".", ",", ";", ":"))
        if (capitals and (numbered or len(line.split()) <= 10)) or (numbered and _title_like(line)):
            headings.append(line)
    return headings


def _title_like(line: str) -> bool:
    words = [w for w in re.sub(r"^[\dA-Z.IVX]+\s+", "", line).split() if w[:1].isalpha()]
    return 0 < len(words) <= 8 and sum(w[0].isupper() for w in words) >= 0.6 * len(words)
