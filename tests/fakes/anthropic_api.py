"""A fake Anthropic Messages API: a real HTTP server for the real `anthropic` SDK.

Tests point `anthropic.Anthropic(base_url=fake.base_url)` at it, script replies in
order (`reply_text`, `reply_tool`, `fail`, `delay`, `raw`...), and read back what the
SDK actually sent from `fake.requests`. Only non-streaming `POST /v1/messages` is served.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    json: Any  # the parsed body, or None when it was not JSON


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a message (`content` set), an error, or raw bytes."""

    status: int = 200
    content: list[JSON] | None = None
    stop_reason: str | None = "end_turn"
    error: tuple[str, str] | None = None  # (error type, message)
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def text(cls, text: str, stop_reason: str = "end_turn") -> Reply:
        return cls(content=[{"type": "text", "text": text}], stop_reason=stop_reason)

    @classmethod
    def tool(cls, name: str, input: JSON, tool_id: str | None = None) -> Reply:
        block = {"type": "tool_use", "id": tool_id or _next_id("toolu"), "name": name, "input": input}
        return cls(content=[block], stop_reason="tool_use")

    @classmethod
    def failure(
        cls, status: int, error_type: str, message: str, headers: dict[str, str] | None = None
    ) -> Reply:
        return cls(status=status, error=(error_type, message), headers=dict(headers or {}))


Responder = Callable[[JSON], Reply]
_ids = itertools.count(1)


MIN_CACHEABLE_TOKENS = 1024  # the smallest cacheable prefix of Sonnet-class models


def _next_id(prefix: str) -> str:
    return f"{prefix}_fake{next(_ids):06d}"


def _tokens(value: object) -> int:
    # A stable, plausible count (about 4 characters a token): tests compare, not bill.
    return max(1, math.ceil(len(json.dumps(value, sort_keys=True)) / 4))


