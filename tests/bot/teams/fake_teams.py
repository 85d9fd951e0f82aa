"""A fake Microsoft Teams on 127.0.0.1 for the Teams tests: issuer, token authority, connector.

Teams can't be reached from the tests and our own code is never mocked: the bot runs the real
Microsoft 365 Agents SDK (CloudAdapter, AgentApplication, JwtTokenValidator, MsalAuth → msal)
against three local services, served from a thread of their own (msal builds its client with
blocking HTTP; on the bot's own loop it would deadlock):

* **An OpenID issuer** (HTTPS): `/issuer/.well-known/openid-configuration` and the JWKS at
  `/issuer/keys`, with an RSA test key. `token()` signs incoming activity tokens the way the
  Bot Framework does (iss `https://api.botframework.com`, aud the bot's app id, `serviceurl`),
  and can forge the bad ones (wrong issuer or audience, expired, another key, an unknown key
  id, `alg: none`).
* **A token authority** (HTTPS, with a test CA: msal refuses http:// authorities): the OpenID
  configuration msal discovers and the client-credentials flow at `/<tenant>/oauth2/v2.0/token`.
  It hands out opaque tokens and remembers them.
* **A connector service** (HTTP; the SDK lets a serviceUrl be anything unless told otherwise):
  the Bot Connector API calls the SDK makes (send, reply, update, members, create a
  conversation), each checked for a bearer token the authority issued; every Adaptive Card is
  checked against the official Adaptive Card 1.5 schema in ../shared/schemas/teams.

Payload builders (`personal_message`, `channel_message`, `execute`, `submit`,
`installed_personal`, `installed_in_team`, `compose_query`, …) return activities shaped like
the ones Teams posts (field names and nesting as in Microsoft's Bot Framework and Teams docs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import itertools
import json
import os
import socket
import ssl
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

JSON = dict[str, Any]

APP_ID = "00000000-0000-4000-8000-00000000b07a"  # the bot's Entra app id (a GUID)
BOT_ID = f"28:{APP_ID}"
SECRET = "test-client-secret"
TENANT = "11111111-1111-4111-8111-111111111111"
BOT_FRAMEWORK = "https://api.botframework.com"
KEY_ID = "test-key-1"
CARD = "application/vnd.microsoft.card.adaptive"
ROOT = Path(__file__).resolve().parents[3]


CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")  # msal, PyJWKClient


def shared_dir() -> Path:
    """Return ../shared (or LESSONS_SHARED_DIR), where the official schemas live."""
    return Path(os.environ.get("LESSONS_SHARED_DIR", ROOT.parent / "shared"))


def card_schema_errors(card: Any) -> list[str]:
    """Return why a card is not a valid Adaptive Card 1.5 (empty when it is, or no schema)."""
    path = shared_dir() / "schemas" / "teams" / "adaptive-cards" / "adaptive-card.1.5.0.json"
    if not path.exists():
        return []
    import jsonschema

    validator = jsonschema.Draft6Validator(json.loads(path.read_text(encoding="utf-8")))
    return [f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in validator.iter_errors(card)]


# Keys and certificates -----------------------------------------------------------------------


def rsa_key() -> rsa.RSAPrivateKey:
    """Return a fresh 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


_CERTIFICATES: list[tuple[Path, ssl.SSLContext]] = []


def _certificates() -> tuple[Path, ssl.SSLContext]:
    """Return the test CA (one per test run) and a server context for 127.0.0.1.

    One CA serves every fake: OpenSSL reads SSL_CERT_FILE once per process, so a second CA
    would not be trusted by urllib (PyJWKClient) however the variable changes.
    """
    if not _CERTIFICATES:
        _CERTIFICATES.append(_new_certificates(Path(tempfile.mkdtemp(prefix="lessons-ca-"))))
    return _CERTIFICATES[0]


def _new_certificates(folder: Path) -> tuple[Path, ssl.SSLContext]:
    now = dt.datetime.now(dt.UTC)
    ca_key, leaf_key = rsa_key(), rsa_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lessons test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "server.key").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return ca_file, context


# The fake --------------------------------------------------------------------------------


