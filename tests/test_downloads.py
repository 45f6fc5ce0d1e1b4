"""The download guard shared by the Slack and Teams front ends, against a real local server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from adapters.downloads import FetchError, download, host_allowed
from knowledge.weaviate_server import free_port


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://files.slack.com/files-pri/T1/x.pdf", True),
        ("https://evil.files.slack.com.attacker.io/x.pdf", False),
        ("https://contoso.sharepoint.com/sites/hr/x.docx", True),
        ("https://contoso-my.sharepoint.com/personal/x.docx", True),
        ("https://sharepoint.com/x.docx", False),  # the wildcard wants a subdomain
        ("https://notsharepoint.com/x.docx", False),
        ("http://files.slack.com/x.pdf", False),  # plain HTTP only on loopback
        ("http://127.0.0.1:8080/x.pdf", True),
        ("ftp://files.slack.com/x.pdf", False),
        ("not a url", False),
    ],
)
def test_hosts_on_the_allow_list_only(url: str, allowed: bool) -> None:
    assert host_allowed(url, ["files.slack.com", "*.sharepoint.com", "127.0.0.1"]) is allowed


def serve_and_fetch(
    route: Callable[[web.Request], Awaitable[web.StreamResponse]], **kwargs: object
) -> tuple[bytes | None, str, list[dict[str, str]]]:
    """Start a loopback server with one route, download from it, and stop it."""
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        return await route(request)

    async def run() -> tuple[bytes | None, str]:
        app = web.Application()
        app.router.add_get("/{name}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            data = await download(
                f"http://127.0.0.1:{port}/file.txt", hosts=["127.0.0.1"], name="file.txt", **kwargs
            )  # type: ignore[arg-type]
            return data, ""
        except FetchError as error:
            return None, str(error)
        finally:
            await runner.cleanup()

    data, error = asyncio.run(run())
    return data, error, seen


def test_a_file_under_the_limit_arrives_whole_with_the_given_headers() -> None:
    async def route(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000, content_type="text/plain")

    data, error, seen = serve_and_fetch(route, max_bytes=5000, headers={"Authorization": "Bearer t"})
    assert data == b"x" * 5000 and error == "" and seen[0]["Authorization"] == "Bearer t"


def test_a_body_over_the_limit_is_cut_off_even_without_a_length() -> None:
    async def route(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no Content-Length to trust
        response.content_type = "text/plain"
        await response.prepare(request)
        for _ in range(40):
            await response.write(b"y" * 65536)
        await response.write_eof()
        return response

    data, error, _ = serve_and_fetch(route, max_bytes=1024 * 1024)
    assert data is None and error == "the file is over the 1 MB limit"


def test_redirects_are_not_followed() -> None:
    async def route(_: web.Request) -> web.Response:
        raise web.HTTPFound("https://attacker.example/steal")

    data, error, _ = serve_and_fetch(route, max_bytes=1000, headers={"Authorization": "Bearer t"})
    assert data is None and error == "the download failed (HTTP 302)"


def test_a_login_page_instead_of_the_file_is_an_error() -> None:
    async def route(_: web.Request) -> web.Response:
        return web.Response(text="<html>Sign in</html>", content_type="text/html")

    data, error, _ = serve_and_fetch(route, max_bytes=1000)
    assert data is None and "web page instead of the file" in error
