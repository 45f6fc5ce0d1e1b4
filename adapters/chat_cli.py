"""Asking the bot at the command line: `ask` (one question or a JSONL batch) and `chat`
(a local console standing in for a channel)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from adapters import terminal
from adapters.cli_wiring import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    load_command_settings,
    open_knowledge_and_bot,
    question_batch,
)

if TYPE_CHECKING:
    from bot.types import Answer


def add_commands(commands: argparse._SubParsersAction) -> None:
    ask = commands.add_parser("ask", help="answer a question as the bot would in a channel")
    ask.add_argument("question", nargs="?")
    ask.add_argument("--channel", required=True, help="the asking channel id (decides access)")
    ask.add_argument("--user", default="cli", help="asker's user id, recorded with the answer")
    ask.add_argument("--questions", type=Path, help='JSONL of {"id", "question"}; needs --json')
    ask.add_argument("--json", action="store_true")
    ask.set_defaults(handler=run_ask)

    chat = commands.add_parser("chat", help="a local chat console standing in for a channel")
    chat.add_argument("--channel", required=True, help="the channel the console stands in for")
    chat.add_argument("--user", default="console", help="your user id, recorded with answers and votes")
    chat.set_defaults(handler=run_chat)


def run_ask(args: argparse.Namespace) -> int:
    from bot.types import AnswerKind, Platform, Question

    batch = question_batch(args)  # before the slow start
    if batch is None and not args.question:
        raise UsageError(
            "give a question, or --questions FILE.jsonl --json; `chat` is the interactive console"
        )
    settings = load_command_settings(args)
    with open_knowledge_and_bot(settings) as (_, bot):

        def run(question: str) -> Answer:
            return bot.answer(Question(question, Platform.CLI, args.channel, args.user))

        if batch is not None:
            for qid, question in batch:
                terminal.print_json_line(terminal.answer_json(run(question), qid))
            return EXIT_OK
        answer = run(args.question)
        if args.json:
            terminal.print_json_line(terminal.answer_json(answer))
        else:
            terminal.show_answer(answer)
        return EXIT_FAILED if answer.kind is AnswerKind.FAILED else EXIT_OK


def run_chat(args: argparse.Namespace) -> int:
    from adapters.console import ChatConsole

    settings = load_command_settings(args)
    with open_knowledge_and_bot(settings) as (_, bot):
        ChatConsole(bot, args.channel, args.user).run()
    return EXIT_OK
