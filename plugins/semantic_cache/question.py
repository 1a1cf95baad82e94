"""One question parsed for the structural comparison (``contrast``): its words (contractions
split, so a negation is seen however it is written), content words, names, numbers, units,
negation, specific question word, question form, and the word after each "from"/"to"/"than".
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from .normalize import canonical
from .wordlists import (AMBIGUOUS_NUMBERS, AUX, AUX_CLASS, BARE_CONTRACTIONS, BARE_NEGATIONS,
                        DIRECTIONAL, FORM_WH, HOW_ASKS, HOW_NOUNS, HOW_WORDS, INTERJECTIONS,
                        LANGUAGES, MONTHS, MULTIPLES, NEG_BASE, NEGATIONS, NUMBER_WORDS, PERSON,
                        REQUEST, SKIP_AFTER_MARKER, SPECIFIC_WH, STOP, TOWARDS, UNITS,
                        WH_NOUN_ASKS, WH_NOUNS)

# Words of any script; CJK, kana and Thai characters one at a time (no spaces to split on).
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\u0e00-\u0e7f]|"
                   r"0x[0-9a-f]+\b|"  # a hex literal ("0x80070005") is one number
                   r"\d+(?:[.,:/]\d+)*(?:st|nd|rd|th)?|"
                   # an identifier's underscores join it ("orders_archive" is no "orders")
                   r"[^\W\d_](?:[^\W_]|['.](?=[^\W\d_])|_(?=[^\W_]))*")
# Hyphens join words ("half-life", "carbon-14", "3-day") that others write apart.
# A year range is written either way ("2024/25", "2024-25"); other slashes are kept ("12/05").
_HYPHEN = re.compile(r"(?<=\w)-(?=\w)|(?<=\b\d{4})/(?=\d{2}(?:\d{2})?\b)")
# A single letter joined to the rest reads the same with a hyphen or without: "e-mail" /
# "email", "X-ray" / "xray" are one word; "W-2" / "W2" a letter and a number, so that
# "W-2" / "W-4" still differ in their numbers.
_LETTER_HYPHEN = re.compile(r"\b([a-z]|off)-(?=[a-z])|\b(non)[- ](?=[a-z])")
# and "off-peak"; "non-custodial", "non custodial" and "noncustodial" are one word
# A name's letters and its number are two words, hyphenated or not ("x86", "WD-40", "WD40").
_LETTER_DIGIT = re.compile(r"\b([a-z])-?(?=\d)|\b([a-z]{2,})(?=\d+\b)")
# "Walk me through X" asks for the steps of X, as "what are the steps to X" does.
_WALK_THROUGH = re.compile(r"\bwalk (?:me|us) through\b")
# "Teach me to X" asks what "how do I X" asks.
_TEACH = re.compile(r"\bteach (?:me|us) (?:how )?to\b")
# "share X with Y" gives X to Y: its "with" marks the receiver, as "to" does ("share my
# list with my partner" / "the list my partner shared with me").
_SHARE_WITH = re.compile(r"\b(shar(?:e|es|ed|ing)\b(?:\s+[\w']+){0,4}?\s+)with\b")
# "leave out" is one verb, the opposite of keeping or including ("summarise it, [leaving out]
# the details"); "leave" alone is not ("leave the blanket on" / "keep it on").
_LEAVE_OUT = re.compile(r"\bleav(e|es|ing) out\b")
_EXCLUDE = {"e": "exclude", "es": "excludes", "ing": "excluding"}
_ADDRESSED = re.compile(r"\W*(?:(?:hey|hi|hello|ok|so)\W+)?(?:can|could|would|will) (?:you|u)\b")
_ARROWS = re.compile(r"\s*(?:->|→|=>|⇒|⟶|-->)\s*")
_ACRONYM = re.compile(r"\b[A-Z]{2,}\b|\b(?:[A-Z]\.){2,}")
# An acronym's plural is the acronym ("APIs", "HRs"): folded, "HRs" would read as hours.
_ACRONYM_PLURAL = re.compile(r"\b([A-Z]{2,})s\b")
# A capital letter standing alone inside a sentence names a thing: "in B but not in A".
_LETTER = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-HJ-Z])\b")
_DOTTED = re.compile(r"[a-z](?:\.[a-z])+")  # "u.k", "e.g": one word, "uk", "eg"
_NEGATIVE = re.compile(r"(?<![\w.)\]])[-\u2212](\d+(?:[.,]\d+)*)")
# Two numbers joined by a word or sign whose order matters: a match, odds, a ratio, a score.
_NUMBER_PAIR = re.compile(r"(\d+(?:\.\d+)?)\s*(vs\.?|versus|v|-|to|x|by|out of|:|/)\s*"
                          r"(\d+(?:\.\d+)?)(?![\d.])")
# not "s3://x", "3.12", "a,b"; a dash between spaces ends a clause too ("... over me - how do I")
_CLAUSE_END = re.compile(r"\s*[,;:.!?](?=\s|$)|\s+[-\u2013\u2014]{1,2}(?=\s)")
# A yes/no question may open with a condition or a setting: "If I'm on X, can I Y?" and
# "In chess, can a pawn X?" ask what "Can I Y if I'm on X?" asks; the auxiliary opens the
# clause after the comma.
_CLAUSE_START = re.compile(r"[,;:]\s*([^\W\d_]+)")
# What a number written in digits counts: the word right after it ("a 1,500-word speech",
# "a 6 month old"). Not a number inside a name ("V15", "x86") or a year ("of 1964 ban").
_COUNTED = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)[ -]([A-Za-z]+)")
_YEAR = re.compile(r"1\d{3}|20\d{2}")
_CAPITAL = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][\w'-]*|[a-z]+[A-Z][\w-]*)")


_SCALES = {"c": "celsius", "f": "fahrenheit", "k": "kelvin"}
_SPANS = frozenset("second minute hour day night week weekend month quarter year morning "
                   "evening afternoon shift".split())
_HONORIFIC = re.compile(r"\b(Mr|Mrs|Ms|Dr|Prof|Mt|St)\.\s+(?=[A-Z])")


def _equative(words: list[str], i: int) -> bool:
    """``words[i]`` == "as" ends an equal comparison of two people: "the same portions [as]
    me", "as tall [as] my brother" (not "the same name as the repository": a thing named
    like another; nor "at the same time as", which says when)."""
    return words[i + 1:i + 2] != [] and words[i + 1] in PERSON and (
        i >= 2 and words[i - 2] == "as" or
        "same" in words[max(0, i - 4):i] and words[i - 1] != "time")


def _how_asks(words: list[str], i: int) -> str:
    """What ``words[i]`` == "how" and the word after it ask for (``HOW_ASKS``)."""
    asks = HOW_ASKS[words[i + 1]]
    noun = words[i + 2] if i + 2 < len(words) else ""
    if asks == "amount" and noun in HOW_NOUNS and (i + 3 >= len(words) or words[i + 3] in STOP):
        return HOW_NOUNS[noun]
    return asks


# Auxiliaries after a question's subject: "what animal symbols [are] associated with".
_AFTER_SUBJECT = AUX | {"did"}


def _modifies_a_noun(words: list[str], i: int) -> bool:
    """The question word's noun at ``i`` (opening the text) names the kind of the plural
    after it, the subject of the auxiliary after that: "what [animal] symbols are
    associated" asks for symbols of one kind, where "which [city] is" / "which [city] houses
    the" ask what "where" asks, and "what [time] zone is X in" what "what zone" asks."""
    return i == 1 and i + 2 < len(words) and words[i + 1] not in STOP and \
        words[i + 1].endswith("s") and words[i + 2] in _AFTER_SUBJECT


