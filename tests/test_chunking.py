"""Chunks sized in the embedding model's own word pieces: nothing is cut from a vector."""

from __future__ import annotations

import pytest
from llama_index.core.schema import MetadataMode

from knowledge.chunking import Chunker, ChunkSettings
from knowledge.embeddings import EmbeddingWindow, embedding_window, load_window
from knowledge.loaders import DocumentDefaults, build_document
from knowledge.types import SourceDocument
from tests.conftest import model_path

# Word-piece heavy text (German compounds, abbreviations): the model's tokenizer makes about a
# third more tokens of it than LlamaIndex's default tokenizer does.
SENTENCE = (
    "Der Urlaubsanspruch beträgt für schwerbehinderte Beschäftigte (i.e. nach SGB IX, U.S./U.K. "
    "staff excepted) zusätzlich fünf Arbeitstage im Kalenderjahr gemäß Kündigungsschutzgesetz."
)


@pytest.fixture(scope="module")
def window() -> EmbeddingWindow:
    return load_window(model_path() / "tokenizer.json", max_tokens=256)


def document(text: str, title: str = "Travel policy") -> SourceDocument:
    return build_document("travel.md", text, DocumentDefaults(audience=("everyone",)), fallback_title=title)


def embedded(chunker: Chunker, doc: SourceDocument) -> list[str]:
    nodes = chunker.chunk(doc, {"title": doc.title, "acl": ["everyone"], "version": "1"}, "hash")
    return [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]


def test_the_window_is_the_one_fastembed_runs(embed_model, window: EmbeddingWindow) -> None:  # type: ignore[no-untyped-def]
    found = embedding_window(embed_model)
    assert found is not None
    assert (found.max_tokens, found.special_tokens) == (256, 2)  # [CLS] and [SEP]
    assert found.count(SENTENCE) == window.count(SENTENCE) > len(SENTENCE.split())


def test_no_chunk_exceeds_the_window(window: EmbeddingWindow) -> None:
    long_section = " ".join([SENTENCE] * 40)
    one_long_sentence = " ".join(SENTENCE.rstrip(".").split(",") * 30) + "."
    text = f"# Travel policy\n\n## Allowances\n\n{long_section}\n\n## Rates\n\n{one_long_sentence}\n"
    texts = embedded(Chunker(ChunkSettings(), window), document(text))
    assert len(texts) > 5
    counts = [window.count(t) for t in texts]
    assert max(counts) <= window.budget == 254
    # Sized to the window, not far below it: the sections' chunks are mostly full.
    assert sum(c > 200 for c in counts) >= len(counts) // 2
    # Without the window (LlamaIndex's default tokens) the same text overflows the model.
    assert max(window.count(t) for t in embedded(Chunker(ChunkSettings()), document(text))) > 254


def test_title_and_section_are_in_the_embedded_text(window: EmbeddingWindow) -> None:
    text = f"# Travel policy\n\n## Allowances\n\n### Meals\n\n{' '.join([SENTENCE] * 12)}\n"
    texts = embedded(Chunker(ChunkSettings(), window), document(text))
    assert len(texts) >= 2
    # The first chunk opens with the title as its heading: it is not said twice.
    assert texts[0].startswith("section: Allowances > Meals\n\n# Travel policy\n")
    for t in texts[1:]:
        assert t.startswith("title: Travel policy\nsection: Allowances > Meals\n\n")
    for t in texts:
        assert "acl" not in t and "version" not in t  # only what describes the content


def test_no_empty_section_line(window: EmbeddingWindow) -> None:
    texts = embedded(Chunker(ChunkSettings(), window), document(" ".join([SENTENCE] * 12)))
    assert len(texts) >= 2
    assert all(t.startswith("title: Travel policy\n\n") and "section:" not in t for t in texts)


def test_a_title_too_long_for_the_window_leaves_the_vector(window: EmbeddingWindow) -> None:
    title = " ".join(["Extraordinarily-long-hyphenated-heading"] * 40)
    doc = document(f"{SENTENCE}\n", title=title)
    assert doc.title == title
    texts = embedded(Chunker(ChunkSettings(), window), doc)
    assert texts and all(window.count(t) <= window.budget for t in texts)
    assert all(SENTENCE[:40] in t for t in texts)  # the body, not the title, fills the vector


def test_small_chunk_size_is_kept(window: EmbeddingWindow) -> None:
    texts = embedded(Chunker(ChunkSettings(chunk_size=96, chunk_overlap=16), window), document(SENTENCE * 20))
    assert max(window.count(t) for t in texts) <= 96
