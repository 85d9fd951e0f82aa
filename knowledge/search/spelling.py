"""Typo correction against the index vocabulary, with rapidfuzz."""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import fuzz, process

MIN_SCORE = 78.0
MIN_LENGTH = 4


class Vocabulary:
    """The surface words of the index with their document frequencies."""

    def __init__(self, entries: Iterable[tuple[str, int]]) -> None:
        self._df = {w: df for w, df in entries if df > 0}
        # Candidates for corrections: words seen in at least two lessons, most frequent first.
        self._choices = sorted(
            (w for w, df in self._df.items() if df >= 2 and not w.isdigit()),
            key=lambda w: -self._df[w],
        )

    def __contains__(self, word: object) -> bool:
        return word in self._df

    def __len__(self) -> int:
        return len(self._df)

    def correct(self, word: str) -> str | None:
        """Return the closest known word to a misspelt one, or None when nothing is close."""
        if len(word) < MIN_LENGTH or word.isdigit() or word in self._df:
            return None
        candidates = [w for w in self._choices if abs(len(w) - len(word)) <= 2]
        best = process.extract(word, candidates, scorer=fuzz.ratio, score_cutoff=MIN_SCORE, limit=5)
        if not best:
            return None
        # Among near-equal matches prefer the word more lessons use.
        top = max(score for _, score, _ in best)
        return max((m for m in best if m[1] >= top - 3), key=lambda m: self._df[m[0]])[0]