_POSSESSIVES = frozenset("my your his her our their".split())
# A name of three or more hyphened parts, one of them a number: "redis-master-0"
_HYPHENED_ID = re.compile(r"\b[a-z0-9]+(?:-[a-z0-9]+){2,}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class Text:
    """One question, parsed once (``parse`` memoises it)."""

    __slots__ = ("words", "breaks", "owned", "content", "caps", "acronyms", "letters",
                 "numbers", "number_pairs", "negated", "wh", "how", "roles", "rates", "units",
                 "form", "lead", "addressed", "counted")

    def __init__(self, raw: str) -> None:
        raw = _ARROWS.sub(" to ", unicodedata.normalize("NFKC", raw[:4000]))
        raw = _HONORIFIC.sub(r"\1 ", raw)  # "Ms. Tanaka" is a name, not a sentence start
        raw = _ACRONYM_PLURAL.sub(r"\1", raw)
        self.counted = frozenset(m.group(2).lower() for m in _COUNTED.finditer(raw)
                                 if not _YEAR.fullmatch(m.group(1)))
        # Names: capitalised (or camelCase) words not at a sentence start.
        # A possessive is its name: "Microsoft's revenue" names "microsoft", as its words do.
        caps = [re.sub(r"'s?$", "", m.group(1).lower()) for m in _CAPITAL.finditer(raw)
                if not m.group(1).isupper() or len(m.group(1)) > 1]
        # An id with a hyphen is read as its parts below, and its letters name it: "employee
        # [JX]-3310" / "[JK]-3310", a pod "redis-[master]-0" / "redis-[replica]-0" (a hyphened
        # word is not: "Wi-Fi", "URL-friendly").
        ids = [w for w in caps if "-" in w] + \
            [m.group(0).lower() for m in _HYPHENED_ID.finditer(raw)]
        # and so do the parts of an address: "commits by [alice]@example.com" / "[bob]@..."
        mail = [p for m in _EMAIL.finditer(raw) for p in re.split(r"[@.]", m.group(0).lower())]
        parts = [p for w in ids if any(c.isdigit() for c in w)
                 for p in w.split("-") if p and not p.isdigit()]
        # a part's letters are read apart from its number below ("[n]2-standard-8"): they
        # name it too
        self.caps = frozenset(caps + mail + parts + [
            p.rstrip("0123456789") for p in parts if p[-1].isdigit() and p[0].isalpha()])
        # A function word written in capitals in a text that is not all capitals is a name:
        # "the US", "IT support". Folded to lower case it would read as "us" and "it".
        # Capital letters that name a thing: "Supplier [B]", "vitamin [D]", "plan [B]".
        self.letters = frozenset(m.group(1).lower() for m in _LETTER.finditer(raw))
        names = [w.lower().replace(".", "") for w in _ACRONYM.findall(raw)] + list(self.letters)
        self.acronyms = frozenset(w for w in names if w in STOP) if any(
            ch.islower() for ch in raw) else frozenset()
        key = canonical(raw)
        # numbers in order around "vs", "-", "to", ":" ("10 vs 5", "3-1"), before the hyphens
        # below are read as spaces
        self.number_pairs = frozenset((x, c.rstrip("."), y)
                                      for x, c, y in _NUMBER_PAIR.findall(key) if x != y)
        text = _LETTER_HYPHEN.sub(lambda m: m.group(1) or m.group(2), key)
        text = _LETTER_DIGIT.sub(lambda m: (m.group(1) or m.group(2)) + " ", text)
        text = _WALK_THROUGH.sub("steps to", _HYPHEN.sub(" ", text))
        text = _TEACH.sub("how to", text)
        text = _LEAVE_OUT.sub(lambda m: _EXCLUDE[m.group(1)], text)
        text = _SHARE_WITH.sub(r"\1to", text)
        # The first word as written, before wrappers are folded: "Can you X?" may be a
        # request ("can you" folded away) or a yes/no question; "Reverse X" is a request.
        first = _WORD.search(raw[:64].casefold())
        self.lead = first.group(0) if first else ""
        # "Can you give X to Y?": the wrapper the key folds away was the doer of the first verb.
        self.addressed = bool(_ADDRESSED.match(raw[:64].casefold()))
        # "don't" and "dont" -> "do" + "n't", so the negation is seen whatever the spelling.
        split: list[str] = []
        breaks = set()  # words a comma, colon or full stop follows: a clause ends there
        owners: set[int] = set()  # words written with a possessive "'s" ("Dev's manager")
        for m in _WORD.finditer(text):
            w = m.group(0).strip("'-.")
            if not w or w in INTERJECTIONS:
                continue
            dotted = bool(_DOTTED.fullmatch(w))
            if dotted:
                w = w.replace(".", "")
            if w.endswith("n't") and len(w) > 3:
                split += [NEG_BASE.get(w[:-3], w[:-3]), "n't"]
            elif w in BARE_NEGATIONS:
                split += [BARE_NEGATIONS[w], "n't"]
            elif w in ("who's", "he's", "she's"):
                # "the person who's invited": a passive to be read; "she's covering for X" /
                # "X is covering for her": the same words with the two exchanged
                split += [w[:-2], "is"]
            elif w.endswith("'ll"):
                split += [w[:-3], "will"]  # "who'll win" asks of the future as "who will win"
            elif w.endswith(("'s", "'re", "'ve", "'m", "'d")):
                split.append(w.rsplit("'", 1)[0])
                if w.endswith("'s") and split[-1] not in STOP:  # "what's", "it's": "is"
                    owners.add(len(split) - 1)
            elif w in BARE_CONTRACTIONS:
                split.append(BARE_CONTRACTIONS[w])
            elif w in MULTIPLES:
                split += MULTIPLES[w]  # "twice" is "two times", as it is written too
            else:
                split.append(w)
            end = _CLAUSE_END.match(text, m.end())
            if end and not (dotted and end.group().strip() == "."):  # "the U.S. ban"
                breaks.add(len(split) - 1)
        # "10 degrees c" / "10 degrees f": the letter is the scale
        split = [_SCALES.get(w, w) if k and split[k - 1] in ("degree", "degrees") else w
                 for k, w in enumerate(split)]
        # A possessive written without its apostrophe, where it tells two like things apart:
        # "my neighbors dog bit my dog" reads as "my neighbor's dog bit my dog" (only then: "my
        # sales team" is no team of the sales').
        owners |= {k for k in range(1, len(split) - 1)
                   if split[k - 1] in _POSSESSIVES and split[k].endswith("s") and
                   len(split[k]) > 3 and split[k] not in STOP and split[k + 1] not in STOP and
                   split.count(split[k + 1]) > 1}
        self.words = split
        self.breaks = frozenset(breaks)
        # (owner, the next content word: what is owned): "neighbor's tree" -> (neighbor, tree)
        self.owned = frozenset((split[k], next((w for w in split[k + 1:] if w not in STOP), ""))
                               for k in owners)
        self.negated = sum(1 for w in split if w in NEGATIONS) % 2
        # "what year" asks what "when" asks, "which city" what "where" asks: not each other
        self.wh = frozenset([SPECIFIC_WH[w] for w in split if w in SPECIFIC_WH] + [
            WH_NOUN_ASKS[w] for i, w in enumerate(split)
            if w in WH_NOUN_ASKS and i and split[i - 1] in ("which", "what")])
        # what each "how" + word asks for ("how heavy": weight; "how much time": duration,
        # but "how many time zones" an amount)
        self.how = frozenset(_how_asks(split, i) for i, w in enumerate(split[:-1])
                             if w == "how" and split[i + 1] in HOW_ASKS)
        # A decade written in digits ("the 70s") is one number, as "the seventies" is.
        # A count of times is a multiple: "two times a day", "twice a day", "2 times" and
        # "double" are one number ("x2"), none of them the plain "2".
        # A time of day keeps its half: "11pm" (read "11 pm") is not "11am".
        nums = [w + "s" if w[0].isdigit() and split[i + 1:i + 2] == ["s"] else
                w + split[i + 1] if w[0].isdigit() and split[i + 1:i + 2] in (["am"], ["pm"]) else
                "x" + NUMBER_WORDS.get(w, w) if split[i + 1:i + 2] == ["times"] else
                NUMBER_WORDS.get(w, w) for i, w in enumerate(split)
                if _is_number(w)]
        # a minus sign before a number is part of it: "-5°C" is not "5°C" ("minus 5" is -5)
        negatives = _NEGATIVE.findall(text) + [
            split[i + 1] for i, w in enumerate(split[:-1])
            if w in ("minus", "negative") and split[i + 1][0].isdigit()]
        for neg in negatives:
            if neg in nums:
                nums[nums.index(neg)] = "-" + neg
        # a month beside a day or a year is part of the date ("31 May 2024" / "31 March
        # 2024"), and "May" there is no modal
        nums += ["month:" + MONTHS[w] for i, w in enumerate(split) if w in MONTHS and any(
            x[:1].isdigit() for x in split[max(0, i - 1):i] + split[i + 1:i + 2] +
            (split[i - 2:i - 1] if split[i - 1:i] == ["of"] else []))]  # "the 2nd of May"
        self.numbers = tuple(sorted(nums))
        self.units = tuple(w for w in split if w in UNITS or w in LANGUAGES)
        # The content word after each directional marker ("from X", "to Y"); "into",
        # "onto" and "towards" mark the same role as "to" ("convert X to Y" / "turn Y
        # into X").
        # A count before the thing is passed over ("into [two] flats"), a number alone is
        # the role ("from 5 to 10"), and so is the count after "than" ("more than one"). The
        # role ends at a clause break ("does it belong to: hardware, ...").
        roles: dict[str, set[str]] = {}
        for i, w in enumerate(split):
            if w == "as" and _equative(split, i):
                w = "than"  # "the same portions [as] me" compares as "more [than] me" does
            if w in DIRECTIONAL:
                end = next((k + 1 for k in range(i, i + 3) if k in self.breaks), i + 4)
                window = split[i + 1:end]
                for k, nxt in enumerate(window):
                    a_count = w != "than" and (nxt in NUMBER_WORDS or nxt[:1].isdigit()) \
                        and window[k + 1:k + 2] and window[k + 1] not in STOP
                    if nxt not in SKIP_AFTER_MARKER and not a_count:
                        # a number after the name is part of it: "from a Switch to a [Switch 2]"
                        after = window[k + 1:k + 2]
                        if after and after[0].isdigit():
                            nxt = f"{nxt} {after[0]}"
                        roles.setdefault(TOWARDS.get(w, w), set()).add(nxt)
                        break
        self.roles = roles
        # What a rate is counted by: "per word" / "per line", "per user" / "per team".
        # "each night" / "every week" count by a span of time as "per night" does.
        self.rates = frozenset(nxt for i, w in enumerate(split) if w == "per" or
                               w in ("each", "every") and split[i + 1:i + 2] and
                               split[i + 1] in _SPANS
                               for nxt in split[i + 1:i + 2] if nxt not in SKIP_AFTER_MARKER)
        forms = {FORM_WH[w] for w in split if w in FORM_WH}
        if any(w in HOW_WORDS for w in split):
            forms.add("how")  # "give me instructions for X" asks how to X
        if not forms and split:  # a yes/no question: its leading auxiliary's class
            lead = split[0]
            if lead not in AUX_CLASS:
                lead = next((m.group(1) for m in _CLAUSE_START.finditer(text)
                             if m.group(1) in AUX_CLASS), lead)
            forms = {AUX_CLASS.get(lead, "")}
        self.form = frozenset(forms)
        self.content = [w for i, w in enumerate(split) if w not in STOP and w not in NEGATIONS
                        and w not in REQUEST and w not in SPECIFIC_WH and not (
                            w in WH_NOUNS and i and split[i - 1] in ("which", "what") and
                            not _modifies_a_noun(split, i))]

    def _near(self, word: str, before: int, after: int = 0) -> list[str]:
        """The words up to ``before`` ahead of ``word``'s first place and ``after`` behind it."""
        if word not in self.words:
            return []
        i = self.words.index(word)
        return self.words[max(0, i - before):i] + self.words[i + 1:i + 1 + after]

    def turned_before(self, word: str) -> bool:
        """A negation, or "less"/"least", among the two words before ``word`` ("not
        mandatory", "least expensive"): an opposite said the other way round."""
        return any(w in NEGATIONS or w in _LESS for w in self._near(word, 2))

    def beside_number(self, word: str) -> bool:
        """A number among the two words before ``word`` or right after it ("3 cups", "a 6
        year old", "cups: 3")."""
        return any(_is_number(w) for w in self._near(word, 2, 1))


_LESS = frozenset({"less", "least"})


def _is_number(word: str) -> bool:
    """Digits, or a number word that is no other word ("one" and "second" are)."""
    return word[0].isdigit() or (word in NUMBER_WORDS and word not in AMBIGUOUS_NUMBERS)


@lru_cache(maxsize=4096)
def parse(text: str) -> Text:
    return Text(text)
