"""The platforms' own tools, installed from the npm registry by `make test` (`npm ci` here).

Slack's `@slack/types` and `@slack/web-api` with TypeScript's `tsc --strict`, Microsoft's
`adaptivecards` renderer and the Microsoft 365 Agents Playground (a Teams client). A fake shows
what we think a platform does; these show what it does. Without them (no npm, or `npm ci` not
run) these tests skip and say why, except in CI (`LESSONS_REQUIRE_BROWSER=1`), where they fail.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# The Teams fake lives beside the Teams tests; these tests use it too.
sys.path.insert(0, str(HERE.parent / "bot" / "teams"))
NODE_MODULES = HERE / "node_modules"
CHROMIUM = Path(os.environ.get("LESSONS_CHROMIUM", "/usr/bin/chromium"))


def _missing(reason: str) -> None:
    if os.environ.get("LESSONS_REQUIRE_BROWSER"):
        pytest.fail(reason + "; CI requires it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """Return tests/platform_tools/node_modules, or skip (fail in CI) when it was not installed."""
    if shutil.which("node") is None:
        _missing("Node.js is not installed (the platform tools run on it)")
    if not (NODE_MODULES / ".package-lock.json").exists():
        _missing("the platform tools are not installed: run `make platform-tools` (npm ci)")
    return NODE_MODULES


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Return Debian's Chromium, or skip (fail in CI) when it is not installed."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is not installed (make test installs Debian's chromium with apt)")
    return CHROMIUM
