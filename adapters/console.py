"""The local chat console: a terminal stands in for a chat channel.

Each console session is one thread: earlier turns go with every question so follow-ups
work, `+1` / `-1` rate the last answer (recorded like a reaction), `/new` starts a new
thread. This is what `make run` opens when no Slack or Teams token is set.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from rich.markup import escape

from adapters import terminal
from bot.core import SupportBot
from bot.types import Answer, AnswerKind, Platform, Question, Turn, VoteSource, VoteStatus, VoteValue

HELP = (
    "Ask a question. After an answer: +1 or -1 (optionally followed by a comment) rates it, "
    "/new starts a new thread, /quit (or Ctrl-D) leaves."
)
_VOTE_REPLIES = {
    VoteStatus.RECORDED: "Thanks, your vote is recorded.",
    VoteStatus.CHANGED: "Thanks, your vote is changed.",
    VoteStatus.UNCHANGED: "You already voted that way.",
    VoteStatus.NOT_FOUND: "That answer was not recorded, so it cannot be rated.",
    VoteStatus.FAILED: "Sorry, your vote could not be saved just now; please try again.",
    VoteStatus.JOURNALLED: "Thanks; the database is busy, so your vote is kept and counted shortly.",
}


class ChatConsole:
    def __init__(self, bot: SupportBot, channel: str, user: str, read: Callable[[str], str] = input) -> None:
        self.bot = bot
        self.channel = channel
        self.user = user
        self._read = read
        self._new_thread()

    def _new_thread(self) -> None:
        self.thread_id = f"console-{uuid.uuid4().hex[:12]}"
        self.history: list[Turn] = []
        self.last: Answer | None = None

    def run(self) -> None:
        groups = ", ".join(sorted(self.bot.kb.scope_for(self.channel).groups)) or "none"
        terminal.out.print(
            f"Chatting in channel [bold]{escape(self.channel)}[/] as {escape(self.user)} "
            f"(sees: {escape(groups)})."
        )
        terminal.out.print(f"[dim]{HELP}[/]")
        while True:
            try:
                line = self._read("you> ").strip()
            except EOFError:
                terminal.out.print()
                return
            if not line:
                continue
            if line in {"/quit", "/exit", "quit", "exit"}:
                return
            if line == "/help":
                terminal.out.print(HELP)
            elif line == "/new":
                self._new_thread()
                terminal.out.print("[dim]New thread.[/]")
            elif line.split(maxsplit=1)[0] in {"+1", "-1"}:
                self._vote(line)
            else:
                self._ask(line)

    def _ask(self, text: str) -> None:
        question = Question(
            text, Platform.CONSOLE, self.channel, self.user, self.thread_id, tuple(self.history)
        )
        with terminal.out.status("searching the documents…"):
            answer = self.bot.answer(question)
        terminal.out.print("[bold]bot>[/]")
        terminal.show_answer(answer)
        if answer.kind is not AnswerKind.FAILED:  # an error message is no context for a follow-up
            self.history.append(Turn(text, answer.text))
        self.last = answer

    def _vote(self, line: str) -> None:
        sign, *rest = line.split(maxsplit=1)
        comment = rest[0] if rest else ""
        if self.last is None:
            terminal.out.print("Nothing to rate yet: ask a question first.")
            return
        if self.last.interaction_id is None:
            terminal.out.print("That reply was not an answer, so there is nothing to rate.")
            return
        value = VoteValue.UP if sign == "+1" else VoteValue.DOWN
        outcome = self.bot.vote(self.last.interaction_id, self.user, value, VoteSource.CONSOLE, comment)
        terminal.out.print(_VOTE_REPLIES.get(outcome.status, outcome.status.value))
