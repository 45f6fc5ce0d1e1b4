"""All settings, read in one place: the YAML settings file plus the environment.

The file holds policy (who sees what, who may post, retrieval knobs); the environment
holds deployment (server URLs, secrets, paths), using the names people already know
(`WEAVIATE_URL`, `EMBED_MODEL_PATH`...). An unknown or malformed key in the file
fails at start with the file's line number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.answering.settings import AnswerSettings
from bot.errors import ConfigError
from bot.journal_settings import JournalSettings
from knowledge.access import AccessPolicy
from knowledge.connection import WeaviateSettings
from knowledge.loaders import LoaderSettings
from knowledge.settings import ChunkSettings, EmbeddingSettings, KnowledgeSettings, RetrievalSettings
from knowledge.yaml_files import read_yaml, validation_problems


class IngestPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: list[str] = Field(default_factory=list, description="Channels whose posts are ingested.")
    posters: list[str] = Field(
        default_factory=list, description="User ids allowed to change the knowledge base."
    )
    default_audience: list[str] = Field(
        default_factory=list, description="Groups for documents that name no audience."
    )
    job_timeout: float = Field(
        1800.0,
        gt=0,
        description=(
            "Seconds a post's ingest (its own process under serve) may take before it is stopped "
            "and the poster told; a post at every loader limit takes minutes on 2 cores."
        ),
    )


class SlackSettings(BaseModel):
    """How the Slack front end behaves (the tokens are deployment settings: environment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dm_scope_channel: str = Field(
        "@dm", description="Direct messages are scoped as this channel id: map it in access.groups."
    )
    working_reaction: str = Field("eyes", description="Reaction shown on a question while it is answered.")
    file_hosts: list[str] = Field(
        default_factory=lambda: ["files.slack.com"],
        description="Hosts files posted to the ingest channel may be downloaded from (with the bot token).",
    )


class TeamsSettings(BaseModel):
    """How the Teams front end behaves (the app id and password are deployment settings: environment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    personal_scope_channel: str = Field(
        "@dm", description="Personal (1:1) chats are scoped as this channel id: map it in access.groups."
    )
    file_hosts: list[str] = Field(
        default_factory=lambda: ["*.sharepoint.com"],
        description="Hosts Teams file download links may point at (`*.` matches subdomains).",
    )
    up_reactions: list[str] = Field(
        default_factory=lambda: ["like", "1f44d_thumbsup"], description="Reactions that count as a thumbs-up."
    )
    down_reactions: list[str] = Field(
        default_factory=lambda: ["1f44e_thumbsdown", "sad"],
        description="Reactions that count as a thumbs-down (classic Teams has no thumbs-down: sad).",
    )
    typing_interval_s: float = Field(3.0, gt=0, description="How often the typing indicator is renewed.")
    allowed_tenants: list[str] = Field(
        default_factory=list,
        description="Entra tenant ids whose Teams users are answered; default MICROSOFT_APP_TENANT_ID.",
    )

    def tenants(self, credentials: TeamsCredentials) -> frozenset[str]:
        return frozenset(self.allowed_tenants or ([credentials.tenant_id] if credentials.tenant_id else []))


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order


class DigestTarget(BaseModel):
    """Where one group of leads gets the weekly digest, and which channels it reports on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="A short key, e.g. hr-leads.")
    platform: Literal["slack", "teams"]
    channel: str = Field(
        min_length=1, description="Slack channel id, or Teams channel id (19:...@thread.tacv2)."
    )
    # No default: the leads' channel reads the covered channels' questions and comments, so
    # someone must decide which. "*" is every shared channel (direct messages stay out).
    covers: list[str] = Field(
        min_length=1,
        description="Channels whose questions the digest reports on; '*' for every shared channel.",
    )
    team_id: str | None = Field(None, description="Teams: the team (group) id, for links to answers.")
    tenant_id: str | None = Field(
        None, description="Teams: the tenant; default the bot's only allowed tenant."
    )


