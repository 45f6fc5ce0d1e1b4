"""What one input may cost before it is parsed: refusals that name the limit.

The file-size limit (`loader.max_file_mb`) counts compressed bytes, so a DOCX is checked
again for what its zip holds unpacked (a 31 KB "bomb" held 20 MB of XML and took 1.2 GB to
parse); a PDF for its page count; and any document or post for the length of its text,
which decides how many chunks are embedded.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge.errors import DocumentError

if TYPE_CHECKING:  # the loaders call these checks with their settings
    from knowledge.loaders import LoaderSettings

_MB = 1024 * 1024


def check_docx(path: Path, settings: LoaderSettings) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return  # not a zip at all: the DOCX reader says so in its own words
    if len(members) > settings.max_zip_members:
        raise DocumentError(
            str(path), f"holds {len(members)} zip members, over the limit of {settings.max_zip_members}"
        )
    unpacked = sum(m.file_size for m in members)
    if unpacked > settings.max_unpacked_mb * _MB:
        raise DocumentError(
            str(path),
            f"unpacks to {unpacked / _MB:.1f} MB, over the {settings.max_unpacked_mb:g} MB limit "
            "(loader.max_unpacked_mb)",
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
