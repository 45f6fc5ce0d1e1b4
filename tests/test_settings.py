from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return path


def test_sample_config_loads() -> None:
    settings = load_settings(Path("config/sample.yaml"), Path("/tmp/x"))
    assert settings.file.access.scope_for("C0CONSOLE").groups >= {"hr-team", "security", "everyone"}
    assert settings.file.ingest.posters == ["U0HR1"]
    assert settings.data_dir == Path("/tmp/x")


def test_unknown_key_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "access:\n  groups:\n    hr: [C1]\ningest:\n  chanels: [C2]\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert f"{path}:5: ingest.chanels: unknown key" in str(caught.value)


def test_wrong_type_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "retrieval:\n  top_k: many\n")
    with pytest.raises(ConfigError, match=r"settings\.yaml:2: retrieval\.top_k"):
        load_settings(path)


def test_alpha_out_of_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"retrieval\.alpha"):
        load_settings(write(tmp_path, "retrieval:\n  alpha: 1.5\n"))


def test_malformed_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "access: [unclosed\n"))


def test_default_audience_must_name_a_group(tmp_path: Path) -> None:
    path = write(tmp_path, "access:\n  groups: {hr: [C1]}\ningest:\n  default_audience: [everyone]\n")
    with pytest.raises(ConfigError, match="unknown groups: everyone"):
        load_settings(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read settings file"):
        load_settings(tmp_path / "nope.yaml")


def test_environment_overrides_deployment_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEAVIATE_URL", "http://weaviate.internal:8080")
    monkeypatch.setenv("WEAVIATE_API_KEY", "s3cret")
    monkeypatch.setenv("EMBED_MODEL_PATH", str(tmp_path))
    settings = load_settings(write(tmp_path, "weaviate:\n  collection: Docs\n"))
    assert settings.knowledge.weaviate.url == "http://weaviate.internal:8080"
    assert settings.knowledge.weaviate.collection == "Docs"
    assert settings.knowledge.embedding.model_path == tmp_path
    assert "s3cret" not in repr(settings)


TEAMS_VARS = ["MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD", "MICROSOFT_APP_TYPE", "MICROSOFT_APP_TENANT_ID"]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"MICROSOFT_APP_ID": "app"}, "needs both MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD"),
        ({"MICROSOFT_APP_PASSWORD": "p"}, "needs both MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD"),
        (
            {"MICROSOFT_APP_ID": "app", "MICROSOFT_APP_PASSWORD": "p", "MICROSOFT_APP_TYPE": "SingleTenant"},
            "needs MICROSOFT_APP_TENANT_ID",
        ),
        (
            {"MICROSOFT_APP_ID": "app", "MICROSOFT_APP_PASSWORD": "p", "MICROSOFT_APP_TYPE": "Personal"},
            "MultiTenant or SingleTenant",
        ),
    ],
)
def test_half_configured_teams_is_refused(
    values: dict[str, str], problem: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in TEAMS_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=problem):
        load_settings()


def test_teams_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in TEAMS_VARS:
        monkeypatch.delenv(name, raising=False)
    assert load_settings().teams is None
    monkeypatch.setenv("MICROSOFT_APP_ID", "app")
    monkeypatch.setenv("MICROSOFT_APP_PASSWORD", "s3cret")
    monkeypatch.setenv("MICROSOFT_APP_TYPE", "singletenant")
    monkeypatch.setenv("MICROSOFT_APP_TENANT_ID", "tenant-1")
    teams = load_settings().teams
    assert teams is not None and (teams.app_id, teams.app_type, teams.tenant_id) == (
        "app",
        "SingleTenant",
        "tenant-1",
    )
    assert teams.password.get_secret_value() == "s3cret" and "s3cret" not in repr(teams)
