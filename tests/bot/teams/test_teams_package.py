"""`lessons teams-package`: a manifest valid against Microsoft's schema, two icons, one zip."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from fake_teams import APP_ID, shared_dir

from bot.cli import main
from bot.teams import package
from bot.teams.extension import COMMAND
from handlers.chat import ConversationRef, Message, UserRef
from handlers.deps import Deps
from handlers.router import dispatch
from knowledge.storage import Store

SCHEMAS = shared_dir() / "schemas" / "teams" / "app-manifest"
needs_schema = pytest.mark.skipif(
    not (SCHEMAS / package.SCHEMA_FILE).exists(),
    reason=f"Microsoft's Teams manifest schema is not in {SCHEMAS}",
)


def pixels(png: bytes) -> list[tuple[int, ...]]:
    """Decode one of our PNGs (8-bit RGBA, no filters) into its pixels."""
    width, height = struct.unpack(">II", png[16:24])
    data = b""
    at = 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind = png[at + 4 : at + 8]
        if kind == b"IDAT":
            data += png[at + 8 : at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(data)
    stride = 1 + width * 4
    found: list[tuple[int, ...]] = []
    for y in range(height):
        row = raw[y * stride : (y + 1) * stride]
        assert row[0] == 0
        found += [tuple(row[1 + x * 4 : 5 + x * 4]) for x in range(width)]
    return found


@needs_schema
def test_the_package_holds_a_valid_manifest_and_two_icons(tmp_path: Path) -> None:
    out = package.write(tmp_path / "app.zip", APP_ID, domain="lessons.un.example", schemas=SCHEMAS)
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        found = json.loads(archive.read("manifest.json"))
        color, outline = archive.read("color.png"), archive.read("outline.png")
    version = found["manifestVersion"]
    schema = SCHEMAS / f"MicrosoftTeams.schema.v{version}.json"
    assert package.schema_errors(found, schema) == []
    (bot,) = found["bots"]
    assert bot["botId"] == APP_ID and bot["scopes"] == ["personal", "team", "groupChat"]
    (extension,) = found["composeExtensions"]
    assert extension["commands"][0]["id"] == COMMAND and extension["commands"][0]["type"] == "query"
    assert "lessons.un.example" in found["validDomains"]
    assert package.png_size(color) == (192, 192) and package.png_size(outline) == (32, 32)
    outline_pixels = set(pixels(outline))
    assert outline_pixels <= {(255, 255, 255, 255), (0, 0, 0, 0)}  # white on transparent
    assert len(outline_pixels) == 2 and len(set(pixels(color))) == 2


def test_a_bad_app_id_or_a_broken_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(package.PackageError, match="GUID"):
        package.manifest("not-a-guid", domain="x.example")
    broken = package.manifest(APP_ID, domain="x.example")
    broken["composeExtensions"][0]["botId"] = "00000000-0000-4000-8000-000000000000"
    icons = {"color.png": package.outline_icon(), "outline.png": package.outline_icon()}
    problems = package.check(broken, icons, None)
    assert any("color.png" in p for p in problems) and any("app id" in p for p in problems)


@needs_schema
def test_the_schema_catches_what_teams_would_refuse() -> None:
    found = package.manifest(APP_ID, domain="x.example")
    found["bots"][0]["scopes"] = ["everywhere"]
    found["name"]["short"] = "x" * 31
    problems = package.schema_errors(found, SCHEMAS / package.SCHEMA_FILE)
    assert len(problems) == 2


@needs_schema
def test_the_command_builds_the_package_with_the_sdk_app_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID", APP_ID)
    monkeypatch.setenv("LESSONS_SHARED_DIR", str(shared_dir()))
    out = tmp_path / "lessons-bot.zip"
    with pytest.raises(SystemExit):  # no made-up host: --domain is required
        main(["teams-package", "--out", str(out)])
    assert "--domain" in capsys.readouterr().err
    assert main(["teams-package", "--out", str(out), "--domain", "lessons.un.example"]) == 0
    assert "validated against Microsoft's schema" in capsys.readouterr().out
    with zipfile.ZipFile(out) as archive:
        assert json.loads(archive.read("manifest.json"))["id"] == APP_ID
    args = ["teams-package", "--out", str(out), "--app-id", "nope", "--domain", "x.example"]
    assert main(args) == 2
    assert "GUID" in capsys.readouterr().err


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_every_listed_command_is_understood(demo_store: Store) -> None:
    who = UserRef("teams", "aad-amina", "Amina Diallo")
    await demo_store.link_user("teams", who.user_id, email="amina.diallo@un.example", name="")
    for title, _ in package.COMMANDS:
        text = title.replace("<event>", "Town hall").replace("<when it ends>", "tomorrow 17:00")
        text = text.replace("…", "elections")
        where = ConversationRef("teams", "19:c@thread.tacv2", None, channel_name="general")
        reply = await dispatch(Message(who, where, text), Deps(store=demo_store))
        said = reply.fallback if reply is not None else ""
        assert "didn't understand" not in said and "went wrong" not in said, (title, said)
