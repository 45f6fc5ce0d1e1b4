"""Composition root and command line: reads settings, builds everything, runs a command.

python app.py [--config FILE] [--data-dir DIR] COMMAND ...
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import authlib.deprecate

# weaviate-client imports authlib's httpx integration, which warns on every start.
warnings.filterwarnings("ignore", category=authlib.deprecate.AuthlibDeprecationWarning)

from sqlalchemy import Engine  # noqa: E402

from adapters import terminal  # noqa: E402
from adapters.console import ChatConsole  # noqa: E402
from adapters.digest_cli import add_commands as add_digest_commands  # noqa: E402
from adapters.digest_cli import check_digest_settings, check_digest_usage  # noqa: E402
from adapters.eval_cli import add_commands as add_eval_commands  # noqa: E402
from adapters.eval_cli import check_build_usage, check_eval_usage, cmd_build_golden, cmd_eval  # noqa: E402
from adapters.feedback_cli import (  # noqa: E402
    FeedbackUsageError,
    check_export_usage,
    cmd_export,
    cmd_stats,
)
from adapters.feedback_cli import add_commands as add_feedback_commands  # noqa: E402
from adapters.ingest_cli import add_commands as add_ingest_commands  # noqa: E402
from adapters.notices_cli import add_commands as add_notice_commands  # noqa: E402
from bot.answering.base import Answerer, QuestionRewriter  # noqa: E402
from bot.answering.claude import ClaudeAnswerer, ClaudeRewriter, make_client  # noqa: E402
from bot.answering.extractive import ExtractiveAnswerer  # noqa: E402
from bot.answering.followups import HeuristicRewriter  # noqa: E402
from bot.core import SupportBot  # noqa: E402
from bot.settings import ConfigError, Settings, load_settings  # noqa: E402
from bot.store.conversations import ConversationStore  # noqa: E402
from bot.store.database import DatabaseError, create_db_engine, default_url, migrate, safe_url  # noqa: E402
from bot.store.interactions import InteractionLog  # noqa: E402
from bot.types import Answer, AnswerKind, Platform, Question  # noqa: E402
from eval.digest import DigestError  # noqa: E402
from eval.digest.week import WeekError  # noqa: E402
from knowledge.embeddings import EmbeddingModelError  # noqa: E402
from knowledge.loaders import DocumentError  # noqa: E402
from knowledge.schema import SchemaError  # noqa: E402
from knowledge.service import WeaviateKnowledgeBase, open_knowledge  # noqa: E402
from knowledge.types import Passage  # noqa: E402
from knowledge.weaviate_server import WeaviateStartError  # noqa: E402

logger = logging.getLogger("supportbot")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="app.py", description="Internal-support bot: knowledge base and answers."
    )
    parser.add_argument("--config", type=Path, help="settings file (YAML); default: $SUPPORTBOT_CONFIG")
    parser.add_argument(
        "--data-dir", type=Path, help="Weaviate data and database; default: $SUPPORTBOT_DATA_DIR or ./data"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True)

    add_ingest_commands(commands)

    retrieve = commands.add_parser("retrieve", help="passages a channel may see for a question")
    retrieve.add_argument("question", nargs="?", help="omit for an interactive prompt")
    retrieve.add_argument("--channel", required=True, help="the asking channel id (decides access)")
    retrieve.add_argument("--questions", type=Path, help='JSONL of {"id", "question"}; needs --json')
    retrieve.add_argument("--top-k", type=int, help="passages per question")
    retrieve.add_argument("--alpha", type=float, help="vector weight 0..1 (0: BM25 only)")
    retrieve.add_argument("--json", action="store_true")

    docs = commands.add_parser("docs", help="list or forget indexed documents")
    docs_commands = docs.add_subparsers(dest="docs_command", required=True)
    docs_list = docs_commands.add_parser("list")
    docs_list.add_argument("--json", action="store_true")
    forget = docs_commands.add_parser("forget")
    forget.add_argument("doc_id")

    commands.add_parser("reindex", help="rebuild the collection (schema or embedding model changed)")

    ask = commands.add_parser("ask", help="answer a question as the bot would in a channel")
    ask.add_argument("question", nargs="?")
    ask.add_argument("--channel", required=True, help="the asking channel id (decides access)")
    ask.add_argument("--user", default="cli", help="asker's user id, recorded with the answer")
    ask.add_argument("--questions", type=Path, help='JSONL of {"id", "question"}; needs --json')
    ask.add_argument("--json", action="store_true")

    serve = commands.add_parser(
        "serve", help="answer in Slack (/slack/events or Socket Mode) and Teams (/api/messages); /health"
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 in a container)")
    serve.add_argument("--port", type=int, default=3000)

    package = commands.add_parser("teams-package", help="build the Teams app package (manifest + icons zip)")
    package.add_argument("--out", type=Path, default=Path("supportbot-teams.zip"), help="the zip to write")
    package.add_argument("--app-id", help="the Azure bot's app id; default: $MICROSOFT_APP_ID")
    package.add_argument("--domain", required=True, help="host name where serve is reachable")
    package.add_argument("--name", default="Support Bot", help="the app's name in Teams")
    package.add_argument("--version", default="1.0.0", help="bump it for every upload of a change")
    package.add_argument("--developer", default="IT", help="publisher name shown in Teams")
    package.add_argument("--website", default="", help="https URL for the about page; default https://DOMAIN")

    add_feedback_commands(commands)
    add_eval_commands(commands)
    add_digest_commands(commands)
    add_notice_commands(commands)

    chat = commands.add_parser("chat", help="a local chat console standing in for a channel")
    chat.add_argument("--channel", required=True, help="the channel the console stands in for")
    chat.add_argument("--user", default="console", help="your user id, recorded with answers and votes")
    return parser


def _read_questions(path: Path) -> list[tuple[object, str]]:
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


def cmd_teams_package(args: argparse.Namespace) -> int:
    from adapters.teams.package import PackageError, PackageOptions, build_package
    from bot.settings import EnvSettings

    app_id = args.app_id or EnvSettings().microsoft_app_id
    if not app_id:
        raise UsageError("teams-package needs the bot's app id: --app-id or MICROSOFT_APP_ID")
    options = PackageOptions(app_id, args.domain, args.name, args.version, args.developer, args.website)
    try:
        out = build_package(options, args.out)
    except PackageError as error:
        raise UsageError(str(error)) from error
    terminal.out.print(f"Wrote {out}: upload it in Teams (Apps -> Manage your apps -> Upload an app).")
    return EXIT_OK


def cmd_serve(
    bot: SupportBot, kb: WeaviateKnowledgeBase, settings: Settings, args: argparse.Namespace
) -> int:
    from adapters.serve import serve  # the chat SDKs load only for serve

    return serve(bot, kb, settings, args.host, args.port)


def check_usage(args: argparse.Namespace) -> None:
    """Refuse bad arguments before the slow start (Weaviate, embedding model, database)."""
    args.batch = None
    if args.command in {"retrieve", "ask"} and args.questions:
        if not args.json:
            raise UsageError("--questions writes JSON lines: add --json")
        args.batch = _read_questions(args.questions)
    if args.command == "ask" and not args.questions and not args.question:
        raise UsageError(
            "give a question, or --questions FILE.jsonl --json; `chat` is the interactive console"
        )


def cmd_digest(
    bot: SupportBot, kb: WeaviateKnowledgeBase, settings: Settings, args: argparse.Namespace
) -> int:
    from adapters import digest_cli
    from adapters.digests import make_publisher, ragas_quality, teams_poster
    from adapters.slack import web_client

    slack = None
    if settings.slack_bot_token is not None:
        slack = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    quality = ragas_quality(settings, bot, kb)
    publisher = make_publisher(settings, bot.log.engine, kb, quality, slack, teams_poster(settings))
    return digest_cli.cmd_digest(publisher, args)


def cmd_notify_changes(
    bot: SupportBot, kb: WeaviateKnowledgeBase, settings: Settings, args: argparse.Namespace
) -> int:
    from adapters import notices_cli
    from adapters.notices import ChangeFollowUp
    from adapters.slack import web_client

    slack = None
    if settings.slack_bot_token is not None:
        slack = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    teams = None
    if settings.teams is not None:
        from botbuilder.integration.aiohttp import CloudAdapter

        from adapters.teams.auth import BotAuthentication
        from adapters.teams.notices import TeamsNotices

        teams = TeamsNotices(CloudAdapter(BotAuthentication(settings.teams)), settings.teams.app_id)
    follow_up = ChangeFollowUp(bot, kb.list_documents, settings.file.notices, slack, teams)
    return notices_cli.cmd_notify(follow_up, args)


def cmd_retrieve(kb: WeaviateKnowledgeBase, args: argparse.Namespace) -> int:
    scope = kb.scope_for(args.channel)

    def run(question: str) -> list[Passage]:
        return kb.retrieve(question, scope, top_k=args.top_k, alpha=args.alpha)

    if args.batch is not None:
        for qid, question in args.batch:
            terminal.print_json_line({"id": qid, "passages": [p.as_dict() for p in run(question)]})
        return EXIT_OK
    if args.question:
        passages = run(args.question)
        if args.json:
            terminal.print_json_line({"id": None, "passages": [p.as_dict() for p in passages]})
        else:
            terminal.show_passages(passages)
        return EXIT_OK
    groups = ", ".join(sorted(scope.groups)) or "none"
    terminal.out.print(
        f"Retrieving as channel {args.channel} (groups: {groups}). Empty line or Ctrl-D quits."
    )
    while True:
        try:
            question = input("question> ").strip()
        except EOFError:
            break
        if not question or question in {"quit", "exit"}:
            break
        terminal.show_passages(run(question))
    return EXIT_OK


def cmd_docs(kb: WeaviateKnowledgeBase, args: argparse.Namespace) -> int:
    if args.docs_command == "forget":
        removed = kb.forget(args.doc_id)
        if not removed:
            terminal.err.print(f"No document with id {args.doc_id!r}; `docs list` shows the ids.")
            return EXIT_FAILED
        terminal.out.print(f"Forgot {args.doc_id} ({removed} chunks removed).")
        return EXIT_OK
    docs = kb.list_documents()
    if args.json:
        for d in docs:
            terminal.print_json_line({**d.__dict__, "audience": list(d.audience)})
    else:
        terminal.show_documents(docs)
    return EXIT_OK


def cmd_ask(bot: SupportBot, args: argparse.Namespace) -> int:
    def run(question: str) -> Answer:
        return bot.answer(Question(question, Platform.CLI, args.channel, args.user))

    if args.questions:
        if not args.json:
            raise UsageError("--questions writes JSON lines: add --json")
        for qid, question in _read_questions(args.questions):
            terminal.print_json_line(terminal.answer_json(run(question), qid))
        return EXIT_OK
    if not args.question:
        raise UsageError(
            "give a question, or --questions FILE.jsonl --json; `chat` is the interactive console"
        )
    answer = run(args.question)
    if args.json:
        terminal.print_json_line(terminal.answer_json(answer))
    else:
        terminal.show_answer(answer)
    return EXIT_FAILED if answer.kind is AnswerKind.FAILED else EXIT_OK


@contextmanager
def open_database(settings: Settings) -> Iterator[Engine]:
    """The interaction log's database, migrated to the current schema."""
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
def open_bot(settings: Settings, kb: WeaviateKnowledgeBase) -> Iterator[SupportBot]:
    """Wire the bot core: database (migrated, spool replayed), answerer, rewriter."""
    with open_database(settings) as engine:
        log = InteractionLog(engine, spool=settings.data_dir / "unrecorded-interactions.jsonl")
        log.replay_spool()
        answers = settings.file.answers
        extractive = ExtractiveAnswerer(answers.extractive, kb.embed, answers.source_priority)
        heuristic = HeuristicRewriter()
        answerer: Answerer = extractive
        rewriter: QuestionRewriter = heuristic
        if settings.anthropic_api_key is not None:
            client = make_client(
                settings.anthropic_api_key.get_secret_value(), settings.anthropic_base_url, answers.claude
            )
            answerer = ClaudeAnswerer(client, answers.claude, answers.source_priority)
            rewriter = ClaudeRewriter(client, answers.claude, heuristic)
        logger.info("answering with %s; log at %s", answerer.name, safe_url(engine))
        yield SupportBot(kb, answerer, extractive, rewriter, log, answers, ConversationStore(engine))


