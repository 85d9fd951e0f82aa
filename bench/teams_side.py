"""The Teams side of `lessons bench teams`: a child process that plays Microsoft Teams.

It serves, on 127.0.0.1, what the bot talks to:

* **an OpenID issuer** (HTTPS) whose key set checks the RS256 tokens it signs the way the Bot
  Framework does (iss `https://api.botframework.com`, aud the bot's app id, `serviceurl`);
* **a token authority** (HTTPS): the client-credentials flow msal uses for the bot's replies;
* **the connector service** (HTTP): the replies (`POST /v3/conversations/{id}/activities/{id}`),
  which it counts as answers, and the roster lookup the bot makes for a new person.

and it sends the load: personal-chat messages from `MEMBERS` people (Teams paces a bot at 60
messages in 30 s per conversation, so a load on a few chats would measure the pacing), each with
a unique activity id and a bearer token, over keep-alive connections (the load phases are those
of `bench.slack_side`). The parent talks to it over stdin/stdout, one JSON line per command.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from bench import certs
from bench.slack_side import PREFIX, Phase, SlackSide

log = logging.getLogger(__name__)

JSON = dict[str, Any]
APP_ID = "00000000-0000-4000-8000-00000000b07a"
BOT_ID = f"28:{APP_ID}"
SECRET = "bench-client-secret"
TENANT = "11111111-1111-4111-8111-111111111111"
BOT_FRAMEWORK = "https://api.botframework.com"
KEY_ID = "bench-key-1"
MEMBERS = 512
TOPICS = (
    "elections",
    "protection of civilians",
    "gender",
    "logistics",
    "mediation",
    "early warning",
    "civil-military coordination",
    "community engagement",
)
SORRY = "something went wrong"  # in the bot's apology (handlers.router, Turns.on_error)
CARD = "application/vnd.microsoft.card.adaptive"


# Seen from the bot's process ------------------------------------------------------------------


class TeamsSide(SlackSide):
    """The child process that plays Teams: issuer, authority, connector and load generator."""

    def __init__(self, process: asyncio.subprocess.Process, hello: JSON) -> None:
        super().__init__(process, str(hello["service_url"]))
        self.hello = hello

    @classmethod
    @asynccontextmanager
    async def open(cls, folder: Path, members: int = MEMBERS) -> AsyncIterator[TeamsSide]:
        """Start the child with the certificate in folder; stop it afterwards."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.teams_side",
            str(folder),
            str(members),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            yield cls(process, await cls._read(process, timeout=60))
        finally:
            if process.stdin is not None and not process.stdin.is_closing():
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()

    def env(self) -> dict[str, str]:
        """The bot's Teams settings: the SDK's variables and ours, pointing at this side."""
        prefix = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
        return {
            f"{prefix}CLIENTID": APP_ID,
            f"{prefix}CLIENTSECRET": SECRET,
            f"{prefix}TENANTID": TENANT,
            f"{prefix}AUTHORITY": str(self.hello["authority"]),
            "LESSONS_TEAMS_JWKS_URL": str(self.hello["openid_url"]),
            "LESSONS_TEAMS_SERVICE_HOSTS": "any",
        }


# The child: services --------------------------------------------------------------------------


