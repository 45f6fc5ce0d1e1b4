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
import threading
from datetime import datetime
from types import SimpleNamespace

import requests
from botbuilder.integration.aiohttp import (
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import Activity
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    ServiceClientCredentialsFactory,
)
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor, _OpenIdMetadata
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


METADATA_TIMEOUT_S = (3.05, 10)  # connect, read: Microsoft's endpoints answer in well under a second


class OffLoopOpenIdMetadata(_OpenIdMetadata):
    """botbuilder's key cache for one metadata URL, refreshed in a thread with a timeout."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.last_updated: datetime = datetime.min
        self._lock = threading.Lock()

    async def _refresh(self) -> None:
        await asyncio.to_thread(self._fetch, self.last_updated)

    def _fetch(self, seen: datetime) -> None:
        with self._lock:  # many requests at once: one fetch, the others find its keys
            if self.last_updated > seen:
                return
            response = requests.get(self.url, timeout=METADATA_TIMEOUT_S)
            response.raise_for_status()
            keys = requests.get(response.json()["jwks_uri"], timeout=METADATA_TIMEOUT_S)
            keys.raise_for_status()
            self.keys = keys.json()["keys"]
            self.last_updated = datetime.now()


class _OffLoopMetadataCache(dict[str, _OpenIdMetadata]):
    """botbuilder's process-wide cache of key caches, one per URL. On a miss botbuilder makes
    its own kind and returns that, not what the cache holds: so a lookup never misses here,
    and every URL it will ever use gets the off-loop kind."""

    def get(self, url: str, default: object = None) -> _OpenIdMetadata:
        if url not in self:
            self[url] = OffLoopOpenIdMetadata(url)
        return self[url]


def use_off_loop_metadata() -> None:
    if not isinstance(JwtTokenExtractor.metadataCache, _OffLoopMetadataCache):
        JwtTokenExtractor.metadataCache = _OffLoopMetadataCache()


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
        use_off_loop_metadata()
        config = bot_framework_config(credentials)
        super().__init__(
            config, credentials_factory=CachedCredentials(ConfigurationServiceClientCredentialFactory(config))
        )
        self.metadata_url = (
            credentials.openid_metadata_url or AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
        )

    async def warm(self) -> None:
        """Fetch the channel's signing keys before the first request needs them."""
        try:
            await JwtTokenExtractor.get_open_id_metadata(self.metadata_url)._refresh()
        except (requests.RequestException, ValueError, KeyError) as error:
            logger.warning("could not fetch the Bot Framework signing keys yet: %s", type(error).__name__)

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
