"""Files and posted text into `SourceDocument`s, with a clear error for every bad input.

Markdown keeps its headings; HTML and DOCX headings are turned into Markdown headings
so one chunker keeps the heading path for all of them; PDFs keep their pages.
LlamaIndex's own HTML and DOCX readers flatten headings away, which is why those two
small converters live here.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from knowledge import input_limits
from knowledge.errors import DocumentError  # raised here, and importable from here as before
from knowledge.types import SourceDocument

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".text", ".html", ".htm", ".pdf", ".docx")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


class LoaderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_file_mb: float = Field(20.0, gt=0, description="Files larger than this are refused.")
    # What a file holds once unpacked or parsed (knowledge.input_limits): the largest policy-qa
    # PDF has 137 pages and about 250,000 characters of text.
    max_unpacked_mb: float = Field(50.0, gt=0, description="A DOCX whose zip unpacks to more is refused.")
    max_zip_members: int = Field(2000, gt=0, description="A DOCX with more zip members is refused.")
    max_pdf_pages: int = Field(1000, gt=0, description="A PDF with more pages is refused.")
    # Each element becomes a parsed node: 200,000 HTML elements took 23 s and 150 MB to read.
    max_elements: int = Field(
        200_000, gt=0, description="A DOCX (its XML parts) or HTML file with more elements is refused."
    )
    max_text_chars: int = Field(
        1_000_000,
        gt=0,
        description="A document or post whose text is longer is refused (about 1,000 chunks).",
    )


@dataclass(frozen=True)
class DocumentDefaults:
    """What the command line (or a chat post) says about documents that don't say it themselves."""

    audience: tuple[str, ...] = ()
    title: str = ""
    version: str = ""
    effective_date: str = ""
    doc_id: str = ""


@dataclass(frozen=True)
class FileJob:
    """One file to ingest and the defaults for what it does not say itself."""

    path: Path
    defaults: DocumentDefaults


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80] or "document"


def parse_effective_date(value: object, source: str) -> str:
    if value in (None, ""):
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError as err:
        raise DocumentError(source, f"effective date {value!r} is not a YYYY-MM-DD date") from err


