"""Bot Framework authentication, configured from our settings and hardened in two places.

- Inbound: botbuilder turns only `PermissionError` into a 401; an expired token, an unknown
  signing key or a missing header escape as other exceptions and became 500s (which Bot
  Framework retries). Every rejection of a token is a 401 here, and the reason is logged
  without the token.
- Outbound: the SDK builds new credentials, hence a new MSAL client with an empty token
  cache, for every turn, and MSAL fetches tokens with blocking HTTP inside the event loop.
  Credentials are kept per (app, scope, authority) and their first token is fetched in a
  thread, so MSAL's cache serves the SDK's calls. (A refresh, hourly, still blocks once.)
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import requests
from botbuilder.integration.aiohttp import (
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import Activity
from botframework.connector.auth import AuthenticateRequestResult, ServiceClientCredentialsFactory
from msrest.authentication import Authentication

from bot.settings import TeamsCredentials

logger = logging.getLogger(__name__)
PUBLIC_CLOUD = "https://api.botframework.com"
EMULATOR_METADATA = "https://login.microsoftonline.com/botframework.com/v2.0/.well-known/openid-configuration"


def bot_framework_config(credentials: TeamsCredentials) -> SimpleNamespace:
    """The attribute names botbuilder's ConfigurationBotFrameworkAuthentication reads."""
    config = SimpleNamespace(
        APP_ID=credentials.app_id,
        APP_PASSWORD=credentials.password.get_secret_value(),
        APP_TYPE=credentials.app_type,
        APP_TENANTID=credentials.tenant_id,
    )
    if credentials.openid_metadata_url or credentials.login_url:
        # Any of these switches botbuilder to "parameterised" authentication, which then
        # needs every value: the public cloud's, except the two endpoints given.
        config.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = credentials.openid_metadata_url
        config.TO_CHANNEL_FROM_BOT_LOGIN_URL = credentials.login_url
        config.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = PUBLIC_CLOUD
        config.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = PUBLIC_CLOUD
        config.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = EMULATOR_METADATA
        config.OAUTH_URL = PUBLIC_CLOUD
        config.CALLER_ID = "urn:botframework:azure"
        config.VALIDATE_AUTHORITY = False
    return config


class CachedCredentials(ServiceClientCredentialsFactory):
    """The configured credential factory, remembering what it made."""

    def __init__(self, inner: ServiceClientCredentialsFactory) -> None:
        self._inner = inner
        self._made: dict[tuple[str, str, str, bool], Authentication] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        return await self._inner.is_valid_app_id(app_id)

    async def is_authentication_disabled(self) -> bool:
        return await self._inner.is_authentication_disabled()

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Authentication:
        key = (app_id, oauth_scope or "", login_endpoint or "", validate_authority)
        if key not in self._made:
            made = await self._inner.create_credentials(
                app_id, oauth_scope, login_endpoint, validate_authority
            )
            fetch = getattr(made, "get_access_token", None)
            if fetch is not None and getattr(made, "microsoft_app_id", None):
                # The first token comes over the network: fetch it in a thread, so that the
                # SDK's own (synchronous) call finds it in MSAL's cache.
                await asyncio.to_thread(fetch)
            self._made[key] = made
        return self._made[key]


class BotAuthentication(ConfigurationBotFrameworkAuthentication):
    def __init__(self, credentials: TeamsCredentials) -> None:
        config = bot_framework_config(credentials)
        super().__init__(
            config, credentials_factory=CachedCredentials(ConfigurationServiceClientCredentialFactory(config))
        )

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        try:
            return await super().authenticate_request(activity, auth_header)
        except PermissionError as error:
            logger.warning("refused a Bot Framework request: %s", error)
            raise
        except requests.RequestException:
            raise  # the identity metadata is unreachable: our fault, not the caller's (500)
        except Exception as error:
            # Expired (jwt.ExpiredSignatureError), unknown key id (IndexError), bad signature,
            # unendorsed channel, malformed header (AttributeError)...: all mean "not authenticated".
            logger.warning("refused a Bot Framework request: %s", type(error).__name__)
            raise PermissionError("invalid Bot Framework token") from error
