"""The knowledge base's errors that the command line maps to exit codes.

They live apart from the modules that raise them (which import Weaviate, LlamaIndex or
fastembed) so that `app.py` can name them without loading those libraries.
"""

from __future__ import annotations


class SchemaError(RuntimeError):
    """The collection exists but was built by another schema or embedding model."""


class EmbeddingModelError(RuntimeError):
    """The embedding model could not be loaded."""


class DocumentError(ValueError):
    """A source that cannot be ingested; the message names it and says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