def iter_files(paths: list[Path]) -> Iterator[Path | DocumentError]:
    """Explicit files as given; directories walked recursively for supported types."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
                if child.is_file() and not hidden and child.suffix.lower() in SUPPORTED_SUFFIXES:
                    yield child
        elif path.is_file():
            yield path
        else:
            yield DocumentError(str(path), "no such file or directory")


def load_file(path: Path, defaults: DocumentDefaults, settings: LoaderSettings) -> SourceDocument:
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(
            source, f"unsupported file type {suffix or '(none)'}; supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    size = path.stat().st_size
    if size > settings.max_file_mb * 1024 * 1024:
        raise DocumentError(
            source, f"file is {size / 1024 / 1024:.1f} MB, over the {settings.max_file_mb:g} MB limit"
        )
    if size == 0:
        raise DocumentError(source, "file is empty")
    pages: list[str] = []
    if suffix == ".pdf":
        from knowledge.pdf import read_pdf_pages

        input_limits.check_pdf(path, settings)
        pages = read_pdf_pages(path)
        text = "\n\n".join(pages)
    elif suffix == ".docx":
        input_limits.check_docx(path, settings)
        text = _docx_to_markdown(path)
    elif suffix in (".html", ".htm"):
        html = _read_text(path)
        input_limits.check_html(source, html, settings)
        text = _html_to_markdown(html)
    else:
        text = _read_text(path)
    input_limits.check_text(source, text, settings)
    fallback = _title_from_name(path)
    if suffix in (".txt", ".text"):
        fallback = _first_line_title(text) or fallback
    return build_document(source, text, defaults, fallback_title=fallback, pages=pages, id_hint=path.stem)


def _first_line_title(text: str) -> str:
    """Plain text whose first line stands alone (a blank line follows) uses it as the title."""
    lines = text.strip().splitlines()
    if len(lines) >= 2 and not lines[1].strip() and 0 < len(lines[0].strip()) <= 100:
        return lines[0].strip()
    return ""


def build_document(
    source: str,
    text: str,
    defaults: DocumentDefaults,
    fallback_title: str = "",
    pages: list[str] | None = None,
    id_hint: str = "",
) -> SourceDocument:
    """Apply front matter and defaults; shared by files and text posted in chat."""
    meta: dict[str, object] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as err:
            raise DocumentError(source, f"front matter is not valid YAML: {err}") from err
        if not isinstance(loaded, dict):
            raise DocumentError(source, "front matter must be a mapping of key: value")
        unknown = set(loaded) - {"title", "id", "version", "effective", "audience"}
        if unknown:
            raise DocumentError(source, f"unknown front matter keys: {', '.join(sorted(unknown))}")
        meta = loaded
        text = text[match.end() :]
    if not text.strip():
        raise DocumentError(source, "no text found (empty, or an image-only document)")
    heading = _HEADING.search(text)
    title = str(
        meta.get("title") or defaults.title or (heading.group(1) if heading else "") or fallback_title
    )
    title = title.strip() or "Untitled"
    audience_raw = meta.get("audience", None)
    if isinstance(audience_raw, str):
        audience: tuple[str, ...] = tuple(a.strip() for a in audience_raw.split(",") if a.strip())
    elif isinstance(audience_raw, list):
        audience = tuple(str(a).strip() for a in audience_raw if str(a).strip())
    else:
        audience = defaults.audience
    return SourceDocument(
        source=source,
        text=text,
        title=title,
        doc_id=slugify(str(meta.get("id") or defaults.doc_id or id_hint or title)),
        audience=audience,
        version=str(meta.get("version") or defaults.version or ""),
        effective_date=parse_effective_date(meta.get("effective") or defaults.effective_date, source),
        pages=pages or [],
    )


def _title_from_name(path: Path) -> str:
    return re.sub(r"[_\-]+", " ", path.stem).strip()


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise DocumentError(str(path), "looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _html_to_markdown(html: str) -> str:
    from bs4 import BeautifulSoup
    from bs4.element import Tag

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "nav", "footer", "noscript"]):
        tag.decompose()
    blocks: list[str] = []
    names = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "table"]
    for element in soup.find_all(names):
        if not isinstance(element, Tag) or element.find_parent("table") is not None:
            continue  # text inside a table belongs to its row
        name = element.name or ""
        if name == "table":
            block = _html_table(element)
            if block:
                blocks.append(block)
            continue
        text = " ".join(element.get_text(" ", strip=True).split())
        if not text:
            continue
        if name.startswith("h") and name[1:].isdigit():
            blocks.append("#" * int(name[1]) + " " + text)
        elif name == "li":
            blocks.append("- " + text)
        else:
            blocks.append(text)
    if not blocks and soup.title and soup.title.string:
        blocks.append(soup.title.string.strip())
    return "\n\n".join(blocks)


def _html_table(table: Any) -> str:
    """An HTML table as row lines; a first row of <th> cells (or a <thead>) is the header."""
    grid: list[list[str]] = []
    header: bool | None = None
    for number, row in enumerate(table.find_all("tr")):
        if row.find_parent("table") is not table:
            continue  # rows of a nested table
        cells = row.find_all(["td", "th"], recursive=False)
        values: list[str] = []
        for cell in cells:
            span = str(cell.get("colspan") or "1")
            values.extend(
                [" ".join(cell.get_text(" ", strip=True).split())] * (int(span) if span.isdigit() else 1)
            )
        if number == 0 and cells:
            header = True if all(c.name == "th" for c in cells) or row.find_parent("thead") else None
        grid.append(values)
    return format_table(grid, has_header=header)[0]


def _docx_to_markdown(path: Path) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, OSError) as err:
        raise DocumentError(str(path), f"not a readable DOCX file ({err})") from err
    except Exception as err:  # zipfile.BadZipFile and lxml errors surface here
        raise DocumentError(str(path), f"not a readable DOCX file ({type(err).__name__})") from err
    from docx.enum.style import WD_STYLE_TYPE
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    blocks: list[str] = []
    # Style names by id, looked up once: python-docx's `paragraph.style` searches every style
    # for each paragraph, which made a 2 MB file of 48,000 paragraphs take minutes.
    names = {s.style_id: s.name or "" for s in document.styles if s.type == WD_STYLE_TYPE.PARAGRAPH}
    default = document.styles.default(WD_STYLE_TYPE.PARAGRAPH)
    default_name = (default.name or "") if default is not None else ""
    # Body order, so a table stays next to the paragraph that introduces it.
    for element in document.element.body.iterchildren():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag == "tbl":
            table = Table(element, document)
            # python-docx repeats a merged cell in every grid column it spans.
            grid = [[cell.text for cell in row.cells] for row in table.rows]
            block = format_table(grid)[0]
            if block:
                blocks.append(block)
            continue
        if tag != "p":
            continue
        text = Paragraph(element, document).text.strip()
        if not text:
            continue
        style_id = element.style
        style = names.get(style_id, default_name) if style_id else default_name
        level = re.match(r"Heading (\d)", style)
        if style == "Title":
            blocks.append("# " + text)
        elif level:
            blocks.append("#" * min(int(level.group(1)), 6) + " " + text)
        else:
            blocks.append(text)
    return "\n\n".join(blocks)


# --- tables ---------------------------------------------------------------------------------------

# A header cell names a column; a value cell holds a number, an amount, a date or a link.
_VALUE_CELL = re.compile(r"^[\d\s$€£¥%.,:;/+\-–()]+$|https?://|www\.")


def _header_like(row: list[str]) -> bool:
    filled = [v for v in row if v]
    return len(set(filled)) >= 2 and all(len(v) <= 60 and not _VALUE_CELL.search(v) for v in filled)


def _has_span(row: list[str]) -> bool:
    return any(a and a == b for a, b in itertools.pairwise(row))


def format_table(
    grid: list[list[str]],
    has_header: bool | None = None,
    inherited_header: list[str] | None = None,
) -> tuple[str, list[str] | None]:
    """A table as lines that each stand alone: `| Header: value | Header: value |`.

    `grid` holds one string per grid column; a merged cell is repeated in every column (and
    row) it covers, and adjacent equal cells are written once under their joined headers.
    `has_header=None` guesses: a first row of short, distinct, non-numeric cells is the
    header, and a second one too when the first has merged cells (a two-level header).
    A table with no header of its own may take `inherited_header` (the same table continued
    from the previous page). A single merged cell across the whole first row is a caption.
    Returns the text block and the column headers used (None when there are none).
    """
    rows = [[_table_cell(v) for v in row] for row in grid]
    rows = [row for row in rows if any(row)]
    if not rows:
        return "", None
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    captions: list[str] = []
    while len(rows) > 2 and rows[0][0] and len(set(rows[0])) == 1 and width > 1:
        captions.append(rows.pop(0)[0])
    header_rows = 0
    if has_header is None and inherited_header is not None and len(inherited_header) == width:
        # The table continues from the previous page: its first row is data unless it
        # repeats the header.
        header_rows = 1 if rows[0] == inherited_header else 0
    elif has_header or (has_header is None and len(rows) >= 2 and _header_like(rows[0])):
        header_rows = 1
        stacked = _has_span(rows[0]) or any(a and a == b for a, b in zip(rows[0], rows[1], strict=True))
        if has_header is None and stacked and len(rows) >= 3 and _header_like(rows[1]):
            header_rows = 2  # a two-level header, or a header cell wrapped onto two ruled rows
    headers: list[str] | None = None
    if header_rows:
        headers = [" ".join(dict.fromkeys(r[c] for r in rows[:header_rows] if r[c])) for c in range(width)]
    elif inherited_header is not None and len(inherited_header) == width:
        headers = inherited_header
    lines = list(captions)
    for row in rows[header_rows:]:
        parts: list[str] = []
        column = 0
        while column < width:
            end = column
            while end + 1 < width and row[end + 1] == row[column]:
                end += 1
            value = row[column]
            if value:
                name = (
                    " / ".join(dict.fromkeys(headers[c] for c in range(column, end + 1) if headers[c]))
                    if headers
                    else ""
                )
                parts.append(f"{name}: {value}" if name and name != value else value)
            column = end + 1
        if parts:
            lines.append("| " + " | ".join(parts) + " |")
    return "\n".join(lines), headers


def _table_cell(value: str) -> str:
    # One line per row: cell line breaks become spaces, and a "|" would end the cell early.
    return " ".join(value.replace("|", "/").split())
