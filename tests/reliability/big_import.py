"""A big generated import file (JSONL), for imports that take seconds."""

from __future__ import annotations

import json
from pathlib import Path

MISSIONS = ("MINUSCA", "MONUSCO", "UNMISS", "MINUSMA", "UNIFIL")


def big_file(path: Path, products: int) -> Path:
    """Write `products` after-action reviews, two lessons each, as JSONL."""
    with path.open("w", encoding="utf-8") as out:
        for n in range(products):
            product = {
                "external_id": f"kill:{n}",
                "type": "aar",
                "title": f"AAR {n}: convoy escort to sector {n % 40}",
                "summary": f"Convoy {n} met a roadblock and turned back after {n % 9} hours.",
                "body": "Escorts waited for clearance at the checkpoint. " * 8,
                "date": f"20{10 + n % 15}-0{1 + n % 9}-1{n % 9}",
                "mission": MISSIONS[n % len(MISSIONS)],
                "themes": ["logistics", "convoys"],
                "lessons": [
                    {"observation": f"Roadblock {n}", "lesson": f"Clear routes first ({n}).",
                     "recommendation": "Send a route reconnaissance a day ahead."},
                    {"observation": f"Radio gap {n}", "lesson": f"Carry a satellite phone {n}.",
                     "recommendation": "Issue one phone per convoy."},
                ],
            }  # fmt: skip
            out.write(json.dumps(product) + "\n")
    return path
