# Text in six languages: letters that look like Latin ones are meant (ruff RUF001).
# ruff: noqa: RUF001
"""Per-language analysis: the language of a text, and the terms it is indexed and asked by."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from knowledge.search import analysis

XQUAD = Path(__file__).resolve().parents[3] / "shared" / "data" / "xquad"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Qu'avons-nous appris sur la protection des civils au Mali ?", "fr"),
        ("¿Qué aprendimos sobre las elecciones en la República Centroafricana?", "es"),
        ("ما الذي تعلمناه عن حماية المدنيين في مالي؟", "ar"),
        ("Что мы узнали о выборах в Центральноафриканской Республике?", "ru"),
        ("我们从维和行动中学到了什么？", "zh"),
        ("What did we learn about ballot logistics in the rainy season?", "en"),
        ("DDR", "en"),  # too short to tell: English
        ("حماية", "ar"),  # too short, but the script tells
        ("выборы", "ru"),
    ],
)
def test_the_language_of_a_text_is_one_of_the_six(text: str, language: str) -> None:
    assert analysis.detect(text) == language


def test_words_are_stemmed_in_their_language_and_acronyms_are_kept() -> None:
    assert analysis.terms("elections electoral", "en")[0] == analysis.terms("election", "en")[0]
    assert analysis.terms("élections", "fr") == analysis.terms("élection", "fr")
    assert analysis.terms("elecciones", "es") == analysis.terms("elección", "es")
    assert analysis.terms("выборах", "ru") == analysis.terms("выборы", "ru")
    assert analysis.terms("DDR in MINUSCA", "en") == ["ddr", "in", "minusca"]
    assert analysis.terms("QIPs 2024", "en")[1] == "2024"


def test_arabic_is_normalised_before_it_is_stemmed() -> None:
    with_marks = "الْمَدَنِيِّينَ"  # diacritics
    plain = "المدنيين"
    assert analysis.normalise_arabic(with_marks) == plain
    assert analysis.normalise_arabic("أمن إدارة آمن") == "امن اداره امن"
    assert analysis.normalise_arabic("حمـــاية") == "حماية".replace("ة", "ه")  # tatweel
    assert analysis.terms(with_marks, "ar") == analysis.terms(plain, "ar")


def test_chinese_is_segmented_into_words() -> None:
    found = analysis.terms("维和行动保护平民", "zh")
    assert "维和" in found and "平民" in found and "保护" in found
    # A Latin acronym inside Chinese text stays one word.
    assert "ddr" in analysis.terms("DDR进程", "zh")


@pytest.mark.skipif(not XQUAD.exists(), reason=f"XQuAD is not at {XQUAD} (../shared/data)")
def test_the_multilingual_bench_beats_bare_fts5_in_every_language(tmp_path: Path) -> None:
    """A small slice of the bench: 80 paragraphs and their dev questions per language."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench import multilingual

    for lang in multilingual.LANGS:
        for kind in ("paragraphs", "questions-dev"):
            rows = [
                json.loads(line)
                for line in (XQUAD / f"{kind}.{lang}.jsonl")
                .read_text(encoding="utf-8")
                .splitlines()
            ]
            key = "id" if kind == "paragraphs" else "paragraph"
            kept = [r for r in rows if r[key] < 80]
            (tmp_path / f"{kind}.{lang}.jsonl").write_text(
                "\n".join(json.dumps(r, ensure_ascii=False) for r in kept), encoding="utf-8"
            )
    report = multilingual.run(tmp_path)
    for lang, row in report["same_language"].items():
        assert row["analysed"]["mrr@10"] >= row["bare_fts5"]["mrr@10"] - 0.01, (lang, row)
    assert report["same_language"]["zh"]["analysed"]["mrr@10"] >= 0.85
    assert "zh → zh" in multilingual.table(report)
