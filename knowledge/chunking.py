"""Structure-aware chunking: each chunk keeps the heading path (or PDF page) it came from.

Markdown headings split the text into sections (LlamaIndex's MarkdownNodeParser); a
section longer than a chunk is split again on sentence boundaries (SentenceSplitter).
"""

from __future__ import annotations

import uuid

from llama_index.core import Document
from llama_index.core.node_parser import MarkdownNodeParser, SentenceSplitter
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from pydantic import BaseModel, ConfigDict, Field

from knowledge.types import SourceDocument

_CHUNK_NAMESPACE = uuid.UUID("6f1c9b7e-8d2a-4c59-9a3e-2f0f4f2d6a11")
SECTION_SEPARATOR = " > "
# Metadata the embedding sees (the rest only clutters the vector), and what an LLM sees.
_EMBED_KEYS = {"title", "section"}
_LLM_KEYS = {"title", "section", "version"}


class ChunkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_size: int = Field(256, ge=64, le=2048, description="Target chunk length in tokens.")
    chunk_overlap: int = Field(32, ge=0, le=512, description="Tokens shared by neighbouring chunks.")


def chunk_id(doc_id: str, content_hash: str, index: int) -> str:
    """Deterministic: the same document version always yields the same chunk ids."""
    return str(uuid.uuid5(_CHUNK_NAMESPACE, f"{doc_id}/{content_hash}/{index}"))


class Chunker:
    def __init__(self, settings: ChunkSettings) -> None:
        self._sections = MarkdownNodeParser(header_path_separator=SECTION_SEPARATOR)
        self._splitter = SentenceSplitter(
            chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap
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
            for piece in self._splitter.split_text(text):
                if not piece.strip():
                    continue
                index = len(nodes)
                node = TextNode(
                    id_=chunk_id(doc.doc_id, content_hash, index),
                    text=piece,
                    metadata={**metadata, "section": section, "chunk_index": index},
                )
                node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc.doc_id)
                node.excluded_embed_metadata_keys = sorted(set(node.metadata) - _EMBED_KEYS)
                node.excluded_llm_metadata_keys = sorted(set(node.metadata) - _LLM_KEYS)
                nodes.append(node)
        return nodes
