"""The knowledge desk: what an ingest-channel post, `docs` or `forget` does, and who may.

Chat adapters hand over a post (its text, the files they downloaded, who posted it) and
get a typed reply to show; the rules live here, once for Slack and Teams alike. Only
authorised posters change the knowledge base; audiences must name known groups.

The reading, chunking and embedding of a post is a job for `IngestJobs`: in `serve`, a
process of its own per post (knowledge.ingest_process), so a heavy post cannot hold up
acknowledgements, answers or /health; `ingest` awaits it without holding a thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bot import metrics
from bot.settings import IngestPolicy
from knowledge.access import AccessPolicy
from knowledge.ingest_process import IngestJob, IngestJobError, InProcessIngest, PostedPath, PostedText
from knowledge.loaders import DocumentDefaults, DocumentError, LoaderSettings, parse_effective_date
from knowledge.types import DocumentInfo, IngestResult, IngestStatus, SourceDocument

logger = logging.getLogger(__name__)
_HEADER = re.compile(r"^\s*(audience|version|effective|id|title)\s*:\s*(.+?)\s*$", re.IGNORECASE)


class KnowledgeAdmin(Protocol):
    access: AccessPolicy

    def ingest_documents(self, docs: list[SourceDocument]) -> list[IngestResult]: ...

    def list_documents(self) -> list[DocumentInfo]: ...

    def forget(self, doc_id: str) -> int: ...


class IngestJobs(Protocol):
    """Reads, chunks, embeds and writes one post's documents; raises `IngestJobError`."""

    async def run(self, job: IngestJob) -> list[IngestResult]: ...


@dataclass(frozen=True)
class PostedFile:
    name: str
    content: bytes
    source: str = ""  # a link back to the file, shown in citations


@dataclass(frozen=True)
class Post:
    channel: str
    user: str
    text: str
    files: tuple[PostedFile, ...] = ()
    source: str = ""  # a link back to the message


@dataclass(frozen=True)
class DeskReply:
    ok: bool
    text: str
    results: tuple[IngestResult, ...] = field(default_factory=tuple)

    def with_problems(self, problems: Sequence[str]) -> DeskReply:
        """This reply, after the files that could not even be fetched (a post is then not ok)."""
        if not problems:
            return self
        return DeskReply(False, "\n".join([*problems, self.text]), self.results)


@dataclass(frozen=True)
class _Header:
    defaults: DocumentDefaults
    body: str


@dataclass(frozen=True)
class Command:
    name: str  # "docs" or "forget"
    argument: str


def parse_command(text: str) -> Command | None:
    """`docs` or `forget DOC_ID` addressed to the bot; anything else is a question or a post."""
    word, _, argument = text.strip().partition(" ")
    name = word.lower()
    return Command(name, argument.strip()) if name in {"docs", "forget"} else None


