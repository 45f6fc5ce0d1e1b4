"""A fake Slack Web API: a real HTTP server for the real `slack_sdk` clients.

`AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)` talks to it (the SDK builds URLs
with `urljoin`; its clients add a missing trailing "/" themselves). Every call is recorded as an `ApiCall`
in `fake.calls`, including refused ones; `wait_for` waits for calls made in the background.
Files registered with `add_file` are served at their `url_private(_download)` to the bot token.
Uploads (`files_upload_v2`: files.getUploadURLExternal, a POST of the bytes to the URL it
returns, files.completeUploadExternal) are kept in `fake.uploads` once completed.
Payload builders and `signed_headers` (requests INTO the app) live in `slack_payloads`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

# Re-exported, so one import serves a test: signed_headers and the payload builders.
from tests.fakes.slack_payloads import *  # noqa: F403
from tests.fakes.slack_payloads import channel_object, file_object, user_object

JSON = dict[str, Any]
Answer = tuple[int, JSON, dict[str, str]]  # status, body, extra headers
# Form-encoded arguments that Slack takes as JSON strings; recorded parsed.
JSON_FIELDS = frozenset(
    {"blocks", "attachments", "metadata", "view", "user_auth_blocks", "unfurls", "chunks", "files"}
)
LOGIN_PAGE = b"<html>login</html>"


@dataclass(frozen=True)
class Upload:
    """A file shared by files.completeUploadExternal."""

    file_id: str
    filename: str
    title: str
    content: bytes
    channel: str
    initial_comment: str
    thread_ts: str


@dataclass(frozen=True)
class ApiCall:
    method: str  # "chat.postMessage"; "files-pri" for downloads; "response_url" for respond()
    params: dict[str, Any]  # query string + form or JSON body, JSON_FIELDS decoded
    token: str  # from "Authorization: Bearer", else the `token` argument; "" when none


class FakeSlack:
    """`with FakeSlack() as fake:` serves the Web API on `fake.api_url`."""

    def __init__(
        self,
        bot_token: str = "xoxb-test",
        bot_user_id: str = "UBOT",
        team_id: str = "T0TEST",
        bot_id: str = "BBOT",
        app_token: str = "xapp-test",
    ) -> None:
        self.bot_token, self.bot_user_id, self.team_id, self.bot_id = bot_token, bot_user_id, team_id, bot_id
        self.app_token = app_token
        self.socket_url = ""  # set to a FakeSocketMode's URL for apps.connections.open
        self._cond = threading.Condition()
        self._calls: list[ApiCall] = []
        self._script: dict[str, deque[Answer]] = defaultdict(deque)
        self._files: dict[str, tuple[JSON, bytes]] = {}
        self._users: dict[str, JSON] = {}
        self._channels: dict[str, JSON] = {}
        self._reactions: set[tuple[str, str, str]] = set()
        self._posted: list[tuple[str, str, str]] = []  # channel, thread_ts, ts of chat.postMessage
        self._pending_uploads: dict[str, JSON] = {}  # file id -> filename, length, bytes once POSTed
        self._uploads: list[Upload] = []
        self._ts = itertools.count(1)
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="fake-slack"
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def response_url(self) -> str:
        """Pass as `response_url=` to the payload builders: `respond()` lands here as "response_url"."""
        return f"{self.base_url}/response-url/{self.team_id}/1/fake"

    @property
    def calls(self) -> list[ApiCall]:
        with self._cond:
            return list(self._calls)

    @property
    def uploads(self) -> list[Upload]:
        with self._cond:
            return list(self._uploads)

    def posted_ts(self, channel: str, thread_ts: str) -> list[str]:
        """The ts of the messages posted in a thread (a reaction names the message by it)."""
        with self._cond:
            return [ts for c, thread, ts in self._posted if (c, thread) == (channel, thread_ts)]

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 60) -> list[ApiCall]:
        """All calls to `method` once there are at least `count` (blocks this thread)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(found := [c for c in self._calls if c.method == method]) < count:
                if time.monotonic() >= deadline:
                    raise AssertionError(self._missing(method, count, timeout))
                self._cond.wait(deadline - time.monotonic())
            return found

    async def wait_for_async(self, method: str, count: int = 1, timeout: float = 60) -> list[ApiCall]:
        """`wait_for` for code running in the same event loop as the app under test."""
        deadline = time.monotonic() + timeout
        while len(found := self.calls_to(method)) < count:
            if time.monotonic() >= deadline:
                raise AssertionError(self._missing(method, count, timeout))
            await asyncio.sleep(0.01)
        return found

    def _missing(self, method: str, count: int, timeout: float) -> str:
        seen = [f"  {c.method} {json.dumps(c.params, default=str)[:300]}" for c in self.calls]
        got = sum(c.method == method for c in self.calls)
        return "\n".join(
            [f"wanted {count} call(s) to {method} within {timeout}s, got {got}; calls seen:", *seen]
        )

    # Scripting: per method, consumed in order by the next calls that pass the token check.
    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        with self._cond:
            for _ in range(times):
                answer = {"ok": False, "error": "ratelimited"}
                self._script[method].append((429, answer, {"Retry-After": str(retry_after)}))

    def fail(self, method: str, error: str = "channel_not_found", times: int = 1) -> None:
        with self._cond:
            self._script[method].extend([(200, {"ok": False, "error": error}, {})] * times)

    # Workspace data.
    def add_file(
        self,
        file_id: str,
        name: str,
        filetype: str,
        content: bytes,
        mimetype: str,
        size: int | None = None,
        user: str = "U0HR1",
    ) -> JSON:
        """Registers a file for `files.info` and download; returns its file object (for message `files`)."""
        size = len(content) if size is None else size
        info = file_object(file_id, name, filetype, mimetype, size, user, self.team_id, self.base_url)
        with self._cond:
            self._files[file_id] = (info, content)
        return dict(info)

    def add_user(self, user_id: str, name: str, *, email: str | None = None, **fields: Any) -> None:
        """`users.info` answers this user; unknown ids get a plausible made-up user."""
        with self._cond:
            self._users[user_id] = user_object(user_id, self.team_id, name, email) | fields

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False, **fields: Any) -> None:
        """`conversations.info` answers this channel; unknown ids are made up (D… an IM, G… private)."""
        with self._cond:
            self._channels[channel_id] = channel_object(channel_id, self.team_id, name, is_private) | fields

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Serving: called from handler threads.
    def _record(self, call: ApiCall) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1700000100 + n // 10000}.{n % 10000 * 100:06d}"

    def _api(self, call: ApiCall) -> Answer:
        self._record(call)
        if not call.token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if call.method == "apps.connections.open":  # Socket Mode: the app-level token opens it
            if call.token != self.app_token or not self.socket_url:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            return 200, {"ok": True, "url": self.socket_url}, {}
        if call.token != self.bot_token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        with self._cond:
            scripted = self._script[call.method]
            if scripted:
                return scripted.popleft()
        p = call.params
        answer: JSON = {"ok": True}
        match call.method:
            case "auth.test":
                answer |= {"url": f"https://fake-{self.team_id.lower()}.slack.com/", "team": "Fake Team"}
                answer |= {"user": "supportbot", "team_id": self.team_id, "user_id": self.bot_user_id}
                answer |= {"bot_id": self.bot_id, "is_enterprise_install": False}
            case "chat.postMessage" | "chat.update" | "chat.postEphemeral" | "chat.delete" if not p.get(
                "channel"
            ):
                answer = {"ok": False, "error": "channel_not_found"}
            case "chat.update" | "chat.delete" if not p.get("ts"):
                answer = {"ok": False, "error": "message_not_found"}
            case "chat.postMessage" | "chat.update" if not any(
                p.get(k) for k in ("text", "blocks", "attachments")
            ):
                answer = {"ok": False, "error": "no_text"}
            case "chat.postMessage" | "chat.update":
                ts = self._next_ts() if call.method == "chat.postMessage" else str(p.get("ts"))
                message = {"type": "message", "text": p.get("text", ""), "user": self.bot_user_id}
                message |= {"bot_id": self.bot_id, "app_id": "A0TEST", "team": self.team_id, "ts": ts}
                message |= {k: p[k] for k in ("thread_ts", "blocks", "attachments", "metadata") if k in p}
                answer |= {"channel": p["channel"], "ts": ts, "message": message}
                if call.method == "chat.postMessage":
                    with self._cond:
                        self._posted.append((p["channel"], str(p.get("thread_ts", "")), ts))
                answer |= {"text": message["text"]} if call.method == "chat.update" else {}
            case "chat.postEphemeral":
                answer["message_ts"] = self._next_ts()
            case "chat.delete":
                answer |= {"channel": p["channel"], "ts": p.get("ts")}
            case "reactions.add" | "reactions.remove":
                key, adding = (
                    (str(p.get("channel")), str(p.get("timestamp")), str(p.get("name"))),
                    call.method.endswith("add"),
                )
                with self._cond:
                    if not p.get("name"):
                        answer = {"ok": False, "error": "invalid_name"}
                    elif adding == (key in self._reactions):
                        answer = {"ok": False, "error": "already_reacted" if adding else "no_reaction"}
                    elif adding:
                        self._reactions.add(key)
                    else:
                        self._reactions.discard(key)
            case "conversations.info":
                with self._cond:
                    known = self._channels.get(cid := str(p.get("channel")))
                answer["channel"] = known or channel_object(cid, self.team_id)
            case "users.info":
                with self._cond:
                    known = self._users.get(uid := str(p.get("user")))
                answer["user"] = known or user_object(uid, self.team_id, is_bot=uid == self.bot_user_id)
            case "chat.getPermalink":
                channel, ts = str(p.get("channel", "")), str(p.get("message_ts", ""))
                base = f"https://fake-{self.team_id.lower()}.slack.com"
                answer |= {
                    "channel": channel,
                    "permalink": f"{base}/archives/{channel}/p{ts.replace('.', '')}",
                }
            case "files.getUploadURLExternal":
                if not p.get("filename") or not str(p.get("length", "")).isdigit():
                    return 200, {"ok": False, "error": "invalid_arguments"}, {}
                file_id = f"F{next(self._ts):08d}"
                with self._cond:
                    self._pending_uploads[file_id] = {"filename": p["filename"], "length": int(p["length"])}
                answer |= {"upload_url": f"{self.base_url}/upload/v1/{file_id}", "file_id": file_id}
            case "files.completeUploadExternal":
                return self._complete_uploads(p)
            case "files.info":
                with self._cond:
                    found = self._files.get(str(p.get("file")))
                if found is None:
                    return 200, {"ok": False, "error": "file_not_found"}, {}
                answer |= {"file": dict(found[0]), "comments": [], "response_metadata": {"next_cursor": ""}}
        return 200, answer, {}

    def _upload(self, path: str, body: bytes) -> tuple[int, bytes, str]:
        self._record(ApiCall("upload", {"path": path, "bytes": len(body)}, ""))
        with self._cond:
            pending = self._pending_uploads.get(path.rsplit("/", 1)[-1])
            if pending is None:
                return 404, b"not found", "text/plain"
            if len(body) != pending["length"]:  # Slack checks the length announced in step one
                return 400, b"length mismatch", "text/plain"
            pending["content"] = body
        return 200, f"OK - {len(body)}".encode(), "text/plain"

    def _complete_uploads(self, p: JSON) -> Answer:
        files = p.get("files")
        if not isinstance(files, list) or not files:
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        with self._cond:
            if any("content" not in self._pending_uploads.get(str(f.get("id")), {}) for f in files):
                return 200, {"ok": False, "error": "file_not_found"}, {}
            for f in files:
                pending = self._pending_uploads.pop(str(f["id"]))
                self._uploads.append(
                    Upload(
                        str(f["id"]),
                        pending["filename"],
                        str(f.get("title") or pending["filename"]),
                        pending["content"],
                        str(p.get("channel_id") or p.get("channels") or ""),
                        str(p.get("initial_comment") or ""),
                        str(p.get("thread_ts") or ""),
                    )
                )
        shared = [{"id": f["id"], "title": f.get("title", "")} for f in files]
        return 200, {"ok": True, "files": shared}, {}

    def _download(self, path: str, token: str) -> tuple[int, bytes, str]:
        self._record(ApiCall("files-pri", {"path": path}, token))
        if token != self.bot_token:
            return 200, LOGIN_PAGE, "text/html; charset=utf-8"  # what Slack does for a bad token
        parts = path.split("/")  # "", "files-pri", "T0TEST-F1", ["download"], name
        with self._cond:
            found = self._files.get(parts[2].removeprefix(f"{self.team_id}-")) if len(parts) > 3 else None
        if found is None or unquote(parts[-1]) != found[0]["name"]:
            return 404, b"<html>File not found</html>", "text/html; charset=utf-8"
        return 200, found[1], str(found[0]["mimetype"])


