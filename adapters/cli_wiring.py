"""What the command modules share: exit codes, the usage error, logging, and opening the
settings, the database, the knowledge base and the bot for one command.

The heavy libraries (LlamaIndex, the embedding model, the Anthropic SDK, SQLAlchemy) load
inside these functions, when a command needs them: `app.py --help` and argument errors stay
instant. Each command module adds its sub-commands with `add_commands(commands)` and sets
`handler`, a function of the parsed arguments returning the exit code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from sqlalchemy import Engine

    from bot.core import SupportBot
    from bot.settings import Settings
    from knowledge.service import WeaviateKnowledgeBase

logger = logging.getLogger("supportbot")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(ValueError):
    """Bad arguments, refused before the slow start: one line, exit code 2."""


def configure_logging(log_format: str, verbose: bool) -> None:
    """Text for people at a terminal; JSON lines (SUPPORTBOT_LOG_FORMAT=json) for log shippers."""
    handler = logging.StreamHandler()
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler], force=True)


def load_command_settings(args: argparse.Namespace, config: Path | None = None) -> Settings:
    """The settings for this command (`config` overrides --config), with logging as they say."""
    from bot.settings import load_settings

    settings = load_settings(config or args.config, args.data_dir)
    if settings.log_format != "text":
        configure_logging(settings.log_format, args.verbose)
    return settings


def read_questions(path: Path) -> list[tuple[object, str]]:
    """The (id, question) pairs of a JSONL file given with --questions."""
    try:
        text = path.read_text()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from err
    items: list[tuple[object, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append((row["id"], str(row["question"])))
        except (ValueError, KeyError, TypeError) as err:
            raise UsageError(f'{path}:{number}: expected {{"id": ..., "question": ...}} ({err})') from err
    return items


def question_batch(args: argparse.Namespace) -> list[tuple[object, str]] | None:
    """The questions of --questions (which needs --json), or None when one question is asked."""
    if not args.questions:
        return None
    if not args.json:
        raise UsageError("--questions writes JSON lines: add --json")
    return read_questions(args.questions)


@contextmanager
def open_database(settings: Settings) -> Iterator[Engine]:
    """The interaction log's database, migrated to the current schema."""
    from bot.store.database import create_db_engine, default_url, migrate

    url = (
        settings.database_url.get_secret_value() if settings.database_url else default_url(settings.data_dir)
    )
    engine = create_db_engine(url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def open_knowledge_base(settings: Settings) -> Iterator[WeaviateKnowledgeBase]:
    """Weaviate, the collection and the embedding model: the slow start."""
    from knowledge.startup import open_knowledge  # starts Weaviate before LlamaIndex loads

    with open_knowledge(settings.knowledge, settings.file.access, settings.data_dir) as kb:
        yield kb


@contextmanager
def open_bot(settings: Settings, kb: WeaviateKnowledgeBase) -> Iterator[SupportBot]:
    """Wire the bot core: database (migrated, journal replayed), answerer, rewriter."""
    from bot.answering.base import Answerer, QuestionRewriter
    from bot.answering.extractive import ExtractiveAnswerer
    from bot.answering.followups import HeuristicRewriter
    from bot.core import SupportBot
    from bot.journal import Journal
    from bot.store.conversations import ConversationStore
    from bot.store.database import safe_url
    from bot.store.interactions import InteractionLog
    from bot.store.retries import RetryPolicy

    with open_database(settings) as engine:
        policy = RetryPolicy(give_up_s=settings.file.journal.write_timeout_s)
        log = InteractionLog(engine, policy)
        conversations = ConversationStore(engine, policy)
        answers = settings.file.answers
        extractive = ExtractiveAnswerer(answers.extractive, kb.embed, answers.source_priority)
        heuristic = HeuristicRewriter()
        answerer: Answerer = extractive
        rewriter: QuestionRewriter = heuristic
        if settings.anthropic_api_key is not None:
            # The Anthropic SDK takes about a second to import: only when Claude answers.
            from bot.answering.claude import ClaudeAnswerer, ClaudeRewriter, make_client

            client = make_client(
                settings.anthropic_api_key.get_secret_value(), settings.anthropic_base_url, answers.claude
            )
            answerer = ClaudeAnswerer(client, answers.claude, answers.source_priority)
            rewriter = ClaudeRewriter(client, answers.claude, heuristic)
        logger.info("answering with %s; log at %s", answerer.name, safe_url(engine))
        journal = Journal(settings.data_dir / "journal")
        bot = SupportBot(kb, answerer, extractive, rewriter, log, answers, conversations, journal=journal)
        # What an earlier run could not write (an outage, then a restart) goes in first.
        try:
            bot.records.adopt_spool(settings.data_dir / "unrecorded-interactions.jsonl")
            bot.records.replay()
        except Exception:  # kept for the next round: no reason not to answer meanwhile
            logger.exception("replaying the journal at start failed")
        yield bot


@contextmanager
def open_knowledge_and_bot(settings: Settings) -> Iterator[tuple[WeaviateKnowledgeBase, SupportBot]]:
    with open_knowledge_base(settings) as kb, open_bot(settings, kb) as bot:
        yield kb, bot
