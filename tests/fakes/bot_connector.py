"""A fake Bot Connector service (REST API v3): where the real botframework ConnectorClient sends replies.

Activities carry `serviceUrl=connector.service_url`; the bot's CloudAdapter then calls, with a
bearer token from its identity provider:
    POST   /v3/conversations/{conversationId}/activities               send_to_conversation
    POST   /v3/conversations/{conversationId}/activities/{activityId}  reply_to_activity
    PUT    /v3/conversations/{conversationId}/activities/{activityId}  update_activity
    DELETE /v3/conversations/{conversationId}/activities/{activityId}  delete_activity
and, for Teams lookups and proactive messages:
    GET    /v3/conversations/{conversationId}/members[/{memberId}]      get_conversation_member(s)
    GET    /v3/conversations/{conversationId}/pagedmembers             get_conversation_paged_members
    POST   /v3/conversations                                           create_conversation
The SDK percent-encodes path segments (msrest quotes with safe=""): "19:x@thread.tacv2;messageid=1"
arrives as "19%3Ax%40thread.tacv2%3Bmessageid%3D1"; calls are recorded decoded.

Every call (refused ones too) is a `ConnectorCall` in `connector.calls`; `wait_for(kind)` waits for
calls made in the background. `add_file` serves bytes at a pre-authenticated download URL (kind "download"),
as Teams' `downloadUrl`. Give `identity=` a FakeIdentity to check bearer tokens like the real
service (401 unless it issued them for https://api.botframework.com).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    from tests.fakes.ms_identity import FakeIdentity

JSON = dict[str, Any]
ACTIVITY_POSTS = frozenset({"send_to_conversation", "reply_to_activity"})
ACTIVITY_CALLS = ACTIVITY_POSTS | {"update_activity", "delete_activity"}


@dataclass(frozen=True)
class ConnectorCall:
    kind: str  # "reply_to_activity", "send_to_conversation", ..., "download", "unknown"
    method: str
    path: str  # as received, percent-encoded, without the query
    conversation_id: str | None  # URL-decoded
    activity_id: str | None  # URL-decoded; for members calls, the member id
    body: Any  # the parsed JSON body, or None
    authorization: str  # the Authorization header, "" when none
    token_valid: bool | None  # None when the fake has no identity to check tokens against
    status: int  # what the fake answered
    response: Any  # the JSON it answered ({"id": ...} for an accepted activity), or None


@dataclass
class _Scripted:
    pattern: str
    status: int
    headers: dict[str, str]
    body: JSON

    def matches(self, kind: str, path: str) -> bool:
        return self.pattern in (kind, "*") or (
            self.pattern not in ACTIVITY_CALLS and re.search(self.pattern, path) is not None
        )


@dataclass
class _File:
    name: str
    data: bytes
    content_type: str


class FakeConnector:
    """`with FakeConnector() as connector:` serves the Bot Connector API on `connector.service_url`."""

    def __init__(self, identity: FakeIdentity | None = None, *, enforce_auth: bool = True) -> None:
        self.identity = identity
        self.enforce_auth = enforce_auth
        self._cond = threading.Condition()
        self._calls: list[ConnectorCall] = []
        self._script: deque[_Scripted] = deque()
        self._files: dict[str, _File] = {}
        self._members: dict[str, JSON] = {}
        # Teams message ids are millisecond timestamps; inbound ids from teams_payloads are in 2023.
        self._ids = itertools.count(int(time.time() * 1000))
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="fake-bot-connector"
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def service_url(self) -> str:
        """What activities carry as `serviceUrl` (ends with "/", like Teams' service URLs)."""
        return f"{self.base_url}/"

    # Observation.
    @property
    def calls(self) -> list[ConnectorCall]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, kind: str) -> list[ConnectorCall]:
        return [c for c in self.calls if c.kind == kind]

    def sent(self) -> list[JSON]:
        """Bodies of the activities the bot posted and the fake accepted (typing included), in order."""
        return [c.body for c in self.calls if c.kind in ACTIVITY_POSTS and c.status < 300]

    def replies(self) -> list[JSON]:
        """`sent()` without typing indicators and other non-message activities: what a user sees."""
        return [a for a in self.sent() if a.get("type") == "message"]

    def wait_for(self, kind: str, count: int = 1, timeout: float = 60) -> list[ConnectorCall]:
        """All calls of `kind` once there are at least `count` (blocks this thread).

        `kind` may also be "sent" or "replies": accepted posts, as in `sent()` / `replies()`.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(found := self._matching(kind)) < count:
                if time.monotonic() >= deadline:
                    raise AssertionError(self._missing(kind, count, timeout))
                self._cond.wait(deadline - time.monotonic())
            return found

    async def wait_for_async(self, kind: str, count: int = 1, timeout: float = 60) -> list[ConnectorCall]:
        """`wait_for` for code running in the same event loop as the bot under test."""
        deadline = time.monotonic() + timeout
        while len(found := self._matching(kind)) < count:
            if time.monotonic() >= deadline:
                raise AssertionError(self._missing(kind, count, timeout))
            await asyncio.sleep(0.01)
        return found

    def _matching(self, kind: str) -> list[ConnectorCall]:
        with self._cond:
            calls = list(self._calls)
        if kind in ("sent", "replies"):
            posted = [c for c in calls if c.kind in ACTIVITY_POSTS and c.status < 300]
            return posted if kind == "sent" else [c for c in posted if c.body.get("type") == "message"]
        return [c for c in calls if c.kind == kind]

    def _missing(self, kind: str, count: int, timeout: float) -> str:
        seen = [
            f"  {c.kind} {c.status} {c.conversation_id} {json.dumps(c.body, default=str)[:200]}"
            for c in self.calls
        ]
        got = len(self._matching(kind))
        return "\n".join(
            [f"wanted {count} call(s) of {kind} within {timeout}s, got {got}; calls seen:", *seen]
        )

    # Scripting: consumed in order by the next matching calls (after the token check).
    def fail(
        self, kind_or_path_pattern: str, status: int = 500, times: int = 1, code: str = "ServiceError"
    ) -> None:
        """The next `times` calls of this kind (or whose decoded path matches this regex) get `status`.

        "*" matches every call. The body is the connector's ErrorResponse: {"error": {"code", "message"}}.
        """
        body = {"error": {"code": code, "message": f"Scripted failure ({status})."}}
        with self._cond:
            self._script.extend(_Scripted(kind_or_path_pattern, status, {}, body) for _ in range(times))

    def rate_limit(self, times: int = 1, retry_after: int = 1, kind: str = "*") -> None:
        """The next `times` calls (of `kind`, default any) get 429 Too Many Requests with Retry-After."""
        body = {"error": {"code": "TooManyRequests", "message": "Too many requests. Retry later."}}
        headers = {"Retry-After": str(retry_after)}
        with self._cond:
            self._script.extend(_Scripted(kind, 429, headers, body) for _ in range(times))

    def pending(self) -> int:
        """Scripted answers not consumed yet."""
        with self._cond:
            return len(self._script)

    # Data.
    def add_file(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Serves `data` to anyone at the returned URL (like Teams' pre-authenticated `downloadUrl`)."""
        file_id = uuid.uuid4().hex
        with self._cond:
            self._files[file_id] = _File(name, data, content_type)
        return f"{self.base_url}/download/{file_id}/{quote(name)}?tempauth=v1.{secrets.token_urlsafe(24)}"

    def remove_file(self, url: str) -> None:
        """The URL now answers 404 (an expired or revoked download link)."""
        file_id = urlsplit(url).path.split("/")[2]
        with self._cond:
            self._files.pop(file_id, None)

    def add_member(
        self,
        user_id: str,
        name: str,
        *,
        email: str | None = None,
        aad_id: str | None = None,
        tenant_id: str | None = None,
        **fields: Any,
    ) -> JSON:
        """`get_conversation_member(s)` (TeamsInfo.get_member...) answer this TeamsChannelAccount."""
        given, _, surname = name.partition(" ")
        member: JSON = {"id": user_id, "name": name, "aadObjectId": aad_id or str(uuid.uuid4())}
        member |= {"givenName": given, "surname": surname, "email": email, "userPrincipalName": email}
        member |= {"tenantId": tenant_id, "userRole": "user"} | fields
        with self._cond:
            self._members[user_id] = member
        return dict(member)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Serving: called from handler threads.
    def _next_id(self) -> str:
        with self._cond:
            return str(next(self._ids))

    def _serve(
        self, method: str, raw_path: str, body: Any, authorization: str
    ) -> tuple[int, Any, dict[str, str], bytes | None, str]:
        """(status, JSON answer, extra headers, raw bytes instead of JSON, content type)."""
        kind, conversation_id, activity_id = _route(method, raw_path)
        decoded = unquote(raw_path)
        if kind == "download":
            return self._download(raw_path, authorization)
        token_valid = None
        if self.identity is not None:
            token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else ""
            token_valid = bool(token) and self.identity.verify_access_token(token) is not None
        status, answer, headers = 200, None, {}
        if token_valid is False and self.enforce_auth:
            status, answer = 401, {"message": "Authorization has been denied for this request."}
        else:
            with self._cond:
                scripted = next((s for s in self._script if s.matches(kind, decoded)), None)
                if scripted:
                    self._script.remove(scripted)
            if scripted:
                status, answer, headers = scripted.status, scripted.body, scripted.headers
            else:
                status, answer = self._answer(kind, conversation_id, activity_id, body)
        call = ConnectorCall(
            kind,
            method,
            raw_path,
            conversation_id,
            activity_id,
            body,
            authorization,
            token_valid,
            status,
            answer,
        )
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()
        return status, answer, headers, None, "application/json; charset=utf-8"

    def _answer(
        self, kind: str, conversation_id: str | None, member_or_activity: str | None, body: Any
    ) -> tuple[int, Any]:
        activity_kinds = ACTIVITY_POSTS | {"update_activity"}
        if kind in activity_kinds and not (isinstance(body, dict) and body.get("type")):
            return 400, {"error": {"code": "BadArgument", "message": "Activity type is required."}}
        match kind:
            case "send_to_conversation" | "reply_to_activity":
                return 201, {"id": self._next_id()}
            case "update_activity":
                return 200, {"id": member_or_activity}
            case "delete_activity":
                return 200, None
            case "create_conversation":
                params = body if isinstance(body, dict) else {}
                channel = (params.get("channelData") or {}).get("channel") or {}
                activity_id = self._next_id() if params.get("activity") else None
                new_id = (
                    f"{channel['id']};messageid={activity_id}"
                    if channel.get("id") and activity_id
                    else f"a:{secrets.token_urlsafe(24)}"
                )
                return 201, {"id": new_id, "activityId": activity_id, "serviceUrl": self.service_url}
            case "get_conversation_members" | "get_conversation_paged_members":
                with self._cond:
                    members = [dict(m) for m in self._members.values()]
                return 200, members if kind == "get_conversation_members" else {"members": members}
            case "get_conversation_member":
                with self._cond:
                    member = self._members.get(member_or_activity or "")
                if member is None:
                    return 404, {
                        "error": {
                            "code": "MemberNotFoundInConversation",
                            "message": "The member was not found.",
                        }
                    }
                return 200, dict(member)
        return 404, {"error": {"code": "NotFound", "message": f"{kind}: not served by the fake"}}

    def _download(
        self, raw_path: str, authorization: str
    ) -> tuple[int, Any, dict[str, str], bytes | None, str]:
        parts = raw_path.split("/")  # "", "download", file id, name
        with self._cond:
            found = self._files.get(parts[2]) if len(parts) == 4 else None
            scripted = next((s for s in self._script if s.matches("download", unquote(raw_path))), None)
            if scripted:
                self._script.remove(scripted)
        if scripted:
            status, answer, headers, payload, ctype = (
                scripted.status,
                scripted.body,
                scripted.headers,
                None,
                "application/json",
            )
        elif found is None or unquote(parts[3]) != found.name:
            status, answer, headers, payload, ctype = (
                404,
                {"error": {"code": "itemNotFound"}},
                {},
                None,
                "application/json",
            )
        else:
            status, answer, ctype = 200, None, found.content_type
            headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.name)}"}
            payload = found.data
        call = ConnectorCall(
            "download",
            "GET",
            raw_path,
            None,
            parts[2] if len(parts) > 2 else None,
            None,
            authorization,
            None,
            status,
            answer,
        )
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()
        return status, answer, headers, payload, ctype


