"""A fake Microsoft identity platform, over HTTPS on loopback, for the real botframework and MSAL code.

Inbound (channel → bot): `openid_metadata_url` serves the Bot Framework channel OpenID metadata
and its JWKS; `channel_token(...)` signs a token like the one the Bot Connector sends a bot.
Outbound (bot → channel): MSAL's client-credentials flow against `login_url(tenant)`, i.e. tenant
discovery (`<authority>/v2.0/.well-known/openid-configuration`) then `POST /<tenant>/oauth2/v2.0/token`;
every token request is recorded in `token_requests`. `config(...)` gives the configuration object
`ConfigurationBotFrameworkAuthentication` reads, wired to all of the above.

HTTPS because MSAL takes https authorities only: a throwaway CA (written to `ca_bundle`) signs the
server's certificate for 127.0.0.1. Tests set REQUESTS_CA_BUNDLE to it: MSAL and botframework's
OpenID metadata client both use `requests`, which reads that variable.

Two quirks of botframework-connector 4.17.1 / msal 1.39 shape the URLs:
* The SDK never passes VALIDATE_AUTHORITY to MSAL, so for any authority host MSAL does not know it
  would run "instance discovery" against https://login.microsoftonline.com (the internet). MSAL
  skips it for B2C-shaped authorities (`https://host/<tenant>/<B2C_…policy>`), so `login_url`
  has that shape; the tenant stays the first path segment, as on login.microsoftonline.com.
* botframework caches OpenID metadata per URL for the whole process (refreshed daily), so each
  instance serves it under a path of its own: a later fake on a reused port is not mistaken for this one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import secrets
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from jwt.algorithms import RSAAlgorithm

JSON = dict[str, Any]
BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"  # iss of channel → bot tokens
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com"  # resource of bot → channel tokens
BOT_FRAMEWORK_TENANT = "botframework.com"  # where multi-tenant bots get their tokens
B2C_POLICY = "B2C_1_loopback"  # see the module docstring: keeps MSAL off login.microsoftonline.com
CALLER_ID_PUBLIC_AZURE = "urn:botframework:azure"


@dataclass(frozen=True)
class TokenRequest:
    """One `POST /<tenant>/oauth2/v2.0/token`, answered or refused."""

    tenant: str  # the first path segment of the token URL
    client_id: str
    scope: str
    grant_type: str
    status: int  # what the fake answered: 200, 400, 401...
    error: str | None  # the AAD error code ("invalid_client"...) when refused


@dataclass(frozen=True)
class _SigningKey:
    kid: str
    private: rsa.RSAPrivateKey
    cert_der: bytes

    @property
    def x5t(self) -> str:
        return _b64url(hashlib.sha1(self.cert_der).digest())

    def jwk(self, endorsements: Sequence[str]) -> JSON:
        key: JSON = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)  # type: ignore[assignment]
        key |= {"use": "sig", "kid": self.kid, "x5t": self.x5t}
        key |= {"x5c": [base64.b64encode(self.cert_der).decode()], "endorsements": list(endorsements)}
        return key

    def sign(self, claims: JSON, kid: str | None = None) -> str:
        headers = {"kid": self.kid if kid is None else kid, "x5t": self.x5t, "typ": "JWT"}
        return jwt.encode(claims, self.private, algorithm="RS256", headers=headers)


class FakeIdentity:
    """`with FakeIdentity(apps={"app-id": "secret"}) as idp:` serves on `idp.base_url` (HTTPS)."""

    def __init__(
        self, apps: Mapping[str, str] | None = None, *, endorsements: Sequence[str] = ("msteams",)
    ) -> None:
        self.endorsements = list(endorsements)
        self._cond = threading.Condition()
        self._apps: dict[str, str] = dict(apps or {})
        self._token_requests: list[TokenRequest] = []
        self._hits: list[str] = []
        self._token_script: deque[tuple[int, str]] = deque()
        self._nonce = secrets.token_hex(4)
        self._metadata_open = threading.Event()  # cleared: metadata requests wait (a slow endpoint)
        self._metadata_open.set()
        self._published = _signing_key(f"fake-bf-{self._nonce}-1")
        self._unpublished = _signing_key(f"fake-bf-{self._nonce}-unknown")
        ca_cert, server_key, server_cert = _tls_material()
        self._tmpdir = tempfile.TemporaryDirectory(prefix="fake-identity-")
        self.ca_bundle = os.path.join(self._tmpdir.name, "ca.pem")
        with open(self.ca_bundle, "wb") as f:
            f.write(ca_cert.public_bytes(serialization.Encoding.PEM))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        chain, key = os.path.join(self._tmpdir.name, "server.pem"), os.path.join(self._tmpdir.name, "key.pem")
        with open(chain, "wb") as f:
            f.write(server_cert.public_bytes(serialization.Encoding.PEM))
        with open(key, "wb") as f:
            f.write(
                server_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        context.load_cert_chain(chain, key)
        self._server = _TLSServer(("127.0.0.1", 0), _handler_for(self), context)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="fake-identity"
        )
        self._thread.start()

    # Addresses.
    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_port}"

    @property
    def openid_metadata_url(self) -> str:
        """TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL (login.botframework.com/v1/.well-known/openidconfiguration)."""
        return f"{self.base_url}/{self._nonce}/v1/.well-known/openidconfiguration"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/{self._nonce}/v1/.well-known/keys"

    @property
    def emulator_metadata_url(self) -> str:
        """TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL: only read for Emulator/skill-looking tokens."""
        return f"{self.base_url}/{self._nonce}/emulator/v2.0/.well-known/openid-configuration"

    def login_url(self, tenant: str = BOT_FRAMEWORK_TENANT) -> str:
        """The authority to configure as TO_CHANNEL_FROM_BOT_LOGIN_URL (used as is: the SDK adds no tenant)."""
        return f"{self.base_url}/{tenant}/{B2C_POLICY}"

    def token_url(self, tenant: str = BOT_FRAMEWORK_TENANT) -> str:
        return f"{self.base_url}/{tenant}/oauth2/v2.0/token"

    # Keys and tokens.
    @property
    def kid(self) -> str:
        """The key id of the published signing key."""
        return self._published.kid

    @property
    def unknown_kid(self) -> str:
        """The key id of the key that signs but is not in the JWKS."""
        return self._unpublished.kid

    def jwks(self) -> JSON:
        return {"keys": [self._published.jwk(self.endorsements)]}

    def channel_token(
        self,
        app_id: str,
        service_url: str,
        *,
        expires_in: int = 3600,
        kid: str | None = None,
        unknown_key: bool = False,
        issuer: str = BOT_FRAMEWORK_ISSUER,
        audience: str | None = None,
        claims: JSON | None = None,
    ) -> str:
        """A token like the Bot Connector's on its requests to a bot (send it as "Bearer <token>").

        `expires_in` < 0 gives an expired token, but botframework allows 5 minutes of clock skew:
        it is refused only below -300. `unknown_key` signs with the key not in the JWKS; `kid`
        overrides the header's key id (with `unknown_key`, `kid=idp.kid` forges a signature).
        `claims` are added to (or replace) the standard ones.
        """
        now = int(time.time())
        exp = now + expires_in
        start = min(now, exp) - 300  # the channel's nbf is about 5 minutes in the past
        body: JSON = {"serviceurl": service_url, "nbf": start, "iat": start, "exp": exp}
        body |= {"iss": issuer, "aud": app_id if audience is None else audience}
        body |= claims or {}
        key = self._unpublished if unknown_key else self._published
        return key.sign(body, kid)

    def access_token(
        self, client_id: str, *, tenant: str = BOT_FRAMEWORK_TENANT, scope: str = BOT_FRAMEWORK_SCOPE
    ) -> str:
        """What the token endpoint issues: an app-only v2.0 token for `scope` (without "/.default")."""
        now = int(time.time())
        claims: JSON = {"aud": scope, "iss": f"{self.base_url}/{tenant}/v2.0", "iat": now - 300}
        claims |= {"nbf": now - 300, "exp": now + 3600, "azp": client_id, "appid": client_id}
        claims |= {"azpacr": "1", "idtyp": "app", "sub": client_id, "tid": tenant, "ver": "2.0"}
        claims |= {"oid": str(uuid.uuid5(uuid.NAMESPACE_URL, client_id)), "uti": secrets.token_urlsafe(16)}
        return self._published.sign(claims)

    def verify_access_token(self, token: str, *, audience: str = BOT_FRAMEWORK_SCOPE) -> JSON | None:
        """The claims of a token this fake's token endpoint issued (for `audience`), else None."""
        try:
            claims: JSON = jwt.decode(
                token, self._published.private.public_key(), algorithms=["RS256"], audience=audience
            )
        except jwt.PyJWTError:
            return None
        return claims if str(claims.get("iss", "")).startswith(self.base_url + "/") else None

    # Apps and configuration.
    def register(self, app_id: str, password: str) -> None:
        """The token endpoint accepts `app_id` with `password` as its client secret."""
        with self._cond:
            self._apps[app_id] = password

    def config(
        self,
        app_id: str,
        password: str,
        *,
        app_type: str = "MultiTenant",
        tenant_id: str | None = None,
    ) -> SimpleNamespace:
        """Configuration for `ConfigurationBotFrameworkAuthentication`, every URL on this fake.

        Setting any TO_* URL switches the SDK to its "parameterized" authentication, which then needs
        all of them (TO_BOT_FROM_CHANNEL_TOKEN_ISSUER in particular: unset, every token is refused).
        A SingleTenant app gets its tokens from its own tenant, a MultiTenant one from botframework.com,
        as in Azure: the SDK ignores APP_TENANTID once TO_CHANNEL_FROM_BOT_LOGIN_URL is set, so the
        tenant must be in that URL. Does not register the app: see `register`.
        """
        if app_type.lower() == "singletenant" and not tenant_id:
            raise ValueError("a SingleTenant app needs tenant_id")
        tenant = tenant_id if app_type.lower() == "singletenant" and tenant_id else BOT_FRAMEWORK_TENANT
        return SimpleNamespace(
            APP_ID=app_id,
            APP_PASSWORD=password,
            APP_TYPE=app_type,
            APP_TENANTID=tenant_id,
            CHANNEL_SERVICE=None,
            VALIDATE_AUTHORITY=False,  # read by the SDK but never handed to MSAL (see module docstring)
            TO_CHANNEL_FROM_BOT_LOGIN_URL=self.login_url(tenant),
            TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=BOT_FRAMEWORK_SCOPE,
            TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=BOT_FRAMEWORK_ISSUER,
            TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=self.openid_metadata_url,
            TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=self.emulator_metadata_url,
            OAUTH_URL=f"{self.base_url}/{self._nonce}/oauth-api",  # user-token (sign-in) API: not served
            CALLER_ID=CALLER_ID_PUBLIC_AZURE,
        )

    # Observation and scripting.
    @property
    def token_requests(self) -> list[TokenRequest]:
        with self._cond:
            return list(self._token_requests)

    @property
    def hits(self) -> list[str]:
        """Every request served, as "METHOD /path"."""
        with self._cond:
            return list(self._hits)

    def wait_for_token_requests(self, count: int = 1, timeout: float = 10) -> list[TokenRequest]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._token_requests) < count:
                if time.monotonic() >= deadline:
                    raise AssertionError(
                        f"wanted {count} token request(s) within {timeout}s, got {len(self._token_requests)}"
                    )
                self._cond.wait(deadline - time.monotonic())
            return list(self._token_requests)

    def fail_token_requests(
        self, times: int = 1, status: int = 503, error: str = "temporarily_unavailable"
    ) -> None:
        """The next `times` token requests get this AAD-style error, whatever their credentials."""
        with self._cond:
            self._token_script.extend([(status, error)] * times)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._tmpdir.cleanup()

    def __enter__(self) -> FakeIdentity:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def hold_metadata(self) -> None:
        """From now on, requests for the OpenID metadata wait until `release_metadata`."""
        self._metadata_open.clear()

    def release_metadata(self) -> None:
        self._metadata_open.set()

    def wait_for_hit(self, fragment: str, timeout: float = 60) -> None:
        """Block until a request whose path contains `fragment` has arrived."""
        with self._cond:
            if not self._cond.wait_for(lambda: any(fragment in h for h in self._hits), timeout):
                raise AssertionError(f"no request for {fragment} within {timeout}s: {self._hits}")

    # Serving: called from handler threads.
    def _get(self, path: str) -> tuple[int, JSON]:
        parts = path.strip("/").split("/")
        if parts[1:] == ["v1", ".well-known", "openidconfiguration"] and parts[0] == self._nonce:
            self._metadata_open.wait(timeout=120)
        if parts[0] == self._nonce:
            match parts[1:]:
                case ["v1", ".well-known", "openidconfiguration"]:
                    # What login.botframework.com serves, but for its addresses.
                    return 200, {
                        "issuer": BOT_FRAMEWORK_ISSUER,
                        "authorization_endpoint": "https://invalid.botframework.com",
                        "jwks_uri": self.jwks_url,
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                    }
                case ["v1", ".well-known", "keys"] | ["emulator", "discovery", "v2.0", "keys"]:
                    return 200, self.jwks()
                case ["emulator", "v2.0", ".well-known", "openid-configuration"]:
                    return 200, self._tenant_metadata("common") | {
                        "jwks_uri": f"{self.base_url}/{self._nonce}/emulator/discovery/v2.0/keys"
                    }
        elif parts[-3:] == ["v2.0", ".well-known", "openid-configuration"] and len(parts) >= 4:
            return 200, self._tenant_metadata(
                parts[0]
            )  # MSAL's tenant discovery: /<tenant>/<policy>/v2.0/...
        elif parts[1:] == ["discovery", "v2.0", "keys"]:
            return 200, self.jwks()
        return 404, _aad_error("invalid_request", 90002, f"Tenant or resource '{path}' not found.", "unknown")

    def _tenant_metadata(self, tenant: str) -> JSON:
        base = f"{self.base_url}/{tenant}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "tenant_region_scope": "WW",
            "cloud_instance_name": "127.0.0.1",
            "cloud_graph_host_name": "127.0.0.1",
            "msgraph_host": "127.0.0.1",
        }

    def _token(self, path: str, form: dict[str, str]) -> tuple[int, JSON]:
        parts = path.strip("/").split("/")
        if parts[1:] != ["oauth2", "v2.0", "token"]:
            return 404, _aad_error("invalid_request", 90002, f"'{path}' is not a token endpoint.", "unknown")
        tenant, client_id = parts[0], form.get("client_id", "")
        scope, grant_type = form.get("scope", ""), form.get("grant_type", "")
        with self._cond:
            scripted = self._token_script.popleft() if self._token_script else None
            known = self._apps.get(client_id)
        status, answer = 200, {}
        if scripted:
            status, answer = scripted[0], _aad_error(scripted[1], 50000 + status, "Scripted failure.", tenant)
        elif grant_type != "client_credentials":
            answer = _aad_error(
                "unsupported_grant_type", 70003, "The app requested an unsupported grant type.", tenant
            )
            status = 400
        elif known is None:
            status, answer = (
                400,
                _aad_error(
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
                    tenant,
                ),
            )
        elif not form.get("client_secret"):
            status, answer = (
                401,
                _aad_error(
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                    tenant,
                ),
            )
        elif not secrets.compare_digest(form["client_secret"], known):
            status, answer = (
                401,
                _aad_error(
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                    f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
                    tenant,
                ),
            )
        elif not scope.endswith("/.default") or " " in scope:
            status, answer = (
                400,
                _aad_error(
                    "invalid_scope",
                    1002012,
                    f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                    "scope value with /.default suffixed to the resource identifier (application ID URI).",
                    tenant,
                ),
            )
        else:
            token = self.access_token(client_id, tenant=tenant, scope=scope.removesuffix("/.default"))
            answer = {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": token,
            }
        error = answer.get("error")
        with self._cond:
            self._token_requests.append(TokenRequest(tenant, client_id, scope, grant_type, status, error))
            self._cond.notify_all()
        return status, answer

    def _hit(self, method: str, path: str) -> None:
        with self._cond:
            self._hits.append(f"{method} {path}")
            self._cond.notify_all()


