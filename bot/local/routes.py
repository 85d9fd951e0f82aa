"""The local web chat: a Slack-like page, its WebSocket and the chat inbox (no credentials).

The browser speaks JSON over one WebSocket (`/ws`). Client → server:
`hello {as, channel, thread}`, `open {channel, thread}`, `say {channel, thread, text}`,
`press {message, action, value}`, `submit {message, form, values}`, `edit {message, text}`,
`delete {message}`. Server → client: `state`, `history`, `message`, `update`, `remove`, `error`.
Every message is turned into the same neutral `Incoming` types as Slack and Teams, dispatched
by `handlers.router`, and the `Reply` is rendered to HTML by `bot.local.render`.
"""

from __future__ import annotations

import logging
import secrets
import weakref
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from bot.local import render
from handlers import router
from handlers.chat import (
    ButtonPress,
    Command,
    ConversationRef,
    Deletion,
    Edit,
    FormSubmit,
    Incoming,
    Message,
    Reply,
    Text,
    UserRef,
    clean_text,
)
from handlers.deps import Deps, HandlerSettings
from knowledge import jsonstream
from knowledge.chatlog import ChatLog, Posted
from knowledge.errors import DomainError
from knowledge.storage import PersonView, Store

log = logging.getLogger(__name__)

PLATFORM = "local"
BOT_NAME = "Lessons Bot"
CHANNELS = ("mission-hq", "elections-team", "protection-of-civilians", "logistics")
MAX_FRAME = 64 * 1024
MAX_TEXT = 8000
MAX_ID = 2**31 - 1
MENTIONS = ("@lessons bot", "@lessonsbot", "@lessons", "@bot")
STATIC = Path(__file__).parent / "static"


@dataclass(eq=False)
class Client:
    """One open browser tab: who it acts as and what it is looking at."""

    ws: web.WebSocketResponse
    person: PersonView | None = None
    channel: str = CHANNELS[0]
    thread: int | None = None
    # A guest (no one picked in *Acting as*) is this tab's session: one vote per lesson each.
    guest: str = field(default_factory=lambda: f"guest:{secrets.token_hex(8)}")