def request_problem(body: object, strict_roles: bool = True) -> str | None:
    """What the real API would reject in this request body with a 400, or None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            return f"{key}: Field required"
    model, max_tokens, messages, system = (body.get(k) for k in ("model", "max_tokens", "messages", "system"))
    if not isinstance(model, str) or not model:
        return "model: Input should be a non-empty string"
    if type(max_tokens) is not int or max_tokens < 0:
        return "max_tokens: Input should be a non-negative integer"
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if system is not None and not isinstance(system, str | list):
        return "system: Input should be a string or a list of text blocks"
    if body.get("stream"):
        return "stream: the fake serves non-streaming requests only"
    turns = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        # anthropic 2.x types also allow "system" turns in `messages`; they take no part in alternation.
        if role not in ("user", "assistant", "system"):
            return f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'"
        if not isinstance(message.get("content"), str | list):
            return f"messages.{i}.content: Field required"
        turns += [role] if role != "system" else []
    # The API now merges consecutive same-role turns; strict mode still rejects them
    # (and a leading assistant turn) because in our code they are always a bug.
    if strict_roles and (turns[:1] != ["user"] or any(a == b for a, b in itertools.pairwise(turns))):
        return "messages: roles must alternate between 'user' and 'assistant', starting with 'user'"
    return None


class FakeAnthropic:
    """`with FakeAnthropic() as fake:` serves the Messages API on `fake.base_url`."""

    def __init__(self, *, strict_roles: bool = True) -> None:
        self.strict_roles = strict_roles
        self.responder: Responder = lambda body: Reply.text("ok")
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._script: deque[Reply] = deque()
        self._cached_systems: set[str] = set()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        # A short poll interval: shutdown() waits up to one interval, at every test's teardown.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="fake-anthropic"
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    # Scripting: each call enqueues one reply, consumed by one request, in order.
    def enqueue(self, reply: Reply) -> None:
        with self._lock:
            self._script.append(reply)

    def reply_text(self, text: str, stop_reason: str = "end_turn") -> None:
        self.enqueue(Reply.text(text, stop_reason))

    def reply_tool(self, name: str, input: JSON, tool_id: str | None = None) -> None:
        self.enqueue(Reply.tool(name, input, tool_id))

    def reply_blocks(self, blocks: list[JSON], stop_reason: str = "end_turn") -> None:
        self.enqueue(Reply(content=list(blocks), stop_reason=stop_reason))

    def fail(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        self.enqueue(Reply.failure(status, error_type, message, headers))

    def delay(self, seconds: float, then: Reply | None = None) -> None:
        self.enqueue(replace(then or Reply.text("ok"), delay=seconds))

    def raw(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.enqueue(Reply(status=status, raw=body, content_type=content_type))

    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def close(self) -> None:
        self._closing.set()  # wakes handlers sleeping in `delay`: they hang up
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeAnthropic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Serving: called from handler threads.
    def _answer(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
        if request.method != "POST" or request.path.split("?")[0] != "/v1/messages":
            return Reply.failure(
                404, "not_found_error", f"{request.method} {request.path} is not served by the fake"
            )
        if "x-api-key" not in request.headers and "authorization" not in request.headers:
            return Reply.failure(401, "authentication_error", "x-api-key or authorization header is required")
        if "anthropic-version" not in request.headers:
            return Reply.failure(400, "invalid_request_error", "anthropic-version: header is required")
        problem = request_problem(request.json, self.strict_roles)
        if problem:
            return Reply.failure(400, "invalid_request_error", problem)
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        return scripted or self.responder(request.json)

    def _usage(self, body: JSON, content: list[JSON]) -> JSON:
        system = body.get("system")
        system_tokens = _tokens(system) if system else 0
        # Like the real API, a breakpoint on a prefix (tools + system) shorter than the
        # minimum is silently ignored: nothing is written to or read from the cache.
        prefix_tokens = system_tokens + (_tokens(body["tools"]) if body.get("tools") else 0)
        cached = (
            isinstance(system, list)
            and any(isinstance(b, dict) and "cache_control" in b for b in system)
            and prefix_tokens >= MIN_CACHEABLE_TOKENS
        )
        created = read = 0
        if cached:
            key = json.dumps(system, sort_keys=True)
            with self._lock:
                seen = key in self._cached_systems
                self._cached_systems.add(key)
            read, created = (system_tokens, 0) if seen else (0, system_tokens)
        return {
            # As in the real API, input_tokens excludes what was written to or read from the cache.
            "input_tokens": _tokens(body["messages"]) + (0 if cached else system_tokens),
            "output_tokens": _tokens(content),
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": created, "ephemeral_1h_input_tokens": 0},
            "service_tier": "standard",
        }

    def _render(self, reply: Reply, body: object, request_id: str) -> bytes:
        if reply.raw is not None:
            return reply.raw
        if reply.error is not None:
            error = {"type": reply.error[0], "message": reply.error[1]}
            return json.dumps({"type": "error", "error": error, "request_id": request_id}).encode()
        assert isinstance(body, dict)
        content = reply.content or []
        message = {
            "id": _next_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": self._usage(body, content),
        }
        return json.dumps(message).encode()


class _Server(ThreadingHTTPServer):
    # Daemon handler threads: one still sleeping in `delay` never blocks shutdown.
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out has hung up before the delayed answer: expected, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Headers and body go out as two writes: without this, Nagle holds the body ~40 ms.
        disable_nagle_algorithm = True

        protocol_version = "HTTP/1.1"  # keep-alive, like the real API

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            data = self.rfile.read(length) if length else b""
            try:
                body = json.loads(data) if data else None
            except ValueError:
                body = None
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = RecordedRequest(self.command, self.path, headers, body)
            reply = fake._answer(request)
            if reply.delay and fake._closing.wait(reply.delay):
                self.close_connection = True
                return  # shutting down: drop the connection, answer nothing
            request_id = _next_id("req")
            payload = fake._render(reply, body, request_id)
            self.send_response(reply.status)
            self.send_header("content-type", reply.content_type)
            self.send_header("content-length", str(len(payload)))
            self.send_header("request-id", request_id)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output clean

    return Handler


# -- a RAGAS judge ---------------------------------------------------------------------------

_WORDS = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
RAGAS_TOOLS = ("StatementGeneratorOutput", "NLIStatementOutput", "AnswerRelevanceOutput")


def ragas_input(body: JSON) -> JSON:
    """The input of a RAGAS prompt: the JSON after the last `input:` of its last user message
    (RAGAS renders instructions, examples, then `input: {...}` and `Output: `)."""
    content = body["messages"][-1]["content"]
    text = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
    data = text.rsplit("\ninput: ", 1)[1].strip()
    parsed: JSON = json.JSONDecoder().raw_decode(data)[0]
    return parsed


def words_in_context(statement: str, context: str) -> bool:
    """Supported when every word of the statement occurs in the context."""
    return set(_WORDS.findall(statement.lower())) <= set(_WORDS.findall(context.lower()))


@dataclass
class RagasJudge:
    """A responder (`fake.responder = RagasJudge(...)`) playing the judge for RAGAS's faithfulness
    and answer-relevancy prompts, as instructor asks for them: a forced tool call named after
    the output model, answered with a `tool_use` block whose input validates against it.

    - StatementGeneratorOutput: each sentence of the answer is one statement;
    - NLIStatementOutput: verdict 1 where `supported(statement, context)`;
    - AnswerRelevanceOutput: the question `question_for(answer)`, noncommittal per `noncommittal`.
    Other requests go to `fallback` (e.g. the bot's own `submit_answer` calls).
    """

    supported: Callable[[str, str], bool] = words_in_context
    question_for: Callable[[str], str] = lambda answer: f"What does this say: {answer}?"
    noncommittal: Callable[[str], bool] = lambda answer: False
    fallback: Responder = lambda body: Reply.text("ok")

    def __call__(self, body: JSON) -> Reply:
        tool = (body.get("tool_choice") or {}).get("name")
        if tool not in RAGAS_TOOLS:
            return self.fallback(body)
        data = ragas_input(body)
        if tool == "StatementGeneratorOutput":
            sentences = [s.strip() for s in _SENTENCE_END.split(data["answer"]) if s.strip()]
            return Reply.tool(tool, {"statements": sentences})
        if tool == "NLIStatementOutput":
            verdicts = [
                {
                    "statement": s,
                    "reason": "found in the context" if ok else "not in the context",
                    "verdict": int(ok),
                }
                for s in data["statements"]
                for ok in [self.supported(s, data["context"])]
            ]
            return Reply.tool(tool, {"statements": verdicts})
        response = data["response"]
        return Reply.tool(
            tool, {"question": self.question_for(response), "noncommittal": int(self.noncommittal(response))}
        )
