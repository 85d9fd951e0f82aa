"""Shared by the hostile-input tests: hypothesis profiles (fast in CI, long with LESSONS_SOAK=1).

The fast profile is derandomized and keeps no example database, so CI runs the same examples
every time and writes nothing into the repository. `LESSONS_SOAK=1` (what `make soak` sets)
selects the long profile: many more examples, still reproducible. Every test module of this
folder imports this one (not a conftest.py: a second `conftest` module would shadow the root one
that other tests import from).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

# The Teams fake lives beside the Teams tests; the reliability tests reuse it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bot" / "teams"))

# Hypothesis keeps caches (even with no example database) in .hypothesis/: not in the repository.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "lessons-bot-hypothesis")

SOAK = os.environ.get("LESSONS_SOAK", "") not in ("", "0")

settings.register_profile(
    "fast",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "soak",
    max_examples=3000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("soak" if SOAK else "fast")
