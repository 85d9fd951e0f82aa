# ruff: noqa: RUF001  (text in six languages: letters that look Latin are meant)
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


# --- concepts in the six languages (issue 22) --------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "question", "language"),
    [
        (["protection", "civils"], "Quelles leçons sur la protection des civils ?", "fr"),
        (["proteccion", "civiles"], "lecciones sobre la protección de civiles", "es"),
        (["حمايه", "المدنيين"], "ما الدروس المستفادة بشأن حماية المدنيين؟", "ar"),
        (["защите", "гражданского", "населения"], "уроки о защите гражданского населения", "ru"),
        (["保护", "平民"], "我们在保护平民方面吸取了哪些教训", "zh"),
    ],
)
def test_a_concept_named_in_any_language_expands_to_all(
    terms: list[str], question: str, language: str
) -> None:
    concepts = Glossary.load().concepts(terms, question)
    assert concepts["civilians"] == "en"
    assert concepts["poc"] == "en"
    assert concepts.get("civils", "fr") == "fr"
    assert "保护平民" in concepts or language == "zh"
    assert not set(terms) & set(concepts)


def test_an_english_concept_expands_to_the_other_languages() -> None:
    concepts = Glossary.load().concepts(["protection", "civilians"], "protection of civilians")
    assert (concepts["civils"], concepts["proteccion"], concepts["المدنيين"]) == ("fr", "es", "ar")
    assert concepts["保护平民"] == "zh"


def test_only_the_words_of_the_concept_expand_to_it() -> None:
    glossary = Glossary.load()
    question = "Quelles leçons sur la protection des civils à Bria ?"
    assert glossary.expand(["bria"], question) == []  # coverage credits the concept's words only
    assert "civilians" in glossary.expand(["civils"], question)


def test_french_elision_and_stop_words_do_not_expand() -> None:
    concepts = Glossary.load().concepts(["homme"], "les droits de l'homme au Mali")
    assert {"human", "rights", "derechos"} <= set(concepts)
    assert "de" not in concepts and "des" not in concepts


def test_a_pbpo_file_names_its_own_concept_in_other_languages(tmp_path: Path) -> None:
    extra = tmp_path / "extra.toml"
    extra.write_text(
        '[[term]]\nname = "CLA"\nexpansions = ["community liaison assistant"]\n'
        'en = ["community liaison assistant"]\nfr = ["assistant de liaison communautaire"]\n',
        encoding="utf-8",
    )
    concepts = Glossary.load(extra).concepts(
        ["assistant", "liaison", "communautaire"], "un assistant de liaison communautaire"
    )
    assert {"community", "cla"} <= set(concepts)