class Connector:
    """Issuer, token authority and connector service; records where answers arrive."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key
        self.answers: dict[str, float] = {}  # activity id → arrival of its reply
        self.failed: dict[str, str] = {}
        self.waiters: dict[str, asyncio.Future[None]] = {}
        self.calls: dict[str, int] = {}
        self.tokens: set[str] = set()
        self.https_port = 0
        self._ids = itertools.count(1)

    def secure_app(self) -> web.Application:
        """The HTTPS services: the issuer's key set and the token authority."""
        app = web.Application()
        app.router.add_get("/issuer/.well-known/openid-configuration", self.issuer)
        app.router.add_get("/issuer/keys", self.keys)
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self.tenant)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self.token)
        return app

    def connector_app(self) -> web.Application:
        """The connector service (HTTP)."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.connector)
        return app

    async def issuer(self, _request: web.Request) -> web.Response:
        """The issuer's OpenID configuration (names the key set)."""
        base = f"https://127.0.0.1:{self.https_port}/issuer"
        return web.json_response({"issuer": BOT_FRAMEWORK, "jwks_uri": f"{base}/keys"})

    async def keys(self, _request: web.Request) -> web.Response:
        """The issuer's key set."""
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return web.json_response({"keys": [{**public, "kid": KEY_ID, "use": "sig"}]})

    async def tenant(self, request: web.Request) -> web.Response:
        """The authority's OpenID configuration, which msal reads first."""
        base = f"https://127.0.0.1:{self.https_port}/{request.match_info['tenant']}"
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "token"],
            }
        )

    async def token(self, request: web.Request) -> web.Response:
        """The client-credentials flow: an opaque token for the bot's credentials."""
        self.calls["token"] = self.calls.get("token", 0) + 1
        form = await request.post()
        if form.get("client_id") != APP_ID or form.get("client_secret") != SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        token = f"bench-{uuid.uuid4().hex}"
        self.tokens.add(token)
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "access_token": token}
        )

    async def connector(self, request: web.Request) -> web.Response:
        """A Bot Connector call: a reply (an answer), an update, or a roster lookup."""
        parts = [unquote(p) for p in request.path.strip("/").split("/")]
        kind = f"{request.method} {parts[3] if len(parts) > 3 else '?'}"
        self.calls[kind] = self.calls.get(kind, 0) + 1
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return web.json_response({"error": {"code": "Unauthorized"}}, status=401)
        if len(parts) == 5 and parts[3] == "members":
            return web.json_response(member(parts[4]))
        if len(parts) >= 4 and parts[3] == "activities":
            body = await request.json()
            if request.method == "POST":
                self.delivered(parts[4] if len(parts) > 4 else str(body.get("replyToId", "")), body)
            return web.json_response({"id": str(next(self._ids))}, status=201)
        return web.json_response({}, status=200)

    def delivered(self, activity_id: str, body: JSON) -> None:
        """Record the reply to an activity (an apology or a reply without a card fails)."""
        text = json.dumps(body, ensure_ascii=False)
        cards = [a for a in body.get("attachments") or [] if a.get("contentType") == CARD]
        if SORRY in text or not cards:
            self.failed[activity_id] = text[:200]
        else:
            self.answers[activity_id] = time.monotonic()
        waiter = self.waiters.pop(activity_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def member(teams_id: str) -> JSON:
    """The roster entry of a bench member (any id gets one)."""
    n = teams_id.rpartition("-")[2]
    return {
        "id": teams_id,
        "name": f"Bench Person {n}",
        "aadObjectId": f"aad-bench-{n}",
        "email": f"bench.person{n}@un.example",
        "userPrincipalName": f"bench.person{n}@un.example",
        "tenantId": TENANT,
        "userRole": "user",
    }


class Messages:
    """Personal-chat messages with a bearer token, each with a unique activity id."""

    def __init__(self, key: rsa.RSAPrivateKey, service_url: str, members: int) -> None:
        self.service_url = service_url
        self.members = members
        self._seq = itertools.count(1)
        now = int(time.time())
        claims = {
            "serviceurl": service_url,
            "nbf": now - 60,
            "exp": now + 6 * 3600,
            "iss": BOT_FRAMEWORK,
            "aud": APP_ID,
        }
        # The Bot Framework reuses a token for up to an hour: one token for the whole run.
        self.token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": KEY_ID})

    def next(self, host: str, path: str) -> tuple[str, bytes]:
        """Return the activity's id and the whole HTTP request."""
        seq = next(self._seq)
        n = seq % self.members
        activity_id = f"1{seq:012d}"
        body = json.dumps(
            {
                "type": "message",
                "id": activity_id,
                "timestamp": "2026-12-05T12:00:00.000Z",
                "serviceUrl": self.service_url,
                "channelId": "msteams",
                "from": {
                    "id": f"29:bench-{n}",
                    "name": f"Bench Person {n}",
                    "aadObjectId": f"aad-bench-{n}",
                },
                "conversation": {
                    "conversationType": "personal",
                    "tenantId": TENANT,
                    "id": f"a:personal-bench-{n}",
                },
                "recipient": {"id": BOT_ID, "name": "Lessons Bot"},
                "locale": "en-US",
                "text": f"what did we learn about {TOPICS[seq % len(TOPICS)]}?",
                "textFormat": "plain",
                "channelData": {"tenant": {"id": TENANT}},
                "entities": [{"type": "clientInfo", "locale": "en-US", "platform": "Web"}],
            }
        ).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Authorization: Bearer {self.token}\r\n\r\n"
        )
        return activity_id, head.encode() + body


async def teams_side(folder: Path, members: int) -> None:
    """The child process: serve the services, say where, then run each load read from stdin."""
    connector = Connector(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    secure = web.AppRunner(connector.secure_app(), access_log=None, handle_signals=False)
    plain = web.AppRunner(connector.connector_app(), access_log=None, handle_signals=False)
    await secure.setup()
    await plain.setup()
    try:
        await web.TCPSite(secure, "127.0.0.1", 0, ssl_context=certs.server_context(folder)).start()
        await web.TCPSite(plain, "127.0.0.1", 0).start()
        connector.https_port = secure.addresses[0][1]
        base = f"https://127.0.0.1:{connector.https_port}"
        service_url = f"http://127.0.0.1:{plain.addresses[0][1]}/"
        messages = Messages(connector.key, service_url, members)
        _say(
            {
                "service_url": service_url,
                "authority": f"{base}/{TENANT}",
                "openid_url": f"{base}/issuer/.well-known/openid-configuration",
                "token": messages.token,  # what the load sends (for tools measuring one step)
            }
        )
        await _serve_loads(connector, messages)
    finally:
        await plain.cleanup()
        await secure.cleanup()


async def _serve_loads(connector: Connector, messages: Messages) -> None:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        while line := await reader.readline():
            try:
                figures = await Phase(connector, messages, json.loads(line)).run()
                figures["connector_calls"] = dict(connector.calls)
                _say(figures)
            except Exception as exc:
                log.exception("load failed")
                _say({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        transport.close()


def _say(message: JSON) -> None:
    print(PREFIX + json.dumps(message), flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(teams_side(Path(sys.argv[1]), int(sys.argv[2])))
