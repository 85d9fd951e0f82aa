"""Wiring the scheduler: its notifiers for each configured platform, in `lessons run` or alone.

Reminders go out on the chat platforms that are configured (Slack, Teams). Only when none is
configured do they land in the local chat's inbox, which then stands in for a platform: a
person's reminder is never sent twice, once per surface.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from bot.local.routes import Hub
from bot.settings import Settings
from bot.slack.reminders import reminder_notifier
from handlers.chat import ConversationRef, Notifier, Reply, UserRef
from knowledge.storage import Store
from scheduler.clock import system
from scheduler.jobs import Scheduler, TickReport
from scheduler.runner import Runner

log = logging.getLogger(__name__)
RUNNER: web.AppKey[Runner] = web.AppKey("scheduler_runner", Runner)


def notifiers(settings: Settings, store: Store, *, hub: Hub | None = None) -> list[Notifier]:
    """Return the notifiers reminders go through, in the order people are looked for."""
    found: list[Notifier] = []
    slack = reminder_notifier(settings, store=store)
    if slack is not None:
        found.append(slack)
    if settings.teams_enabled:
        from bot.teams.routes import reminder_notifier as teams_notifier  # only with Teams

        teams = teams_notifier(settings, store)
        if teams is not None:
            found.append(teams)
    if not found:
        found.append(hub.notifier if hub is not None else Inbox(Hub(store)))
    return found


class Inbox:
    """The local chat inbox for a scheduler running without the web server (it keeps the hub)."""

    platform = "local"

    def __init__(self, hub: Hub) -> None:
        self.hub = hub  # LocalNotifier only holds its hub weakly

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        """Post in the person's inbox."""
        return await self.hub.notifier.send(to, reply)

    async def find(self, to: UserRef, key: str) -> str | None:
        """Look for a reminder in the person's inbox."""
        return await self.hub.notifier.find(to, key)

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        """Post in a channel of the local chat."""
        return await self.hub.notifier.post(where, reply)

    async def lookup(self, email: str) -> str | None:
        """On the local chat a person is their email."""
        return await self.hub.notifier.lookup(email)


def scheduler(
    settings: Settings,
    store: Store,
    *,
    hub: Hub | None = None,
    clock: Callable[[], datetime] = system,
    dry_run: bool = False,
    preview: Notifier | None = None,
) -> Scheduler:
    """Return the scheduler of this process (a dry run sends to `preview` and keeps nothing)."""
    options = settings.scheduler
    if dry_run:
        assert preview is not None
        return Scheduler.dry(store=store, notifiers=[preview], settings=options, clock=clock)
    chosen = notifiers(settings, store, hub=hub)
    return Scheduler(store=store, notifiers=chosen, settings=options, clock=clock)


def install(app: web.Application, settings: Settings, store: Store, hub: Hub) -> None:
    """Tick the scheduler inside the bot's server (unless LESSONS_SCHEDULER=off)."""
    if not settings.scheduler_on:
        log.info("scheduler: off (LESSONS_SCHEDULER=off)")
        return

    runner = Runner(scheduler(settings, store, hub=hub))  # bad settings fail here, at build
    app[RUNNER] = runner

    async def start(app: web.Application) -> None:
        runner.start()

    async def stop(app: web.Application) -> None:
        runner = app.get(RUNNER)
        if runner is not None:
            await runner.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)


class PreviewNotifier:
    """A dry run's notifier: it reaches everyone with an email and keeps what it would send."""

    platform = "preview"

    def __init__(self) -> None:
        self.sent: list[tuple[UserRef, Reply]] = []

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        """Keep the reply."""
        self.sent.append((to, reply))
        return f"preview-{len(self.sent)}"

    async def find(self, to: UserRef, key: str) -> str | None:
        """Nothing was ever sent for real."""
        return None

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        """Channel posts are not previewed."""
        return None

    async def lookup(self, email: str) -> str | None:
        """Everyone is their email here."""
        return email


def report_lines(report: TickReport, *, preview: PreviewNotifier | None = None) -> list[str]:
    """Return what a tick did, as `lessons scheduler run-once` prints it."""
    verb = "would send" if preview is not None else "sent"
    plan = report.plan
    lines = [
        f"Scheduler at {report.at:%Y-%m-%d %H:%M:%S}Z: planned {plan.planned} notifications "
        f"for {plan.people} people ({plan.stale} stale slots skipped, {plan.away} away)."
    ]
    for d in report.deliveries:
        kinds = ", ".join(d.kinds) or "-"
        if d.outcome == "sent":
            lines.append(f"  {verb:<10} {d.name} on {d.platform}: {kinds}")
            if preview is not None:
                lines += [f"      {line}" for line in d.text.splitlines()]
        else:
            lines.append(f"  {d.outcome:<10} {d.name}: {kinds} {d.detail}".rstrip())
    counts: dict[str, int] = {}
    for d in report.deliveries:
        outcome = verb if d.outcome == "sent" else d.outcome  # a dry run sends nothing
        counts[outcome] = counts.get(outcome, 0) + 1
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "nothing"
    if report.practices:
        lines.append(f"  {verb:<10} {report.practices} practices of the week and priority lists")
    lines.append(f"Deliveries: {summary}. {report.seconds:.2f} s.")
    return lines
