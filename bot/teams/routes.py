"""Teams on our own aiohttp server: `POST /api/messages`, served by the Microsoft 365 Agents SDK.

The SDK's `CloudAdapter` and `AgentApplication` run the Bot Framework protocol; its
`ConnectionManager` reads the SDK's own variables (`CONNECTIONS__SERVICE_CONNECTION__SETTINGS__
CLIENTID`, `…CLIENTSECRET`, `…TENANTID`, `…AUTHORITY`) and gets tokens through msal. Only this
route is protected by Bot Framework authentication (`/slack/events` keeps Slack's signatures).
Around the SDK we add what a public endpoint needs: every token failure is a 401 (see
`bot.teams.sdk.authorize`), a malformed activity a 400, a redelivery is recognised by its id,
and the service URLs replies go to are checked against Microsoft's hosts.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from microsoft_agents.activity import Activity
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import ClaimsIdentity, OutboundHostValidator, Storage, StoreItem
from microsoft_agents.hosting.core.app import AgentApplication, ApplicationOptions
from microsoft_agents.hosting.core.app.proactive import Conversation
from microsoft_agents.hosting.core.app.state import TurnState
from microsoft_agents.hosting.core.authorization import AuthTypes

from bot import inbox
from bot.inbox import Handling, Keeper
from bot.settings import Settings
from bot.teams import sdk
from bot.teams.clients import Clients
from bot.teams.errors import TeamsStartupError
from bot.teams.notifier import TeamsNotifier
from bot.teams.references import References
from bot.teams.turns import Turns
from handlers import router
from handlers.chat import ConversationRef
from knowledge import jsonstream
from knowledge.inbox import Entry
from knowledge.storage import Store

log = logging.getLogger(__name__)

PATH = "/api/messages"
MAX_BODY = 512 * 1024
KEEP_EVENTS = timedelta(days=2)
DEDUPED = frozenset({"message", "invoke"})
PLATFORM = "teams"


class TeamsSurface:
    """Everything Teams: the SDK's adapter and application, our handlers, the route."""

    def __init__(self, settings: Settings, store: Store, keeper: Keeper | None = None) -> None:
        sdk.check_version()
        self.store = store
        self.keeper = keeper
        self.connections = sdk.connections(dict(settings.teams_sdk))
        self.configuration = self.connections.get_default_connection_configuration()
        _check(self.configuration)
        self.keys = sdk.KeySet(settings.teams_jwks_url)
        self.clients = Clients(self.connections)
        self.adapter = adapter(settings, self.connections, self.clients)
        self.references = References(store.engine, clock=store.clock)
        self.notifier = TeamsNotifier(
            self.adapter,
            self.references,
            app_id=self.configuration.CLIENT_ID,
            posted=self._posted,
        )
        # The SDK's turn state is unused (everything lives in our database): its required
        # storage keeps nothing (a MemoryStorage would copy every conversation's empty state
        # in and out on every turn, and keep it). References are ours, durable.
        self.app: AgentApplication[TurnState] = AgentApplication[TurnState](
            ApplicationOptions(
                storage=NoStorage(),
                start_typing_timer=False,
                remove_recipient_mention=False,
                turn_state_factory=TurnState,
            ),
            connection_manager=self.connections,
        )
        self.turns = Turns(store, self.notifier, self.references, settings.handlers)
        self.turns.register(self.app)
        if keeper is not None:
            keeper.register(PLATFORM, self.replay)

    async def _posted(self, anchor: str, where: ConversationRef) -> None:
        await router.posted(anchor, where, self.turns.deps)

    def add_routes(self, app: web.Application) -> None:
        """Serve Teams at POST /api/messages; check the credentials at start-up."""
        app.router.add_post(PATH, self.handle)
        app.on_startup.append(self.start)
        app.on_cleanup.append(self.stop)

    async def start(self, _app: web.Application | None = None) -> None:
        """Get a token with the bot's credentials: refused ones stop the bot now."""
        provider = self.connections.get_default_connection()
        if isinstance(provider, sdk.Msal):
            await provider.check()
        await self.store.forget_events(self.store.clock() - KEEP_EVENTS)
        log.info("Teams: listening at %s (app %s)", PATH, self.configuration.CLIENT_ID or "-")

    async def stop(self, _app: web.Application | None = None) -> None:
        """Close the connector's and msal's HTTP sessions."""
        await self.clients.close()
        sdk.close(self.connections)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Authenticate, sanity-check and process one activity from Teams."""
        if (request.content_length or 0) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=0)
        claims = await sdk.authorize(
            request.headers.get("Authorization"), self.configuration, self.keys
        )
        if claims is None:
            return web.json_response({"error": "unauthorized"}, status=401)
        body = await request.read()
        if len(body) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(body))
        activity, parsed, problem = _activity(body)
        if parsed is None:
            log.info("Teams: refused a malformed activity: %s", problem)
            return web.json_response({"error": problem}, status=400)
        invoke = activity.get("type") == "invoke"
        handling: Handling | None = None
        key = _inbox_key(activity)
        if key and self.keeper is not None:
            meta = {"claims": Conversation.claims_from_identity(claims)}
            try:  # kept before the turn runs and Teams hears back: a crash loses nothing
                receipt = await self.keeper.inbox.receive(PLATFORM, key, body.decode(), meta)
            except Exception:
                log.warning("Teams: could not record %s; Teams will send it again", key)
                return web.json_response({"error": "busy, send again"}, status=503)
            if receipt.entry is None:
                log.info("Teams: skipped redelivered activity %s (%s)", key, receipt.state)
                return web.json_response({}) if invoke else web.Response(status=202)
            handling = self.keeper.begin(receipt.entry)
        elif not await self._first_time(activity):
            log.info("Teams: skipped redelivered activity %s", activity.get("id"))
            return web.json_response({}) if invoke else web.Response(status=202)
        try:
            answer = await self._turn(
                _Request(request.method, request.headers, parsed, claims), handling
            )
        except Exception:
            reference = uuid.uuid4().hex[:8]
            log.exception("Teams: processing failed (reference %s)", reference)
            return web.json_response({"error": f"reference {reference}"}, status=502)
        if answer.body is not None:
            return web.json_response(answer.body, status=answer.status_code, headers=answer.headers)
        return web.Response(status=answer.status_code, headers=answer.headers)

    async def _turn(self, request: _Request, handling: Handling | None) -> Any:
        """Run one turn; its inbox row is done once the turn is, else released for a retry."""
        kept = inbox.CURRENT.set(handling)
        try:
            answer = await self.adapter.process_request(request, self.app)
        except BaseException:
            if handling is not None:  # Teams hears a 502 and sends it again: let that one in
                await self.keeper_release(handling)
            raise
        finally:
            inbox.CURRENT.reset(kept)
        if handling is not None:
            await handling.finish()
        return answer

    async def keeper_release(self, handling: Handling) -> None:
        """Give up an inbox row's lease (a redelivery, or the next sweep, handles it)."""
        handling.finished = True
        if self.keeper is not None:
            await self.keeper.release(handling.entry.id)

    async def replay(self, entry: Entry) -> None:
        """Run again a turn a killed process had taken but not finished."""
        assert self.keeper is not None
        claims = entry.meta.get("claims")
        _, parsed, problem = _activity(entry.body.encode())
        if parsed is None or not isinstance(claims, dict):
            log.warning("Teams: cannot replay %s (%s)", entry.key, problem or "no claims")
            await self.keeper.finish(entry.id)
            return
        identity = Conversation.identity_from_claims(claims)
        await self._turn(_Request("POST", {}, parsed, identity), self.keeper.begin(entry))

    async def _first_time(self, activity: dict[str, Any]) -> bool:
        """Return False for a message or invoke seen before (Teams redelivers on timeouts).

        Edits and deletions carry the id of the message they change, so they are never
        redeliveries of it (and applying one twice changes nothing).
        """
        activity_id = activity.get("id")
        if activity.get("type") not in DEDUPED or not isinstance(activity_id, str):
            return True
        conversation = str(activity["conversation"]["id"])
        key = f"{activity['type']}|{conversation}|{activity_id}"
        return await self.store.first_time("teams", key[-200:])