def _aad_error(error: str, code: int, description: str, tenant: str) -> JSON:
    trace, correlation = uuid.uuid4(), uuid.uuid4()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {stamp}"
        ),
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": str(trace),
        "correlation_id": str(correlation),
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        "tenant": tenant,
    }


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _signing_key(kid: str) -> _SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("login.botframework.com (fake)"))
        .issuer_name(_name("login.botframework.com (fake)"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return _SigningKey(kid, key, cert.public_bytes(serialization.Encoding.DER))


def _tls_material() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A throwaway CA's certificate, and a key and certificate it signs for 127.0.0.1 (EC keys: instant).

    The CA's key signs this one certificate and is forgotten."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"Fake identity test CA {secrets.token_hex(4)}")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca_cert, server_key, server_cert


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext
    ):
        self._context = context
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        sock.settimeout(10)
        # The handshake runs in the handler's thread (finish_request), not in the accept loop.
        return self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return  # a client that does not trust the CA hangs up here
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError | TimeoutError):
            super().handle_error(request, client_address)


def _handler_for(fake: FakeIdentity) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, answer: JSON) -> None:
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json; charset=utf-8")
            self.send_header("content-length", str(len(payload)))
            self.send_header("cache-control", "no-store, no-cache")
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            fake._hit("GET", path)
            self._answer(*fake._get(path))

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            path = urlsplit(self.path).path
            fake._hit("POST", path)
            self._answer(*fake._token(path, dict(parse_qsl(body, keep_blank_values=True))))

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
