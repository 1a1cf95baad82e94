"""What one question asks more narrowly, or about another property, than an aligned other:
"the [rare] side effects", "... the refund [and the final inspection]", "the retrieval time"
/ "the retrieval cost". ``contrast`` asks these of texts whose words are otherwise matched.
"""

from __future__ import annotations

import re
from collections import Counter

from .question import Text
from .wh_roles import past_form
from .word_match import match_stem, stem
from .wordlists import ATTRIBUTES, MEASURED_BY, STOP

_ATTRIBUTE_STEMS = frozenset(stem(w) for w in ATTRIBUTES)
# property stem -> the "how ..." measures that ask for it
_MEASURES_OF: dict[str, set[str]] = {
    stem(noun): {m for m, nouns in MEASURED_BY.items() if noun in nouns.split()}
    for noun in " ".join(MEASURED_BY.values()).split()}


def asks_about(words: list[str]) -> bool:
    """A property among ``words`` ("costs", "the time", "the population")."""
    return any(stem(w) in _ATTRIBUTE_STEMS for w in words)


def measure_apart(a: Text, b: Text, only_a: list[str], only_b: list[str]) -> bool:
    """One side asks "how <adjective>" and the other, asking no "how", names among its
    unmatched words only properties that measure does not ask for: "how long does it take
    to become a dentist" / "what's the salary of a dentist" ("how long" / "the length" is
    one question). "How much" and "how many" may ask for almost anything: not read."""
    for x, y, only_y in ((a, b, only_b), (b, a, only_a)):
        measures = x.how - {"amount"}
        props = [stem(w) for w in only_y if stem(w) in _ATTRIBUTE_STEMS]
        if measures and not y.how and props and \
                not any(measures & _MEASURES_OF.get(p, set()) for p in props):
            return True
    return False


GRADING = frozenset({"more", "most", "less", "least"})


def graded(t: Text, word: str) -> bool:
    """``word`` is compared or ranked in ``t``: before "than", after "more"/"most"/"less"/
    "least", or an "-est" after "the" ("faster than", "more readable", "the cheapest")."""
    if word not in t.words:
        return False
    i = t.words.index(word)
    before, after = t.words[i - 1] if i else "", t.words[i + 1:i + 2]
    return after == ["than"] or before in GRADING or (before == "the" and word.endswith("est"))


def grade_bases(word: str) -> set[str]:
    """The plain adjectives a comparative or superlative may come from: "bigger" -> big,
    "safer" -> safe, "easiest" -> easy (and the word itself, for "more readable")."""
    out = {word}
    for end in ("er", "est"):
        if word.endswith(end) and len(word) > len(end) + 2:
            base = word[:-len(end)]
            out |= {base, base + "e"}
            if base.endswith("i"):
                out.add(base[:-1] + "y")
            if len(base) > 2 and base[-1] == base[-2]:
                out.add(base[:-1])
    return out


# Words that open a relative clause or a cause: hung on the end, it restricts what is asked
# ("apps on my Mac [that came preinstalled]", "flights cancelled [due to strikes]"), even
# after the shared words were reordered.
_RESTRICTING = frozenset("that which who whose due".split())
# Words that attach a qualifying phrase to what comes before them: "... refund [and the
# final inspection]", "... learn to swim [as an adult]", "... exercises [during pregnancy]".
_ATTACHING = frozenset("and or for in on with without during as from at by including except "
                       "after before while when if under over within along together plus "
                       "inside outside using via away beyond".split()) | _RESTRICTING
# Words one side may have between two neighbours that the other lacks ("all" / "only the").
_DETERMINERS = frozenset("a an the all any some every each this that these those".split())


def quantified(longer: Text, shorter: Text) -> bool:
    """``longer`` is ``shorter`` with an "all" or "every" put before one of its content words:
    "when did [all] women get the vote" asks about all of them where the other asks about
    some ("all the files" is no such word: the article follows it)."""
    extra = Counter(longer.words) - Counter(shorter.words)
    if set(extra) not in ({"all"}, {"every"}) or Counter(shorter.words) - Counter(longer.words):
        return False
    i = longer.words.index(next(iter(extra)))
    return i + 1 < len(longer.words) and longer.words[i + 1] not in STOP


def restricted(longer: Text, shorter: Text, added: list[str]) -> bool:
    """``longer`` adds an "only" with what it keeps: "compute the total [for North and South
    only]", "list the files [only in src]". A bare "only" says little ("I only need the
    syntax"); with words of its own it takes part of the answer away."""
    return bool(added) and longer.words.count("only") > shorter.words.count("only")


_PARTITIVE_OWNERS = frozenset({"my", "our"})


