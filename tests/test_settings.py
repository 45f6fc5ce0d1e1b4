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


WEAVIATE_VARS = [
    "WEAVIATE_URL",
    "WEAVIATE_GRPC_URL",
    "WEAVIATE_API_KEY",
    "WEAVIATE_REPLICATION_FACTOR",
    "WEAVIATE_READ_CONSISTENCY",
    "WEAVIATE_WRITE_CONSISTENCY",
]


@pytest.fixture
def no_weaviate_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in WEAVIATE_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_weaviate_defaults_suit_one_embedded_node(no_weaviate_env: pytest.MonkeyPatch) -> None:
    weaviate = load_settings().knowledge.weaviate
    assert (weaviate.url, weaviate.replication_factor) == (None, 1)
    assert (weaviate.read_consistency, weaviate.write_consistency) == ("QUORUM", "QUORUM")


def test_a_cluster_from_the_environment(no_weaviate_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_weaviate_env.setenv("WEAVIATE_URL", "http://w0:8080, http://w1:8080,http://w2:8080")
    no_weaviate_env.setenv("WEAVIATE_GRPC_URL", "http://w0:50051,http://w1:50051,http://w2:50051")
    no_weaviate_env.setenv("WEAVIATE_REPLICATION_FACTOR", "3")
    no_weaviate_env.setenv("WEAVIATE_READ_CONSISTENCY", "ONE")
    no_weaviate_env.setenv("WEAVIATE_WRITE_CONSISTENCY", "")  # empty: unset, the file's value stays
    path = write(tmp_path, "weaviate:\n  write_consistency: ALL\n  replication_factor: 2\n")
    weaviate = load_settings(path).knowledge.weaviate
    assert weaviate.endpoints() == [
        ("http://w0:8080", "http://w0:50051"),
        ("http://w1:8080", "http://w1:50051"),
        ("http://w2:8080", "http://w2:50051"),
    ]
    assert (weaviate.replication_factor, weaviate.read_consistency, weaviate.write_consistency) == (
        3,
        "ONE",
        "ALL",
    )


def test_one_grpc_url_serves_every_node(no_weaviate_env: pytest.MonkeyPatch) -> None:
    no_weaviate_env.setenv("WEAVIATE_URL", "https://a:443,https://b:443")
    no_weaviate_env.setenv("WEAVIATE_GRPC_URL", "https://grpc.internal:443")
    assert [g for _, g in load_settings().knowledge.weaviate.endpoints()] == ["https://grpc.internal:443"] * 2


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        (
            {"WEAVIATE_READ_CONSISTENCY": "TWO"},
            r"WEAVIATE_READ_CONSISTENCY \(weaviate.read_consistency\): .*'QUORUM'",
        ),
        (
            {"WEAVIATE_REPLICATION_FACTOR": "0"},
            r"WEAVIATE_REPLICATION_FACTOR \(weaviate.replication_factor\)",
        ),
        (
            {"WEAVIATE_URL": "http://a:8080,weaviate:8080"},
            r"not an http\(s\)://host\[:port\] URL: 'weaviate:8080'",
        ),
        (
            {
                "WEAVIATE_URL": "http://a:8080,http://b:8080,http://c:8080",
                "WEAVIATE_GRPC_URL": "http://a:1,http://b:1",
            },
            "grpc_url lists 2 URLs for 3 in url",
        ),
    ],
)
def test_bad_weaviate_environment_is_a_config_error(
    variables: dict[str, str], problem: str, no_weaviate_env: pytest.MonkeyPatch
) -> None:
    for name, value in variables.items():
        no_weaviate_env.setenv(name, value)
    with pytest.raises(ConfigError, match=problem):
        load_settings()


def test_bad_consistency_in_the_file_names_its_line(
    no_weaviate_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write(tmp_path, "weaviate:\n  collection: Docs\n  read_consistency: SOME\n")
    with pytest.raises(ConfigError, match=r"settings\.yaml:3: weaviate\.read_consistency"):
        load_settings(path)