class DigestSettings(BaseModel):
    """The weekly quality digest for team leads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    leads: list[DigestTarget] = Field(default_factory=list)
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: str = Field(
        "09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="When serve posts it, HH:MM."
    )
    timezone: str = Field("UTC", description="IANA zone of weekday and time, e.g. Europe/London.")
    scheduled: bool = Field(True, description="serve posts the digest on schedule (when leads are set).")
    stale_after_days: int = Field(365, ge=1, description="A cited document older than this is stale.")
    worst_answers: int = Field(5, ge=0, le=50)
    gap_similarity: float = Field(0.6, gt=0, le=1, description="Cosine similarity that groups gap questions.")
    golden: Path | None = Field(None, description="Golden set (JSONL) evaluated for the digest.")
    sample_size: int = Field(20, ge=0, le=500, description="The week's answers evaluated with the judge.")
    slack_workspace_url: str | None = Field(
        None, description="e.g. https://acme.slack.com: links from the digest to answers in Slack."
    )
    teams_service_url: str = Field(
        "https://smba.trafficmanager.net/teams/", description="Bot Connector URL that Teams posts go to."
    )

    @model_validator(mode="after")
    def _checked(self) -> DigestSettings:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"digest.timezone: unknown time zone {self.timezone!r}") from None
        names = [t.name for t in self.leads]
        if len(names) != len(set(names)):
            raise ValueError("digest.leads: names must be unique")
        return self


class NoticeSettings(BaseModel):
    """Telling askers when a policy they were answered from is replaced or removed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="serve posts notices (notify-changes works either way).")
    days: int = Field(14, ge=1, le=365, description="Answers of the last N days are followed up.")
    off_channels: list[str] = Field(default_factory=list, description="Channels that get no notices.")
    per_minute: int = Field(20, ge=1, le=600, description="At most this many notices a minute.")
    scan_interval_s: float = Field(60.0, gt=0, description="How often serve looks for changed policies.")


class EscalationTarget(BaseModel):
    """Where questions for an access group go when someone asks for a person."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: Literal["slack", "teams"]
    channel: str = Field(min_length=1, description="The helpdesk channel (Slack id, or Teams channel id).")
    tag: str | None = Field(None, description="Slack user group id (S...) to mention with each hand-off.")


class HandoffSettings(BaseModel):
    """ "Ask a person": each access group's escalation channel (the first group of the cited
    documents that has one wins, then the asker channel's groups, then `default`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    escalations: dict[str, list[EscalationTarget]] = Field(default_factory=dict)
    default: list[EscalationTarget] = Field(default_factory=list)

    def targets(self, group: str | None, platform: str) -> EscalationTarget | None:
        listed = self.escalations.get(group, []) if group is not None else self.default
        return next((t for t in listed if t.platform == platform), None)

    def enabled(self, platform: str) -> bool:
        every = [t for targets in self.escalations.values() for t in targets] + self.default
        return any(t.platform == platform for t in every)