def partitive_owner(longer: Text, shorter: Text) -> bool:
    """``longer`` is ``shorter`` with "of my" / "of our" after its question word: "which [of
    my] tasks are due" asks about mine where the other asks about all of them."""
    extra = Counter(longer.words) - Counter(shorter.words)
    if Counter(shorter.words) - Counter(longer.words) or set(extra) - {"of"} - _PARTITIVE_OWNERS \
            or extra["of"] != 1 or len(extra) != 2:
        return False
    k = longer.words.index("of")
    return 0 < k < len(longer.words) - 1 and longer.words[k + 1] in _PARTITIVE_OWNERS and \
        longer.words[k - 1] in ("which", "many", "what", "who")


def _neither_asks(a: Text, b: Text) -> bool:
    """Neither text is a question (no question word, no auxiliary leading it): commands or
    statements, where "the" and "my" things are told apart."""
    return a.form == b.form == frozenset({""})


def mine_of_all(a: Text, b: Text) -> bool:
    """A command on "the" things on one side and on "my" or "our" things on the other:
    "delete [the] comments on SPAM-3" / "delete [my] comments on SPAM-3" (everyone's, or the
    asker's own). Only a command, before a plural: "how do I reset [the] password" / "[my]
    password" asks one thing."""
    if len(a.words) != len(b.words) or not _neither_asks(a, b):
        return False
    apart = [k for k, (x, y) in enumerate(zip(a.words, b.words)) if x != y]
    if len(apart) != 1 or apart[0] + 1 >= len(a.words):
        return False
    k = apart[0]
    noun = a.words[k + 1]
    return {a.words[k], b.words[k]} in ({"the", "my"}, {"the", "our"}) and \
        noun.endswith("s") and not noun.endswith("ss") and len(noun) > 3 and noun not in STOP


def asker_added(longer: Text, shorter: Text) -> bool:
    """A command on things done by anyone on one side, and by the asker on the other: "list
    the files [I] shared with external users" (only the asker's)."""
    if len(longer.words) != len(shorter.words) + 1 or not _neither_asks(longer, shorter):
        return False
    k = next((i for i, (x, y) in enumerate(zip(longer.words, shorter.words)) if x != y),
             len(shorter.words))
    return longer.words[k] in ("i", "we") and longer.words[k + 1:] == shorter.words[k:] and \
        0 < k < len(shorter.words) and longer.words[k - 1] not in STOP and \
        past_form(shorter.words[k])


# Verbs whose clause points back at the thing rather than picking some out of many: "the
# report [I mentioned]" is "the report".
_POINTING_BACK = frozenset("mentioned meant said asked requested need needed want wanted "
                           "described referenced sent".split())


def asker_clause(longer: Text, shorter: Text) -> bool:
    """A command on things, and on those the asker did something to: "list all dashboards in
    the workspace [that I created]", "show the repos [we own] on GitHub" (only the asker's)."""
    lw, sw = longer.words, shorter.words
    n = len(lw) - len(sw)
    if n not in (2, 3) or not _neither_asks(longer, shorter):
        return False
    k = next((i for i, (x, y) in enumerate(zip(lw, sw)) if x != y), len(sw))
    clause = lw[k:k + n]
    if clause[0] in ("that", "which"):
        clause = clause[1:]
    return 0 < k and lw[k - 1] not in STOP and lw[k + n:] == sw[k:] and len(clause) == 2 and \
        clause[0] in ("i", "we") and clause[1] not in STOP and clause[1] not in _POINTING_BACK


def after_year(longer: Text, shorter: Text, added: list[str]) -> bool:
    """The one word ``longer`` adds names a part of a year both texts give: "in the 2016
    [playoffs]" / "in 2016", "the 2024 [budget]"."""
    if len(added) != 1:
        return False
    lw = longer.words
    return any(w == added[0] and k and _YEAR.fullmatch(lw[k - 1]) and lw[k - 1] in shorter.words
               for k, w in enumerate(lw))


_YEAR = re.compile(r"(?:19|20)\d\d")  # not "under [1000] rs"


def leading(longer: Text, shorter: Text, added: list[str]) -> bool:
    """A qualifier of up to three words put right before the shared opening: "[direct]
    flights from Frankfurt", "[short course] world record for ...", "[nonstop] flights to
    Denver"."""
    lw, sw, extra = longer.words, shorter.words, set(added)
    lead = next((k for k, w in enumerate(lw[:4]) if w not in extra), len(lw))
    return 1 <= lead <= 3 and lead < len(lw) and bool(sw) and lw[lead] == sw[0] and \
        not longer.breaks & set(range(lead))


