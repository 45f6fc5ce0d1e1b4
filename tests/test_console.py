"""`python app.py chat`: the console driven through a pseudo-terminal, as a person types in it.

Rich renders for a real terminal here (colours, the "searching" spinner); the checks read
the text with the escape sequences removed, then read what was recorded in the database.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pexpect
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, selectinload

from bot.store.models import Interaction, Vote
from tests.conftest import REPO

pytestmark = pytest.mark.weaviate

PROMPT = "you> "
FIRST = "How many days per week can I work remotely?"
FOLLOW_UP = "what about from abroad?"
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\r")


def plain(text: str) -> str:
    return _ESCAPES.sub("", text)


@contextmanager
def console(environ: dict[str, str], *args: str) -> Iterator[pexpect.spawn]:
    child = pexpect.spawn(
        sys.executable,
        ["app.py", "--config", environ["CFG"], "chat", "--channel", "C0CONSOLE", *args],
        cwd=REPO,
        env={**environ, "TERM": "xterm-256color"},
        encoding="utf-8",
        timeout=120,  # starting loads the embedding model
        dimensions=(40, 200),
    )
    try:
        yield child
    finally:
        child.close(force=True)


def say(child: pexpect.spawn, line: str) -> str:
    """Type a line, wait for the next prompt; what the console printed in between."""
    child.sendline(line)
    child.expect_exact(PROMPT)
    return plain(child.before)


def test_question_follow_up_and_votes_are_recorded(samples_env: dict[str, str]) -> None:
    with console(samples_env, "--user", "U1") as child:
        child.expect_exact(PROMPT)
        greeting = plain(child.before)
        assert "Chatting in channel C0CONSOLE as U1" in greeting
        assert "security" in greeting and "hr-team" in greeting

        first = say(child, FIRST)
        assert "All employees may work remotely up to three days per week" in first
        assert re.search(r"\[1\] Remote Work Policy.* \(v2, .*remote-work-v2\.md\)", first), first
        assert "Extracted word for word from the cited documents." in first

        follow_up = say(child, FOLLOW_UP)
        assert "20 working days per calendar year" in follow_up, "the follow-up used the thread"
        assert "Working from abroad" in follow_up

        assert "Thanks, your vote is recorded." in say(child, "+1")
        assert "Thanks, your vote is changed." in say(child, "-1 too vague")

        child.sendline("/quit")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, plain(child.before)

    engine = create_engine(f"sqlite:///{Path(samples_env['SUPPORTBOT_DATA_DIR']) / 'supportbot.db'}")
    try:
        with Session(engine) as session:
            query = (
                select(Interaction)
                .options(selectinload(Interaction.passages), selectinload(Interaction.votes))
                .order_by(Interaction.created_at)
            )
            asked, followed = session.scalars(query).all()

            assert [i.question for i in (asked, followed)] == [FIRST, FOLLOW_UP]
            for interaction in (asked, followed):
                assert (interaction.platform, interaction.channel, interaction.user_id) == (
                    "console",
                    "C0CONSOLE",
                    "U1",
                )
            assert asked.thread_id.startswith("console-")
            assert followed.thread_id == asked.thread_id
            assert asked.rewritten_question == ""
            assert FIRST in followed.rewritten_question

            cited = [p for p in followed.passages if p.cited]
            assert cited, "the cited passage is stored with the answer"
            abroad = next(p for p in cited if "20 working days" in p.text)
            assert (abroad.doc_id, abroad.version) == ("remote-work", "2")
            assert (
                abroad.citation_marker is not None and f"[{abroad.citation_marker}]" in followed.answer_text
            )
            assert all(p.citation_marker is None for p in followed.passages if not p.cited)

            assert asked.votes == []
            up, down = followed.votes
            assert (up.value, up.user_id, up.source) == ("up", "U1", "console")
            assert up.retracted_at is not None, "the changed vote stays as history"
            assert (down.value, down.user_id, down.source, down.comment) == (
                "down",
                "U1",
                "console",
                "too vague",
            )
            assert down.retracted_at is None
            assert session.scalars(select(Vote).where(Vote.retracted_at.is_(None))).all() == [down]
    finally:
        engine.dispose()


def test_vote_before_asking_and_ctrl_d(samples_env: dict[str, str]) -> None:
    with console(samples_env) as child:
        child.expect_exact(PROMPT)
        assert "Chatting in channel C0CONSOLE as console" in plain(child.before)
        assert "Nothing to rate yet: ask a question first." in say(child, "+1")
        assert "Nothing to rate yet" in say(child, "-1 no answer to rate")
        assert "New thread." in say(child, "/new")
        child.sendeof()
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, plain(child.before)
        assert "Traceback" not in plain(child.before)
