"""Thin handlers of the SDK's `AgentApplication`: activity → incoming → router → reply.

Every turn first keeps the conversation's reference and who spoke (`remember`). Then:

- a message (typed, or a card's Action.Submit) is dispatched and answered in its thread;
- an Action.Execute (`adaptiveCard/action` invoke) gets its answer in the invoke response:
  the updated card when the reply replaces the card or holds a form, a short private note as
  Teams' toast, else the card stays and the reply is posted;
- a private reply outside a personal chat goes to the person's personal chat with the bot;
- `conversationUpdate` / `installationUpdate` keep or forget references (and greet a person
  who installed the bot for themselves);
- `composeExtension/query` answers the search message extension; other invokes get a polite
  200, so nothing from Teams ends in a 5xx.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from http import HTTPStatus
from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes, InvokeResponse
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.app import AgentApplication
from microsoft_agents.hosting.core.app.state import TurnState
from microsoft_agents.hosting.core.connector import ConnectorClientBase
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

from bot.owed import owe
from bot.teams import extension, incoming, render
from bot.teams.notifier import TeamsNotifier, message, reply_in
from bot.teams.references import References, Seen
from handlers import router
from handlers.chat import (
    ButtonPress,
    ConversationRef,
    Form,
    FormSubmit,
    Incoming,
    Reply,
    Text,
    UserRef,
)
from handlers.help import help_reply
from knowledge.storage import Store

log = logging.getLogger(__name__)

CARD = render.CONTENT_TYPE
TOAST = "application/vnd.microsoft.activity.message"
MAX_TOAST = 300
PRIVATELY = "I sent you this in our personal chat."
NOT_PRIVATELY = (
    "I have something for you alone, but I can't message you privately yet: open a chat with "
    "me (Apps → Lessons Bot) and ask there."
)
STALE = "That card is out of date. Ask me again."
WIRE = "lessons.wire"  # the turn's activity as JSON, in the turn state


class People:
    """Ties Teams users to people of the directory, by the email Teams gives for them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._known: dict[str, int] = {}

    async def ensure(self, context: TurnContext, who: UserRef, activity: dict[str, Any]) -> None:
        """Make sure this Teams user is a person of the directory (unknown ones join as staff)."""
        aad = _str(_dict(activity.get("from")).get("aadObjectId"))
        if who.bot or not aad or aad in self._known:
            return
        person = await self.store.person_for("teams", aad)
        if person is None:
            email, name = await _member(context, activity)
            person = await self.store.link_user(
                "teams", aad, email=email, name=name or who.display_name or ""
            )
        if len(self._known) > 50_000:
            self._known.clear()
        self._known[aad] = person


