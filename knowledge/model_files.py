"""Where the embedding model's files come from, and its int8 variant made from them.

The fp32 model folder is the first of: the settings' `embedding.model_path` (or
`EMBED_MODEL_PATH`, merged in bot/settings.py), `<shared_models_dir>/<name>` (the offline
copy in ../shared/models beside the repo), fastembed's cache, and last a download into
that cache, tried only when the model hub answers: offline, a missing model is a clear
error at once rather than a minute of download retries.

A model name ending in `-int8` is the same model dynamically quantized to int8 weights by
onnxruntime's own tools, made once from the fp32 files (no download) into
`variants_dir` and reused. It is a different name, so a collection stamped with one is
never searched with the other's vectors (`reindex` moves between them).
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from knowledge.errors import EmbeddingModelError

if TYPE_CHECKING:
    from knowledge.embeddings import EmbeddingSettings

logger = logging.getLogger(__name__)

INT8_SUFFIX = "-int8"
HUB_PROBE_TIMEOUT_S = 1.0
FIX = (
    "set EMBED_MODEL_PATH (or embedding.model_path in the settings file) to a folder holding the "
    "model's model.onnx and tokenizer files, e.g. ../shared/models/all-MiniLM-L6-v2-onnx, "
    "or run once with access to the model hub so fastembed can download it"
)


@dataclass(frozen=True)
class ModelFiles:
    """What fastembed loads: its name for the model, and the folder to load it from."""

    fastembed_name: str  # the fp32 model's name: fastembed knows its pooling and normalisation
    folder: Path
    quantized: bool


def split_variant(model_name: str) -> tuple[str, bool]:
    """`…-int8` -> (the fp32 model's name, True); any other name -> (name, False)."""
    if model_name.endswith(INT8_SUFFIX):
        return model_name[: -len(INT8_SUFFIX)], True
    return model_name, False


def _description(model_name: str) -> Any:
    from fastembed import TextEmbedding

    for description in TextEmbedding._list_supported_models():
        if description.model.lower() == model_name.lower():
            return description
    raise EmbeddingModelError(f"fastembed has no embedding model named {model_name}")


def folder_name(model_name: str) -> str:
    """The folder a copy of the model lives in: its hub repository's name
    (`sentence-transformers/all-MiniLM-L6-v2` -> `all-MiniLM-L6-v2-onnx`)."""
    source = _description(model_name).sources.hf
    return str(source or model_name).rsplit("/", 1)[-1]


def model_file(model_name: str) -> str:
    """The ONNX file inside a model folder (`model.onnx` for MiniLM)."""
    return str(_description(model_name).model_file)


def hub_reachable() -> bool:
    """Whether the model hub answers a TCP connection within a second (and offline mode is off)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname or "", url.port or 443), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def fp32_folder(
    settings: EmbeddingSettings, model_name: str, online: Callable[[], bool] = hub_reachable
) -> Path:
    """The folder of the fp32 model `model_name`, downloading it only when the hub answers."""
    wanted = model_file(model_name)
    if settings.model_path is not None:
        if not (settings.model_path / wanted).is_file():
            raise EmbeddingModelError(
                f"embedding model folder {settings.model_path} (embedding.model_path or "
                f"EMBED_MODEL_PATH) has no {wanted}: {FIX}"
            )
        return settings.model_path
    shared = settings.shared_models_dir / folder_name(model_name)
    if (shared / wanted).is_file():
        return shared

    from fastembed import TextEmbedding
    from fastembed.common.utils import define_cache_dir

    description = _description(model_name)
    cache = define_cache_dir(None)  # fastembed's own: FASTEMBED_CACHE_PATH or its temp folder
    try:
        return Path(TextEmbedding.download_model(description, str(cache), local_files_only=True))
    except Exception:  # fastembed raises several kinds for "not in the cache"
        logger.debug("embedding model %s is not in fastembed's cache %s", model_name, cache)
    if not online():
        raise EmbeddingModelError(
            f"embedding model {model_name} not found (looked in {shared} and fastembed's cache "
            f"{cache}) and the model hub cannot be reached: {FIX}"
        )
    logger.info("downloading embedding model %s into %s", model_name, cache)
    try:
        return Path(TextEmbedding.download_model(description, str(cache)))
    except Exception as err:
        raise EmbeddingModelError(f"could not download embedding model {model_name} ({err}): {FIX}") from err


def int8_folder(settings: EmbeddingSettings, model_name: str) -> Path:
    """Where the int8 variant of the fp32 model `model_name` is kept."""
    return settings.variants_dir / f"{folder_name(model_name)}{INT8_SUFFIX}"


def quantize(source: Path, target: Path, onnx_file: str = "model.onnx") -> Path:
    """Write `source`'s model with int8 weights (and its tokenizer files) to `target`.

    Per-channel scales with a 7-bit range: plain per-tensor int8 moved MiniLM's vectors
    further from fp32 (mean cosine 0.963 against 0.993), and the reduced range avoids the
    saturation of AVX2 machines without VNNI. Built in a temporary sibling folder and
    renamed into place, so a half-written model is never loaded and two processes
    racing here both end with one complete copy.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for item in source.iterdir():
            if item.is_file() and item.name != Path(onnx_file).name:
                shutil.copyfile(item, staging / item.name)  # follows the hub cache's symlinks
        (staging / onnx_file).parent.mkdir(parents=True, exist_ok=True)
        # The quantizer logs dozens of lines through the root logger: not the user's business.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(
                source / onnx_file,
                staging / onnx_file,
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=True,
            )
        finally:
            root.setLevel(level)
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the model from other users
        try:
            staging.rename(target)
        except OSError:
            if not (target / onnx_file).is_file():
                raise
            logger.info("another process made %s first", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def ensure_int8(
    settings: EmbeddingSettings, model_name: str, online: Callable[[], bool] = hub_reachable
) -> Path:
    """The int8 variant of `model_name`, made from the fp32 files the first time."""
    target = int8_folder(settings, model_name)
    onnx_file = model_file(model_name)
    if (target / onnx_file).is_file():
        return target
    source = fp32_folder(settings, model_name, online)
    logger.info("making the int8 variant of %s in %s (once)", model_name, target)
    try:
        return quantize(source, target, onnx_file)
    except OSError as err:
        raise EmbeddingModelError(
            f"cannot write the int8 embedding model to {target} ({err.strerror or err}): point "
            "embedding.variants_dir (or XDG_CACHE_HOME) at a writable folder, or make it at install "
            "time with `python -m scripts.quantize_model`"
        ) from err


def model_files(settings: EmbeddingSettings, online: Callable[[], bool] = hub_reachable) -> ModelFiles:
    """The files of the configured model, finding, downloading or quantizing them as needed."""
    name, quantized = split_variant(settings.model_name)
    if quantized:
        return ModelFiles(name, ensure_int8(settings, name, online), True)
    return ModelFiles(name, fp32_folder(settings, name, online), False)
