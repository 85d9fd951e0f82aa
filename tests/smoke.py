"""The install smoke: a new user's first minute, checked with the runtime dependencies only.

Run with the Python of a venv that has only the runtime lock installed (`make smoke` makes one):

    python tests/smoke.py --imports                 # import every module of the four packages
    python tests/smoke.py --url http://127.0.0.1:PORT  # /healthz, then one question over /ws

The second form talks to a running `make run` exactly as the chat page does: it opens the page's
WebSocket with the page's own Origin, says hello as a guest, asks "what did we learn about
elections?" in the bot's direct messages and waits for the bot's answer. Only the standard
library and aiohttp (a runtime dependency) are used, so the check cannot pass on a dev tool.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import pkgutil
import sys
import time
from pathlib import Path

# Run as a script, Python puts tests/ first on sys.path, where tests/bot and friends would shadow
# the installed packages: drop it, so the imports below are the installed project's.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

PACKAGES = ("bot", "handlers", "knowledge", "scheduler")
# Alembic's scripts run inside Alembic (`lessons db upgrade`, called by `make run`), not as imports.
SCRIPTS = "knowledge.migrations."
QUESTION = "what did we learn about elections?"


def import_everything() -> list[str]:
    """Import every module of the four packages; return the names imported."""
    names: list[str] = []
    for top in PACKAGES:
        package = importlib.import_module(top)
        names.append(top)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{top}."):
            if info.name.endswith(".__main__") or info.name.startswith(SCRIPTS):
                continue  # importing it would start the program, or needs Alembic's context
            importlib.import_module(info.name)
            names.append(info.name)
    return names


async def wait_healthy(url: str, limit: float) -> None:
    """Poll /healthz until it answers 200 (the server may still be installing or migrating)."""
    import aiohttp

    deadline = time.monotonic() + limit
    last = "no answer"
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except aiohttp.ClientError as exc:
                last = type(exc).__name__
            await asyncio.sleep(0.5)
    raise SystemExit(f"smoke: {url}/healthz never answered 200 in {limit:.0f} s ({last})")


async def ask(url: str, question: str, limit: float) -> str:
    """Ask one question in the bot's DMs over the page's WebSocket; return the answer's HTML."""
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{url}/ws", headers={"Origin": url}) as ws,
    ):
        await ws.send_json({"type": "hello", "as": "", "channel": None, "thread": None})
        dm = None
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            frame = await ws.receive_json(timeout=max(0.1, deadline - time.monotonic()))
            kind = frame.get("type")
            if kind == "error":
                raise SystemExit(f"smoke: the chat said: {frame.get('text')}")
            if kind == "state" and frame.get("me") is None:
                # First visit: the page acts as the first member of staff; so do we.
                people = frame.get("people") or []
                staff = [p for p in people if "staff" in p.get("roles", [])] or people
                if not staff:
                    raise SystemExit(
                        "smoke: the directory is empty (were the demo lessons loaded?)"
                    )
                hello = {"type": "hello", "as": staff[0]["email"], "channel": None, "thread": None}
                await ws.send_json(hello)
            elif kind == "state":
                dm = frame["dm"]
                await ws.send_json({"type": "open", "channel": dm, "thread": None})
            elif kind == "history" and dm is not None and frame.get("channel") == dm:
                await ws.send_json({"type": "say", "channel": dm, "thread": None, "text": question})
            elif kind == "message" and frame["message"].get("bot"):
                return str(frame["message"]["html"])
    raise SystemExit(f"smoke: no answer to {question!r} in {limit:.0f} s")


def main() -> int:
    """Run the checks the arguments ask for."""
    parser = argparse.ArgumentParser(description="Lessons Bot's install smoke test.")
    parser.add_argument("--imports", action="store_true", help="import every module")
    parser.add_argument("--url", help="a running bot's address, e.g. http://127.0.0.1:3000")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    if args.imports:
        names = import_everything()
        print(f"smoke: imported {len(names)} modules with {sys.executable}")
    if args.url:
        url = args.url.rstrip("/")
        asyncio.run(wait_healthy(url, args.timeout))
        html = asyncio.run(ask(url, QUESTION, 30.0))
        if "election" not in html.lower():
            raise SystemExit(f"smoke: the answer does not mention elections: {html[:300]!r}")
        print(f"smoke: {url} answered {QUESTION!r} ({len(html):,} characters of HTML)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
