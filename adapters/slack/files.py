"""Fetching files posted to the ingest channel: `files.info`, then an authenticated download.

Only hosts on the allow-list get the bot token, and only files under the size limit are
fetched: the token must never travel to an address a message supplied, and a huge upload
must not fill memory.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.downloads import FetchError, download, mb
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
            raise FetchError(f"the file is {size / 1024 / 1024:.1f} MB, over the {mb(self.max_bytes)} limit")
        url = info.get("url_private_download") or info.get("url_private") or ""
        data = await download(
            url,
            hosts=self.hosts,
            max_bytes=self.max_bytes,
            name=name,
            headers={"Authorization": f"Bearer {client.token}"},
        )
        return PostedFile(name, data, source=info.get("permalink", ""))
