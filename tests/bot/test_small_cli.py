"""Finding 10's small lies and silences of the command line, each said out loud now."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from conftest import run_cli as run

from bot.cli import main
from bot.reminders import PreviewNotifier, report_lines
from knowledge.storage import Store
from scheduler.deliver import Delivery
from scheduler.jobs import TickReport


def test_ask_limit_zero_is_refused_not_silently_one(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["ask", "elections", "--limit", "0"])
    assert "--limit: must be a number from 1 to 100" in capsys.readouterr().err


def test_ask_as_someone_unknown_is_refused_not_a_silent_guest(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "ask", "elections", "--as", "ghost@x.org")
    assert code == 2 and out == ""
    assert "--as: nobody with the email ghost@x.org is in the staff directory" in err
    code, out, _ = run(capsys, "ask", "elections", "--as", "amina.diallo@un.example")
    assert code == 0 and "closest lessons" in out


def test_a_dry_run_says_would_send_in_its_total_too() -> None:
    sent = Delivery(person_id=1, name="Amina Diallo", outcome="sent", kinds=("nudge",))
    report = TickReport(at=datetime(2026, 12, 8, 9, tzinfo=UTC), deliveries=[sent])
    assert report_lines(report, preview=PreviewNotifier())[-1].startswith(
        "Deliveries: 1 would send."
    )
    assert report_lines(report)[-1].startswith("Deliveries: 1 sent.")


def test_the_terminal_chat_says_how_to_be_someone(
    shell: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, _ = run(capsys, "chat")
    assert code == 0 and "lessons chat --as you@un.example" in out
    code, out, _ = run(capsys, "chat", "--as", "amina.diallo@un.example")
    assert code == 0 and "--as you@" not in out
    code, _, err = run(capsys, "chat", "--as", "ghost@x.org")
    assert code == 2 and "nobody with the email ghost@x.org" in err


def test_typing_a_button_label_in_the_terminal_presses_it(
    shell: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    said = "what did we learn about elections?\nhelpful\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(said))
    code, out, _ = run(capsys, "chat", "--as", "amina.diallo@un.example")
    assert code == 0 and "[Helpful]" in out
    after = out.split("[Helpful]", 1)[1]
    assert "helped" in after  # the vote was recorded, not a search for "helpful"
