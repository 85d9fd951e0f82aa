"""Thin Bolt listeners: ack → incoming → router → render → send.

Every listener acks at once (Bolt answers Slack as soon as `ack()` is called and runs the rest
after), turns the payload into a neutral `Incoming`, dispatches it, and delivers the `Reply`:
in the thread, privately (ephemeral), in place (through the response URL), as a modal (a reply
holding a form) or as the App Home.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import (
    AsyncAck,
    AsyncApp,
    AsyncAssistant,
    AsyncBoltContext,
    AsyncRespond,
    AsyncSay,
    AsyncSetStatus,
    AsyncSetSuggestedPrompts,
)
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import inbox
from bot.owed import owe
from bot.slack import incoming, render
from bot.slack.notifier import PLATFORM, SlackNotifier
from handlers import help as help_text
from handlers import home as home_handler
from handlers import router
from handlers import unfurl as unfurl_handler
from handlers.chat import Form, Incoming, Reply, Text, UserRef
from knowledge.caching import Expiring
from knowledge.storage import Store

log = logging.getLogger(__name__)

COMMANDS = ("/lessons", "/aar", "/practice")
SHORTCUTS = ("lesson.save_message",)
# app_uninstalled and tokens_revoked are listened to in bot.slack.routes (they end installations).
EVENTS = (
    "app_mention",
    "message",
    "app_home_opened",
    "link_shared",
    "assistant_thread_started",
    "assistant_thread_context_changed",
    "app_uninstalled",
    "tokens_revoked",
)
ANY = re.compile(r".+")


class People:
    """Ties Slack users to people of the directory (by email from users.info), once each."""

    def __init__(self, store: Store, client: AsyncWebClient) -> None:
        self.store = store
        self.client = client
        self._known: dict[str, int] = {}

    async def ensure(self, who: UserRef) -> None:
        """Make sure this Slack user is a person of the directory (unknown ones join as staff)."""
        if not who.user_id or who.bot or who.user_id in self._known:
            return
        person = await self.store.person_for("slack", who.user_id)
        if person is None:
            try:
                info = await self.client.users_info(user=who.user_id)
            except SlackApiError as exc:
                log.warning("users.info failed for %s: %s", who.user_id, exc.response.get("error"))
                return
            raw = info.get("user") or {}
            if raw.get("is_bot"):
                return
            profile = raw.get("profile") or {}
            person = await self.store.link_user(
                "slack",
                who.user_id,
                email=profile.get("email"),
                name=profile.get("real_name") or raw.get("real_name") or raw.get("name") or "",
                timezone=raw.get("tz"),
            )
        self._known[who.user_id] = person


class Channels:
    """Names of Slack channels (conversations.info), remembered for an hour.

    An answer posted in a channel may show only what the channel's audience may see
    (`channel:<name>` opens lessons restricted to it), so channel events carry the name. A DM
    has none: it is answered with the asker's own access. When Slack will not say (a missing
    scope, a channel the bot cannot read), the channel id stands in: restricted lessons stay
    hidden there.
    """

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._names: Expiring[str, str] = Expiring(ttl=3600, size=20_000)

    async def named(self, event: Incoming, owner: str | None = None) -> Incoming:
        """Return the event with its channel's name and identity filled in (DMs as they are).

        `owner` is the workspace (or Enterprise Grid organisation) the request came from, as
        Slack signed it: the channel's identity, "slack:<owner>:<channel id>", is what opens
        audiences; the name is only shown.
        """
        where = event.where
        if not where.channel_id or where.channel_id[0] == "D":
            return event
        if owner and where.space is None:
            where = replace(where, space=f"slack:{owner}:{where.channel_id}")
        if where.channel_name is None:
            where = replace(where, channel_name=await self.name(where.channel_id))
        return replace(event, where=where)

    async def name(self, channel_id: str) -> str:
        """Return a channel's name, or its id when Slack does not say."""
        found = self._names.get(channel_id, 0)
        if found is not None:
            return found
        try:
            info = await self.client.conversations_info(channel=channel_id)
        except SlackApiError as exc:
            log.info("conversations.info failed for %s: %s", channel_id, exc.response.get("error"))
            return channel_id  # not remembered: the next event asks again
        name = str((info.get("channel") or {}).get("name") or "") or channel_id
        self._names.put(channel_id, name, 0)
        return name