class ServeSettings(BaseModel):
    """The `serve` process, shared by the Slack and Teams front ends."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answer_workers: int | None = Field(
        None,
        ge=1,
        le=256,
        description=(
            "Questions answered at once. Default: 16 with Claude (answers wait on the API), "
            "else the CPU count, at least 2 (extractive answers are CPU-bound; more threads only contend)."
        ),
    )

    def workers(self, generative: bool) -> int:
        if self.answer_workers is not None:
            return self.answer_workers
        return 16 if generative else max(2, os.cpu_count() or 1)


class FileConfig(BaseModel):
    """The YAML settings file (`--config`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    access: AccessPolicy = Field(default_factory=AccessPolicy)
    ingest: IngestPolicy = Field(default_factory=IngestPolicy)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    chunking: ChunkSettings = Field(default_factory=ChunkSettings)
    loader: LoaderSettings = Field(default_factory=LoaderSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    weaviate: WeaviateSettings = Field(default_factory=WeaviateSettings)
    answers: AnswerSettings = Field(default_factory=AnswerSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    teams: TeamsSettings = Field(default_factory=TeamsSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    notices: NoticeSettings = Field(default_factory=NoticeSettings)
    handoff: HandoffSettings = Field(default_factory=HandoffSettings)
    journal: JournalSettings = Field(default_factory=JournalSettings)

    @model_validator(mode="after")
    def _default_audience_exists(self) -> FileConfig:
        unknown = self.access.unknown_groups(self.ingest.default_audience)
        if unknown:
            raise ValueError(f"ingest.default_audience names unknown groups: {', '.join(unknown)}")
        unknown = self.access.unknown_groups(list(self.handoff.escalations))
        if unknown:
            raise ValueError(f"handoff.escalations names unknown groups: {', '.join(unknown)}")
        return self


class EnvSettings(BaseSettings):
    """Deployment settings from the environment (or a `.env` file)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    weaviate_url: str | None = Field(None, alias="WEAVIATE_URL")
    weaviate_grpc_url: str | None = Field(None, alias="WEAVIATE_GRPC_URL")
    weaviate_api_key: SecretStr | None = Field(None, alias="WEAVIATE_API_KEY")
    weaviate_bin: Path | None = Field(None, alias="WEAVIATE_BIN")
    # A cluster's shape is deployment: these override the file's weaviate: section.
    weaviate_replication_factor: str | None = Field(None, alias="WEAVIATE_REPLICATION_FACTOR")
    weaviate_read_consistency: str | None = Field(None, alias="WEAVIATE_READ_CONSISTENCY")
    weaviate_write_consistency: str | None = Field(None, alias="WEAVIATE_WRITE_CONSISTENCY")
    embed_model_path: Path | None = Field(
        None,
        alias="EMBED_MODEL_PATH",
        description="The fp32 embedding model's folder, unless the file names one.",
    )
    xdg_cache_home: Path | None = Field(None, alias="XDG_CACHE_HOME")
    data_dir: Path = Field(Path("data"), alias="SUPPORTBOT_DATA_DIR")
    database_url: SecretStr | None = Field(
        None, alias="DATABASE_URL", description="SQLAlchemy URL; default: SQLite in the data directory."
    )
    anthropic_api_key: SecretStr | None = Field(
        None, alias="ANTHROPIC_API_KEY", description="Answers with Claude when set; extractive otherwise."
    )
    anthropic_base_url: str | None = Field(None, alias="ANTHROPIC_BASE_URL")
    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(
        None, alias="SLACK_API_URL", description="Slack Web API base URL (a test server); default Slack's."
    )
    microsoft_app_id: str | None = Field(None, alias="MICROSOFT_APP_ID")
    microsoft_app_password: SecretStr | None = Field(None, alias="MICROSOFT_APP_PASSWORD")
    microsoft_app_type: str = Field("MultiTenant", alias="MICROSOFT_APP_TYPE")
    microsoft_app_tenant_id: str | None = Field(None, alias="MICROSOFT_APP_TENANT_ID")
    # Bot Framework's own names; set only for a sovereign/private cloud, or a test identity server.
    openid_metadata_url: str | None = Field(None, alias="TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL")
    login_url: str | None = Field(None, alias="TO_CHANNEL_FROM_BOT_LOGIN_URL")
    config: Path | None = Field(None, alias="SUPPORTBOT_CONFIG")
    log_format: Literal["text", "json"] = Field(
        "text",
        alias="SUPPORTBOT_LOG_FORMAT",
        description="json: one JSON object per log line (log shippers).",
    )


APP_TYPES = {"multitenant": "MultiTenant", "singletenant": "SingleTenant"}


@dataclass(frozen=True)
class TeamsCredentials:
    """The bot's Azure registration: what Bot Framework authentication needs."""

    app_id: str
    password: SecretStr
    app_type: str = "MultiTenant"  # or SingleTenant (then tenant_id is required)
    tenant_id: str | None = None
    openid_metadata_url: str | None = None
    login_url: str | None = None


@dataclass(frozen=True)
class Settings:
    file: FileConfig
    knowledge: KnowledgeSettings
    data_dir: Path
    config_path: Path | None
    database_url: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str | None = None
    teams: TeamsCredentials | None = None
    log_format: str = "text"


def load_file_config(path: Path | None) -> FileConfig:
    if path is None:
        return FileConfig()
    data, root = read_yaml(path, "settings file", ConfigError)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the settings file must be a mapping (access:, ingest:, ...)")
    try:
        return FileConfig.model_validate(data)
    except ValidationError as err:
        problems = validation_problems(path, root, err)
        raise ConfigError("invalid settings file\n" + "\n".join(problems)) from None


def _embedding_settings(file: FileConfig, env: EnvSettings) -> EmbeddingSettings:
    """The file's model folder first, then EMBED_MODEL_PATH (issue 18's order); int8 variants
    in the user's cache folder unless the file says where."""
    embedding = file.embedding
    update: dict[str, Any] = {}
    if embedding.model_path is None and env.embed_model_path is not None:
        update["model_path"] = env.embed_model_path
    if "variants_dir" not in embedding.model_fields_set and env.xdg_cache_home is not None:
        update["variants_dir"] = env.xdg_cache_home / "supportbot" / "models"
    return embedding.model_copy(update=update)


def load_settings(config_path: Path | None = None, data_dir: Path | None = None) -> Settings:
    env = EnvSettings()
    path = config_path or env.config
    file = load_file_config(path)
    weaviate = _weaviate_settings(file.weaviate, env)
    embedding = _embedding_settings(file, env)
    knowledge = KnowledgeSettings(
        weaviate=weaviate,
        embedding=embedding,
        chunking=file.chunking,
        retrieval=file.retrieval,
        loader=file.loader,
    )
    return Settings(
        file=file,
        knowledge=knowledge,
        data_dir=data_dir or env.data_dir,
        config_path=path,
        database_url=env.database_url if env.database_url and env.database_url.get_secret_value() else None,
        anthropic_api_key=(
            env.anthropic_api_key
            if env.anthropic_api_key and env.anthropic_api_key.get_secret_value()
            else None
        ),
        anthropic_base_url=env.anthropic_base_url or None,
        slack_bot_token=_set(env.slack_bot_token),
        slack_signing_secret=_set(env.slack_signing_secret),
        slack_app_token=_set(env.slack_app_token),
        slack_api_url=env.slack_api_url or None,
        teams=_teams_credentials(env),
        log_format=env.log_format,
    )


WEAVIATE_ENV = {
    "url": "WEAVIATE_URL",
    "grpc_url": "WEAVIATE_GRPC_URL",
    "api_key": "WEAVIATE_API_KEY",
    "binary": "WEAVIATE_BIN",
    "replication_factor": "WEAVIATE_REPLICATION_FACTOR",
    "read_consistency": "WEAVIATE_READ_CONSISTENCY",
    "write_consistency": "WEAVIATE_WRITE_CONSISTENCY",
}


def _weaviate_settings(file: WeaviateSettings, env: EnvSettings) -> WeaviateSettings:
    """The file's weaviate: section with the environment's overrides (empty = unset), validated."""
    values = {
        "url": env.weaviate_url,
        "grpc_url": env.weaviate_grpc_url,
        "api_key": _set(env.weaviate_api_key),
        "binary": env.weaviate_bin,
        "replication_factor": env.weaviate_replication_factor,
        "read_consistency": env.weaviate_read_consistency,
        "write_consistency": env.weaviate_write_consistency,
    }
    overrides = {k: v for k, v in values.items() if v is not None and v != ""}
    try:
        return WeaviateSettings.model_validate({**file.model_dump(exclude_unset=True), **overrides})
    except ValidationError as err:
        problems = []
        for issue in err.errors():
            field = str(issue["loc"][0]) if issue["loc"] else ""
            where = f"{WEAVIATE_ENV[field]} (weaviate.{field})" if field in WEAVIATE_ENV else "weaviate"
            problems.append(f"{where}: {issue['msg']}")
        raise ConfigError("invalid Weaviate settings\n" + "\n".join(problems)) from None


def _teams_credentials(env: EnvSettings) -> TeamsCredentials | None:
    """None when Teams is not configured; an error when it is half configured."""
    app_id, password = env.microsoft_app_id or None, _set(env.microsoft_app_password)
    if app_id is None and password is None:
        return None
    if app_id is None or password is None:
        raise ConfigError("Teams needs both MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD")
    app_type = APP_TYPES.get((env.microsoft_app_type or "MultiTenant").lower())
    if app_type is None:
        raise ConfigError(
            f"MICROSOFT_APP_TYPE must be MultiTenant or SingleTenant, not {env.microsoft_app_type!r}"
        )
    tenant = env.microsoft_app_tenant_id or None
    if app_type == "SingleTenant" and tenant is None:
        raise ConfigError("MICROSOFT_APP_TYPE=SingleTenant needs MICROSOFT_APP_TENANT_ID")
    return TeamsCredentials(
        app_id, password, app_type, tenant, env.openid_metadata_url or None, env.login_url or None
    )


def _set(secret: SecretStr | None) -> SecretStr | None:
    """An empty variable counts as unset (`FOO=` in an env file, or a test blanking it)."""
    return secret if secret is not None and secret.get_secret_value() else None
