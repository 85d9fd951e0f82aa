"""Socket Mode with the inbox: an envelope is kept before it is acknowledged.

Bolt's `AsyncSocketModeHandler` dispatches an envelope and acks it when its listener has
acked; nothing is written down first, so a process killed after the ack loses the event (and
Slack never sends it again). This handler keeps the envelope's payload in the inbox
(`bot.inbox`), under the same key an HTTP request for it would have (`shapes.inbox_key`),
before Bolt sees it: a redelivery of an envelope already handled is acked and skipped, one
that could not be kept is not acked (Slack sends it again), and one a killed process had
acknowledged is replayed by the keeper after restart (`replay_request`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from time import time
from typing import Any

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import send_async_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.inbox import Handling, Keeper
from bot.slack import shapes
from bot.slack.incoming import PLATFORM
from knowledge.inbox import Entry

log = logging.getLogger(__name__)

MODE = "socket_mode"
Dispatch = Callable[[AsyncBoltRequest, Handling | None], Awaitable[BoltResponse]]


class InboxSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler, with the envelope kept in the inbox before its ack."""

    def __init__(
        self, app: AsyncApp, app_token: str, *, keeper: Keeper | None, dispatch: Dispatch
    ) -> None:
        super().__init__(app, app_token)
        self.keeper = keeper
        self.dispatch = dispatch

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        start = time()
        request = AsyncBoltRequest(mode=MODE, body=req.payload, headers=_headers(req))
        text = json.dumps(req.payload)
        key = shapes.inbox_key(text, "application/json") if self.keeper is not None else None
        if key is None or self.keeper is None:
            await send_async_response(client, req, await self.dispatch(request, None), start)
            return
        try:  # kept before the ack: what Slack hears "got it" for is never lost
            receipt = await self.keeper.inbox.receive(PLATFORM, key, text, {"mode": MODE})
        except Exception:
            log.warning("Slack: could not record %s; Slack will send it again", key, exc_info=True)
            return  # no ack: Slack redelivers the envelope
        if receipt.entry is None:
            log.info("Slack: skipped redelivered %s (%s)", key, receipt.state)
            await send_async_response(client, req, BoltResponse(status=200, body=""), start)
            return
        response = await self.dispatch(request, self.keeper.begin(receipt.entry))
        await send_async_response(client, req, response, start)


def _headers(req: SocketModeRequest) -> dict[str, str | Sequence[str]] | None:
    """Slack's retry headers as HTTP mode has them (what newer Bolt's `build_headers` does; the
    lowest slack-bolt we allow has none)."""
    headers: dict[str, str | Sequence[str]] = {}
    if getattr(req, "retry_attempt", None) is not None:
        headers["x-slack-retry-num"] = str(req.retry_attempt)
    if getattr(req, "retry_reason", None) is not None:
        headers["x-slack-retry-reason"] = str(req.retry_reason)
    return headers or None


def replay_request(entry: Entry) -> AsyncBoltRequest | None:
    """The request to dispatch again for an inbox row kept from Socket Mode (else None)."""
    if entry.meta.get("mode") != MODE:
        return None
    payload: Any = json.loads(entry.body)
    return AsyncBoltRequest(mode=MODE, body=payload, headers={})
