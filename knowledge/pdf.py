"""PDF pages as the text people wrote: tables kept as rows with their headers, no page furniture.

Text comes from PDFium (pypdfium2, which pdfplumber itself depends on): it is about six times
faster than pypdf on the policy-qa PDFs and splits words more faithfully ("taxi", not "t axi").
Tables are found by pdfplumber's ruling-line table finder, fed with the ruling lines PDFium
reads from the page's vector paths. pdfplumber's own page model (pdfminer) is not used: parsing
every page with it cost four to five times the whole pypdf extraction, while the table finder
only needs the lines. Each cell's text is then read from PDFium inside the cell's box, and the
text outside the tables is read from the bands above, beside and below them, so no table text
is repeated as flat prose.

Page furniture (running headers and footers, "Page 3 of 94", bare page numbers, contents lines
with dot leaders) is removed after all pages are read, because "repeated on most pages" is a
property of the document, not of one page.
"""

from __future__ import annotations

import ctypes
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowledge.loaders import DocumentError, format_table
from knowledge.page_furniture import page_headings, remove_page_furniture

logger = logging.getLogger(__name__)

Box = tuple[float, float, float, float]  # x0, top, x1, bottom; top-down like pdfplumber
Point = tuple[float, float]

# A table must look like one: rows of several filled cells, mostly filled, its text inside cells.
_MIN_FILLED_SHARE = 0.5
_MIN_TEXT_IN_CELLS = 0.9
_COLUMN_IOU = 0.6


@dataclass(frozen=True)
class PdfPage:
    """One page's cleaned text and the headings seen on it (numbered or all-capitals lines)."""

    text: str
    headings: tuple[str, ...] = ()


def read_pdf_pages(path: Path) -> list[str]:
    """The cleaned text of every page, in order (an empty string for a page with no text left)."""
    return [page.text for page in read_pdf(path)]


def read_pdf(path: Path) -> list[PdfPage]:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    source = str(path)
    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as err:
        if getattr(err, "err_code", None) in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise DocumentError(source, "PDF is encrypted with a password") from err
        raise DocumentError(source, f"not a readable PDF ({err})") from err
    try:
        raw_pages: list[str] = []
        carried: list[str] | None = None  # a table's header, for its continuation on the next page
        for index in range(len(document)):
            page = document[index]
            try:
                text, carried = _page_text(page, carried)
            finally:
                page.close()
            raw_pages.append(text)
    except pdfium.PdfiumError as err:
        raise DocumentError(source, f"not a readable PDF ({err})") from err
    finally:
        document.close()
    if not any(text.strip() for text in raw_pages):
        raise DocumentError(source, "PDF has no extractable text (scanned or image-only?)")
    cleaned = remove_page_furniture(raw_pages)
    return [PdfPage(text, tuple(page_headings(text))) for text in cleaned]


# --- one page ---------------------------------------------------------------------------------


def _page_text(page: Any, carried: list[str] | None) -> tuple[str, list[str] | None]:
    """The page as text with tables as row blocks, and the header a following page may continue."""
    textpage = page.get_textpage()
    try:
        left, bottom, right, top = page.get_bbox()
        height = top  # flip y so that "top" grows downwards, as pdfplumber expects

        def read(box: Box) -> str:
            x0, y0, x1, y1 = box
            if x1 - x0 < 1 or y1 - y0 < 1:
                return ""
            raw = textpage.get_text_bounded(left=x0, bottom=height - y1, right=x1, top=height - y0)
            return _normalise_text(raw)

        tables = _find_tables(page, height, (left, height - top, right, height - bottom), read)
        if not tables:
            return _normalise_text(textpage.get_text_range()), None
        parts: list[str] = []
        cursor = height - top
        next_carry: list[str] | None = None
        for number, (box, grid) in enumerate(tables):
            x0, t_top, x1, t_bottom = box
            parts.append(read((left, cursor, right, t_top)))
            # A table at the top of a page (below at most a running header) may continue one.
            above = [line for line in parts[-1].split("\n") if line.strip()]
            inherit = carried if number == 0 and len(above) <= 3 else None
            block, header = format_table(grid, inherited_header=inherit)
            # Text beside the table (a narrow table next to a paragraph) is kept after it.
            beside = [read((left, t_top, x0, t_bottom)), read((x1, t_top, right, t_bottom))]
            parts.extend(["", block, "", *beside])
            cursor = t_bottom
            next_carry = header
        tail = read((left, cursor, right, height - bottom))
        parts.append(tail)
        carry_on = next_carry if not tail.strip() else None
        text = "\n".join(part for part in parts if part is not None)
        return re.sub(r"\n{3,}", "\n\n", text).strip(), carry_on
    finally:
        textpage.close()


