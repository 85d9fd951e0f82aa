"""Put the fakes that live beside other tests (fake_teams, scheduler_world) on the import path.

Imported first by the reliability tests and helpers that use them.
"""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS / "bot" / "teams", TESTS / "scheduler"):
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
