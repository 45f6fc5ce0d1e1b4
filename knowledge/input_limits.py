"""What one input may cost before it is parsed: refusals that name the limit.

The file-size limit (`loader.max_file_mb`) counts compressed bytes, so a DOCX is checked
again for what its zip holds unpacked (a 31 KB "bomb" held 20 MB of XML and took 1.2 GB to
parse) and for the elements its XML parts hold; an HTML file (whose size is its file size)
for its elements, as each becomes a parsed node; a PDF for its page count; and any document
or post for the length of its text, which decides how many chunks are embedded.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge.errors import DocumentError

if TYPE_CHECKING:  # the loaders call these checks with their settings
    from knowledge.loaders import LoaderSettings

_MB = 1024 * 1024
_START_TAG = re.compile(rb"<[A-Za-z]")
_HTML_START_TAG = re.compile(r"<[A-Za-z]")


def check_docx(path: Path, settings: LoaderSettings) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return  # not a zip at all: the DOCX reader says so in its own words
    if len(members) > settings.max_zip_members:
        raise DocumentError(
            str(path),
            f"holds {len(members)} zip members, over the limit of {settings.max_zip_members} "
            "(loader.max_zip_members)",
        )
    unpacked = sum(m.file_size for m in members)
    if unpacked > settings.max_unpacked_mb * _MB:
        raise DocumentError(
            str(path),
            f"unpacks to {unpacked / _MB:.1f} MB, over the {settings.max_unpacked_mb:g} MB limit "
            "(loader.max_unpacked_mb)",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            parts = [m for m in members if m.filename.endswith((".xml", ".rels"))]
            elements = sum(_xml_elements(archive, m) for m in parts)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError):
        return  # a damaged part: the DOCX reader says so in its own words
    _check_elements(str(path), elements, settings)


def _xml_elements(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> int:
    """Start tags in one XML part, read in pieces (never the whole part in memory)."""
    count, tail = 0, b""
    with archive.open(member) as part:
        while piece := part.read(_MB):
            data = tail + piece
            count += len(_START_TAG.findall(data))
            # A "<" ending the piece is counted with the next one, when its letter arrives.
            tail = b"<" if data.endswith(b"<") else b""
    return count


def check_html(source: str, html: str, settings: LoaderSettings) -> None:
    _check_elements(source, sum(1 for _ in _HTML_START_TAG.finditer(html)), settings)


def _check_elements(source: str, elements: int, settings: LoaderSettings) -> None:
    if elements > settings.max_elements:
        raise DocumentError(
            source,
            f"holds {elements:,} elements, over the limit of {settings.max_elements:,} (loader.max_elements)",
        )


def check_pdf(path: Path, settings: LoaderSettings) -> None:
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError:
        return  # unreadable: the PDF reader says so in its own words
    try:
        pages = len(document)
    finally:
        document.close()
    if pages > settings.max_pdf_pages:
        raise DocumentError(
            str(path), f"has {pages} pages, over the limit of {settings.max_pdf_pages} (loader.max_pdf_pages)"
        )


def check_text(source: str, text: str, settings: LoaderSettings) -> None:
    if len(text) > settings.max_text_chars:
        raise DocumentError(
            source,
            f"its text is {len(text):,} characters, over the limit of {settings.max_text_chars:,} "
            "(loader.max_text_chars); split it into smaller documents",
        )
