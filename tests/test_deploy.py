"""deploy/compose.yaml, validated by docker-compose itself (Debian's package parses and
interpolates it without an engine)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.cli_runner import REPO

DEPLOY = REPO / "deploy"


def compose_config(folder: Path, env: str) -> subprocess.CompletedProcess[str]:
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is missing: make test installs it (scripts/install_test_tools.sh)"
    (folder / ".env").write_text(env)
    return subprocess.run(
        [compose, "--project-directory", str(folder), "-f", str(folder / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def deploy_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "deploy"
    shutil.copytree(DEPLOY, folder)
    shutil.copy(REPO / "config" / "sample.yaml", folder / "settings.yaml")
    (folder / "Dockerfile").write_text("")  # build context checks happen at build time, not here
    return folder


def test_the_compose_file_validates_with_secrets_from_the_env_file(tmp_path: Path) -> None:
    folder = deploy_copy(tmp_path)
    env = (
        (DEPLOY / "env.example")
        .read_text()
        .replace("change-me-too", "wv-key-123")
        .replace("change-me", "pg-pass-456")
    )
    result = compose_config(folder, env)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"bot", "weaviate", "postgres"}
    # The Weaviate image is the version the embedded server runs (and the tests use).
    version = re.search(r"^WEAVIATE_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M)
    assert version and services["weaviate"]["image"].endswith(f"weaviate:{version.group(1)}")
    assert all("healthcheck" in services[name] for name in ("weaviate", "postgres"))
    assert services["bot"]["depends_on"] == {
        "weaviate": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }
    bot_env = services["bot"]["environment"]
    assert bot_env["DATABASE_URL"] == "postgresql://supportbot:pg-pass-456@postgres:5432/supportbot"
    assert bot_env["WEAVIATE_API_KEY"] == "wv-key-123" and bot_env["WEAVIATE_URL"] == "http://weaviate:8080"
    assert services["weaviate"]["environment"]["AUTHENTICATION_APIKEY_ALLOWED_KEYS"] == "wv-key-123"
    # docker-compose 1.29 prints short volume syntax: "source:target[:mode]".
    assert "bot-data:/data:rw" in services["bot"]["volumes"] and set(config["volumes"]) == {
        "bot-data",
        "weaviate-data",
        "weaviate-backups",
        "postgres-data",
    }
    # Nothing secret is written in the file itself.
    assert "pg-pass-456" not in (DEPLOY / "compose.yaml").read_text()


def test_a_missing_secret_stops_compose_with_its_name(tmp_path: Path) -> None:
    folder = deploy_copy(tmp_path)
    result = compose_config(folder, "WEAVIATE_API_KEY=x\n")
    assert result.returncode != 0 and "set POSTGRES_PASSWORD in .env" in result.stderr
