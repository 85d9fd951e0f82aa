"""Our one adapter over the Microsoft 365 Agents SDK's internals (pinned: 1.9.x).

The SDK covers the Bot Framework protocol, token validation and token acquisition, but leaves
three things without a public hook, which sovereign and test clouds (and our offline tests)
need:

- **The key set for incoming tokens.** `JwtTokenValidator` fetches no OpenID metadata: it
  picks a hard-coded JWKS URL by the token's issuer. `KeySet` subclasses the SDK's private
  `_JwkClientManager` and, when `LESSONS_TEAMS_JWKS_URL` is set, takes keys from there (a JWKS
  document, or an OpenID configuration naming one). `Validator` gives each validator our key
  set as an instance attribute, instead of the SDK's process-wide class attribute.
- **msal for a custom authority.** The SDK passes msal neither `instance_discovery` nor an
  HTTP client; with a custom https authority msal first asks login.microsoftonline.com to
  discover it (which fails in a private cloud or offline). `Msal` builds the same
  `ConfidentialClientApplication` with instance discovery off for hosts msal does not know.
- **msal off the event loop.** The SDK builds msal's client on the event loop, and msal's
  constructor does blocking HTTP (tenant discovery). `Msal` builds it in a worker thread.

Every token failure becomes a refusal here (`authorize`): the SDK's own path answers 500 to a
token without a key id, such as one with `alg: none`. And every token must expire: the SDK
accepts one without `exp` (`check_lifetime`). Signing keys are kept five minutes, and a
validated token is accepted again for five minutes at most (never past its expiry) without a
second check of its signature: the Bot Framework sends one token with every request.

The SDK's version is checked when Teams starts (`check_version`): a new minor version may move
these internals, so it must be tried and the pin in pyproject.toml raised on purpose.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import urllib.request
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeGuard
from urllib.parse import urlsplit

import jwt
from azure.core.credentials import AccessToken
from microsoft_agents.activity import load_configuration_from_env
from microsoft_agents.authentication.msal import MsalAuth
from microsoft_agents.hosting.core import (
    AgentAuthConfiguration,
    ClaimsIdentity,
    ConnectionManager,
)
from microsoft_agents.hosting.core.authorization import AuthTypes
from microsoft_agents.hosting.core.authorization.jwt import JwtTokenValidator
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import (
    _JwkClientManager,
)
from msal import ConfidentialClientApplication
from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

from bot.teams.errors import TeamsStartupError

log = logging.getLogger(__name__)

PINNED = "1.9."
PACKAGES = ("microsoft-agents-hosting-core", "microsoft-agents-authentication-msal")
PREFIX = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
SDK_KEYS = ("CONNECTIONS__", "CONNECTIONSMAP__")
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
KEY_TTL = 300.0  # seconds a signing key is used before the key set is read again
MAX_KEYS = 64
TOKEN_TTL = 300.0  # seconds a validated token is accepted again without a second check
MAX_TOKENS = 1_000
_OPENID = ("openid-configuration", "openidconfiguration")
# Clock skew allowed on a token's `exp` and `nbf`, in seconds (the SDK's own check allows 300).
LEEWAY_SECONDS = 60


def check_version() -> None:
    """Refuse an SDK other than the minor version the adapter was written for."""
    for package in PACKAGES:
        try:
            found = version(package)
        except PackageNotFoundError:
            raise TeamsStartupError(f"{package} is not installed.") from None
        if not found.startswith(PINNED):
            raise TeamsStartupError(
                f"{package} {found} is installed, but bot/teams/sdk.py reaches into the SDK's "
                f"internals as of {PINNED}x: install {package}=={PINNED}* (pyproject.toml)."
            )


def sdk_environment(env: Mapping[str, str]) -> dict[str, str]:
    """Return the SDK's own variables of an environment (CONNECTIONS__…, CONNECTIONSMAP__…)."""
    return {k: v for k, v in env.items() if k.startswith(SDK_KEYS) and v.strip()}