def _normalise_text(raw: str) -> str:
    # PDFium ends lines with CRLF and marks hyphenation points and unknown glyphs with controls.
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\x02", "").replace("\ufffe", "")
    text = text.replace("\x00", "").replace("\u00a0", " ")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    return "\n".join(lines).strip()


# --- tables -------------------------------------------------------------------------------------


class _RulingPage:
    """The two attributes of a pdfplumber Page that its ruling-line table finder reads."""

    def __init__(self, edges: list[dict[str, Any]], bbox: Box) -> None:
        self.edges = edges
        self.bbox = bbox


def _find_tables(
    page: Any, height: float, bbox: Box, read: Callable[[Box], str]
) -> list[tuple[Box, list[list[str]]]]:
    """Tables on the page as (box, grid of cell texts), top to bottom; false tables left out."""
    from pdfplumber.table import TableFinder

    edges = list(_ruling_edges(page, height))
    if len(edges) < 6:  # a 2 x 2 grid needs three lines each way
        return []
    ruling: Any = _RulingPage(edges, bbox)  # duck-typed stand-in for pdfplumber.Page
    finder = TableFinder(ruling, {"vertical_strategy": "lines", "horizontal_strategy": "lines"})
    found: list[tuple[Box, list[list[str]]]] = []
    for table in finder.tables:
        cells: list[tuple[Box, str]] = []
        for x0, top, x1, bottom in table.cells:
            box = (float(x0), float(top), float(x1), float(bottom))
            cells.append((box, read(box)))
        grid = _grid(cells)
        if grid is None:
            continue
        x0, top, x1, bottom = table.bbox
        table_box = (float(x0), float(top), float(x1), float(bottom))
        inside = re.sub(r"\s", "", read(table_box))
        in_cells = sum(len(re.sub(r"\s", "", text)) for _, text in cells)
        if not inside or in_cells < _MIN_TEXT_IN_CELLS * len(inside):
            continue  # text inside the frame but outside its cells: a layout box, not a table
        found.append((table_box, grid))
    found.sort(key=lambda item: item[0][1])
    return found


def _ruling_edges(page: Any, height: float) -> Iterator[dict[str, Any]]:
    """Horizontal and vertical segments of the page's vector paths, as pdfplumber edges."""
    import pypdfium2.raw as pdfium_c

    def walk(objects: Iterator[Any], outer: list[Any]) -> Iterator[dict[str, Any]]:
        for obj in objects:
            chain = [obj.get_matrix(), *outer]
            if obj.type == pdfium_c.FPDF_PAGEOBJ_FORM:
                yield from walk(page.get_objects(max_depth=1, form=obj, level=1), chain)
            elif obj.type == pdfium_c.FPDF_PAGEOBJ_PATH:
                for a, b in _segments(obj):
                    yield from _edge(_apply(chain, a), _apply(chain, b), height)

    yield from walk(page.get_objects(max_depth=1), [])


def _apply(chain: list[Any], point: Point) -> Point:
    for matrix in chain:
        point = matrix.on_point(*point)
    return point


def _segments(obj: Any) -> Iterator[tuple[Point, Point]]:
    import pypdfium2.raw as pdfium_c

    x, y = ctypes.c_float(), ctypes.c_float()
    start: Point | None = None
    previous: Point | None = None
    for index in range(pdfium_c.FPDFPath_CountSegments(obj.raw)):
        segment = pdfium_c.FPDFPath_GetPathSegment(obj.raw, index)
        if not pdfium_c.FPDFPathSegment_GetPoint(segment, ctypes.byref(x), ctypes.byref(y)):
            continue
        point = (x.value, y.value)
        kind = pdfium_c.FPDFPathSegment_GetType(segment)
        if kind == pdfium_c.FPDF_SEGMENT_MOVETO:
            start = point
        elif kind == pdfium_c.FPDF_SEGMENT_LINETO and previous is not None:
            yield previous, point
        previous = point
        if pdfium_c.FPDFPathSegment_GetClose(segment) and start is not None:
            yield point, start
            previous = start