@dataclass
class Hub:
    """The connected tabs, the store and the chat history; posts and fans out messages."""

    store: Store
    clients: weakref.WeakSet[Client] = field(default_factory=weakref.WeakSet)
    settings: HandlerSettings = field(default_factory=HandlerSettings)

    def __post_init__(self) -> None:
        self.log = ChatLog(self.store)
        self.notifier = LocalNotifier(self)
        self._people: dict[int, PersonView] = {}
        self._by_email: dict[str, PersonView] = {}

    @property
    def deps(self) -> Deps:
        """What handlers need."""
        return Deps(store=self.store, notifier=self.notifier, settings=self.settings)

    async def people(self, *, refresh: bool = False) -> list[PersonView]:
        """Return the directory (cached; refreshed when someone unknown turns up)."""
        if refresh or not self._people:
            people = await self.store.people()
            self._people = {p.id: p for p in people}
            self._by_email = {p.email: p for p in people if p.email}
        return sorted(self._people.values(), key=lambda p: p.name.lower())

    async def person(self, email: str | None) -> PersonView | None:
        """Return the person with this email, if any."""
        if not email:
            return None
        await self.people()
        found = self._by_email.get(email.lower())
        if found is None:
            await self.people(refresh=True)
            found = self._by_email.get(email.lower())
        return found

    def name_of(self, person_id: int | None) -> str:
        """Return a display name for an author id."""
        if person_id is None:
            return BOT_NAME
        person = self._people.get(person_id)
        return person.name if person else "Someone"

    # Posting ------------------------------------------------------------------------------

    async def post_user(
        self, client: Client, channel: str, thread: int | None, text: str
    ) -> Posted:
        """Store and show a user's message."""
        person = client.person
        posted = await self.log.add(
            channel,
            thread_id=thread,
            author_id=person.id if person else None,
            text=text,
            body={"html": render.user_message(text), "author": person.name if person else "Guest"},
        )
        await self.fan_out(posted)
        return posted

    async def post_reply(
        self,
        reply: Reply,
        *,
        channel: str,
        thread: int | None,
        visible_to: int | None = None,
    ) -> Posted:
        """Store and show a bot reply."""
        private_to = visible_to if reply.private else None
        posted = await self.log.add(
            channel,
            thread_id=thread,
            author_id=None,
            text=reply.fallback,
            body=_bot_body(reply),
            visible_to=private_to,
        )
        await self.fan_out(posted)
        if reply.anchor:
            where = _where(channel, posted.id)
            await router.posted(reply.anchor, where, self.deps)
        return posted

    async def fan_out(self, posted: Posted, kind: str = "message") -> None:
        """Send a message to every tab allowed to see it."""
        payload = {"type": kind, "message": self.as_json(posted)}
        for client in list(self.clients):
            if self.may_see(client, posted):
                await _send(client.ws, payload)

    async def remove(self, posted: Posted) -> None:
        """Tell every tab that a message is gone."""
        for client in list(self.clients):
            if self.may_see(client, posted):
                await _send(client.ws, {"type": "remove", "id": posted.id})

    def may_see(self, client: Client, posted: Posted) -> bool:
        """Return True when this tab's person may see the message."""
        me = client.person.id if client.person else None
        if posted.visible_to is not None and posted.visible_to != me:
            return False
        owner = _dm_owner(posted.channel)
        return owner is None or owner == me

    def as_json(self, posted: Posted) -> dict[str, Any]:
        """Return a message as the browser shows it."""
        body = posted.body
        author = BOT_NAME if posted.author_id is None else str(body.get("author") or "Someone")
        return {
            "id": posted.id,
            "channel": posted.channel,
            "thread": posted.thread_id,
            "author": author,
            "author_id": posted.author_id,
            "bot": posted.author_id is None,
            "private": posted.visible_to is not None,
            "deleted": bool(body.get("deleted")),
            "edited": bool(body.get("edited")),
            "html": "" if body.get("deleted") else str(body.get("html", "")),
            "replies": posted.replies,
            "at": posted.created_at.strftime("%H:%M"),
        }

    # Incoming -----------------------------------------------------------------------------

    async def handle(self, client: Client, data: dict[str, Any]) -> None:
        """Act on one frame from a browser tab."""
        kind = data.get("type")
        if kind == "hello":
            client.person = await self.person(_str(data.get("as")))
            await self._state(client)
            await self._open(client, _str(data.get("channel")), _int(data.get("thread")))
        elif kind == "open":
            await self._open(client, _str(data.get("channel")), _int(data.get("thread")))
        elif kind == "say":
            await self._say(client, data)
        elif kind in ("press", "submit"):
            await self._interact(client, data)
        elif kind in ("edit", "delete"):
            await self._change(client, data)
        else:
            raise DomainError("I didn't understand what your browser sent. Reload the page.")

    async def _state(self, client: Client) -> None:
        people = await self.people()
        me = client.person
        await _send(
            client.ws,
            {
                "type": "state",
                "me": _person_json(me) if me else None,
                "people": [_person_json(p) for p in people],
                "channels": list(CHANNELS),
                "dm": _dm(me.id) if me else None,
            },
        )

    async def _open(self, client: Client, channel: str | None, thread: int | None) -> None:
        channel = channel or client.channel
        if not self._may_open(client, channel):
            channel, thread = CHANNELS[0], None
        client.channel, client.thread = channel, thread
        me = client.person.id if client.person else None
        roots = await self.log.history(channel, thread_id=None, viewer_id=me)
        replies = await self.log.history(channel, thread_id=thread, viewer_id=me) if thread else []
        await _send(
            client.ws,
            {
                "type": "history",
                "channel": channel,
                "thread": thread,
                "messages": [self.as_json(p) for p in roots],
                "thread_messages": [self.as_json(p) for p in replies],
            },
        )

    def _may_open(self, client: Client, channel: str) -> bool:
        owner = _dm_owner(channel)
        if owner is not None:
            return client.person is not None and client.person.id == owner
        return channel in CHANNELS

    async def _say(self, client: Client, data: dict[str, Any]) -> None:
        channel = _str(data.get("channel")) or client.channel
        thread = _int(data.get("thread"))
        text = (_str(data.get("text")) or "").strip()
        if not text:
            return
        if not self._may_open(client, channel):
            raise DomainError("You can't post there. Pick a channel on the left.")
        if len(text) > MAX_TEXT:
            raise DomainError(
                f"That message is {len(text):,} characters; the limit is {MAX_TEXT:,}. "
                "Nothing was posted: shorten it and send again."
            )
        posted = await self.post_user(client, channel, thread, text)
        incoming = self._incoming(client, posted)
        reply = await router.dispatch(incoming, self.deps)
        if reply is None:
            return
        in_thread = posted.thread_id or (posted.id if _dm_owner(channel) is None else None)
        await self.post_reply(
            reply,
            channel=channel,
            thread=in_thread if reply.in_thread else None,
            visible_to=client.person.id if client.person else None,
        )

    def _incoming(self, client: Client, posted: Posted) -> Incoming:
        who = _user(client)
        where = _where(posted.channel, posted.thread_id)
        text = posted.text
        direct = _dm_owner(posted.channel) is not None
        lowered = text.lower()
        for name in ("lessons", "aar"):
            if lowered == f"/{name}" or lowered.startswith(f"/{name} "):
                return Command(who, where, name, text[len(name) + 1 :].strip())
        for mention in MENTIONS:
            if lowered.startswith(mention):
                text, direct = text[len(mention) :].lstrip(" ,:"), True
                break
        return Message(who, where, text, direct=direct, message_id=str(posted.id))

    async def _interact(self, client: Client, data: dict[str, Any]) -> None:
        message_id = _int(data.get("message"))
        if message_id is None:
            raise DomainError("That button belongs to a message I can't find. Reload the page.")
        carrier = await self.log.get(message_id)
        if not self.may_see(client, carrier):
            raise DomainError("That button belongs to a message I can't find. Reload the page.")
        incoming = _interaction(data, _user(client), _where(carrier.channel, carrier.thread_id))
        reply = await router.dispatch(incoming, self.deps)
        if reply is None:
            return
        me = client.person.id if client.person else None
        if isinstance(incoming, FormSubmit) and _refusal(reply):
            # The form stays open with what was typed, and the reason shows beside it.
            await _send(
                client.ws,
                {
                    "type": "form-error",
                    "message": carrier.id,
                    "form": incoming.form,
                    "field": reply.field,
                    "text": reply.fallback.removeprefix("⚠️ "),
                },
            )
            return
        if reply.retire is not None and not reply.replace and carrier.author_id is None:
            # The pressed card shows what was done and by whom; the answer is posted after it.
            retired = Reply(reply.retire)
            updated = await self.log.update(
                carrier.id, text=retired.fallback, body=_bot_body(retired)
            )
            await self.fan_out(updated, "update")
            reply = replace(reply, retire=None)
        done_form = isinstance(incoming, FormSubmit)  # a sent form shows its outcome in place
        if (
            (reply.replace or done_form)
            and carrier.author_id is None
            and carrier.visible_to == me
            and me is not None
        ):
            updated = await self.log.update(carrier.id, text=reply.fallback, body=_bot_body(reply))
            await self.fan_out(updated, "update")
            return
        thread = carrier.thread_id or (carrier.id if _dm_owner(carrier.channel) is None else None)
        await self.post_reply(
            reply,
            channel=carrier.channel,
            thread=thread if reply.in_thread else None,
            visible_to=me,
        )

    async def _change(self, client: Client, data: dict[str, Any]) -> None:
        message_id = _int(data.get("message"))
        me = client.person.id if client.person else None
        posted = await self.log.get(message_id) if message_id is not None else None
        if posted is None or posted.author_id is None or posted.author_id != me:
            raise DomainError("You can only change your own messages.")
        who, where = _user(client), _where(posted.channel, posted.thread_id)
        if data["type"] == "edit":
            text = (_str(data.get("text")) or "").strip()
            if not text:
                raise DomainError("An edit can't be empty: delete the message instead.")
            if len(text) > MAX_TEXT:
                raise DomainError(f"The limit is {MAX_TEXT:,} characters; nothing was changed.")
            body = dict(posted.body, html=render.user_message(text), edited=True)
            updated = await self.log.update(posted.id, text=text, body=body)
            await self.fan_out(updated, "update")
            reply = await router.dispatch(Edit(who, where, str(posted.id), text), self.deps)
        else:
            placeholder = await self.log.delete(posted.id)
            if placeholder is None:
                await self.remove(posted)
            else:
                await self.fan_out(placeholder, "update")
            reply = await router.dispatch(Deletion(who, where, str(posted.id)), self.deps)
        if reply is not None:
            await self.post_reply(
                reply, channel=posted.channel, thread=posted.thread_id, visible_to=me
            )


