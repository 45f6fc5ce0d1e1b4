"""`python app.py teams-package`: the zip an admin uploads to Teams."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

from tests.cli_runner import run

APP_ID = "1B2C3D4E-0000-4000-8000-123456789ABC"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_package_holds_the_manifest_and_both_icons(tmp_path: Path) -> None:
    out = tmp_path / "pkg" / "bot.zip"
    environ = {**os.environ, "MICROSOFT_APP_ID": APP_ID, "MICROSOFT_APP_PASSWORD": ""}
    result = run(
        ["teams-package", "--domain", "bot.example.com", "--name", 'Ask "HR"', "--out", str(out)], environ
    )
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]  # at the root
        manifest = json.loads(archive.read("manifest.json"))
        assert png_size(archive.read("color.png")) == (192, 192)
        assert png_size(archive.read("outline.png")) == (32, 32)
    assert manifest["id"] == manifest["bots"][0]["botId"] == APP_ID.lower()
    assert manifest["name"]["short"] == 'Ask "HR"' and manifest["validDomains"] == ["bot.example.com"]
    assert manifest["developer"]["privacyUrl"] == "https://bot.example.com"
    assert set(manifest["bots"][0]["scopes"]) == {"personal", "team", "groupChat"}
    assert manifest["bots"][0]["supportsFiles"] is True
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert "${" not in json.dumps(manifest)  # every placeholder filled
    # The outline icon is white on transparent, as Teams requires.
    from PIL import Image

    with zipfile.ZipFile(out) as archive:
        outline = Image.open(io.BytesIO(archive.read("outline.png"))).convert("RGBA")
    pixels = [pixel for _, pixel in outline.getcolors(32 * 32) or []]
    assert {p[:3] for p in pixels if p[3] > 0} == {(255, 255, 255)} and any(p[3] == 0 for p in pixels)


def test_bad_options_are_refused_with_every_reason_and_no_file(tmp_path: Path) -> None:
    out = tmp_path / "bot.zip"
    environ = {**os.environ, "MICROSOFT_APP_ID": ""}
    result = run(["teams-package", "--domain", "not a domain", "--version", "1", "--out", str(out)], environ)
    assert result.returncode == 2 and "--app-id or MICROSOFT_APP_ID" in result.stderr
    result = run(
        [
            "teams-package",
            "--app-id",
            "nope",
            "--domain",
            "not a domain",
            "--version",
            "1",
            "--out",
            str(out),
        ],
        environ,
    )
    assert result.returncode == 2
    for reason in ["GUID", "like 1.0.0", "host name"]:
        assert reason in result.stderr
    assert not out.exists()