@dataclass
class Call:
    """One request to the connector service."""

    method: str
    path: str
    body: Any
    authorized: bool
    peer: int = 0  # the client's port: calls on one kept-alive connection share it


@dataclass
class Member:
    """A Teams user in the fake tenant."""

    aad: str
    teams_id: str
    name: str
    email: str
    reachable: bool = True  # False: Teams refuses to open a personal chat (app not installed)


@dataclass
class _State:
    calls: list[Call] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    token_requests: list[JSON] = field(default_factory=list)
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class FakeTeams:
    """Issuer, token authority and connector service on 127.0.0.1, in their own thread."""

    def __init__(self) -> None:
        self.key = rsa_key()
        self.members: dict[str, Member] = {}
        self.state = _State()
        self._lock = threading.Lock()
        self._ids = itertools.count(1_700_000_000_001)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []
        self.https_port = 0
        self.http_port = 0
        self.anonymous = False  # accept calls without a token (the bot's anonymous mode)
        # Check every card against the Adaptive Card schema (~0.2 s a card: off under load).
        self.check_cards = True
        self.ca_file = Path()

    # Life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> FakeTeams:
        self.ca_file, context = _certificates()
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(context), self._loop)
        self.https_port, self.http_port = future.result(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self, context: ssl.SSLContext) -> tuple[int, int]:
        # Close every HTTPS connection after its answer: an idle TLS connection would wait for
        # its peer's close_notify when the fake stops, and outlive the fake's event loop.
        secure = web.Application(middlewares=[_one_request_per_connection])
        secure.router.add_get("/issuer/.well-known/openid-configuration", self._issuer_config)
        secure.router.add_get("/issuer/keys", self._keys)
        secure.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._tenant)
        secure.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        connector = web.Application()
        connector.router.add_route("*", "/{tail:.*}", self._connector)
        ports = []
        for app, ssl_context in ((secure, context), (connector, None)):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
            await site.start()
            self._runners.append(runner)
            ports.append(runner.addresses[0][1])
        return ports[0], ports[1]

    async def _stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    # Addresses and settings ------------------------------------------------------------------

    @property
    def issuer_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}/issuer"

    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self.https_port}/{TENANT}"

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"

    def env(self, **extra: str) -> dict[str, str]:
        """Return the environment that points the bot at this fake."""
        prefix = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
        return {
            f"{prefix}CLIENTID": APP_ID,
            f"{prefix}CLIENTSECRET": SECRET,
            f"{prefix}TENANTID": TENANT,
            f"{prefix}AUTHORITY": self.authority,
            "LESSONS_TEAMS_JWKS_URL": f"{self.issuer_url}/.well-known/openid-configuration",
            "LESSONS_TEAMS_SERVICE_HOSTS": "any",
            **extra,
        }

    def reset(self) -> None:
        """Forget what happened (one fake serves a whole test module)."""
        with self._lock:
            tokens = self.state.tokens  # msal keeps its token: keep honouring it
            self.state = _State(tokens=tokens)

    def add_member(self, member: Member) -> None:
        self.members[member.aad] = member

    def fail_next(self, status: int, **headers: str) -> None:
        """Answer the next connector call with this status (e.g. 429 with Retry-After)."""
        with self._lock:
            self.state.faults.append((status, headers))

    def answer_raw_next(self, status: int, body: str, content_type: str = "text/html") -> None:
        """Carry out the next connector call, then answer it with a body that is not JSON (a
        proxy's page in front of the connector)."""
        with self._lock:
            self.state.faults.append((-status, {"body": body, "content_type": content_type}))

    def drop_next(self) -> None:
        """Reset the connection of the next connector call (TCP RST, no answer)."""
        with self._lock:
            self.state.faults.append((0, {}))

    # Tokens ----------------------------------------------------------------------------------

    def token(
        self,
        *,
        issuer: str = BOT_FRAMEWORK,
        audience: str = APP_ID,
        expires_in: int | None = 3600,
        not_before_in: int | None = -60,
        key: rsa.RSAPrivateKey | bytes | None = None,
        kid: str | None = KEY_ID,
        algorithm: str = "RS256",
        service_url: str | None = None,
    ) -> str:
        """Return a token like the Bot Framework's for an incoming activity (or a forged one).

        `expires_in` and `not_before_in` are seconds from now (None: no `exp`, no `nbf`).
        """
        now = int(time.time())
        claims: JSON = {
            "serviceurl": service_url or self.service_url,
            "iss": issuer,
            "aud": audience,
        }
        if not_before_in is not None:
            claims["nbf"] = now + not_before_in
        if expires_in is not None:
            claims["exp"] = now + expires_in
        headers = {"kid": kid} if kid else {}
        if algorithm == "none":
            return jwt.encode(claims, "", algorithm="none", headers=headers)
        return jwt.encode(claims, key or self.key, algorithm=algorithm, headers=headers)

    def jwks(self) -> JSON:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]}

    # What happened ---------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self.state.calls)

    def sent(self, conversation: str | None = None) -> list[JSON]:
        """Return the activities the bot sent (send, reply, update), in one conversation or all."""
        wanted = f"/conversations/{conversation}/"
        return [
            call.body
            for call in self.calls
            if call.method in ("POST", "PUT")
            and "/activities" in call.path
            and (conversation is None or wanted in call.path + "/")
        ]

    def cards(self, conversation: str | None = None) -> list[JSON]:
        """Return the Adaptive Cards the bot sent."""
        return [
            a["content"]
            for activity in self.sent(conversation)
            for a in activity.get("attachments") or []
            if a.get("contentType") == CARD
        ]

    def assert_clean(self) -> None:
        """Every connector call carried an issued token, and every card was valid."""
        with self._lock:
            problems = list(self.state.problems)
        assert not problems, problems

    # Handlers (the fake's thread) --------------------------------------------------------------

    async def _issuer_config(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": BOT_FRAMEWORK,
                "jwks_uri": f"{self.issuer_url}/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _keys(self, _request: web.Request) -> web.Response:
        return web.json_response(self.jwks())

    async def _tenant(self, request: web.Request) -> web.Response:
        base = f"https://127.0.0.1:{self.https_port}/{request.match_info['tenant']}"
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "token"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        with self._lock:
            self.state.token_requests.append({k: str(v) for k, v in form.items()})
        ok = (
            request.match_info["tenant"] == TENANT
            and form.get("grant_type") == "client_credentials"
            and form.get("client_id") == APP_ID
            and form.get("client_secret") == SECRET
            and form.get("scope") == f"{BOT_FRAMEWORK}/.default"
        )
        if not ok:
            return web.json_response(
                {"error": "invalid_client", "error_description": "AADSTS7000215: bad secret"},
                status=401,
            )
        token = f"token-{uuid.uuid4().hex}"
        with self._lock:
            self.state.tokens.add(token)
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
        )

    async def _connector(self, request: web.Request) -> web.Response:
        body: Any = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = await request.text()
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self._lock:
            authorized = bearer in self.state.tokens or (self.anonymous and not bearer)
            transport = request.transport
            peername = transport.get_extra_info("peername") if transport else None
            peer = peername[1] if peername else 0
            self.state.calls.append(Call(request.method, request.path, body, authorized, peer))
            fault = self.state.faults.pop(0) if self.state.faults else None
            if not authorized:
                self.state.problems.append(f"{request.method} {request.path}: no issued token")
        if not authorized:
            return web.json_response({"error": {"code": "Unauthorized"}}, status=401)
        if fault is not None and fault[0] == 0:
            _reset(request)
            return web.Response()  # never written: the connection is gone
        if fault is not None and fault[0] < 0:  # done, then answered with a raw body
            self._answer(request, body)
            raw = fault[1]
            return web.Response(
                body=raw["body"].encode(),
                status=-fault[0],
                headers={"Content-Type": raw["content_type"]},
            )
        if fault is not None:
            return web.json_response(
                {"error": {"code": "Fault"}}, status=fault[0], headers=fault[1]
            )
        return self._answer(request, body)

    def _answer(self, request: web.Request, body: Any) -> web.Response:
        parts = request.path.strip("/").split("/")
        if parts[:2] != ["v3", "conversations"]:
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        if len(parts) == 2 and request.method == "POST":
            return self._create(body)
        if len(parts) >= 4 and parts[3] == "activities":
            self._check_cards(request.path, body)
            activity_id = parts[4] if request.method == "PUT" else str(next(self._ids))
            return web.json_response({"id": activity_id}, status=200 if len(parts) > 4 else 201)
        if len(parts) == 5 and parts[3] == "members" and request.method == "GET":
            member = next(
                (m for m in self.members.values() if parts[4] in (m.teams_id, m.aad, m.email)),
                None,
            )
            if member is None:
                return web.json_response({"error": {"code": "MemberNotFound"}}, status=404)
            return web.json_response(_member_json(member))
        return web.json_response({"error": {"code": "BadSyntax"}}, status=400)

    def _create(self, body: Any) -> web.Response:
        members = body.get("members") or [] if isinstance(body, dict) else []
        first = members[0].get("id") if members and isinstance(members[0], dict) else None
        wanted = next((m for m in self.members.values() if m.teams_id == first), None)
        if wanted is None or not wanted.reachable:
            return web.json_response(
                {
                    "error": {
                        "code": "Forbidden",
                        "message": "Bot is not installed in user's personal scope",
                    }
                },
                status=403,
            )
        return web.json_response({"id": f"a:personal-{wanted.aad}"}, status=201)

    def _check_cards(self, path: str, body: Any) -> None:
        if not self.check_cards:
            return
        for attachment in (body or {}).get("attachments") or []:
            if attachment.get("contentType") == CARD:
                for problem in card_schema_errors(attachment.get("content")):
                    with self._lock:
                        self.state.problems.append(f"{path}: {problem}")


