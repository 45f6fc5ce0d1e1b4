"""Askers' names from `users.info`, cached: logged with each question so the fine-tuning
export can scrub them (Slack events carry only the user id).

A lookup that fails (a missing `users:read` scope, a rate limit, a deleted user) gives no
names and never delays the answer by more than the one call: the names are a safeguard
for later, not part of answering.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger(__name__)


class SlackPeople:
    def __init__(self, ttl_s: float = 3600.0, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._cache: OrderedDict[str, tuple[float, tuple[str, ...]]] = OrderedDict()

    async def names(self, client: AsyncWebClient, user: str) -> tuple[str, ...]:
        if not user:
            return ()
        cached = self._cache.get(user)
        if cached is not None and cached[0] > time.monotonic():
            self._cache.move_to_end(user)
            return cached[1]
        try:
            response = await client.users_info(user=user)
            found = names_of(response.get("user") or {})
        except SlackApiError as error:
            logger.info("users.info for %s failed: %s", user, error.response.get("error"))
            found = ()
        self._cache[user] = (time.monotonic() + self.ttl_s, found)
        self._cache.move_to_end(user)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return found


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