def _route(method: str, raw_path: str) -> tuple[str, str | None, str | None]:
    """(kind, conversation id, activity or member id), ids decoded, from the encoded path."""
    parts = raw_path.split("/")[1:]
    if method == "GET" and len(parts) == 3 and parts[0] == "download":
        return "download", None, None
    if parts[:2] != ["v3", "conversations"]:
        return "unknown", None, None
    rest = [unquote(p) for p in parts[2:]]
    match method, rest:
        case "POST", []:
            return "create_conversation", None, None
        case "POST", [cid, "activities"]:
            return "send_to_conversation", cid, None
        case "POST", [cid, "activities", aid]:
            return "reply_to_activity", cid, aid
        case "PUT", [cid, "activities", aid]:
            return "update_activity", cid, aid
        case "DELETE", [cid, "activities", aid]:
            return "delete_activity", cid, aid
        case "GET", [cid, "members"]:
            return "get_conversation_members", cid, None
        case "GET", [cid, "pagedmembers"]:
            return "get_conversation_paged_members", cid, None
        case "GET", [cid, "members", mid]:
            return "get_conversation_member", cid, mid
    return "unknown", rest[0] if rest else None, None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(fake: FakeConnector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            data = self.rfile.read(length) if length else b""
            try:
                body = json.loads(data) if data else None
            except ValueError:
                body = None
            raw_path = urlsplit(self.path).path
            status, answer, headers, payload, content_type = fake._serve(
                self.command, raw_path, body, self.headers.get("authorization") or ""
            )
            if payload is None:
                payload = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