class UsageError(ValueError):
    pass


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Unwinds like Ctrl-C does, so the embedded Weaviate is stopped on the way out.
    raise SystemExit(128 + signum)


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


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - one dispatch (issue 20 splits it)
    args = build_parser().parse_args(argv)
    configure_logging("text", args.verbose)
    if not args.verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        if args.command == "ingest":  # loads what it needs itself (adapters/ingest_cli.py)
            return int(args.handler(args))
        check_usage(args)
        if args.command == "teams-package":  # needs no settings file, only the app id
            return cmd_teams_package(args)
        if args.command == "export-finetune":
            check_export_usage(args)  # before the slow start
        if args.command == "digest":
            check_digest_usage(args)
        if args.command == "eval" and args.config is None:
            from bot.settings import EnvSettings

            if EnvSettings().config is None:  # eval scores what `make run` built, with its settings
                args.config = Path(__file__).resolve().parent / "config" / "sample.yaml"
        settings = load_settings(args.config, args.data_dir)
        if settings.log_format != "text":
            configure_logging(settings.log_format, args.verbose)
        if args.command == "digest":
            check_digest_settings(settings.file.digest, args)
        if args.command in {"export-finetune", "feedback"}:
            with open_database(settings) as engine:
                if args.command == "feedback":
                    return cmd_stats(engine, args)
                return cmd_export(engine, settings, args)
        if args.command == "eval":  # its usage errors are ConfigErrors: exit 2
            if args.eval_command == "build-golden":
                check_build_usage(args)
                with open_database(settings) as engine:
                    return cmd_build_golden(engine, settings, args)
            golden = check_eval_usage(args, settings)  # before the slow start
            with (
                open_knowledge(settings.knowledge, settings.file.access, settings.data_dir) as kb,
                open_bot(settings, kb) as bot,
            ):
                return cmd_eval(bot, kb, settings, golden, args)
        if args.command == "serve":
            from adapters.serve import check_serve_settings

            check_serve_settings(settings)  # before the slow start
        if args.command == "reindex":
            from knowledge.reindex import reindex

            copied = reindex(settings.knowledge, settings.data_dir)
            terminal.out.print(f"Re-indexed {copied} chunks.")
            return EXIT_OK
        with open_knowledge(settings.knowledge, settings.file.access, settings.data_dir) as kb:
            if args.command == "retrieve":
                return cmd_retrieve(kb, args)
            if args.command in {"ask", "chat", "serve", "digest", "notify-changes"}:
                with open_bot(settings, kb) as bot:
                    if args.command == "ask":
                        return cmd_ask(bot, args)
                    if args.command == "digest":
                        return cmd_digest(bot, kb, settings, args)
                    if args.command == "notify-changes":
                        return cmd_notify_changes(bot, kb, settings, args)
                    if args.command == "serve":
                        return cmd_serve(bot, kb, settings, args)
                    ChatConsole(bot, args.channel, args.user).run()
                    return EXIT_OK
            return cmd_docs(kb, args)
    except (ConfigError, UsageError, DocumentError, FeedbackUsageError, WeekError, DigestError) as error:
        terminal.error(str(error))
        return EXIT_USAGE
    except (WeaviateStartError, SchemaError, EmbeddingModelError, DatabaseError) as error:
        terminal.error(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:
        terminal.err.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
