"""Fetching files posted to the ingest channel: `files.info`, then an authenticated download.

Only hosts on the allow-list get the bot token, and only files under the size limit are
fetched: the token must never travel to an address a message supplied, and a huge upload
must not fill memory.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlparse

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.desk import PostedFile

logger = logging.getLogger(__name__)


class SlackFiles:
    def __init__(self, hosts: list[str], max_mb: float) -> None:
        self.hosts = set(hosts)
        self.max_bytes = int(max_mb * 1024 * 1024)

    async def fetch(
        self, client: AsyncWebClient, files: list[dict[str, Any]]
    ) -> tuple[list[PostedFile], list[str]]:
        """The files' contents, and one line per file that could not be fetched."""
        fetched: list[PostedFile] = []
        problems: list[str] = []
        for item in files:
            name = item.get("name") or item.get("id", "file")
            try:
                info = (await client.files_info(file=item["id"]))["file"]
                fetched.append(await self._download(client, info))
            except (SlackApiError, FetchError, aiohttp.ClientError, KeyError) as error:
                reason = error.response.get("error") if isinstance(error, SlackApiError) else str(error)
                logger.warning("could not fetch %s: %s", name, reason)
                problems.append(f"Could not index {name}: {reason}")
        return fetched, problems

    async def _download(self, client: AsyncWebClient, info: dict[str, Any]) -> PostedFile:
        name = info.get("name", "file")
        size = int(info.get("size") or 0)
        if size > self.max_bytes:
            raise FetchError(
                f"the file is {size / 1024 / 1024:.1f} MB, over the {self.max_bytes / 1024 / 1024:g} MB limit"
            )
        url = info.get("url_private_download") or info.get("url_private") or ""
        host = urlparse(url).hostname or ""
        if host not in self.hosts:
            raise FetchError(f"downloads from {host or 'that address'} are not allowed")
        headers = {"Authorization": f"Bearer {client.token}"}
        timeout = aiohttp.ClientTimeout(total=60)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers) as response,
        ):
            if response.status != 200:
                raise FetchError(f"the download failed (HTTP {response.status})")
            if response.content_type == "text/html" and not name.lower().endswith((".html", ".htm")):
                raise FetchError("the download returned a login page: check the bot's files:read scope")
            chunks: list[bytes] = []
            received = 0
            # files.info's size could be wrong: count what actually arrives.
            async for chunk in response.content.iter_chunked(64 * 1024):
                received += len(chunk)
                if received > self.max_bytes:
                    raise FetchError(f"the file is over the {self.max_bytes / 1024 / 1024:g} MB limit")
                chunks.append(chunk)
        return PostedFile(name, b"".join(chunks), source=info.get("permalink", ""))


class FetchError(RuntimeError):
    pass