class Turns:
    """The Teams surface of every handler."""

    def __init__(self, store: Store, notifier: TeamsNotifier, references: References) -> None:
        self.store = store
        self.notifier = notifier
        self.references = references
        self.people = People(store)

    @property
    def deps(self) -> router.Deps:
        """What handlers need."""
        return router.Deps(store=self.store, notifier=self.notifier)

    def register(self, app: AgentApplication[TurnState]) -> None:
        """Attach every handler to the SDK's application."""
        app.before_turn(self.remember)
        app.activity(ActivityTypes.message)(self.on_message)
        app.activity(ActivityTypes.conversation_update)(self.on_conversation_update)
        app.activity(ActivityTypes.installation_update)(self.on_installation_update)
        app.activity([ActivityTypes.message_update, ActivityTypes.message_delete])(self.on_change)
        app.invoke("adaptiveCard/action")(self.on_execute)
        app.invoke("composeExtension/query")(self.on_search)
        app.invoke("composeExtension/queryLink")(self.on_link)
        app.invoke()(self.on_other_invoke)
        app.error(self.on_error)

    # Every turn ---------------------------------------------------------------------------

    async def remember(self, context: TurnContext, _state: TurnState) -> bool:
        """Keep the conversation's reference and the sender, for proactive messages later."""
        activity = _wire(context)
        try:
            kind = incoming.kind(activity)
            team_id = _str(_dict(_dict(activity.get("channelData")).get("team")).get("id"))
            # A compose-box search comes from any conversation, the bot's or not.
            if not str(activity.get("name", "")).startswith("composeExtension/"):
                await self.references.save_turn(
                    context, activity, kind=kind, team_id=team_id or None
                )
            sender = _dict(activity.get("from"))
            aad, teams_id = _str(sender.get("aadObjectId")), _str(sender.get("id"))
            if aad and teams_id and not teams_id.startswith("28:"):
                tenant = _str(_dict(activity.get("conversation")).get("tenantId")) or None
                service = _str(activity.get("serviceUrl"))
                await self.references.saw(Seen(aad, teams_id, tenant, service))
        except Exception:  # a reference not saved must not cost the answer
            log.exception("Teams: could not save the conversation reference")
        return True

    async def _dispatch(self, context: TurnContext, event: Incoming) -> Reply | None:
        await self.people.ensure(context, event.who, _wire(context))
        return await router.dispatch(event, self.deps)

    # Messages -----------------------------------------------------------------------------

    async def on_message(self, context: TurnContext, _state: TurnState) -> None:
        """A typed message, or a card's Action.Submit."""
        activity = _wire(context)
        event = incoming.message(activity)
        if event is None:
            return
        reply = await self._dispatch(context, event)
        if reply is None:
            return
        if isinstance(event, ButtonPress | FormSubmit):
            await self._after_submit(context, event, reply)
        else:
            await self._deliver(context, event.who, event.where, reply)

    async def on_change(self, context: TurnContext, _state: TurnState) -> None:
        """A message edited or deleted by its author (an answer in an AAR thread)."""
        activity = _wire(context)
        deleted = activity.get("type") == ActivityTypes.message_delete
        event = incoming.deletion(activity) if deleted else incoming.edit(activity)
        if event is None:
            return
        reply = await self._dispatch(context, event)
        if reply is not None:
            await self._deliver(context, event.who, event.where, reply)

    # Cards --------------------------------------------------------------------------------

    async def on_execute(self, context: TurnContext, _state: TurnState) -> None:
        """An Action.Execute: the answer goes back in the invoke response."""
        event = incoming.execute(_wire(context))
        if event is None:
            await _invoke(context, _toast(STALE))
            return
        reply = await self._dispatch(context, event)
        await _invoke(context, await self._card_answer(context, event, reply))

    async def _after_submit(
        self, context: TurnContext, event: ButtonPress | FormSubmit, reply: Reply
    ) -> None:
        """An Action.Submit answered: the card is updated in place, or a message is sent."""
        answer = await self._card_answer(context, event, reply)
        card_id = context.activity.reply_to_id
        if answer.get("type") == CARD and card_id:
            updated = message(Reply(reply.retire) if reply.retire is not None else reply)
            updated.id = card_id
            await context.update_activity(updated)
        elif answer.get("type") == CARD:
            await self._reply(context, reply)
        elif note := str(answer.get("value") or ""):  # no toasts for Action.Submit
            if incoming.kind(_wire(context)) == "personal":
                await self._reply(context, Reply.of(Text(note)))
            elif note not in (PRIVATELY, NOT_PRIVATELY):  # never aloud in a channel
                await self._privately(event.who, Reply.of(Text(note)))

    async def _card_answer(
        self, context: TurnContext, event: ButtonPress | FormSubmit, reply: Reply | None
    ) -> dict[str, Any]:
        """Decide what a click gets back: an updated card, a toast, or nothing (posted)."""
        if reply is None:
            return _toast("Done.")
        personal = incoming.kind(_wire(context)) == "personal"
        if reply.retire is not None and not reply.replace:
            # The pressed card shows what was done and by whom; the answer is posted after it.
            await self._deliver(context, event.who, event.where, replace(reply, retire=None))
            return {"statusCode": 200, "type": CARD, "value": render.card(Reply(reply.retire))}
        if reply.replace and (personal or not reply.private):  # the card shows the outcome
            return {"statusCode": 200, "type": CARD, "value": render.card(reply)}
        if reply.private and _short(reply):
            return _toast(render.fallback(reply))
        if reply.private and not personal:
            sent = await self._privately(event.who, reply)
            return _toast(PRIVATELY if sent else NOT_PRIVATELY)
        if (
            reply.replace
            or isinstance(event, FormSubmit)  # a sent form is done: its card shows the outcome
            or any(isinstance(e, Form) for e in reply.elements)
        ):
            return {"statusCode": 200, "type": CARD, "value": render.card(reply)}
        await self._deliver(context, event.who, event.where, reply)
        return _toast(f"Posted below: {_headline(reply)}")  # the card pressed stays as it was

    # Conversations ------------------------------------------------------------------------

    async def on_conversation_update(self, context: TurnContext, _state: TurnState) -> None:
        """The bot joined or left a conversation: greet a person, forget a removed one."""
        activity = _wire(context)
        bot = _str(_dict(activity.get("recipient")).get("id"))
        added = [_dict(m).get("id") for m in activity.get("membersAdded") or []]
        removed = [_dict(m).get("id") for m in activity.get("membersRemoved") or []]
        if bot and bot in removed:
            await self._forget(activity)
        elif bot and bot in added and incoming.kind(activity) == "personal":
            await self.people.ensure(context, incoming.user(activity), activity)
            await self._reply(context, help_reply("teams"))

    async def on_installation_update(self, context: TurnContext, _state: TurnState) -> None:
        """The app was installed (the reference is kept) or removed (it is forgotten)."""
        activity = _wire(context)
        if str(activity.get("action", "")).startswith("remove"):
            await self._forget(activity)

    async def _forget(self, activity: dict[str, Any]) -> None:
        here = incoming.where(activity)
        team_id = _str(_dict(_dict(activity.get("channelData")).get("team")).get("id"))
        await self.references.forget(here.channel_id, team_id=team_id or None)
        log.info("Teams: the bot was removed from %s", here.channel_id)

    # Other invokes ------------------------------------------------------------------------

    async def on_search(self, context: TurnContext, _state: TurnState) -> None:
        """The search message extension."""
        activity = _wire(context)
        query = incoming.query(activity)
        await self.people.ensure(context, query.who, activity)
        await _invoke(context, await extension.search_response(query, self.deps))

    async def on_link(self, context: TurnContext, _state: TurnState) -> None:
        """A lesson's address pasted in the compose box (link unfurling): its card."""
        activity = _wire(context)
        url = _str(_dict(activity.get("value")).get("url"))
        who, where = incoming.user(activity), incoming.where(activity)
        await self.people.ensure(context, who, activity)
        await _invoke(context, await extension.link_response(url, who, where, self.deps))

    async def on_other_invoke(self, context: TurnContext, _state: TurnState) -> None:
        """An invoke the bot does not handle: a polite 200, never a 501."""
        log.info("Teams: unhandled invoke %r", context.activity.name)
        await _invoke(context, {})

    async def on_error(self, context: TurnContext, error: Exception) -> None:
        """The one error handler: the log gets the details, the user a reference id."""
        reference = uuid.uuid4().hex[:8]
        log.error("Teams turn failed (reference %s)", reference, exc_info=error)
        text = router.not_saved(error) or (
            f"Sorry, something went wrong on my side (reference {reference}). Nothing you sent "
            "was lost; please try again in a minute."
        )
        try:
            if context.activity.type == ActivityTypes.invoke:
                await _invoke(context, _toast(text))
            else:
                await context.send_activity(message(Reply.of(Text(text))))
        except Exception:
            log.exception("Teams: could not tell the user about error %s", reference)
            if context.activity.type != ActivityTypes.invoke:
                who = incoming.user(_wire(context))
                await owe(self.store, who.platform, who.user_id, who.display_name or "", "Teams",
                          reference)  # fmt: skip

    # Delivery -----------------------------------------------------------------------------

    async def _deliver(
        self, context: TurnContext, who: UserRef, where: ConversationRef, reply: Reply
    ) -> None:
        """Deliver a reply to an event: privately, at the top of the channel, or in place.

        A reply whose move holds only once shown (`Reply.undo`) is rolled back when it fails.
        """
        try:
            await self._deliver_once(context, who, where, reply)
        except Exception:
            if reply.undo:
                await router.not_posted(reply.undo, self.deps)
            raise

    async def _deliver_once(
        self, context: TurnContext, who: UserRef, where: ConversationRef, reply: Reply
    ) -> None:
        personal = incoming.kind(_wire(context)) == "personal"
        if reply.anchor or (not reply.in_thread and not personal):
            top = replace(where, thread_id=None)
            await self.notifier.post(top, replace(reply, in_thread=False))
        elif reply.private and not personal:
            if not await self._privately(who, reply):
                await self._reply(context, Reply.of(Text(NOT_PRIVATELY)))
        else:
            await self._reply(context, reply)

    async def _reply(self, context: TurnContext, reply: Reply) -> None:
        """Answer in the conversation (and thread) of the turn, within Teams' limits."""
        await self.notifier.pace.wait(incoming.base_id(context.activity.conversation.id))
        await reply_in(context, message(reply))

    async def _privately(self, who: UserRef, reply: Reply) -> bool:
        """Send a reply to the person's personal chat; False when that cannot be done."""
        try:
            await self.notifier.send(who, replace(reply, private=False))
        except Exception:
            log.info("Teams: could not reach %s privately", who.user_id, exc_info=True)
            return False
        return True


