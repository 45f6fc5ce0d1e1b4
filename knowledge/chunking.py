"""Structure-aware chunking: each chunk keeps the heading path (or PDF page) it came from.

Markdown headings split the text into sections (LlamaIndex's MarkdownNodeParser); a
section longer than a chunk is split again on sentence boundaries (SentenceSplitter).

Given the embedding model's window, chunks are measured in the model's own word pieces and
sized so that what is embedded (title and section lines, then the chunk) fits the window:
the model cuts off everything past it, so an over-long chunk's tail would be in the text
but never in its vector.
"""

from __future__ import annotations

import uuid

from llama_index.core import Document
from llama_index.core.node_parser import MarkdownNodeParser, SentenceSplitter
from llama_index.core.schema import MetadataMode, NodeRelationship, RelatedNodeInfo, TextNode

from knowledge.embeddings import EmbeddingWindow
from knowledge.settings import ChunkSettings
from knowledge.types import SourceDocument

_CHUNK_NAMESPACE = uuid.UUID("6f1c9b7e-8d2a-4c59-9a3e-2f0f4f2d6a11")
SECTION_SEPARATOR = " > "
# Metadata the embedding sees (the rest only clutters the vector), and what an LLM sees.
_EMBED_KEYS = {"title", "section"}
_LLM_KEYS = {"title", "section", "version"}
# Fewer body tokens than this beside a long title and section path: the section (then the
# title) stays out of the vector rather than leaving chunks of a few words.
_MIN_BODY_TOKENS = 64


def chunk_id(doc_id: str, content_hash: str, index: int) -> str:
    """Deterministic: the same document version always yields the same chunk ids."""
    return str(uuid.uuid5(_CHUNK_NAMESPACE, f"{doc_id}/{content_hash}/{index}"))


class Chunker:
    """`window`: the embedding model's tokenizer and limit (`embeddings.embedding_window`).
    Without it, chunk sizes are counted in LlamaIndex's default tokens and not checked
    against any model."""

    def __init__(self, settings: ChunkSettings, window: EmbeddingWindow | None = None) -> None:
        self.settings = settings
        self._sections = MarkdownNodeParser(header_path_separator=SECTION_SEPARATOR)
        self._window = window
        if window is None:
            self._splitter = SentenceSplitter(
                chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap
            )
        else:
            size = min(settings.chunk_size, window.budget)
            self._splitter = SentenceSplitter(
                chunk_size=size,
                chunk_overlap=min(settings.chunk_overlap, size // 4),
                tokenizer=window.pieces,
            )

    def sections(self, doc: SourceDocument) -> list[tuple[str, str]]:
        """(section path, text) pairs in document order."""
        if doc.pages:
            return [(f"page {n}", page) for n, page in enumerate(doc.pages, 1) if page.strip()]
        out: list[tuple[str, str]] = []
        carry = ""  # a heading with no body of its own joins the next section
        for node in self._sections.get_nodes_from_documents([Document(text=doc.text)]):
            text = node.get_content()
            parents = [
                p for p in str(node.metadata.get("header_path", "")).split(SECTION_SEPARATOR) if p.strip()
            ]
            first_line, _, body = text.partition("\n")
            own = first_line.lstrip("#").strip() if first_line.startswith("#") else ""
            if own and not body.strip():
                carry += text + "\n"
                continue
            path = [p.strip() for p in (*parents, own) if p.strip()]
            if path and path[0] == doc.title:  # the document's own title adds nothing
                path = path[1:]
            out.append((SECTION_SEPARATOR.join(path), carry + text))
            carry = ""
        if carry.strip():
            out.append(("", carry))
        return out

    def chunk(self, doc: SourceDocument, metadata: dict[str, object], content_hash: str) -> list[TextNode]:
        """Nodes ready to embed; `metadata` is copied onto each (title, acl, version...)."""
        nodes: list[TextNode] = []
        for section, text in self.sections(doc):
            fields = {**metadata, "section": section}
            embed_keys = self._embed_keys(fields)
            for piece in self._split(text, _embed_header(fields, embed_keys)):
                if not piece.strip():
                    continue
                index = len(nodes)
                node = TextNode(
                    id_=chunk_id(doc.doc_id, content_hash, index),
                    text=piece,
                    metadata={**fields, "chunk_index": index},
                )
                node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc.doc_id)
                keys = embed_keys - {"title"} if _opens_with(piece, doc.title) else embed_keys
                node.excluded_embed_metadata_keys = sorted(set(node.metadata) - keys)
                node.excluded_llm_metadata_keys = sorted(set(node.metadata) - _LLM_KEYS)
                nodes.append(node)
        return nodes

    def _embed_keys(self, fields: dict[str, object]) -> set[str]:
        """Title and section go into the vector, unless they would crowd the chunk out of it
        (or there is no section: an empty `section:` line only adds noise)."""
        keys = set(_EMBED_KEYS) if fields.get("section") else _EMBED_KEYS - {"section"}
        if self._window is None:
            return keys
        for drop in ("section", "title"):
            if (
                self._splitter.chunk_size - self._window.count(_embed_header(fields, keys))
                >= _MIN_BODY_TOKENS
            ):
                break
            keys.discard(drop)
        return keys

    def _split(self, text: str, header: str) -> list[str]:
        if self._window is None:
            return self._splitter.split_text(text)
        # The splitter's chunk size counts the header too (it is embedded with every chunk).
        room = self._splitter.chunk_size - self._window.count(header)
        pieces = self._splitter.split_text_metadata_aware(text, header)
        # The splitter measures its parts one by one; joined, a few may come out a token or two
        # over. Those are cut on token boundaries so that the promise holds for every chunk.
        return [part for piece in pieces for part in self._fit(piece, room)]

    def _fit(self, text: str, room: int) -> list[str]:
        assert self._window is not None
        encoding = self._window.tokenizer.encode(text, add_special_tokens=False)
        if len(encoding.ids) <= room:
            return [text]
        offsets = encoding.offsets
        parts = []
        for start in range(0, len(offsets), room):
            window = offsets[start : start + room]
            parts.append(text[window[0][0] : window[-1][1]])
        return parts


def _opens_with(piece: str, title: str) -> bool:
    """The chunk starts with the document's title as its heading: a `title:` line would only
    say it again (and weigh the vector towards the title)."""
    first = piece.lstrip().partition("\n")[0]
    return first.startswith("#") and first.lstrip("#").strip() == title.strip()


def _embed_header(fields: dict[str, object], keys: set[str]) -> str:
    """What LlamaIndex puts before a chunk's text when embedding it (metadata lines, blank line)."""
    probe = TextNode(text="", metadata=fields)
    probe.excluded_embed_metadata_keys = sorted(set(fields) - keys)
    return probe.get_content(metadata_mode=MetadataMode.EMBED)
