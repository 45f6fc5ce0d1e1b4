"""Where the embedding model comes from, its int8 variant, and the stamp that tells them apart."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import weaviate

from bot.settings import load_settings
from knowledge.embeddings import (
    FP32_MODEL,
    INT8_MODEL,
    EmbeddingModelError,
    EmbeddingSettings,
    embedding_window,
    load_embedding_model,
)
from knowledge.model_files import model_files, split_variant
from knowledge.schema import SchemaError, open_collection
from knowledge.service import KnowledgeSettings, schema_stamp
from knowledge.weaviate_server import Endpoint
from tests.conftest import REPO, model_path

SENTENCES = [
    "Meal allowance is paid for business trips longer than eight hours.",
    "Passwords must be rotated every ninety days and never shared.",
    "Employees may work remotely up to three days a week with approval.",
]


def offline() -> bool:
    return False


def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **update: object) -> EmbeddingSettings:
    """Settings under which no copy of the model exists: empty shared folder, cache and variants."""
    monkeypatch.setenv("FASTEMBED_CACHE_PATH", str(tmp_path / "fastembed"))
    values: dict[str, object] = {
        "shared_models_dir": tmp_path / "shared",
        "variants_dir": tmp_path / "variants",
        **update,
    }
    return EmbeddingSettings.model_validate(values)


def test_int8_names_the_fp32_model_it_is_made_from() -> None:
    assert EmbeddingSettings().model_name == FP32_MODEL, (
        "the default until int8's answers are measured (README)"
    )
    assert split_variant(INT8_MODEL) == (FP32_MODEL, True)
    assert split_variant(FP32_MODEL) == (FP32_MODEL, False)


def test_the_configured_folder_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = nowhere(tmp_path, monkeypatch, model_path=model_path(), model_name=FP32_MODEL)
    assert model_files(settings, offline).folder == model_path()


def test_the_shared_copy_is_found_by_the_model_s_folder_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "all-MiniLM-L6-v2-onnx").symlink_to(model_path())
    files = model_files(nowhere(tmp_path, monkeypatch, model_name=FP32_MODEL), offline)
    assert files.folder == tmp_path / "shared" / "all-MiniLM-L6-v2-onnx"
    assert (files.fastembed_name, files.quantized) == (FP32_MODEL, False)


def test_a_folder_without_the_model_is_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EmbeddingModelError, match=rf"{empty} .*has no model.onnx: set EMBED_MODEL_PATH"):
        model_files(nowhere(tmp_path, monkeypatch, model_path=empty), offline)


@pytest.mark.parametrize("name", [FP32_MODEL, INT8_MODEL])
def test_offline_without_a_copy_fails_at_once_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    asked: list[bool] = []

    def hub() -> bool:
        asked.append(True)
        return False

    with pytest.raises(EmbeddingModelError) as raised:
        model_files(nowhere(tmp_path, monkeypatch, model_name=name), hub)
    assert asked == [True], "the hub is asked once, and nothing is downloaded"
    message = str(raised.value)
    assert "the model hub cannot be reached" in message
    assert "set EMBED_MODEL_PATH" in message
    assert str(tmp_path / "shared" / "all-MiniLM-L6-v2-onnx") in message
    assert not (tmp_path / "variants").exists() or not any((tmp_path / "variants").iterdir())


def test_the_file_s_model_folder_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBED_MODEL_PATH", str(tmp_path / "from-env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config = tmp_path / "settings.yaml"
    config.write_text(f"embedding:\n  model_path: {tmp_path / 'from-file'}\n")
    embedding = load_settings(config).knowledge.embedding
    assert embedding.model_path == tmp_path / "from-file"
    assert embedding.variants_dir == tmp_path / "cache" / "supportbot" / "models"
    config.write_text("embedding:\n  batch_size: 32\n")
    assert load_settings(config).knowledge.embedding.model_path == tmp_path / "from-env"


def test_the_int8_variant_is_made_once_and_embeds_close_to_fp32(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fp32 = nowhere(tmp_path, monkeypatch, model_path=model_path(), model_name=FP32_MODEL)
    int8 = fp32.model_copy(update={"model_name": INT8_MODEL})
    files = model_files(int8, offline)
    assert files.quantized and files.folder == tmp_path / "variants" / "all-MiniLM-L6-v2-onnx-int8"
    onnx = files.folder / "model.onnx"
    assert onnx.stat().st_size < 0.4 * (model_path() / "model.onnx").stat().st_size, "int8 weights"
    assert {"tokenizer.json", "config.json", "special_tokens_map.json"} <= {
        p.name for p in files.folder.iterdir()
    }
    assert [p.name for p in (tmp_path / "variants").iterdir()] == [files.folder.name], "no staging left"
    made = onnx.stat().st_mtime_ns
    assert model_files(int8, offline).folder == files.folder
    assert onnx.stat().st_mtime_ns == made, "an existing variant is reused, not remade"

    quantized, full = load_embedding_model(int8), load_embedding_model(fp32)
    window, full_window = embedding_window(quantized), embedding_window(full)
    assert window is not None and full_window is not None
    assert window.max_tokens == full_window.max_tokens, "same tokenizer, same window"
    a = np.array(quantized.get_text_embedding_batch(SENTENCES))
    b = np.array(full.get_text_embedding_batch(SENTENCES))
    cosines = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosines.min() > 0.97, cosines
    assert not np.allclose(a, b), "the int8 model is really another model"


def test_switching_between_fp32_and_int8_needs_reindex(
    weaviate_client: weaviate.WeaviateClient, embedding_settings: EmbeddingSettings
) -> None:
    alias = f"Test_{uuid.uuid4().hex[:12]}"
    fp32 = KnowledgeSettings(embedding=embedding_settings.model_copy(update={"model_name": FP32_MODEL}))
    int8 = KnowledgeSettings(embedding=embedding_settings.model_copy(update={"model_name": INT8_MODEL}))
    assert schema_stamp(fp32) != schema_stamp(int8)
    open_collection(weaviate_client, alias, schema_stamp(fp32))
    with pytest.raises(SchemaError, match=r"embed=sentence-transformers/all-MiniLM-L6-v2;.*-int8.*reindex"):
        open_collection(weaviate_client, alias, schema_stamp(int8))


@pytest.mark.parametrize("with_env_path", [True, False])
def test_a_command_without_the_model_exits_with_the_fix(
    tmp_path: Path, with_env_path: bool, weaviate_url: str, weaviate_server: Endpoint
) -> None:
    """No model anywhere and offline: a clear error from the command, no download attempts.
    (The session's server, on a collection of its own: the command starts no server to leave behind.)"""
    config = tmp_path / "settings.yaml"
    config.write_text(
        f"embedding:\n  shared_models_dir: {tmp_path / 'shared'}\n"
        f"weaviate:\n  collection: Test_{uuid.uuid4().hex[:12]}\n"
    )
    env = {
        **os.environ,
        "FASTEMBED_CACHE_PATH": str(tmp_path / "fastembed"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HF_HUB_OFFLINE": "1",
        "WEAVIATE_URL": weaviate_url,
        "WEAVIATE_GRPC_URL": f"http://127.0.0.1:{weaviate_server.grpc_port}",
    }
    env.pop("EMBED_MODEL_PATH", None)
    if with_env_path:
        (tmp_path / "empty").mkdir()
        env["EMBED_MODEL_PATH"] = str(tmp_path / "empty")
    command = [sys.executable, "app.py", "--config", str(config), "--data-dir", str(tmp_path / "data")]
    done = subprocess.run(
        [*command, "ingest", "samples/policies/expenses.md"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "set EMBED_MODEL_PATH" in done.stderr
    expected = f"{tmp_path / 'empty'} " if with_env_path else "the model hub cannot be reached"
    assert expected in " ".join(done.stderr.split()), done.stderr
    assert "Traceback" not in done.stderr


def test_an_unwritable_variants_folder_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the variants folder should be")
    settings = nowhere(tmp_path, monkeypatch, model_path=model_path(), model_name=INT8_MODEL)
    settings = settings.model_copy(update={"variants_dir": blocked / "models"})
    with pytest.raises(EmbeddingModelError, match=r"cannot write the int8 embedding model to .*variants_dir"):
        model_files(settings, offline)
