"""The knowledge base's settings, apart from the code they configure.

Reading the settings file must not load LlamaIndex or the embedding model (`app.py --help`
and `docs list` stay instant), so these models import pydantic and nothing heavy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from knowledge.connection import WeaviateSettings
from knowledge.loaders import LoaderSettings

REPO = Path(__file__).resolve().parents[1]
FP32_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
INT8_MODEL = f"{FP32_MODEL}-int8"


class EmbeddingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # fp32 stays the default though int8 held retrieval within 0.01 (bench/embedding_bench.py):
    # the extractive answerer compares sentences with this model too, and its answers under
    # int8 are not measured yet; the container image must also make the int8 copy at build.
    model_name: str = Field(
        FP32_MODEL,
        description=(
            "fastembed model name; a name ending in -int8 is that model with int8 weights, made "
            "locally from its fp32 files. Stamped on the collection: a change needs `reindex`."
        ),
    )
    model_path: Path | None = Field(
        None,
        description=(
            "The fp32 model's folder (model.onnx and tokenizer files); EMBED_MODEL_PATH when unset. "
            "Neither set: shared_models_dir, then fastembed's cache, then a download."
        ),
    )
    shared_models_dir: Path = Field(
        REPO.parent / "shared" / "models",
        description="Folder of offline model copies, one folder per model (all-MiniLM-L6-v2-onnx).",
    )
    variants_dir: Path = Field(
        Path.home() / ".cache" / "supportbot" / "models",
        description="Where int8 variants are made and kept ($XDG_CACHE_HOME/supportbot/models).",
    )
    dimensions: int = Field(384, gt=0, description="Vector length the model produces.")
    batch_size: int = Field(64, gt=0, le=1024, description="Texts embedded per model call.")
    threads: int | None = Field(None, description="onnxruntime threads; unset uses every core.")


class ChunkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_size: int = Field(
        256,
        ge=64,
        le=2048,
        description="Target chunk length in tokens (the embedding model's word pieces, and never more "
        "than its window holds beside the title and section).",
    )
    chunk_overlap: int = Field(32, ge=0, le=512, description="Tokens shared by neighbouring chunks.")


class RetrievalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(0.5, ge=0.0, le=1.0, description="Vector weight: 0 = BM25 only, 1 = vectors only.")
    fusion: Literal["relative_score", "ranked"] = Field(
        "relative_score",
        description="How hybrid search merges its BM25 and vector lists: by min-max normalised scores "
        "(relative_score, Weaviate's default) or by rank alone (ranked).",
    )
    top_k: int = Field(5, ge=1, le=100, description="Passages returned per question.")
    score_floor: float | None = Field(
        None, ge=0.0, description="Drop passages scoring below this (unset keeps all top-k)."
    )


class KnowledgeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weaviate: WeaviateSettings = Field(default_factory=WeaviateSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    chunking: ChunkSettings = Field(default_factory=ChunkSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    loader: LoaderSettings = Field(default_factory=LoaderSettings)
