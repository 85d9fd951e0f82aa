"""The Slack Web API client of the bot: every answer, whatever its shape, reads as JSON.

slack_sdk expects JSON from Slack. A proxy, a load balancer or an outage in front of Slack
answers otherwise: `403 Forbidden` in text/plain, an HTML error page, an empty body, JSON that
is not JSON. slack_sdk then gives a response whose data is a string (and `.get` on it raises
AttributeError), raises SlackApiError carrying the raw aiohttp response, or a ValueError.

`SlackClient` turns each of these, on every Web API call, into a SlackApiError whose response
is a dict like Slack's own errors: `{"ok": false, "error": "unexpected_response", "status":
403, "body": "Forbidden"}`. Callers then handle it like any refused call.
"""

from __future__ import annotations

import json as jsonlib
import logging
from typing import Any

from aiohttp import ContentTypeError, FormData
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

log = logging.getLogger(__name__)

UNEXPECTED = "unexpected_response"
BODY_KEPT = 200  # characters of an odd body kept for the log


class SlackClient(AsyncWebClient):
    """An AsyncWebClient whose failures are always SlackApiErrors with a dict response."""

    async def _request(self, *, http_verb: str, api_url: str, req_args: dict[str, Any]) -> Any:
        """Send one request; an answer that is not Slack's JSON becomes an error like Slack's."""
        try:
            found: dict[str, Any] = await super()._request(
                http_verb=http_verb, api_url=api_url, req_args=req_args
            )
        except SlackApiError as exc:  # a JSON content type over something else
            raw = exc.response
            status = int(getattr(raw, "status", 0) or 0)
            headers = dict(getattr(raw, "headers", None) or {})
            return {
                "data": self._odd(api_url, status, str(exc)),
                "headers": headers,
                "status_code": status or 502,
            }
        data = found.get("data")
        if not isinstance(data, dict) or "ok" not in data:
            status = int(found.get("status_code") or 0)
            found = {**found, "data": self._odd(api_url, status, data)}
        return found

    async def api_call(
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: dict[str, Any] | None = None,
        data: dict[str, Any] | FormData | None = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> AsyncSlackResponse:
        """Call a Web API method; whatever goes wrong on the way reads as a SlackApiError."""
        try:
            return await super().api_call(
                api_method,
                http_verb=http_verb,
                files=files,
                data=data,
                params=params,
                json=json,
                headers=headers,
                auth=auth,
            )
        except (AttributeError, ValueError, TypeError, ContentTypeError) as exc:
            response = AsyncSlackResponse(
                client=self,
                http_verb=http_verb,
                api_url=f"{self.base_url}{api_method}",
                req_args={},
                data=self._odd(api_method, 0, f"{type(exc).__name__}: {exc}"),
                headers={},
                status_code=502,
            )
            raise SlackApiError(f"Slack answered {api_method} unexpectedly", response) from exc  # type: ignore[no-untyped-call]

    def _odd(self, where: str, status: int, body: Any) -> dict[str, Any]:
        """Return an error like Slack's own for an answer of an unexpected shape (and log it)."""
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        text = (body if isinstance(body, str) else "" if body is None else str(body))[:BODY_KEPT]
        log.warning(
            "Slack %s: an answer that is not Slack's JSON (status %s): %s",
            where.rsplit("/", 1)[-1],
            status or "unknown",
            jsonlib.dumps(text),
        )
        return {"ok": False, "error": UNEXPECTED, "status": status, "body": text}
