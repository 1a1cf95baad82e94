"""Whether two words are the same word for ``contrast``: one stem (``stemming.stem``, the
stemmer the lexical features use too, an irregular past form read as its verb), or a listed
synonym (``SYNONYM_STEMS``); how far apart two spellings are (``distance``, for typos); and
whether two words are opposites (listed, inflected or compared forms of listed ones, or an
opposite prefix).
"""

from __future__ import annotations

import re
from functools import lru_cache

from .stemming import stem
from .wordlists import IRREGULAR_VERBS, NUMBER_WORDS, OPPOSITE_PREFIXES, OPPOSITES, SYNONYMS

SYNONYM_STEMS = {w: frozenset(stem(x) for x in group) for w, group in SYNONYMS.items()}


def match_stem(word: str) -> str:
    """The stem a word is looked up by: an irregular past form's verb's ("bought" -> "buy")."""
    return stem(IRREGULAR_VERBS.get(word, word))


@lru_cache(maxsize=16384)
def same_word_stems(word: str) -> frozenset[str]:
    """The stems of the words `word` is the same word as (typos aside): its own stem, its
    verb's if it is an irregular past form, and its listed synonyms'. ``y`` is the same word
    as ``x`` when ``match_stem(y)`` is among them."""
    verb = IRREGULAR_VERBS.get(word, word)
    return frozenset({stem(word), stem(verb)}) | SYNONYM_STEMS.get(verb, frozenset())


# A Roman numeral of any value (1-3999), written in either case
_ROMAN_NUMERAL = re.compile(r"(?=[mdclxvi])m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})",
                            re.IGNORECASE)


def roman_numeral(word: str) -> bool:
    """``word`` is a Roman numeral ("xliv", "XVI"); not "mild" or "civil"."""
    return _ROMAN_NUMERAL.fullmatch(word) is not None


def distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count one), stopped above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


# Endings an opposite keeps when it is inflected, compared or made an adverb:
# "thinner"/"thicker", "losing"/"gaining", "easier"/"harder", "decreased"/"increased",
# "positively"/"negatively".
_ENDINGS = ("iest", "ier", "ied", "ies", "est", "ing", "er", "ed", "es", "s", "ly")


@lru_cache(maxsize=8192)
def _bases(word: str) -> frozenset[str]:
    """The word, and the listed opposites' words it may be a form of ("thinner" -> "thin",
    "losing" -> "lose", "easier" -> "easy", "cheaper" -> "cheap")."""
    out = set()
    for end in _ENDINGS:
        root = word[:-len(end)]
        if not word.endswith(end) or len(root) < (4 if end == "ly" else 3):
            continue  # "positively" -> "positive", but "only" is no form of "on"
        if end in ("iest", "ier", "ied", "ies"):
            out.add(root + "y")
        else:
            out |= {root, root + "e"}
            if len(root) >= 4 and root[-1] == root[-2]:  # a doubled consonant: thinn-er
                out.add(root[:-1])
    return frozenset(w for w in out if w in OPPOSITES) | {word}


def opposite(x: str, y: str, forms: bool = True) -> bool:
    """Opposites: listed, as inflected or compared forms of listed ones (``forms``), or by
    an opposite prefix."""
    if y in OPPOSITES.get(x, ()):
        return True
    if forms and any(v in OPPOSITES.get(u, ()) for u in _bases(x) for v in _bases(y)):
        return True
    if _role_suffixes(x, y) or _role_suffixes(y, x):
        return True
    if len(x) < 4 or len(y) < 4 or x[-3:] != y[-3:]:
        return False  # a prefix pair shares its stem's last letters: cheap test first
    for p, q in OPPOSITE_PREFIXES:
        for u, v in ((x, y), (y, x)):
            if u.startswith(p) and v.startswith(q) and len(u) - len(p) >= 3 and \
                    u[len(p):] == v[len(q):]:
                return True
    return False


def _role_suffixes(x: str, y: str) -> bool:
    """The two parties of one act, told by their endings: "franchisor" / "franchisee",
    "lessor" / "lessee", "trainer" / "trainee" (plurals too)."""
    x, y = x.removesuffix("s"), y.removesuffix("s")
    return len(x) >= 5 and x.endswith(("or", "er")) and y.endswith("ee") and x[:-2] == y[:-2]


# Where each letter sits on a QWERTY keyboard (row, column with the rows' stagger).
_KEY_AT = {ch: (r, c + shift) for r, (row, shift) in enumerate(
    (("qwertyuiop", 0.0), ("asdfghjkl", 0.25), ("zxcvbnm", 0.75))) for c, ch in enumerate(row)}


def keys_touch(p: str, q: str) -> bool:
    """Two letters on neighbouring keys: a slip of the finger."""
    if p not in _KEY_AT or q not in _KEY_AT:
        return False
    (r1, c1), (r2, c2) = _KEY_AT[p], _KEY_AT[q]
    return abs(r1 - r2) <= 1 and abs(c1 - c2) <= 1


def spelt_numbers_matched(only_a: list[str], only_b: list[str]) -> tuple[list[str], list[str]]:
    """Drop a number written in words on one side and in digits on the other ("two" /
    "2"): the numbers were compared already, so this is one number spelt two ways."""
    def value(w: str) -> str | None:
        return w if w[0].isdigit() else NUMBER_WORDS.get(w)
    left = list(only_b)
    kept_a = []
    for w in only_a:
        v = value(w)
        hit = next((k for k, x in enumerate(left) if v is not None and value(x) == v), None)
        if hit is None:
            kept_a.append(w)
        else:
            del left[hit]
    return kept_a, left


def compounds_matched(only_a: list[str], only_b: list[str]) -> tuple[list[str], list[str]]:
    """Drop a word one side writes closed and the other as two words in a row ("cosigner" /
    "co-signer", "database" / "data base", "week end" / "weekend"): one word spelt two ways.
    The two must be neighbours among the unmatched words, in order."""
    sides = [list(only_a), list(only_b)]
    for mine, other in ((0, 1), (1, 0)):
        for w in list(sides[other]):
            xs = sides[mine]
            k = next((i for i in range(len(xs) - 1) if len(xs[i]) > 1 and
                      len(xs[i + 1]) > 1 and stem(xs[i] + xs[i + 1]) == stem(w)), None)
            if k is not None:
                del xs[k:k + 2]
                sides[other].remove(w)
    return sides[0], sides[1]
