"""The embedding model: fastembed's all-MiniLM-L6-v2 (fp32, or its int8 variant) behind
LlamaIndex's embedding interface. Where its files come from: knowledge/model_files.py.

LlamaIndex, fastembed and onnxruntime are imported when a model is loaded, not with the
settings: commands that embed nothing never pay for them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge.errors import EmbeddingModelError
from knowledge.settings import FP32_MODEL, INT8_MODEL, EmbeddingSettings

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

__all__ = ["FP32_MODEL", "INT8_MODEL", "EmbeddingModelError", "EmbeddingSettings"]  # their old home


def load_embedding_model(settings: EmbeddingSettings) -> BaseEmbedding:
    """Load the model once; this is the slow part of start-up (about half a second)."""
    from knowledge.model_files import model_files

    files = model_files(settings)
    from llama_index.embeddings.fastembed import FastEmbedEmbedding

    logger.info("loading embedding model %s from %s", settings.model_name, files.folder)
    try:
        return FastEmbedEmbedding(
            model_name=files.fastembed_name,
            embed_batch_size=settings.batch_size,
            threads=settings.threads,
            specific_model_path=str(files.folder),
        )
    except ValueError as err:  # fastembed's "could not load model from any source"
        raise EmbeddingModelError(
            f"could not load embedding model {settings.model_name} from {files.folder} ({err})"
        ) from err


@dataclass(frozen=True)
class EmbeddingWindow:
    """The embedding model's own tokenizer (word pieces) and how many tokens it embeds.

    Text past `max_tokens` (special tokens included) is cut off by the model: chunks are
    sized with this so that nothing a chunk says is left out of its vector.
    """

    tokenizer: Tokenizer  # without truncation or padding: it counts, it never cuts
    max_tokens: int
    special_tokens: int

    @property
    def budget(self) -> int:
        """Tokens of text (title, section and body) one vector can hold."""
        return self.max_tokens - self.special_tokens

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def pieces(self, text: str) -> list[int]:
        """Token ids; LlamaIndex's splitters take any callable returning a sized sequence."""
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)


def embedding_window(embed_model: BaseEmbedding) -> EmbeddingWindow | None:
    """The window of a fastembed model, read from the tokenizer fastembed itself runs
    (its truncation length is the model's limit); None for another kind of model."""
    from tokenizers import Tokenizer

    runner = getattr(getattr(embed_model, "_model", None), "model", None)
    loaded = getattr(runner, "tokenizer", None)
    if not isinstance(loaded, Tokenizer) or not loaded.truncation:
        return None
    counter = Tokenizer.from_str(loaded.to_str())
    counter.no_truncation()
    counter.no_padding()
    specials = counter.post_processor.num_special_tokens_to_add(False) if counter.post_processor else 0
    return EmbeddingWindow(counter, int(loaded.truncation["max_length"]), specials)


def load_window(tokenizer_json: Path, max_tokens: int) -> EmbeddingWindow:
    """A window from a model folder's tokenizer.json (tests and tools without a loaded model)."""
    from tokenizers import Tokenizer

    counter = Tokenizer.from_file(str(tokenizer_json))
    counter.no_truncation()
    counter.no_padding()
    specials = counter.post_processor.num_special_tokens_to_add(False) if counter.post_processor else 0
    return EmbeddingWindow(counter, max_tokens, specials)
