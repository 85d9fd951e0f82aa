"""The Teams app package (`lessons teams-package`): manifest.json and two icons, in one zip.

The manifest declares the bot (personal chats, teams and group chats, with its commands), the
search message extension, and the resource-specific permissions that let the bot read the
replies in an AAR's channel thread without an @mention. It is checked against Microsoft's
official Teams app manifest schema of its `manifestVersion` before anything is written (from
`../shared/schemas/teams/app-manifest/`, or the folder given), and against Teams' own rules the
schema leaves out: icon sizes, an outline icon only white and transparent, one bot id.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bot.teams.extension import COMMAND

MANIFEST_VERSION = "1.23"
ACCENT = (0x00, 0x9E, 0xDB)  # UN blue
COLOR_SIZE, OUTLINE_SIZE = 192, 32
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
SCHEMA_FILE = f"MicrosoftTeams.schema.v{MANIFEST_VERSION}.json"
COMMANDS = (
    ("help", "What I can do"),
    ("what did we learn about …", "Ask: what did we learn about election security?"),
    ("actions", "Your follow-up actions: done, snooze, new date, blocked, hand over"),
    ("home", "Your actions, lessons awaiting your validation, recently applied lessons"),
    ("new lesson", "Log a lesson (it is saved as identified and sent for validation)"),
    ("aar start <event>", "Run an After-Action Review in this channel's thread (or: aar schedule)"),
    ("reminders", "When and how I remind you"),
    ("eoar", "Your End of Assignment Report interview"),
    ("who knows about …", "People who wrote or applied lessons on a topic, to contact"),
    ("practice promote <lesson>", "Promote a good practice to channels (PBPOs)"),
)
Pixel = tuple[int, int, int, int]


class PackageError(ValueError):
    """The package cannot be built as asked (a bad app id, an invalid manifest)."""


def manifest(app_id: str, *, domain: str) -> dict[str, Any]:
    """Return the Teams app manifest for a bot app id and the bot's public host name."""
    if not GUID.match(app_id):
        raise PackageError(f"the app id must be the bot's Entra app id (a GUID), not {app_id!r}")
    site = f"https://{domain}"
    return {
        "$schema": "https://developer.microsoft.com/json-schemas/teams/"
        f"v{MANIFEST_VERSION}/MicrosoftTeams.schema.json",
        "manifestVersion": MANIFEST_VERSION,
        "version": _version(),
        "id": app_id,
        "developer": {
            "name": "Lessons Bot",
            "websiteUrl": f"{site}/",
            "privacyUrl": f"{site}/privacy",
            "termsOfUseUrl": f"{site}/terms",
        },
        "name": {"short": "Lessons Bot", "full": "Lessons Bot: what did we learn?"},
        "description": {
            "short": "Ask what we learned, run After-Action Reviews, follow actions through.",
            "full": (
                "Lessons Bot brings the lessons index into Teams. Ask what we learned about "
                "something and get the closest lessons with their source and status; run an "
                "After-Action Review in a channel thread; log a lesson; and follow your actions "
                "until the lesson is applied. Search lessons from the compose box to share one."
            ),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [_bot(app_id)],
        "composeExtensions": [_compose_extension(app_id, domain)],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [domain, "token.botframework.com"],
        "webApplicationInfo": {"id": app_id},
        "authorization": {
            "permissions": {
                "resourceSpecific": [
                    {"name": "ChannelMessage.Read.Group", "type": "Application"},
                    {"name": "ChatMessage.Read.Chat", "type": "Application"},
                ]
            }
        },
    }


def _bot(app_id: str) -> dict[str, Any]:
    """The bot: in personal chats, teams and group chats, with its command list."""
    scopes = ["personal", "team", "groupChat"]
    return {
        "botId": app_id,
        "scopes": scopes,
        "supportsFiles": False,
        "isNotificationOnly": False,
        "commandLists": [
            {
                "scopes": scopes,
                "commands": [{"title": t, "description": d} for t, d in COMMANDS],
            }
        ],
    }


def _compose_extension(app_id: str, domain: str) -> dict[str, Any]:
    """The message extension: search lessons from the compose box; unfurl lesson links."""
    return {
        "botId": app_id,
        "commands": [
            {
                "id": COMMAND,
                "type": "query",
                "title": "Search lessons",
                "description": "Find a lesson and insert it as a card",
                "initialRun": False,
                "parameters": [
                    {
                        "name": "query",
                        "title": "Search",
                        "description": "What did we learn about…",
                    }
                ],
            }
        ],
        # A link to a lesson page on the bot's host unfurls into the lesson's card
        # (`composeExtension/queryLink`).
        "messageHandlers": [{"type": "link", "value": {"domains": [domain]}}],
    }


def build(app_id: str, *, domain: str, schemas: Path | None) -> bytes:
    """Return the zipped package, checked first (schema when `schemas` is a folder)."""
    found = manifest(app_id, domain=domain)
    icons = {"color.png": color_icon(), "outline.png": outline_icon()}
    problems = check(found, icons, schemas)
    if problems:
        raise PackageError("the Teams manifest is not valid: " + "; ".join(problems[:10]))
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(found, indent=2, ensure_ascii=False))
        for name, png in icons.items():
            archive.writestr(name, png)
    return data.getvalue()


