"""The embedding model: fastembed's all-MiniLM-L6-v2 behind LlamaIndex's embedding interface."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.embeddings.fastembed import FastEmbedEmbedding
from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)


class EmbeddingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: str = Field(
        "sentence-transformers/all-MiniLM-L6-v2",
        description="fastembed model name; also stamped on the collection so a change is detected.",
    )
    model_path: Path | None = Field(
        None,
        description="Local model folder (EMBED_MODEL_PATH). Unset, fastembed downloads the model by name.",
    )
    dimensions: int = Field(384, gt=0, description="Vector length the model produces.")
    batch_size: int = Field(64, gt=0, le=1024, description="Texts embedded per model call.")
    threads: int | None = Field(None, description="onnxruntime threads; unset uses every core.")


class EmbeddingModelError(RuntimeError):
    """The embedding model could not be loaded."""


def load_embedding_model(settings: EmbeddingSettings) -> BaseEmbedding:
    """Load the model once; this is the slow part of start-up (about half a second)."""
    kwargs: dict[str, Any] = {}
    if settings.model_path is not None:
        if not (settings.model_path / "model.onnx").is_file():
            raise EmbeddingModelError(
                f"embedding model folder {settings.model_path} has no model.onnx "
                "(EMBED_MODEL_PATH must name a fastembed model folder)"
            )
        kwargs["specific_model_path"] = str(settings.model_path)
    logger.info("loading embedding model %s", settings.model_name)
    try:
        return FastEmbedEmbedding(
            model_name=settings.model_name,
            embed_batch_size=settings.batch_size,
            threads=settings.threads,
            **kwargs,
        )
    except ValueError as err:  # fastembed's "could not load model from any source"
        raise EmbeddingModelError(
            f"could not load embedding model {settings.model_name} ({err}); without access to "
            "the model hub, set EMBED_MODEL_PATH to a local model folder"
        ) from err
