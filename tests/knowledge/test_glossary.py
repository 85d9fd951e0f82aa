"""Glossary expansion and typo correction (pure, no database)."""

from pathlib import Path

import pytest

from knowledge.errors import DomainError
from knowledge.search.glossary import Glossary
from knowledge.search.spelling import Vocabulary


def test_default_glossary_expands_acronyms() -> None:
    glossary = Glossary.load()
    assert len(glossary) >= 60
    assert {"disarmament", "demobilization", "reintegration"} <= set(
        glossary.expand(["ddr"], "what about DDR?")
    )
    assert "civilians" in glossary.expand(["poc"], "PoC")


def test_everyday_words_expand_only_in_capitals() -> None:
    glossary = Glossary.load()
    assert glossary.expand(["can"], "can we do better") == []
    assert glossary.expand(["can"], "the CAN in Ndele") != []


def test_a_pbpo_file_extends_the_glossary(tmp_path: Path) -> None:
    extra = tmp_path / "extra.toml"
    extra.write_text(
        '[[term]]\nname = "CPAS"\nexpansions = ["comprehensive planning and performance '
        'assessment system"]\nsynonyms = ["performance assessment"]\n\n'
        '[[term]]\nname = "Zorro"\nexpansions = ["fictional mission"]\n',
        encoding="utf-8",
    )
    glossary = Glossary.load(extra)
    assert "fictional" in glossary.expand(["zorro"], "zorro")
    assert "assessment" in glossary.expand(["cpas"], "CPAS")
    assert glossary.expand(["zorro"], "zorro") == ["fictional", "mission"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("[[term]]\nexpansions = ['x']\n", "has no name"), ("[[term\n", "cannot be read")],
)
def test_a_broken_glossary_is_reported(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(DomainError, match=message):
        Glossary.load(bad)


def test_typos_are_corrected_to_frequent_known_words() -> None:
    vocabulary = Vocabulary(
        [("election", 40), ("elections", 30), ("security", 50), ("selection", 2), ("sec", 9)]
    )
    assert vocabulary.correct("electoin") == "election"
    assert vocabulary.correct("secruity") == "security"
    assert vocabulary.correct("election") is None  # known words are left alone
    assert vocabulary.correct("abc") is None  # too short to guess
    assert vocabulary.correct("zzzzqqq") is None
    assert vocabulary.correct("2023") is None
