"""Downloading a file a chat message points at: allowed hosts only, under a size limit.

Shared by the Slack and Teams front ends. A message supplies the address, so the host is
checked against an allow-list before anything (a token above all) is sent there, and the
body is counted as it arrives: a size the platform announced could be wrong.
"""

from __future__ import annotations

from urllib.parse import urlparse

import aiohttp

CHUNK = 64 * 1024


class FetchError(RuntimeError):
    """A file could not be fetched; the message says why, for the poster."""


def host_allowed(url: str, hosts: list[str] | set[str]) -> bool:
    """`files.slack.com` matches itself only; `*.sharepoint.com` matches any subdomain. HTTPS
    only, except for loopback (the tests' fake servers)."""
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    if not host or parsed.scheme not in {"https", "http"}:
        return False
    if parsed.scheme == "http" and host not in {"127.0.0.1", "localhost", "::1"}:
        return False
    for pattern in (h.lower() for h in hosts):
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
        if host == pattern:
            return True
    return False


def mb(size: int) -> str:
    return f"{size / 1024 / 1024:g} MB"


async def download(
    url: str,
    *,
    hosts: list[str] | set[str],
    max_bytes: int,
    name: str,
    headers: dict[str, str] | None = None,
    timeout_s: float = 60,
) -> bytes:
    if not host_allowed(url, hosts):
        host = urlparse(url).hostname
        raise FetchError(f"downloads from {host or 'that address'} are not allowed")
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        # No redirects: a redirect could carry the token to a host nobody allowed.
        session.get(url, headers=headers or {}, allow_redirects=False) as response,
    ):
        if response.status != 200:
            raise FetchError(f"the download failed (HTTP {response.status})")
        if response.content_type == "text/html" and not name.lower().endswith((".html", ".htm")):
            raise FetchError(
                "the download returned a web page instead of the file: check the bot's permissions"
            )
        announced = response.content_length
        if announced is not None and announced > max_bytes:
            raise FetchError(f"the file is over the {mb(max_bytes)} limit")
        chunks: list[bytes] = []
        received = 0
        async for chunk in response.content.iter_chunked(CHUNK):
            received += len(chunk)
            if received > max_bytes:
                raise FetchError(f"the file is over the {mb(max_bytes)} limit")
            chunks.append(chunk)
    return b"".join(chunks)