def _inbox_key(activity: dict[str, Any]) -> str | None:
    """The inbox key of a message or invoke (None for the rest: applying them twice is moot).

    Edits and deletions carry the id of the message they change, so they are never
    redeliveries of it (and applying one twice changes nothing).
    """
    activity_id = activity.get("id")
    if activity.get("type") not in DEDUPED or not isinstance(activity_id, str):
        return None
    conversation = str(activity["conversation"]["id"])
    return f"{activity['type']}|{conversation}|{activity_id}"[-200:]


class NoStorage(Storage):
    """The SDK's turn-state storage, keeping nothing: the bot's state lives in its database."""

    async def read(
        self, keys: list[str], *, target_cls: type[Any], **kwargs: Any
    ) -> dict[str, Any]:
        """Return nothing: every turn starts from empty SDK state."""
        return {}

    async def write(self, changes: dict[str, StoreItem]) -> None:
        """Keep nothing."""

    async def delete(self, keys: list[str]) -> None:
        """Nothing to delete."""


@dataclass(frozen=True, slots=True)
class _Request:
    """What the SDK's adapter reads of a request (its HttpRequestProtocol), already checked."""

    method: str
    headers: Mapping[str, str]
    body: Activity
    claims: ClaimsIdentity

    async def json(self) -> Any:
        """Return the activity, already validated (the SDK's `model_validate` keeps it as is)."""
        return self.body

    def get_claims_identity(self) -> ClaimsIdentity:
        """Return the claims of the request's token."""
        return self.claims

    def get_path_param(self, name: str) -> str:
        """Return a path parameter (/api/messages has none)."""
        return ""


