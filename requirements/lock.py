"""Write or check the dependency locks in requirements/ (`make lock`, `make lock-check`).

The locks are made by uv (`uv pip compile --universal --generate-hashes`) from the ranges in
pyproject.toml, and installed by plain pip with `--require-hashes`: a user needs no uv, and
`make run` / `make test` install exactly the versions CI tested.

- runtime.txt   the runtime dependencies only (`make run`, the smoke test);
- dev.txt       runtime and the `dev` extra (`make test`);
- lowest.txt    the runtime dependencies at the lowest versions pyproject.toml allows
                (`--resolution lowest-direct`), for CI's check that the lower bounds still work.

Each lock's first line records a hash of pyproject.toml's dependency tables, so `--check` can
tell, offline, that someone changed the ranges without refreshing the locks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYPROJECT = HERE.parent / "pyproject.toml"
STAMP = "# inputs: "
LOCKS: dict[str, list[str]] = {
    "runtime.txt": [],
    "dev.txt": ["--extra", "dev"],
    "lowest.txt": ["--resolution", "lowest-direct"],
}


def inputs_hash() -> str:
    """Return a hash of the dependency tables of pyproject.toml (not of the rest of the file)."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    tables = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
    }
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()[:16]


def write(uv: str) -> None:
    """Compile every lock with uv and stamp it with the inputs' hash."""
    stamp = f"{STAMP}{inputs_hash()} (pyproject.toml's dependency tables; `make lock` refreshes)"
    for name, extra in LOCKS.items():
        out = HERE / name
        cmd = [uv, "pip", "compile", str(PYPROJECT), "--universal", "--generate-hashes"]
        cmd += ["--python-version", "3.12", "--no-header", "--quiet", *extra]
        body = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        header = f"{stamp}\n# uv pip compile pyproject.toml --universal --generate-hashes"
        out.write_text(f"{header} {' '.join(extra)}".rstrip() + f"\n{body}", encoding="utf-8")
        print(f"wrote requirements/{name}")


def check() -> int:
    """Return 0 when every lock was made from today's pyproject.toml, else 1 with a message."""
    want = inputs_hash()
    stale = []
    for name in LOCKS:
        path = HERE / name
        first = path.read_text(encoding="utf-8").split("\n", 1)[0] if path.exists() else ""
        if not first.startswith(STAMP + want):
            stale.append(name)
    if stale:
        print(
            f"requirements/{', '.join(stale)} no longer match pyproject.toml's dependencies: "
            "run `make lock` and commit the result.",
            file=sys.stderr,
        )
        return 1
    return 0


def main() -> int:
    """Parse the command line and write or check the locks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="only check the locks are fresh")
    parser.add_argument("--uv", default="uv", help="the uv executable (default: uv on PATH)")
    args = parser.parse_args()
    if args.check:
        return check()
    write(args.uv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
