"""PDF pages as text, with the failures people actually hit named plainly."""

from __future__ import annotations

import logging
from pathlib import Path

from knowledge.loaders import DocumentError

logger = logging.getLogger(__name__)


def read_pdf_pages(path: Path) -> list[str]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError, PdfStreamError

    # pypdf logs every recoverable oddity of real-world PDFs as a warning.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    source = str(path)
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password only to restrict editing.
            try:
                if not reader.decrypt(""):
                    raise DocumentError(source, "PDF is encrypted with a password")
            except (FileNotDecryptedError, NotImplementedError) as err:
                raise DocumentError(source, "PDF is encrypted with a password") from err
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except DocumentError:
        raise
    except FileNotDecryptedError as err:
        raise DocumentError(source, "PDF is encrypted with a password") from err
    except (PdfReadError, PdfStreamError, ValueError, KeyError, TypeError) as err:
        raise DocumentError(source, f"not a readable PDF ({err})") from err
    if not any(pages):
        raise DocumentError(source, "PDF has no extractable text (scanned or image-only?)")
    return pages