def connections(env: Mapping[str, str]) -> ConnectionManager:
    """Return the SDK's connection manager for the SDK's variables, with our msal provider.

    Issuers are always checked (the SDK leaves it off by default): a token must come from the
    Bot Framework or the connection's tenant, or from an issuer listed in `…ISSUERS`.
    """
    config = load_configuration_from_env(sdk_environment(env))
    for connection in config["CONNECTIONS"].values():
        if isinstance(connection, dict) and isinstance(connection.get("SETTINGS"), dict):
            connection["SETTINGS"]["VALIDATE_ISSUER"] = "true"
    try:
        return ConnectionManager(provider_factory=Msal, **config)
    except (ValueError, TypeError) as exc:
        raise TeamsStartupError(f"The Teams configuration is not usable: {exc}") from None


# Incoming tokens --------------------------------------------------------------------------


class KeySet(_JwkClientManager):
    """The keys incoming tokens are checked with: the SDK's choice, or a configured URL.

    Only RS256 tokens naming a key id get this far (the validator accepts nothing else).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.url = url
        self.clock, self.wall = clock, wall
        self._jwks_uri: str | None = None
        self._keys: dict[tuple[str, str], tuple[float, jwt.PyJWK]] = {}
        self._checked: dict[str, tuple[float, dict[str, Any]]] = {}

    def checked(self, token: str) -> dict[str, Any] | None:
        """Return the claims of a token validated lately, until it expires (else None)."""
        kept = self._checked.get(token)
        if kept is None or kept[0] <= self.wall():
            return None
        return kept[1]

    def keep(self, token: str, claims: dict[str, Any]) -> None:
        """Remember a validated token for TOKEN_TTL seconds at most, never past its expiry.

        The Bot Framework sends one token with every request for up to an hour: checking its
        signature again each time cost more than anything else in our handling of a request.
        """
        expires = claims.get("exp")
        if not isinstance(expires, int | float):
            return
        if len(self._checked) >= MAX_TOKENS:
            self._checked.clear()
        self._checked[token] = (min(float(expires), self.wall() + TOKEN_TTL), dict(claims))

    async def get_signing_key(self, jwks_uri: str, header: dict[str, Any]) -> jwt.PyJWK:
        """Return the key of a token header from the configured key set (else the SDK's).

        A key found is kept for KEY_TTL seconds: the SDK would read it from the key set's
        document again in a worker thread, and parse it, for every request.
        """
        if header.get("alg") != "RS256":
            raise jwt.InvalidAlgorithmError("only RS256 tokens are accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise jwt.InvalidTokenError("the token names no key id")
        configured = self.url
        if configured:
            resolved = self._jwks_uri
            if resolved is None:
                resolved = await asyncio.to_thread(self.resolve, configured)
            jwks_uri = resolved
        now = self.clock()
        kept = self._keys.get((jwks_uri, kid))
        if kept is not None and kept[0] > now:
            return kept[1]
        key: jwt.PyJWK = await super().get_signing_key(jwks_uri, header)
        if len(self._keys) >= MAX_KEYS:
            self._keys.clear()
        self._keys[(jwks_uri, kid)] = (now + KEY_TTL, key)
        return key

    def resolve(self, url: str) -> str:
        """Return the JWKS URL itself, or the `jwks_uri` an OpenID configuration names."""
        if not urlsplit(url).path.rstrip("/").lower().endswith(_OPENID):
            self._jwks_uri = url
            return url
        with urllib.request.urlopen(url, timeout=10) as response:
            document = json.loads(response.read())
        found = document.get("jwks_uri") if isinstance(document, dict) else None
        if not isinstance(found, str) or not found.startswith(("https://", "http://")):
            raise jwt.PyJWKClientError(f"no jwks_uri in the OpenID configuration at {url}")
        self._jwks_uri = found
        return found


class Validator(JwtTokenValidator):
    """The SDK's token validator, with our key set instead of its process-wide one."""

    def __init__(self, configuration: AgentAuthConfiguration, keys: _JwkClientManager) -> None:
        super().__init__(configuration)
        self._jwk_client_manager = keys


async def authorize(
    header: str | None,
    configuration: AgentAuthConfiguration,
    keys: KeySet,
    *,
    clock: Callable[[], float] = time.time,
) -> ClaimsIdentity | None:
    """Return the claims of the request's bearer token; None when the request is refused.

    On top of the SDK's checks, the token must expire and be valid now (`check_lifetime`).
    No header at all passes only with `…ANONYMOUS_ALLOWED=true` (local development).
    """
    if not header:
        return ClaimsIdentity() if configuration.ANONYMOUS_ALLOWED else None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or any(char.isspace() for char in token):
        return None
    kept = keys.checked(token)
    if kept is not None:
        return ClaimsIdentity(dict(kept), security_token=token)
    try:
        identity = await Validator(configuration, keys).validate_token(token)
        check_lifetime(identity.claims, now=clock())
    except Exception as exc:  # any failure is a refusal, never a 500 (alg: none, no kid…)
        log.info("Teams: refused a token (%s)", type(exc).__name__)
        return None
    keys.keep(token, identity.claims)
    return identity


def check_lifetime(claims: Mapping[str, Any], *, now: float) -> None:
    """Refuse a token with no expiry, expired, or not valid yet, beyond a small leeway.

    The SDK decodes with PyJWT, which checks `exp` and `nbf` only when present, with five
    minutes of leeway: a token without `exp` would be good forever.
    """
    expires = claims.get("exp")
    if not _seconds(expires):
        raise jwt.MissingRequiredClaimError("exp")
    if now > expires + LEEWAY_SECONDS:
        raise jwt.ExpiredSignatureError("the token has expired")
    starts = claims.get("nbf")
    if starts is None:
        return
    if not _seconds(starts):
        raise jwt.InvalidTokenError("nbf is not a time")
    if now < starts - LEEWAY_SECONDS:
        raise jwt.ImmatureSignatureError("the token is not valid yet")


def _seconds(value: Any) -> TypeGuard[float]:
    """Return True for a NumericDate (seconds since 1970), as JWT claims hold times."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# Outgoing tokens --------------------------------------------------------------------------


class Msal(MsalAuth):
    """The SDK's msal provider: custom authorities without instance discovery, built off-loop."""

    async def _get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> AccessToken:
        """Build msal's client in a worker thread first: its constructor does blocking HTTP."""
        if not self._msal_auth_client_map:
            await asyncio.to_thread(self._get_client)
        token: AccessToken = await super()._get_access_token(resource_url, scopes, force_refresh)
        return token

    def _create_client_application(self, tenant_id: str | None = None) -> Any:
        """Build the client as the SDK does, but without instance discovery for custom hosts."""
        config = self._msal_configuration
        authority = MsalAuth._resolve_authority(config, tenant_id)
        if AuthTypes.client_secret != config.AUTH_TYPE or _known_host(authority):
            return super()._create_client_application(tenant_id)
        return ConfidentialClientApplication(
            client_id=config.CLIENT_ID,
            authority=authority,
            client_credential=config.CLIENT_SECRET,
            azure_region=MsalAuth._resolve_azure_region(config),
            instance_discovery=False,
        )

    async def access_token(self, resource_url: str, scopes: list[str]) -> AccessToken:
        """Return a token with its expiry (`get_access_token` gives only the token)."""
        return await self._get_access_token(resource_url, scopes)

    def close(self) -> None:
        """Close msal's HTTP sessions (they keep connections to the authority open)."""
        for client in list(self._msal_auth_client_map.values()):
            closing = getattr(getattr(client, "http_client", None), "close", None)
            if closing is not None:
                closing()
        self._msal_auth_client_map.clear()

    async def check(self) -> None:
        """Get a token for the Bot Framework now: refused credentials stop the bot at start-up.

        An authority that cannot be reached is only logged (replies will retry).
        """
        if not self._msal_configuration.CLIENT_ID:
            return
        try:
            await self.get_access_token("https://api.botframework.com", [BOT_FRAMEWORK_SCOPE])
        except ValueError as exc:  # msal's answer: invalid_client, unauthorized_client…
            raise TeamsStartupError(
                f"Teams: the token authority refused the bot's credentials: {exc}"
            ) from None
        except OSError as exc:
            log.warning("Teams: the token authority is not reachable yet: %s", exc)


def close(connections: ConnectionManager) -> None:
    """Close what the connections' msal clients hold open."""
    provider = connections.get_default_connection()
    if isinstance(provider, Msal):
        provider.close()


def _known_host(authority: str) -> bool:
    return (urlsplit(authority).hostname or "").lower() in WELL_KNOWN_AUTHORITY_HOSTS