class LocalNotifier:
    """Delivers proactive messages to the local chat: DMs land in the person's bot inbox."""

    platform = PLATFORM

    def __init__(self, hub: Hub) -> None:
        self._hub = weakref.ref(hub)

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        """Post a reply in the person's direct messages with the bot; return the message id.

        Raises:
            LookupError: nobody in the directory has that email (nothing was posted).
        """
        hub = self._hub()
        if hub is None:
            raise LookupError("the local chat is closed")
        person = await hub.person(to.user_id)
        if person is None:
            raise LookupError(f"local chat: nobody with email {to.user_id!r}")
        posted = await hub.post_reply(
            reply, channel=_dm(person.id), thread=None, visible_to=person.id
        )
        return str(posted.id)

    async def find(self, to: UserRef, key: str) -> str | None:
        """Return the id of a recent bot message in the person's inbox that carries `key`."""
        hub = self._hub()
        person = await hub.person(to.user_id) if hub is not None else None
        if hub is None or person is None:
            return None
        recent = await hub.log.history(_dm(person.id), thread_id=None, viewer_id=person.id)
        for posted in reversed(recent):
            if posted.author_id is None and posted.body.get("key") == key:
                return str(posted.id)
        return None

    async def lookup(self, email: str) -> str | None:
        """On the local chat a person is their email."""
        hub = self._hub()
        found = await hub.person(email) if hub is not None else None
        return found.email if found is not None else None

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        """Post a reply in a channel or thread; return the thread it is in."""
        hub = self._hub()
        if hub is None:
            return None
        thread = int(where.thread_id) if where.thread_id and where.thread_id.isdigit() else None
        posted = await hub.post_reply(reply, channel=where.channel_id, thread=thread)
        return _where(posted.channel, posted.thread_id or posted.id)