class Listeners:
    """The Slack surface of every handler."""

    def __init__(
        self,
        store: Store,
        notifier: SlackNotifier,
        people: People,
        channels: Channels | None = None,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.people = people
        self.channels = channels or Channels(people.client)
        self.bot_user_id: str | None = None
        self.running: set[asyncio.Task[Any]] = set()

    @property
    def deps(self) -> router.Deps:
        """What handlers need."""
        return router.Deps(store=self.store, notifier=self.notifier)

    def register(self, app: AsyncApp) -> None:
        """Attach every listener to the Bolt app (the manifest lists the same ones)."""
        for name in COMMANDS:
            app.command(name)(self._tracked(self.on_command))
        for callback in SHORTCUTS:
            app.shortcut(callback)(self._tracked(self.on_shortcut))
        app.event("app_mention")(self._tracked(self.on_mention))
        app.event("message")(self._tracked(self.on_message))
        app.event("app_home_opened")(self._tracked(self.on_home))
        app.event("link_shared")(self._tracked(self.on_link_shared))
        app.assistant(self.assistant())
        app.action(ANY)(self._tracked(self.on_action))
        app.view(ANY)(self._tracked(self.on_view))
        app.error(self.on_error)

    def _tracked(self, listener: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        """Remember a running listener, so a shutdown lets work after the ack finish."""

        @functools.wraps(listener)  # Bolt reads the wrapped signature to pass arguments
        async def run(*args: Any, **kwargs: Any) -> None:
            task = asyncio.current_task()
            if task is not None:
                self.running.add(task)
            handling = inbox.current()
            if handling is not None:
                handling.started = True
                handling.listeners += 1
            cancelled = False
            try:
                await listener(*args, **kwargs)
            except asyncio.CancelledError:
                cancelled = True  # stopped at shutdown: the inbox hands it on
                raise
            finally:
                try:
                    if handling is not None:
                        handling.listeners -= 1
                        if not handling.listeners and not cancelled:
                            await handling.finish()  # handled (or its error told): done
                finally:
                    if task is not None:
                        self.running.discard(task)

        return run

    async def drain(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait (a while) for listeners still working after their ack."""
        pending = {t for t in self.running if t is not asyncio.current_task()}
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()

    async def _dispatch(
        self, event: Incoming, context: AsyncBoltContext | None = None
    ) -> Reply | None:
        await self.people.ensure(event.who)
        owner = (context.enterprise_id or context.team_id) if context is not None else None
        return await router.dispatch(await self.channels.named(event, owner), self.deps)

    # Listeners -----------------------------------------------------------------------------

    async def on_command(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        """`/lessons`, `/aar`, `/practice`: answers are private unless they start something."""
        await ack()
        event = incoming.command(body)
        reply = await self._dispatch(event, context)
        if reply is None:
            return
        if _form(reply) is not None and body.get("trigger_id"):
            await self._modal(str(body["trigger_id"]), reply, event.where.channel_id, None)
        elif reply.anchor:
            await self.notifier.post(event.where, reply)
        else:
            blocks, text = render.message(reply)
            await respond(blocks=blocks, text=text, response_type="ephemeral")

    async def on_mention(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        """An @mention in a channel: answer in its thread."""
        message = incoming.mention(event)
        reply = await self._dispatch(message, context)
        if reply is not None:
            await self._deliver(reply, message.who, message.where)

    async def on_message(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        """A DM, a reply in a thread we run, an edit or a deletion."""
        # With OAuth, each workspace has its own bot user: Bolt knows this request's.
        bot_user_id = context.bot_user_id or self.bot_user_id
        found = incoming.message(event, bot_user_id=bot_user_id)
        if found is None:
            return
        reply = await self._dispatch(found, context)
        if reply is not None:
            await self._deliver(reply, found.who, found.where)

    def assistant(self) -> AsyncAssistant:
        """Slack's agent view: the conversation opens with suggested prompts, a status shows
        while the bot searches, and the answer comes in the agent thread."""
        assistant = AsyncAssistant()
        assistant.thread_started(self._tracked(self.on_thread_started))
        assistant.thread_context_changed(self._tracked(self.on_thread_context_changed))
        assistant.user_message(self._tracked(self.on_assistant_message))
        return assistant

    async def on_thread_started(
        self, say: AsyncSay, set_suggested_prompts: AsyncSetSuggestedPrompts
    ) -> None:
        """Someone opened the bot's agent thread: a welcome and the suggested prompts."""
        blocks, text = render.message(Reply.of(Text(help_text.WELCOME)))
        await say(text=text, blocks=blocks)
        prompts = [{"title": t, "message": m} for t, m in help_text.SUGGESTED_PROMPTS]
        await set_suggested_prompts(prompts=prompts, title="Try one of these:")

    async def on_thread_context_changed(self) -> None:
        """The channel beside the agent thread changed: nothing to keep (answers use the
        person's own access in their DM thread)."""

    async def on_assistant_message(
        self, event: dict[str, Any], context: AsyncBoltContext, set_status: AsyncSetStatus
    ) -> None:
        """A message in the agent thread: show a status, then answer as in any DM thread."""
        try:
            await set_status(help_text.SEARCHING)
        except SlackApiError as exc:  # a status is a nicety: never lose the answer over it
            log.info("Slack: no status for the agent thread (%s)", exc)
        await self.on_message(event, context)

    async def on_link_shared(
        self, event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        """A link to a lesson posted in a conversation: unfurl it into the lesson's card, as
        that conversation may see it (a restricted lesson shows only as restricted)."""
        channel = str(event.get("channel") or "")
        who = incoming.user(str(event.get("user") or ""))
        where = incoming.where(channel)
        if channel and channel[0] != "D":
            # The channel's identity (its workspace as Slack signed it) opens audiences.
            owner = context.enterprise_id or context.team_id
            where = replace(
                where,
                channel_name=await self.channels.name(channel),
                space=f"slack:{owner}:{channel}" if owner else None,
            )
        found = event.get("links")
        links: list[Any] = found if isinstance(found, list) else []
        unfurls: dict[str, Any] = {}
        for link in links[: unfurl_handler.MAX_LINKS]:
            url = link.get("url") if isinstance(link, dict) else None
            if not isinstance(url, str) or url in unfurls:
                continue
            reply = await unfurl_handler.unfurl(url, who, where, self.deps)
            if reply is not None:
                blocks, _ = render.message(reply)
                unfurls[url] = {"blocks": blocks}
        if not unfurls:
            return
        # A posted message is named by channel and ts; a link still in the composer (source
        # "composer") only by its unfurl_id and source.
        if event.get("source") == "composer" and event.get("unfurl_id"):
            await client.chat_unfurl(
                unfurl_id=str(event["unfurl_id"]), source="composer", unfurls=unfurls
            )
        else:
            await client.chat_unfurl(
                channel=channel, ts=str(event.get("message_ts") or ""), unfurls=unfurls
            )

    async def on_home(self, event: dict[str, Any]) -> None:
        """Refresh the App Home when someone opens it."""
        if event.get("tab", "home") != "home":
            return
        await self.refresh_home(incoming.user(str(event.get("user", ""))))

    async def refresh_home(self, who: UserRef) -> None:
        """Publish the person's App Home as it is now."""
        await self.people.ensure(who)
        reply = await home_handler.home(who, self.deps)
        await self.notifier.publish_home(who.user_id, reply)

    async def on_shortcut(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        """ "Save as lesson" on a message: a modal prefilled with it and its permalink."""
        await ack()
        channel = str((body.get("channel") or {}).get("id", ""))
        ts = str((body.get("message") or {}).get("ts", ""))
        permalink = None
        if channel and ts:
            try:
                found = await client.chat_getPermalink(channel=channel, message_ts=ts)
                permalink = str(found.get("permalink", "")) or None
            except SlackApiError:
                log.info("no permalink for %s/%s", channel, ts)
        press = incoming.shortcut(body, permalink)
        reply = await self._dispatch(press, context)
        if reply is None:
            return
        if _form(reply) is not None:
            await self._modal(str(body.get("trigger_id", "")), reply, channel, None)
        else:
            await self.notifier.ephemeral(press.where, press.who, reply)

    async def on_action(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        """A button: forms open as modals, `replace` replies update the card in place."""
        await ack()
        press = incoming.button(body, action)
        reply = await self._dispatch(press, context)
        from_home = (body.get("container") or {}).get("type") == "view"
        if reply is not None and reply.retire is not None and not reply.replace and not from_home:
            # The pressed card shows what was done and by whom; the answer is posted after it.
            blocks, text = render.message(Reply(reply.retire))
            await respond(blocks=blocks, text=text, replace_original=True)
            reply = replace(reply, retire=None)
        if reply is not None:
            if _form(reply) is not None and body.get("trigger_id"):
                await self._modal(
                    str(body["trigger_id"]), reply, press.where.channel_id, press.where.thread_id
                )
            elif from_home:
                if not reply.replace:  # a `replace` reply on the home is the home itself
                    await self.notifier.send(press.who, reply)
            elif reply.replace:
                blocks, text = render.message(reply)
                await respond(blocks=blocks, text=text, replace_original=True)
            else:
                await self._deliver(reply, press.who, press.where)
        if from_home or (reply is not None and reply.replace):
            await self.refresh_home(press.who)

    async def on_view(self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        """A submitted modal: a refusal keeps the modal open, the reason beside its input.

        The answer is awaited (briefly) before the ack, so a refused form answers with
        `response_action: errors` and nothing typed is lost; a slow one is acked at once and
        answered as a message when it is done.
        """
        view = body.get("view") or {}
        submit = incoming.view_submission(body, render.values(view.get("state") or {}))
        task = asyncio.ensure_future(self._dispatch(submit, context))
        done, _ = await asyncio.wait({task}, timeout=VIEW_ANSWER_SECONDS)
        reply = task.result() if done else None
        errors = render.form_errors(reply, view) if reply is not None else None
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        if not done:
            reply = await task
        if reply is not None:
            if submit.where.channel_id:
                await self._deliver(replace(reply, replace=False), submit.who, submit.where)
            else:
                await self.notifier.send(submit.who, reply)
        await self.refresh_home(submit.who)

    async def on_error(self, error: Exception, body: dict[str, Any]) -> None:
        """The one global error handler: the log gets the details, the user a reference id."""
        reference = uuid.uuid4().hex[:8]
        log.error("slack listener failed (reference %s)", reference, exc_info=error)
        user_id = _user_of(body)
        if not user_id:
            return
        text = router.not_saved(error) or (
            f"Sorry, something went wrong on my side (reference {reference}). Nothing you "
            "sent was lost; please try again in a minute."
        )
        reply = Reply.of(Text(text), private=True)
        try:
            await self.notifier.send(incoming.user(user_id), reply)
        except Exception:
            log.exception("could not tell %s about error %s", user_id, reference)
            await owe(self.store, PLATFORM, user_id, "", "Slack", reference)

    # Delivery ------------------------------------------------------------------------------

    async def _deliver(self, reply: Reply, who: UserRef, where: Any) -> None:
        try:
            if reply.private:
                await self.notifier.ephemeral(where, who, reply)
            else:
                await self.notifier.post(where, reply)
        except Exception:
            if reply.undo:  # a move that holds only once shown (an AAR's next question)
                await router.not_posted(reply.undo, self.deps)
            raise

    async def _modal(self, trigger_id: str, reply: Reply, channel: str, thread: str | None) -> None:
        context = json.dumps({"channel": channel, "thread": thread or ""})
        await self.notifier.open_modal(trigger_id, reply, context)


VIEW_ANSWER_SECONDS = 2.0  # Slack waits 3 s for a modal's ack


def _form(reply: Reply) -> Form | None:
    return next((e for e in reply.elements if isinstance(e, Form)), None)


def _user_of(body: dict[str, Any]) -> str | None:
    user = body.get("user_id") or (body.get("event") or {}).get("user") or body.get("user")
    if isinstance(user, dict):
        user = user.get("id")
    return str(user) if user else None


Posted = Callable[[str, Any], Awaitable[None]]