def _params(query: str, content_type: str, body: bytes) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if body and content_type.startswith("application/json"):
        params.update(json.loads(body))
    elif body and content_type.startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(body.decode(), keep_blank_values=True))
    for key in JSON_FIELDS & params.keys():
        if isinstance(params[key], str) and params[key][:1] in ("[", "{"):
            params[key] = json.loads(params[key])
    return params


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # headers and body are two writes: Nagle would hold the body
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            params = _params(url.query, (self.headers.get("content-type") or "").lower(), body)
            auth = self.headers.get("authorization") or ""
            token = (
                auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else str(params.pop("token", ""))
            )
            headers: dict[str, str] = {}
            if url.path.startswith("/api/"):
                status, answer, headers = fake._api(ApiCall(url.path.removeprefix("/api/"), params, token))
                payload, content_type = json.dumps(answer).encode(), "application/json; charset=utf-8"
            elif url.path.startswith("/files-pri/") and self.command == "GET":
                status, payload, content_type = fake._download(url.path, token if auth else "")
            elif url.path.startswith("/upload/v1/") and self.command == "POST":
                status, payload, content_type = fake._upload(url.path, body)
            elif url.path.startswith("/response-url/"):
                fake._record(ApiCall("response_url", params, ""))
                status, payload, content_type = 200, b'{"ok":true}', "application/json"
            else:
                status, payload, content_type = 404, b"<html>Not found</html>", "text/html"
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