def _interaction(data: dict[str, Any], who: UserRef, where: ConversationRef) -> Incoming:
    """Return a button press or a form submission from the page, bounded."""
    if data["type"] == "press":
        # The value as sent: the router refuses one with control characters outright,
        # where cleaning would read '116\x00' as the id 116.
        value = data.get("value")
        return ButtonPress(
            who,
            where,
            _str(data.get("action")) or "",
            value[: MAX_TEXT * 2] if isinstance(value, str) else "",
        )
    values = data.get("values")
    if not isinstance(values, dict):
        values = {}
    return FormSubmit(
        who,
        where,
        _str(data.get("form")) or "",
        {str(k)[:100]: str(v)[:MAX_TEXT] for k, v in list(values.items())[:50]},
    )


HUB: web.AppKey[Hub] = web.AppKey("local_hub", Hub)


def add_routes(app: web.Application, store: Store, settings: HandlerSettings | None = None) -> Hub:
    """Mount the chat page, its WebSocket and its static files."""
    hub = Hub(store, settings=settings or HandlerSettings())
    app[HUB] = hub
    app.router.add_get("/", page)
    app.router.add_get("/ws", socket)
    app.router.add_static("/static", STATIC, append_version=True)
    app.router.add_get("/favicon.ico", favicon)
    return hub