class KnowledgeDesk:
    def __init__(
        self,
        kb: KnowledgeAdmin,
        policy: IngestPolicy,
        loader: LoaderSettings,
        jobs: IngestJobs | None = None,
    ) -> None:
        """`jobs`: where posts are ingested; by default in this process, through `kb` (serve
        passes a `ProcessIngest`)."""
        self.kb = kb
        self.policy = policy
        self.loader = loader
        self.jobs: IngestJobs = jobs or InProcessIngest(kb, loader)

    def is_ingest_channel(self, channel: str) -> bool:
        return channel in self.policy.channels

    def may_change(self, user: str) -> bool:
        return user in self.policy.posters

    def refusal(self) -> DeskReply:
        return DeskReply(
            False, "Sorry, only the people listed as knowledge-base posters can add or remove documents."
        )

    async def ingest(self, post: Post) -> DeskReply:
        if not self.may_change(post.user):
            logger.warning("ingest refused: %s is not a poster (channel %s)", post.user, post.channel)
            return self.refusal()
        try:
            header = self._header(post.text, has_files=bool(post.files))
        except DocumentError as error:
            return DeskReply(False, f"Nothing was indexed: {error.reason}")
        unknown = self.kb.access.unknown_groups(header.defaults.audience)
        if unknown:
            known = ", ".join(sorted(self.kb.access.groups))
            return DeskReply(
                False, f"Nothing was indexed: unknown audience {', '.join(unknown)}. Known groups: {known}."
            )
        with tempfile.TemporaryDirectory(prefix="supportbot-post-") as tmp:
            job = await asyncio.to_thread(self._job, post, header, Path(tmp))
            try:
                results = await self.jobs.run(job) if job.items else []
            except IngestJobError as error:
                logger.error("ingesting a post of %s in %s failed: %s", post.user, post.channel, error)
                return DeskReply(False, f"Could not index this post: {error}.")
        metrics.ingested([r.status.value for r in results])
        if not results:
            return DeskReply(
                False, "Nothing to index: the post has no text after its header lines and no files."
            )
        return DeskReply(all(r.ok for r in results), describe(results), tuple(results))

    def run(self, user: str, channel: str, command: Command) -> DeskReply:
        """`command` by `user` in `channel` (the id access.groups maps: what the reply may show)."""
        if command.name == "docs":
            return self.list_documents(user, channel)
        return self.forget(user, command.argument)

    def list_documents(self, user: str, channel: str) -> DeskReply:
        """The documents `channel` may read: a poster asking in a public channel must not
        show everyone the titles of restricted documents."""
        if not self.may_change(user):
            return self.refusal()
        groups = self.kb.access.scope_for(channel).groups
        every = self.kb.list_documents()
        docs = [d for d in every if groups.intersection(d.audience)]
        if not docs:
            hidden = " that this channel may see" if every else ""
            return DeskReply(True, f"No documents{hidden} are indexed yet.")
        lines = [
            f"{d.doc_id}: {d.title} v{d.version} for {', '.join(d.audience)} ({d.chunks} chunks)"
            for d in docs
        ]
        return DeskReply(True, "\n".join(lines))

    def forget(self, user: str, doc_id: str) -> DeskReply:
        if not self.may_change(user):
            return self.refusal()
        doc_id = doc_id.strip()
        removed = self.kb.forget(doc_id) if doc_id else 0
        if not removed:
            return DeskReply(False, f"No document with id {doc_id!r}; `docs` lists the ids.")
        logger.info("%s forgot %s (%d chunks)", user, doc_id, removed)
        return DeskReply(True, f"Forgot {doc_id} ({removed} chunks removed); it will not be cited again.")

    # -- parsing -------------------------------------------------------------------------

    def _header(self, text: str, has_files: bool) -> _Header:
        """The post's first paragraph may hold a title line and `audience:`, `version:`,
        `effective:`, `id:` or `title:` lines; everything else is the document's body."""
        lines = text.strip().splitlines()
        split = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
        fields: dict[str, str] = {}
        block: list[str] = []
        for line in lines[:split]:
            match = _HEADER.match(line)
            if match:
                fields[match.group(1).lower()] = match.group(2)
            else:
                block.append(line)
        rest = lines[split:]
        title = fields.get("title", "")
        more_follows = any(line.strip() for line in rest) or len(block) > 1
        if not title and not has_files and block and more_follows and len(block[0]) <= 120:
            title, block = block[0].strip().lstrip("#").strip(), block[1:]
        audience = tuple(a for a in re.split(r"[,\s]+", fields.get("audience", "")) if a)
        defaults = DocumentDefaults(
            audience=audience or tuple(self.policy.default_audience),
            title=title,
            version=fields.get("version", ""),
            effective_date=parse_effective_date(fields.get("effective", ""), "effective:"),
            doc_id=fields.get("id", ""),
        )
        return _Header(defaults, "\n".join(block + rest).strip())

    def _job(self, post: Post, header: _Header, tmp: Path) -> IngestJob:
        """The post's text (when it has no files) and its files, saved under `tmp`."""
        items: list[PostedText | PostedPath] = []
        if header.body and not post.files:
            items.append(PostedText(post.source or f"post in {post.channel}", header.body, header.defaults))
        defaults = header.defaults
        if len(post.files) > 1:  # a title or id in the post cannot name several files
            defaults = DocumentDefaults(defaults.audience, "", defaults.version, defaults.effective_date, "")
        for n, posted in enumerate(post.files):
            name = Path(posted.name).name or "file"
            folder = tmp / str(n)  # two files of one post may share a name
            folder.mkdir()
            path = folder / name
            path.write_bytes(posted.content)
            items.append(PostedPath(path, posted.source or name, defaults))
        return IngestJob(tuple(items))


def describe(results: Sequence[IngestResult]) -> str:
    """One line per document: what was indexed, for whom, how big, what it replaced."""
    lines = []
    for r in results:
        if r.status is IngestStatus.FAILED:
            lines.append(f"Could not index {r.source}: {r.error}")
        elif r.status is IngestStatus.UNCHANGED:
            lines.append(f"{r.title} v{r.version} is already indexed with this content; nothing changed.")
        elif r.status is IngestStatus.SKIPPED_OLDER:
            lines.append(
                f"{r.title}: skipped, an indexed version is newer ({r.error or 'later effective date'})."
            )
        else:
            line = (
                f"Indexed {r.title} v{r.version} ({r.doc_id}) for {', '.join(r.audience)}: {r.chunks} chunks"
            )
            if r.replaced_version:
                line += f", replacing v{r.replaced_version}"
            lines.append(line + ".")
    return "\n".join(lines)