def adapter(settings: Settings, connections: Any, clients: Clients) -> CloudAdapter:
    """Return the SDK's adapter with our clients, checking where replies go (unless told not to)."""
    configuration = connections.get_default_connection_configuration()
    if "any" in settings.teams_service_hosts or configuration.ANONYMOUS_ALLOWED:
        validator = OutboundHostValidator(enabled=False)  # local development and tests
    else:
        validator = OutboundHostValidator(list(settings.teams_service_hosts), enabled=True)
    found = CloudAdapter(channel_service_client_factory=clients, host_validator=validator)
    found.on_turn_error = None  # the SDK's default tells users the exception's text
    return found


def reminder_notifier(settings: Settings, store: Store) -> TeamsNotifier | None:
    """Return the scheduler's Teams notifier (its own adapter), or None when Teams is off."""
    if not settings.teams_enabled:
        return None
    sdk.check_version()
    connections = sdk.connections(dict(settings.teams_sdk))
    configuration = connections.get_default_connection_configuration()
    _check(configuration)
    references = References(store.engine, clock=store.clock)
    clients = Clients(connections)

    async def close() -> None:
        await clients.close()
        sdk.close(connections)

    return TeamsNotifier(
        adapter(settings, connections, clients),
        references,
        app_id=configuration.CLIENT_ID,
        closing=close,
    )


def _check(configuration: Any) -> None:
    """Refuse a configuration that cannot work, naming what is missing."""
    name = sdk.PREFIX
    if not configuration.CLIENT_ID:
        if configuration.ANONYMOUS_ALLOWED:
            log.warning("Teams: %sANONYMOUS_ALLOWED is on: for local development only", name)
            return
        raise TeamsStartupError(f"Teams needs {name}CLIENTID (the bot's app id).")
    if not configuration.CLIENT_SECRET and AuthTypes.client_secret == configuration.AUTH_TYPE:
        raise TeamsStartupError(f"Teams needs {name}CLIENTSECRET (the app's client secret).")
    if not configuration.TENANT_ID and not configuration.AUTHORITY:
        raise TeamsStartupError(f"Teams needs {name}TENANTID (the bot's Entra tenant).")


def _activity(body: bytes) -> tuple[dict[str, Any], Activity | None, str]:
    """Return the activity of a body (as JSON and validated), or why it is not one."""
    data, problem = _checked(body)
    if problem:
        return data, None, problem
    try:
        return data, Activity.model_validate(data), ""
    except ValueError as exc:  # pydantic's ValidationError
        return {}, None, f"not a Bot Framework activity ({type(exc).__name__})"


def _checked(body: bytes) -> tuple[dict[str, Any], str | None]:
    """Return the JSON of a body, or why it is not an activity the SDK can take."""
    try:
        data = jsonstream.loads(body)
    except ValueError:
        return {}, "the body is not JSON"
    if not isinstance(data, dict):
        return {}, "an activity is a JSON object"
    if not isinstance(data.get("type"), str) or not data["type"]:
        return {}, "an activity needs a type"
    conversation = data.get("conversation")
    if not isinstance(conversation, dict) or not isinstance(conversation.get("id"), str):
        return {}, "an activity needs a conversation id"
    if not conversation["id"] or len(conversation["id"]) > 1000:
        return {}, "the conversation id is empty or too long"
    invoke = data["type"] == "invoke"
    if invoke and (not isinstance(data.get("name"), str) or not data["name"]):
        return {}, "an invoke needs a name"  # the SDK routes invokes by name (none: a 501)
    for name in ("from", "recipient", "channelData", *(("value",) if invoke else ())):
        if data.get(name) is not None and not isinstance(data[name], dict):
            return {}, f"{name} must be an object"
    for name in ("from", "recipient"):  # the SDK's turn state and replies read their ids
        party = data.get(name)
        if not isinstance(party, dict) or not isinstance(party.get("id"), str) or not party["id"]:
            return {}, f"an activity needs {name}.id"
    for name in ("entities", "attachments", "membersAdded", "membersRemoved"):
        if name in data and data[name] is not None and not isinstance(data[name], list):
            return {}, f"{name} must be a list"
    service = data.get("serviceUrl")
    if not isinstance(service, str) or not service.startswith(("https://", "http://")):
        return {}, "an activity needs an http(s) serviceUrl"
    return data, None