async def favicon(_request: web.Request) -> web.Response:
    """The bot's icon, where browsers look for it first."""
    return web.Response(
        body=(STATIC / "favicon.svg").read_bytes(),
        content_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


async def page(request: web.Request) -> web.Response:
    """The chat page: a shell the WebSocket fills in; usable with any modern browser."""
    return web.Response(text=_page(), content_type="text/html", headers=_NO_STORE)


async def socket(request: web.Request) -> web.WebSocketResponse:
    """The chat's WebSocket: one per tab."""
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
    await ws.prepare(request)
    hub = request.app[HUB]
    client = Client(ws)
    hub.clients.add(client)
    try:
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            try:
                data = jsonstream.loads(frame.data)
                if not isinstance(data, dict):
                    raise ValueError("not an object")
            except ValueError:
                await _send(
                    ws, {"type": "error", "text": "Your browser sent something unreadable."}
                )
                continue
            try:
                await hub.handle(client, data)
            except DomainError as exc:
                await _send(ws, {"type": "error", "text": exc.message})
            except Exception:
                log.exception("local chat: failed on a %r frame", data.get("type"))
                await _send(ws, {"type": "error", "text": router.SORRY})
    finally:
        hub.clients.discard(client)
    return ws


_NO_STORE = {"Cache-Control": "no-store"}


def _bot_body(reply: Reply) -> dict[str, Any]:
    body: dict[str, Any] = {"html": render.render(reply), "author": BOT_NAME}
    if reply.key:
        body["key"] = reply.key  # a reminder's delivery key, for LocalNotifier.find
    return body


def _user(client: Client) -> UserRef:
    person = client.person
    if person is None or not person.email:
        return UserRef(PLATFORM, client.guest, "Guest")
    return UserRef(PLATFORM, person.email, person.name)


def _where(channel: str, thread: int | None) -> ConversationRef:
    name = None if _dm_owner(channel) is not None else channel
    return ConversationRef(
        PLATFORM,
        channel,
        str(thread) if thread is not None else None,
        channel_name=name,
        space=f"{PLATFORM}:{channel}" if name else None,  # the chat's own channels, by id
    )


def _dm(person_id: int) -> str:
    return f"dm:{person_id}"


def _dm_owner(channel: str) -> int | None:
    prefix, _, rest = channel.partition(":")
    return int(rest) if prefix == "dm" and rest.isdigit() else None


def _person_json(person: PersonView) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "email": person.email,
        "roles": list(person.roles),
        "mission": person.mission,
    }


def _str(value: object) -> str | None:
    return clean_text(value[: MAX_TEXT * 2]) if isinstance(value, str) else None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_ID else None  # a database integer
    if isinstance(value, str) and value.isdigit() and len(value) < 12:
        return int(value)
    return None


def _refusal(reply: Reply) -> bool:
    """Return True for a reply that only says why something was refused (nothing was done)."""
    texts = [e for e in reply.elements if isinstance(e, Text)]
    return (
        len(texts) == len(reply.elements) == 1
        and reply.private
        and texts[0].markdown.startswith("⚠️")
    )


async def _send(ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
    if ws.closed:
        return
    try:
        await ws.send_json(payload)
    except (ConnectionResetError, RuntimeError):  # the tab went away mid-send
        log.debug("local chat: a tab closed while sending")


@cache
def _page() -> str:
    return (STATIC / "chat.html").read_text(encoding="utf-8")
