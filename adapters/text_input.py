"""Text from a chat platform made safe for the core: valid Unicode, no control characters.

A JSON body may carry a lone surrogate (`"\\ud800"`): Python decodes it, but it cannot be
encoded as UTF-8, so the database write, the log line or the model's tokenizer would fail
much later, far from the cause. NUL bytes are refused by PostgreSQL. Both are replaced at
the edge, where the platform's text enters, so every later step sees ordinary text.
"""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def valid_text(text: str) -> str:
    """`text` with lone surrogates as U+FFFD, control characters (but tab and newlines)
    dropped, and composed (NFC) so one letter is one code point wherever it came from."""
    whole = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return unicodedata.normalize("NFC", _CONTROL.sub("", whole))