async def _invoke(context: TurnContext, body: dict[str, Any]) -> None:
    """Answer an invoke (Teams reads the HTTP response of the request)."""
    await context.send_activity(
        Activity(
            type=ActivityTypes.invoke_response,
            value=InvokeResponse(status=int(HTTPStatus.OK), body=body),
        )
    )


def _toast(text: str) -> dict[str, Any]:
    return {"statusCode": 200, "type": TOAST, "value": text[:MAX_TOAST]}


def _headline(reply: Reply) -> str:
    """Return a reply's first line as plain text, for the toast of a reply posted instead."""
    first = render.fallback(reply).strip().split("\n", 1)[0]
    return first[: MAX_TOAST - len("Posted below: ")] or "Done."


def _short(reply: Reply) -> bool:
    """Return True for a reply that is only a little text (Teams shows it as a toast)."""
    return all(isinstance(e, Text) for e in reply.elements) and len(reply.fallback) <= MAX_TOAST


async def _member(context: TurnContext, activity: dict[str, Any]) -> tuple[str | None, str]:
    """Return the sender's email and name from the conversation's roster (TeamsInfo)."""
    sender = _dict(activity.get("from"))
    channel_data = _dict(activity.get("channelData"))
    team = _str(_dict(channel_data.get("team")).get("id"))
    conversation = team or incoming.base_id(_str(_dict(activity.get("conversation")).get("id")))
    client = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    if not isinstance(client, TeamsConnectorClient) or not conversation:
        return None, _str(sender.get("name"))
    try:
        member = await client.get_conversation_member(conversation, _str(sender.get("id")))
    except Exception:  # no roster access (a guest, a failing call): join without an email
        log.info("Teams: no roster entry for %s", sender.get("id"), exc_info=True)
        return None, _str(sender.get("name"))
    email = member.email or member.user_principal_name
    return (email if email and "@" in email else None), member.name or _str(sender.get("name"))


def _wire(context: TurnContext) -> dict[str, Any]:
    """Return the turn's activity as Teams sent it (camelCase JSON), serialized once a turn."""
    found = context.turn_state.get(WIRE)
    if not isinstance(found, dict):
        found = context.activity.model_dump(mode="json", by_alias=True, exclude_none=True)
        context.turn_state[WIRE] = found
    return found


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""