def narrowed(longer: Text, shorter: Text, added: list[str], names: frozenset[str]) -> bool:
    """Words of ``added`` qualify what ``longer`` asks where ``shorter`` asks it plainly:
    inserted between two words that are next to each other in ``shorter`` ("delete all
    [stopped] containers", "the GDP [per capita] of Japan", "what are the [serious] side
    effects": the shared opening counts as a word), or a phrase hung on its last word ("...
    the deposit refund [and the final inspection]"). Only an insertion: a word in place of
    one of ``shorter``'s function words ("get" / "obtain") is a rewording. Fillers and
    wrappers come before the shared words or after a full stop ("Honestly, ...", "...?
    Thanks!")."""
    extra = set(added)
    lw, sw = longer.words, shorter.words

    def seq(words: list[str]) -> list[tuple[int, str]]:  # (place, word), no function words
        return [(k, w) for k, w in enumerate(words) if w not in STOP or w in names]
    longer_seq, short_seq = seq(lw), seq(sw)
    if not short_seq:
        return False
    if leading(longer, shorter, added):
        return True
    opening = (-1, "^") if lw[:1] == sw[:1] else None  # the shared first word, as a neighbour
    # the words between two neighbours of ``shorter``, by the neighbours' stems
    between: dict[tuple[str, str], Counter] = {}
    prev = opening
    for k, w in short_seq:
        if prev is not None:
            between.setdefault((prev[1], stem(w)), Counter(sw[prev[0] + 1:k]))
        prev = (k, stem(w))
    for n, (k, w) in enumerate(longer_seq):
        if w not in extra:
            continue
        left = next(((j, stem(x)) for j, x in reversed(longer_seq[:n]) if x not in extra),
                    opening)
        right = next(((j, stem(x)) for j, x in longer_seq[n + 1:] if x not in extra), None)
        if left is None:
            continue
        if right is not None:
            gap = between.get((left[1], right[1]))
            kept = Counter(x for x in lw[left[0] + 1:right[0]] if x not in extra)
            if gap is not None and not set(gap - kept) - _DETERMINERS:
                return True
        elif (at := _after_shared_end(lw, sw, left[0], short_seq[-1][0])) < len(lw) and \
                lw[at] in _ATTACHING and not longer.breaks & set(range(left[0], at)) and (
                    left[1] == stem(short_seq[-1][1]) or lw[left[0] + 1] in _RESTRICTING and
                    _hung_on_all(longer_seq, short_seq, left[0])):
            return True
    return False


def part_named(longer: Text, shorter: Text, added: list[str]) -> bool:
    """The one word ``longer`` adds is a part or property of a thing both texts name, said
    with a possessive: "how do I groom a schnauzer" / "... a [schnauzer's] face". Not when
    the other text owns something by the same owner: "Foucault's idea" / "Foucault's concept"
    ("idea" a function word) is a rewording."""
    owners = {o for o, _ in shorter.owned}
    return len(added) == 1 and any(x == added[0] and o in shorter.words and o not in owners
                                   for o, x in longer.owned)


# Prepositions whose phrase, put in mid-sentence, says which one or how: "bought [from a
# private seller]", "[with a dead battery]". Not "in"/"on"/"as"/"for", which rewordings move
# about ("as a 14 year old" / "while I am 14").
_PUTTING_IN = frozenset("from with without under during via using inside within including "
                        "except".split())


def phrase_put_in(longer: Text, shorter: Text, added: list[str]) -> bool:
    """Every word ``longer`` has over ``shorter`` is in one phrase opened by a preposition
    right after a word both texts have, wherever that word stands: "a used car I bought [from
    a private seller] breaks down" / "... breaks down soon after I buy it"."""
    extra, lw = set(added), longer.words
    at = [k for k, w in enumerate(lw) if w in extra]
    if len(extra) < 2:
        return False  # one word put in is often a rewording: "in [yours] life", "[anonymously]"
    k = at[0] - 1
    while k > 0 and lw[k] in _DETERMINERS:
        k -= 1
    if k < 1 or lw[k] not in _PUTTING_IN or k - 1 in longer.breaks:
        return False
    if any(w not in extra and w not in _DETERMINERS for w in lw[k + 1:at[-1] + 1]):
        return False
    shared = {match_stem(w) for w in shorter.words if w not in STOP}
    return lw[k - 1] not in STOP and match_stem(lw[k - 1]) in shared


def _after_shared_end(lw: list[str], sw: list[str], left: int, short_last: int) -> int:
    """Where a phrase hung after ``lw[left]`` would start: past the function words that
    end both texts alike ("what jobs can a 14 year old do [during term time]")."""
    tail = sw[short_last + 1:]
    return left + 1 + len(tail) if tail and lw[left + 1:left + 1 + len(tail)] == tail \
        else left + 1