def _edge(a: Point, b: Point, height: float) -> Iterator[dict[str, Any]]:
    (ax, ay), (bx, by) = a, b
    x0, x1 = sorted((ax, bx))
    top, bottom = sorted((height - ay, height - by))
    if abs(ay - by) < 1 and x1 - x0 >= 1:
        orientation = "h"
        top = bottom = (top + bottom) / 2
    elif abs(ax - bx) < 1 and bottom - top >= 1:
        orientation = "v"
        x0 = x1 = (x0 + x1) / 2
    else:
        return
    yield {
        "x0": x0,
        "x1": x1,
        "top": top,
        "bottom": bottom,
        "width": x1 - x0,
        "height": bottom - top,
        "orientation": orientation,
        "object_type": "line",
    }


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _grid(cells: list[tuple[Box, str]]) -> list[list[str]] | None:
    """Cell boxes and texts as a grid of logical rows and columns, or None if not a real table.

    Word and similar tools draw tables with padding boxes and merged cells, so pdfplumber's
    raw grid has empty slivers and None holes (a header cell 5 pt narrower than the cells
    below it). Columns are therefore rebuilt from the boxes of cells that hold text, and a
    merged cell is repeated in every row and column it covers, which keeps each row whole.
    """
    filled = [(box, text) for box, text in cells if text.strip()]
    if len(filled) < 3:
        return None
    # Columns: cluster the x-ranges of filled cells; a cluster spanning two others is a merge.
    clusters: list[list[float]] = []
    for (x0, _, x1, _), _text in sorted(filled, key=lambda c: c[0][0]):
        for cluster in clusters:
            inter = _overlap(x0, x1, cluster[0], cluster[1])
            union = max(x1, cluster[1]) - min(x0, cluster[0])
            if union > 0 and inter / union >= _COLUMN_IOU:
                break
        else:
            clusters.append([x0, x1])
    columns = [
        c
        for c in clusters
        if sum(1 for o in clusters if o is not c and _overlap(o[0], o[1], c[0], c[1]) > 0.5 * (o[1] - o[0]))
        < 2
    ]
    columns.sort(key=lambda c: c[0])
    # Rows: bands starting at the tops of filled cells (empty padding rows vanish).
    tops: list[float] = []
    for top in sorted(box[1] for box, _ in filled):
        if not tops or top - tops[-1] > 2:
            tops.append(top)
    table_bottom = max(box[3] for box, _ in filled)
    bands = [(t, tops[i + 1] if i + 1 < len(tops) else table_bottom) for i, t in enumerate(tops)]
    if len(columns) < 2 or len(bands) < 2:
        return None
    grid = [["" for _ in columns] for _ in bands]
    for (x0, top, x1, bottom), text in filled:
        clean = " ".join(text.split())
        rows = [r for r, (b0, b1) in enumerate(bands) if _overlap(top, bottom, b0, b1) > 0.5 * (b1 - b0)]
        cols = [c for c, (c0, c1) in enumerate(columns) if _overlap(x0, x1, c0, c1) > 0.5 * (c1 - c0)]
        for r in rows:
            for c in cols:
                if not grid[r][c]:
                    grid[r][c] = clean
    grid = _merge_continuations(grid)
    multi = sum(1 for row in grid if len({v for v in row if v}) >= 2)
    cells_filled = sum(1 for row in grid for v in row if v)
    if multi < max(2, len(grid) / 2) or cells_filled < _MIN_FILLED_SHARE * len(grid) * len(columns):
        return None
    return grid


def _merge_continuations(grid: list[list[str]]) -> list[list[str]]:
    """Join rows that only continue the sentences of the row above.

    Some PDFs rule every text line, so one table row arrives as several: the later ones
    repeat merged cells and carry cells that start in lower case ("business functions").
    """
    merged: list[list[str]] = []
    for row in grid:
        if merged:
            above = merged[-1]
            changed = [c for c, value in enumerate(row) if value and value != above[c]]
            if changed and all(_continues(row[c]) for c in changed):
                merged[-1] = [
                    f"{above[c]} {row[c]}".strip() if c in changed else above[c] for c in range(len(row))
                ]
                continue
        merged.append(list(row))
    return merged


def _continues(value: str) -> bool:
    return value[:1].islower() or value[:1] in "(&,;–-"


# --- page furniture -----------------------------------------------------------------------------