def _reset(request: web.Request) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0)."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@web.middleware
async def _one_request_per_connection(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    response.force_close()
    return response


def _member_json(m: Member) -> JSON:
    given, _, surname = m.name.partition(" ")
    return {
        "id": m.teams_id,
        "name": m.name,
        "aadObjectId": m.aad,
        "givenName": given,
        "surname": surname,
        "email": m.email,
        "userPrincipalName": m.email,
        "tenantId": TENANT,
        "userRole": "user",
    }


# Activities ------------------------------------------------------------------------------


def _base(fake: FakeTeams, member: Member, conversation: JSON, **fields: Any) -> JSON:
    activity: JSON = {
        "id": str(next(fake._ids)),
        "timestamp": "2026-11-25T12:00:00.000Z",
        "localTimestamp": "2026-11-25T15:00:00.000+03:00",
        "serviceUrl": fake.service_url,
        "channelId": "msteams",
        "from": {"id": member.teams_id, "name": member.name, "aadObjectId": member.aad},
        "conversation": conversation,
        "recipient": {"id": BOT_ID, "name": "Lessons Bot"},
        "locale": "en-US",
        "channelData": {"tenant": {"id": TENANT}},
        "entities": [{"type": "clientInfo", "locale": "en-US", "country": "US", "platform": "Web"}],
    }
    activity.update(fields)
    return activity


def personal(member: Member) -> JSON:
    """The conversation of a member's personal chat with the bot."""
    return {"conversationType": "personal", "tenantId": TENANT, "id": f"a:personal-{member.aad}"}


def channel(channel_id: str, thread: str | None = None) -> JSON:
    """A channel conversation (a thread of it when `thread` is its root message id)."""
    conversation_id = f"{channel_id};messageid={thread}" if thread else channel_id
    return {
        "isGroup": True,
        "conversationType": "channel",
        "tenantId": TENANT,
        "id": conversation_id,
    }


def team_data(channel_id: str, name: str, team_id: str) -> JSON:
    return {
        "teamsChannelId": channel_id,
        "teamsTeamId": team_id,
        "channel": {"id": channel_id, "name": name},
        "team": {"id": team_id, "name": "Elections"},
        "tenant": {"id": TENANT},
    }


def personal_message(fake: FakeTeams, member: Member, text: str) -> JSON:
    """A message in a member's personal chat with the bot."""
    return _base(fake, member, personal(member), type="message", text=text, textFormat="plain")


def channel_message(
    fake: FakeTeams,
    member: Member,
    text: str,
    *,
    channel_id: str,
    name: str,
    team_id: str,
    thread: str | None = None,
    mention: bool = True,
) -> JSON:
    """A channel message (a new post, or a reply in a thread), @mentioning the bot or not."""
    activity = _base(fake, member, channel(channel_id), type="message", textFormat="plain")
    own = activity["id"]
    activity["conversation"] = channel(channel_id, thread or own)
    activity["channelData"] = team_data(channel_id, name, team_id)
    if mention:
        activity["text"] = f"<at>Lessons Bot</at> {text}"
        activity["entities"].append(
            {
                "type": "mention",
                "mentioned": {"id": BOT_ID, "name": "Lessons Bot"},
                "text": "<at>Lessons Bot</at>",
            }
        )
    else:
        activity["text"] = text
    if thread:
        activity["replyToId"] = thread
    return activity


def execute(
    fake: FakeTeams,
    member: Member,
    action: Mapping[str, Any],
    *,
    conversation: JSON,
    card_id: str,
    inputs: Mapping[str, str] | None = None,
) -> JSON:
    """A click on an Action.Execute (an `adaptiveCard/action` invoke), with the card's inputs."""
    data = {**(action.get("data") or {}), **(inputs or {})}
    value = {
        "action": {"type": "Action.Execute", "verb": action.get("verb"), "data": data},
        "trigger": "manual",
    }
    return _base(
        fake, member, conversation, type="invoke", name="adaptiveCard/action", value=value,
        replyToId=card_id,
    )  # fmt: skip


def submit(
    fake: FakeTeams,
    member: Member,
    data: Mapping[str, Any],
    *,
    conversation: JSON,
    card_id: str,
) -> JSON:
    """A click on an Action.Submit: a message carrying the action's data as its value."""
    channel_data = {
        "tenant": {"id": TENANT},
        "source": {"name": "message"},
        "legacy": {"replyToId": card_id},
    }
    return _base(
        fake, member, conversation, type="message", value=dict(data), replyToId=card_id,
        channelData=channel_data,
    )  # fmt: skip


def installed_personal(fake: FakeTeams, member: Member) -> JSON:
    """The bot was installed by a member for themselves (`conversationUpdate`)."""
    return _base(
        fake, member, personal(member), type="conversationUpdate",
        membersAdded=[{"id": BOT_ID}],
    )  # fmt: skip


def installed_in_team(
    fake: FakeTeams, member: Member, *, channel_id: str, name: str, team_id: str
) -> JSON:
    """The bot was added to a team (`conversationUpdate` in its General channel)."""
    activity = _base(
        fake, member, channel(channel_id), type="conversationUpdate",
        membersAdded=[{"id": BOT_ID}],
    )  # fmt: skip
    activity["channelData"] = {
        **team_data(channel_id, name, team_id),
        "eventType": "teamMemberAdded",
    }
    return activity


def compose_query(fake: FakeTeams, member: Member, text: str, *, conversation: JSON) -> JSON:
    """A search typed in the compose box's message extension (`composeExtension/query`)."""
    value = {
        "commandId": "searchLessons",
        "parameters": [{"name": "query", "value": text}],
        "queryOptions": {"skip": 0, "count": 25},
    }
    return _base(
        fake, member, conversation, type="invoke", name="composeExtension/query", value=value
    )


def find_action(card: Mapping[str, Any], verb_prefix: str) -> JSON:
    """Return the first Action.Execute in a card whose verb starts with a prefix."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute" and str(node.get("verb", "")).startswith(
                verb_prefix
            ):
                return node
            for value in node.values():
                found = walk(value)
                if found is not None:
                    return found
        elif isinstance(node, list):
            for item in node:
                found = walk(item)
                if found is not None:
                    return found
        return None

    found = walk(card)
    assert found is not None, f"no {verb_prefix} action in {json.dumps(card)[:500]}"
    return dict(found)


def text_of(card: Any) -> str:
    """Return a card as JSON text, for assertions on what it says."""
    return json.dumps(card, ensure_ascii=False)