def _hung_on_all(longer_seq: list[tuple[int, str]], short_seq: list[tuple[int, str]],
                 upto: int) -> bool:
    """Every word of the shorter text is in the longer one by ``upto``, and none after it:
    the phrase after it is hung on the whole request, however its words were reordered
    ("cover cancelled flights" / "cover flights cancelled [due to strikes]")."""
    short = {stem(w) for _, w in short_seq}
    have = {stem(w) for k, w in longer_seq if k <= upto}
    return short <= have and not short & {stem(w) for k, w in longer_seq if k > upto}


# Nouns that name a group of people and nothing narrower: "Indians" / "Indian people".
_PEOPLE = frozenset("people persons folks citizens nationals individuals".split())


def new_head(longer: Text, shorter: Text, added: list[str]) -> bool:
    """One noun added after a plural the shorter text asks about, which turns it into that
    noun's modifier: "what did ancient Egyptians eat" / "... ancient Egyptian [pharaohs]
    eat" asks about the pharaohs, a narrower group ("Indian [people]" is the same one)."""
    if len(added) != 1 or added[0] in _PEOPLE or added[0] not in longer.words:
        return False
    k = longer.words.index(added[0])
    before = longer.words[k - 1] if k else ""
    # a people or a named kind ("Egyptians", "Germans"): a plural common noun turned
    # modifier is a rewording as often ("SEO services" / "SEO service providers")
    plural = {before + "s", before + "es"} & set(shorter.words) & (shorter.caps | longer.caps)
    return bool(before) and before not in shorter.words and bool(plural)


# Prepositions outside the function words, which open a phrase of their own ("the scope of
# mechanical engineering [around world]"): ``narrowed`` and ``hung_clause`` read those.
_AROUND = _ATTACHING | frozenset("around across throughout near".split())


def head_hung_on_end(longer: Text, shorter: Text, added: list[str]) -> bool:
    """Two or three content words put after the shorter text's last word, which they turn
    into their modifier: "the rules for capitalizing titles in German [legal documents]"
    asks about the documents, not the language. Not after a clause break ("...? pls help"),
    nor a phrase a preposition opens (``hung_clause`` and ``narrowed`` read those)."""
    lw, sw = longer.words, shorter.words
    tail = lw[len(sw):]
    return len(sw) >= 3 and lw[:len(sw)] == sw and 2 <= len(tail) <= 3 and \
        set(tail) == set(added) and sw[-1] not in STOP and tail[0] not in _AROUND and \
        not any(w in STOP for w in tail) and \
        not longer.breaks & set(range(len(sw) - 1, len(lw) - 1))


def property_put_before(longer: Text, added: list[str]) -> bool:
    """The one word ``longer`` adds is a property put before a noun both texts name, which
    it narrows to one kind: "what [security] warranties should a vendor give", "the
    [payment] terms"."""
    if len(added) != 1 or added[0] not in ATTRIBUTES or added[0] not in longer.words or \
            added[0] == "time":  # "for the first [time] feel like" is no kind of feeling
        return False
    k = longer.words.index(added[0])
    after = longer.words[k + 1:k + 2]
    return bool(after) and after[0] not in STOP and k not in longer.breaks


def task_added(longer: Text, shorter: Text) -> bool:
    """``longer`` is ``shorter`` with "and"/"or" and one more word joined to a word of it:
    "decode [and verify] a JWT", "[read and] write a file" ask for a second thing."""
    extra = Counter(longer.words) - Counter(shorter.words)
    if Counter(shorter.words) - Counter(longer.words) or sum(extra.values()) != 2:
        return False
    joins = [w for w in extra if w in ("and", "or")]
    word = [w for w in extra if w not in ("and", "or")]
    if len(joins) != 1 or len(word) != 1 or word[0] not in longer.content:
        return False
    k = longer.words.index(word[0])
    return joins[0] in longer.words[max(0, k - 1):k] + longer.words[k + 1:k + 2]


def hung_clause(longer: Text, shorter: Text, added: list[str]) -> bool:
    """Every word ``longer`` has over ``shorter`` is in one phrase after all of the shorter
    text's words, opened by a word that attaches it: "get out of a timeshare contract [after
    the rescission period has ended]" asks under a condition the other does not."""
    extra = set(added)
    shared = [k for k, w in enumerate(longer.words) if w not in STOP and w not in extra]
    if not shared or not extra:
        return False
    end = shared[-1]
    tail = longer.words[end + 1:]
    return bool(tail) and tail[0] in _ATTACHING and end not in longer.breaks and \
        extra <= set(tail) and not extra & set(longer.words[:end + 1])
