"""The digest's files: charts that decode, an HTML page that headless Chromium renders."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import Engine

from bot.settings import DigestSettings
from eval.digest.build import build_digest
from tests.test_digest_numbers import MONDAY, WEEK, Seed, catalogue, seeded  # noqa: F401

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is missing: make test installs it (scripts/install_chromium.sh)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"]
    flags += ["--disable-background-networking", "--disable-dev-shm-usage", "--hide-scrollbars"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_the_digest_page_renders_with_its_charts(
    engine: Engine,
    seeded: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    # Staff text is shown as text: a question with markup must not become markup.
    Seed(engine).answer(MONDAY, (("U5", "down", "<b>bad</b>"),), question="<script>alert(1)</script> leave?")
    digest = build_digest(
        engine,
        WEEK,
        "all",
        ["*"],
        catalogue(),
        DigestSettings(),
        tmp_path,
        quality=lambda week, scope, private: (
            {"golden set": {"id_based_context_recall": 0.8}},
            ["sampled 0 answers"],
        ),
    )
    files = digest.files
    assert files.folder == tmp_path / "2026-W45" / "all"
    assert [c.name for c in files.charts] == ["questions", "votes", "latency", "documents"]
    for chart in files.charts:
        with Image.open(chart.path) as image:
            image.verify()
        with Image.open(chart.path) as image:
            assert (
                image.format == "PNG"
                and image.width >= 600
                and len(image.convert("L").getcolors() or []) > 10
            )
    html = files.html.read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bad&lt;/b&gt;" in html
    data = json.loads(files.data.read_text())
    assert data["headline"]["questions"] == 11 and data["quality"] == {
        "golden set": {"id_based_context_recall": 0.8}
    }

    # The browser's view: the DOM after rendering, and a screenshot with the charts loaded.
    dom = chromium("--dump-dom", files.html.as_uri())
    assert dom.returncode == 0, dom.stderr
    for expected in (
        "Questions",
        "11",
        "Worst-rated answers",
        "Content gaps",
        "Expenses",
        "Answer quality (RAGAS)",
    ):
        assert expected in dom.stdout
    shot = tmp_path / "digest.png"
    taken = chromium(f"--screenshot={shot}", "--window-size=1100,2600", files.html.as_uri())
    assert taken.returncode == 0 and shot.is_file(), taken.stderr
    with Image.open(shot) as image:
        assert image.size == (1100, 2600)
        # Not a blank page: the charts' colours are on it (the blue of the bars among them).
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
        assert len(colours) > 200
        assert any(
            abs(r - 0x15) < 40 and abs(g - 0x65) < 40 and b > 0x90 and count > 500
            for count, (r, g, b) in colours
        )