def check(found: dict[str, Any], icons: dict[str, bytes], schemas: Path | None) -> list[str]:
    """Return what is wrong with a manifest and its icons (empty when nothing is)."""
    problems: list[str] = []
    if schemas is not None:
        problems += schema_errors(found, schemas / SCHEMA_FILE)
    sizes = {name: png_size(data) for name, data in icons.items()}
    if sizes.get("color.png") != (COLOR_SIZE, COLOR_SIZE):
        problems.append(f"color.png must be {COLOR_SIZE}x{COLOR_SIZE}")
    if sizes.get("outline.png") != (OUTLINE_SIZE, OUTLINE_SIZE):
        problems.append(f"outline.png must be {OUTLINE_SIZE}x{OUTLINE_SIZE}")
    bots = {b.get("botId") for b in found.get("bots", []) + found.get("composeExtensions", [])}
    if bots != {found.get("id")}:
        problems.append("the bot and the message extension must use the app id")
    return problems


def schema_errors(found: dict[str, Any], schema_path: Path) -> list[str]:
    """Return where a manifest breaks Microsoft's schema (JSON Schema draft-04)."""
    import jsonschema  # only this command needs it

    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema)
    return [
        f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message[:200]}"
        for e in validator.iter_errors(found)
    ]


def write(out: Path, app_id: str, *, domain: str, schemas: Path | None) -> Path:
    """Build the package and write it to `out`."""
    out.write_bytes(build(app_id, domain=domain, schemas=schemas))
    return out


# Icons ------------------------------------------------------------------------------------


def color_icon() -> bytes:
    """Return the 192x192 color icon: a white light bulb on UN blue."""
    blue = (*ACCENT, 255)
    return _png(COLOR_SIZE, lambda x, y: (255, 255, 255, 255) if _bulb(x, y, COLOR_SIZE) else blue)


def outline_icon() -> bytes:
    """Return the 32x32 outline icon: the light bulb in white on transparent."""
    return _png(
        OUTLINE_SIZE,
        lambda x, y: (255, 255, 255, 255) if _bulb(x, y, OUTLINE_SIZE) else (0, 0, 0, 0),
    )


def _bulb(x: int, y: int, size: int) -> bool:
    """Return True where the light bulb is: a round glass over a base."""
    u, v = (x + 0.5) / size, (y + 0.5) / size
    glass = (u - 0.5) ** 2 + (v - 0.42) ** 2 <= 0.25**2
    base = 0.4 <= u <= 0.6 and 0.62 <= v <= 0.8
    return glass or base


def _png(size: int, pixel: Callable[[int, int], Pixel]) -> bytes:
    rows = (
        b"\x00" + bytes(channel for x in range(size) for channel in pixel(x, y))
        for y in range(size)
    )
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_size(data: bytes) -> tuple[int, int] | None:
    """Return a PNG's width and height, or None when it is not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _version() -> str:
    try:
        return version("lessons-bot")
    except PackageNotFoundError:
        return "1.0.0"
