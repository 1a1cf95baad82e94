"""The semantic cache's one stemmer: a suffix fold that both the structural rules
(``contrast``, via ``word_match``) and the lexical pair features under the trained weights
(``features``) use, so "landed"/"land", "works"/"work", "making"/"make", "parties"/"party"
agree in both.

Until session 11 each had a suffix stripper of its own, and the two disagreed on 1,400 word
pairs of the eval and training vocabulary ("make"/"making", "miss"/"missed"; see
``benchmarks/semantic_stemmers.py``). This is the rules' one. Snowball's English stemmer
(PyStemmer) was measured in its place and not adopted: it folds derivations too
("production"/"product", "independence"/"independent", "cynicism"/"cynical"), so more
heavily reworded statements pass ``contrast``'s aligned-texts gate and meet the direction,
negation and entity rules, and GPTCache lost a right answer (669 against 670; BENCHMARKS.md
"Issue 19, session 11: one stemmer"). ``STEMMER`` is part of
``wordlists.feature_words_digest``: weights fit under another stemmer are refused at load.
"""

from __future__ import annotations

from functools import lru_cache

STEMMER = "suffix-fold-1"


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """Fold common endings (lower-case words) so "landed"/"land", "works"/"work",
    "making"/"make", "parties"/"party" agree."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    for end in ("ing", "ed", "es", "s", "e"):
        if len(word) > len(end) + 2 and word.endswith(end):
            return word[: -len(end)]
    return word
