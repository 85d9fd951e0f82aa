"""What the code imports is what pyproject.toml declares, and the locks match the declarations.

The full check runs in `make smoke` (and first in CI): a venv with only the runtime lock imports
every module and answers a question. These tests are the fast half, in the dev venv: every
third-party module the four packages import — lazily inside functions too — comes from a
distribution named in `[project].dependencies` (not from a dev tool, not only through another
package), and the locks in requirements/ were made from today's ranges.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers", "knowledge", "scheduler")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {
        _normal(re.split(r"[\s\[<>=!~;]", dep, maxsplit=1)[0]) for dep in project["dependencies"]
    }


def _imported_modules() -> dict[str, list[str]]:
    """Map each top-level module imported by the four packages to the files importing it."""
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts and "versions" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], []).append(str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_a_declared_runtime_dependency() -> None:
    declared = _declared()
    owners = metadata.packages_distributions()
    ours = set(PACKAGES)
    missing = {}
    for module, files in sorted(_imported_modules().items()):
        if module in sys.stdlib_module_names or module in ours or module == "__future__":
            continue
        distributions = {_normal(d) for d in owners.get(module, [])}
        assert distributions, f"{module} (imported by {files[0]}) is not installed at all"
        if not distributions & declared:
            missing[module] = (sorted(distributions), files[0])
    assert not missing, (
        "imported but not declared in [project].dependencies (add them, then `make lock`): "
        + "; ".join(f"{m} from {d} in {f}" for m, (d, f) in missing.items())
    )


def test_the_check_sees_an_undeclared_import(tmp_path: Path) -> None:
    # pytest is installed (a dev tool) but must never count as declared.
    assert "pytest" not in _declared()
    assert "pytest" in {_normal(d) for d in metadata.packages_distributions()["pytest"]}


def test_locks_were_made_from_todays_pyproject() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "requirements" / "lock.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_every_declared_dependency_is_in_the_runtime_lock() -> None:
    lock = (ROOT / "requirements" / "runtime.txt").read_text(encoding="utf-8")
    pinned = {_normal(m) for m in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", lock, re.M)}
    assert _declared() <= pinned, sorted(_declared() - pinned)
    assert "greenlet" in pinned  # sqlalchemy[asyncio]: slack_sdk's OAuth store needs it
