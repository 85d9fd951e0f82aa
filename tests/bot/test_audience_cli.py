"""`lessons audience report|link|unlink`: name-based channel audiences are flagged until a PBPO
links them by a channel's identity, on both databases, audited from the surface "cli"."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import run_cli as run

from knowledge.audit import Audit
from knowledge.storage import Store

FARIDA, AMINA = "farida.rahimi@un.example", "amina.diallo@un.example"


def test_the_report_flags_unlinked_audiences_until_a_pbpo_links_them(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "audience", "report", "--format", "json")
    assert code == 0
    found = {s["audience"]: s for s in json.loads(out)}
    # The demo names #elections-team of the local chat by id too; #mediation-support by name.
    assert found["channel:mediation-support"]["flagged"] is True
    assert found["channel:local:elections-team"]["by_id"] is True
    assert found["channel:elections-team"]["flagged"] is True

    code, out, _ = run(capsys, "audience", "report")
    assert "⚑ channel:mediation-support  1 product  NOT LINKED" in out
    assert "flagged for a PBPO to link" in out

    # Staff may not link; a PBPO may, by the channel's identity; the report then says where.
    code, _, err = run(
        capsys, "audience", "link", "channel:mediation-support", "--space",
        "slack:T0123:C0MEDSUP", "--by", AMINA,
    )  # fmt: skip
    assert code != 0 and "Only a PBPO or an admin can link a channel to an audience" in err
    code, out, _ = run(
        capsys, "audience", "link", "mediation-support", "--space", "slack:T0123:C0MEDSUP",
        "--name", "mediation-support", "--by", FARIDA,
    )  # fmt: skip
    assert code == 0 and out.startswith("Linked: mediation-support (1 product)")
    code, out, _ = run(capsys, "audience", "report", "--format", "json")
    linked = {s["audience"]: s for s in json.loads(out)}["channel:mediation-support"]
    assert linked["flagged"] is False
    assert linked["links"] == [
        {"space": "slack:T0123:C0MEDSUP", "channel_name": "mediation-support"}
    ]
    events = asyncio.run(Audit(shell).events())
    assert events[-1].operation == "link_audience" and events[-1].surface == "cli"

    code, _, err = run(
        capsys, "audience", "link", "mediation-support", "--space", "mediation-support",
        "--by", FARIDA,
    )  # fmt: skip
    assert code != 0 and "Name the channel by its identity" in err
