"""Askers' names from `users.info`, cached: logged with each question so the fine-tuning
export can scrub them (Slack events carry only the user id).

A lookup that fails (a missing `users:read` scope, a rate limit, a deleted user, Slack
down or answering garbage) gives no names and never delays the answer by more than
`timeout_s`: the names are a safeguard for later, not part of answering. Failures are
remembered for `failure_ttl_s` only, so a down API is asked again soon, but not on every
question (each would wait out the timeout).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger(__name__)


class SlackPeople:
    def __init__(
        self,
        ttl_s: float = 3600.0,
        max_entries: int = 10_000,
        failure_ttl_s: float = 300.0,
        timeout_s: float = 2.0,
    ) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self.failure_ttl_s, self.timeout_s = failure_ttl_s, timeout_s
        self._cache: OrderedDict[str, tuple[float, tuple[str, ...]]] = OrderedDict()

    async def names(self, client: AsyncWebClient, user: str) -> tuple[str, ...]:
        if not user:
            return ()
        cached = self._cache.get(user)
        if cached is not None and cached[0] > time.monotonic():
            self._cache.move_to_end(user)
            return cached[1]
        try:
            # The client's own timeout (30 s by default) and its retry handlers (a 429 is
            # waited out and retried) are for calls that must succeed; this one may give up.
            response = await asyncio.wait_for(client.users_info(user=user), self.timeout_s)
            found, ttl = names_of(response.get("user") or {}), self.ttl_s
        except Exception as error:  # network, timeout, bad JSON too: never into the answer path
            level, reason = _reason(error)
            logger.log(level, "users.info for %s failed: %s", user, reason)
            found, ttl = (), self.failure_ttl_s
        self._cache[user] = (time.monotonic() + ttl, found)
        self._cache.move_to_end(user)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return found


def _reason(error: Exception) -> tuple[int, str]:
    """The log level and words for a failed lookup. Slack's refusals (missing_scope,
    user_not_found) are expected, so INFO; anything else is a WARNING. Never the
    exception's message: transport errors can quote URLs and headers."""
    if not isinstance(error, SlackApiError):
        return logging.WARNING, type(error).__name__
    # `response` is a SlackResponse, or aiohttp's raw response when the body was no JSON.
    response = error.response
    try:
        code = response.get("error")
    except Exception:  # no `get`, or one that raises on a body of bytes
        code = None
    if isinstance(code, str) and code:
        return logging.INFO, code
    status = getattr(response, "status_code", None) or getattr(response, "status", "?")
    return logging.WARNING, f"HTTP {status} without a Slack error code"


def names_of(user: dict[str, Any]) -> tuple[str, ...]:
    """Real, display and handle names, distinct, in that order; none for bots."""
    if user.get("is_bot"):
        return ()
    profile = user.get("profile") or {}
    candidates = (
        user.get("real_name"),
        profile.get("real_name"),
        profile.get("display_name"),
        user.get("name"),
    )
    seen: dict[str, None] = {}
    for name in candidates:
        if isinstance(name, str) and name.strip():
            seen.setdefault(name.strip(), None)
    return tuple(seen)
