"""Who does what to whom, told by persons and possessives: "Acme owes us" / "we owe Acme",
"my dad is giving me his car" / "I'm giving my dad my car", "my neighbor's dog bit my dog" /
"my dog bit my neighbor's dog". ``swaps.exchanged`` asks these beside its exchanged spans.
"""

from __future__ import annotations

from .question import Text
from .word_match import distance, stem
from .wordlists import AUX, BE, PERSON, STOP

# Words between two things whose order does not change what is asked ("X and Y", "X or Y",
# "X vs Y"): the difference between X and Y is the difference between Y and X.
SYMMETRIC = frozenset("and or nor vs versus".split())
# What may stand before a noun without being a thing of its own.
DETERMINERS = frozenset("the a an this that these those my your his her its our their".split())
POSSESSIVE = frozenset("my your his her our their".split())


def owner_changed(a: Text, b: Text) -> bool:
    """The same names, the possessive on the other one ("make Rachel Dev's manager" / "make
    Dev Rachel's manager"), or the same owner of another of the things named."""
    mine, theirs = dict(a.owned), dict(b.owned)
    gone, new = mine.keys() - theirs.keys(), theirs.keys() - mine.keys()
    if gone and new and gone <= set(b.words) and new <= set(a.words):
        return True
    # the same owner, another thing owned: "my neighbor's tree ... my car" / "my tree ... my
    # neighbor's car"
    if any(o in theirs and x and theirs[o] and x != theirs[o] and x in b.words and
           theirs[o] in a.words for o, x in mine.items()):
        return True
    # the same owner of another of two like things in one clause: "my neighbor's dog bit my
    # dog" / "my dog bit my neighbor's dog" (not "X and Y"; and a clause moved to the front
    # moves its thing with it: "In chess, can a pawn X if the opponent's pawn Y")
    if any(theirs.get(o) == x and x and _in_one_clause(a, x) and _in_one_clause(b, x) and
           _owned_occurrence(a, o, x) != _owned_occurrence(b, o, x) and
           not SYMMETRIC & set(a.words) for o, x in mine.items()):
        return True
    # a thing a named person owns on one side, and "my"/"your" thing on the other, which names
    # that person too: "I paid for my friend's order" / "my friend paid for my order" ("her
    # access" may be the intern's: a third person's pronoun is not read so)
    if any(x and o in other.words and o not in dict(other.owned) and
           _owned_by_pronoun(other, x) for t, other in ((a, b), (b, a)) for o, x in t.owned):
        return True
    # one thing, "my" thing on one side and "her" thing on the other: "asking Emma to cover
    # my shifts" / "offering to cover her shifts". "Your" and a third person's pronoun after
    # "one" or "anyone" are anybody's, the asker's too: "how can I improve my eyesight" /
    # "how can one improve his eyesight", "how do you edit your answer".
    pa, pb = _pronoun_owners(a), _pronoun_owners(b)
    return any({party(pa[w]), party(pb[w])} == {"asker", "other"} and
               not GENERIC & set(a.words + b.words) for w in pa.keys() & pb.keys())


# The three parties a pronoun can name: the asker's side, the one addressed, anyone else
# ("to him" / "to her" / "to them" name one party; "to me" / "to them" two).
_PARTY = {"<i>": "asker", "<we>": "asker", "<you>": "addressed", "<he>": "other",
          "<she>": "other", "<they>": "other", "<someone>": "other"}


def party(word: str) -> str | None:
    """The party a pronoun names ("me", "our" -> asker; "her", "them" -> other), or None."""
    return _PARTY.get(PERSON.get(word, ""))


# Subjects that stand for anybody, the asker too ("how can one improve his eyesight")
GENERIC = frozenset("one anyone someone somebody anybody everyone everybody people".split())


def _pronoun_owners(t: Text) -> dict[str, str]:
    """Each content word right after a possessive pronoun, and the first such pronoun."""
    out: dict[str, str] = {}
    for k, w in enumerate(t.words[1:], 1):
        if t.words[k - 1] in POSSESSIVE and w not in STOP:
            out.setdefault(w, t.words[k - 1])
    return out


def _owned_by_pronoun(t: Text, word: str) -> bool:
    """``word`` comes right after a first or second person's possessive in ``t`` ("my
    order")."""
    return any(w == word and k and t.words[k - 1] in POSSESSIVE and
               party(t.words[k - 1]) in ("asker", "addressed") for k, w in enumerate(t.words))


def _in_one_clause(t: Text, word: str) -> bool:
    """``word`` is written twice or more, with no clause break between."""
    at = [k for k, w in enumerate(t.words) if w == word]
    return len(at) > 1 and not any(at[0] <= k < at[-1] for k in t.breaks)


def _owned_occurrence(t: Text, owner: str, thing: str) -> int:
    """Which of the text's ``thing``s the owner's possessive points to (0: the first)."""
    i = t.words.index(owner)
    j = next((k for k in range(i + 1, len(t.words)) if t.words[k] == thing), len(t.words))
    return t.words[:j].count(thing)


# Personal pronouns as subject and as object, for "they owe me" / "I owe them".
_SUBJECT = frozenset("i we he she they someone somebody you".split())
_OBJECT = frozenset("me us him her them someone somebody you".split())


def _pronoun_roles(words: list[str]) -> set[tuple[str, tuple[str, ...] | str, str]]:
    """(subject's person, the words between, object's person) for each "they owe me",
    "I should pay him": who does what to whom, where only pronouns say it."""
    out = set()
    for i, w in enumerate(words):
        if w not in _SUBJECT:
            continue
        for j in range(i + 2, min(i + 5, len(words))):
            if words[j] in _OBJECT:
                verb = tuple(stem(x) for x in words[i + 1:j] if x not in STOP)  # "rear-ends"
                if verb:
                    out.add((PERSON[w], verb, PERSON[words[j]]))
                break
    return out


# Pronouns that may stand for a person named earlier in their own text ("my roommate paid
# ..., how much do I owe her": "her" is the roommate)
_THIRD = frozenset({"<he>", "<she>", "<they>"})


def pronouns_exchanged(a: Text, b: Text) -> bool:
    """"how much they owe me" / "how much I owe them": the same act, the roles swapped;
    also where a person and a noun swap ("can I claim my mom" / "can my mom claim me"),
    and where one side says "her" for a person it names ("my roommate paid, how much do I
    owe her" / "I paid, how much does my roommate owe me")."""
    rb = _pronoun_roles(b.words) | _person_roles(b.words, b.addressed)
    ra = _pronoun_roles(a.words) | _person_roles(a.words, a.addressed)
    if any((o, v, s) in rb for s, v, o in ra if s != o):
        return True
    named_a, named_b = {stem(w) for w in a.words}, {stem(w) for w in b.words}

    def named(x: str, y: str) -> bool:  # a's pronoun x for b's noun y, or the other way
        return x in _THIRD and y[0] != "<" and y in named_a or \
            y in _THIRD and x[0] != "<" and x in named_b

    def verbs(v: tuple[str, ...] | str) -> frozenset[str]:
        return frozenset((v,) if isinstance(v, str) else v)

    # one party the same word on both sides, the other a pronoun against the noun it names
    return any(s != o and verbs(v) == verbs(v2) and (
        o == s2 and named(s, o2) or s == o2 and named(o, s2))
        for s, v, o in ra for s2, v2, o2 in rb)


def _objects(words: list[str]) -> dict[str, set[str]]:
    """verb stem -> the persons of the pronouns right after it ("pick [me] up")."""
    out: dict[str, set[str]] = {}
    for k in range(1, len(words)):
        w = words[k]
        # "them" is as often things ("take [them] with food"), "her" an owner ("take [her]
        # pill"), and "it" is no person
        if w == "them" or w == "her" and k + 1 < len(words) and words[k + 1] not in STOP:
            continue
        if w in _OBJECT and words[k - 1] not in STOP:
            out.setdefault(stem(words[k - 1]), set()).add(PERSON[w])
    return out


def object_changed(a: Text, b: Text) -> bool:
    """The same verb done to another person, said by a pronoun on both sides: "'pick [me] up
    at the station'" / "'I'll pick [you] up at the station'"."""
    oa, ob = _objects(a.words), _objects(b.words)
    subjects_a = {PERSON[w] for w in a.words if w in _SUBJECT}
    subjects_b = {PERSON[w] for w in b.words if w in _SUBJECT}
    for v in oa.keys() & ob.keys():
        both = oa[v] | ob[v]
        if not oa[v].isdisjoint(ob[v]) or "<someone>" in both and _THIRD & both:
            continue  # "hire [someone] who lies" / "hire [him] if he lies": one person
        # "you" is often anyone ("can meditation make [you] grow" / "make [me] grow"):
        # there the one done to must have become the doer ("I'll pick you up")
        if "<you>" not in both or oa[v] & subjects_b or ob[v] & subjects_a:
            return True
    return False


def _noun_phrase_heads(words: list[str], j: int) -> set[str]:
    """The stems that may head the noun phrase from ``j``: its last content word ("my
    husband's parents" -> "parents") and, for a verb's two objects read as one phrase ("owe
    [my (former) brother] [money]"), each before it; empty if no content word starts it."""
    while j < len(words) and words[j] in DETERMINERS:
        j += 1
    if j >= len(words) or words[j] in STOP or words[j] in PERSON:
        return set()
    heads = {stem(words[j])}
    while j + 1 < len(words):
        if words[j + 1] == "of" and j + 2 < len(words) and words[j + 2] not in STOP and \
                words[j + 2] not in PERSON:
            j += 1  # a name with "of" in it: "my maid of honor", "the bank of England"
        elif words[j + 1] in STOP or words[j + 1] in PERSON:
            break
        j += 1
        heads.add(stem(words[j]))  # "owe [my former employer] [money]": any may be the one
    return heads


# Verbs that make someone else the doer of the next one: "get [my flatmate] to pay me back".
_CAUSING = frozenset("get gets got getting make makes made making ask asks asked asking tell "
                     "tells told telling persuade persuading convince convincing force forcing "
                     "want wants wanting expect expecting remind reminds reminded "
                     "reminding".split())


def _caused(words: list[str], to: int) -> str | None:
    """The doer of the verb after ``words[to]`` == "to" when a causing verb and its object
    come before: "get [my flatmate] to pay" -> flatmate, "ask [them] to visit" -> <they>;
    or "for" and its object: "is it weird for [my boss] to give me" -> boss."""
    end = to - 1
    if end < 1:
        return None
    if words[end] in _OBJECT:
        doer, start = PERSON[words[end]], end
    elif words[end] not in STOP and words[end] not in PERSON:
        doer, start = stem(words[end]), end
        while start > 0 and words[start - 1] not in STOP and words[start - 1] not in PERSON:
            start -= 1
        while start > 0 and words[start - 1] in DETERMINERS:
            start -= 1
    else:
        return None
    return doer if start > 0 and (words[start - 1] in _CAUSING or words[start - 1] == "for") \
        else None


def _implied(words: list[str], to: int) -> str | None:
    """The asker, as the doer of the verb after "is it weird [to]", "it's okay [to]": "is it
    weird to give my boss a gift" asks about the asker giving."""
    return "<i>" if to >= 2 and words[to - 1] not in STOP and words[to - 2] in ("it", "is") \
        else None


def _person_roles(words: list[str], addressed: bool = False
                  ) -> set[tuple[str, tuple[str, ...] | str, str]]:
    """(doer, verb stem, done-to) around each content word where one of the two is a
    personal pronoun and the other a person or a noun: "my dad is giving me" -> (dad,
    give, <i>), "I'm giving my dad" -> (<i>, give, dad). ``addressed``: the text opened
    with "can you", which the words no longer hold, so "you" does its first verb."""
    out = set()
    last_doer = None  # the doer of the latest act: "[a car] pulled out ... and hit me"
    for k, w in enumerate(words):
        if w in STOP or w in PERSON or _adverb(w):
            continue
        j = k - 1
        while j >= 0 and k - j <= 3 and (words[j] in AUX or _adverb(words[j])):
            j -= 1  # "does my husband [always] beat me": the husband beats
        if j > 0 and w.endswith("ing") and words[j] in _GERUND_TAKERS:
            j -= 1  # "my ex stop [paying] me": the ex pays
            while j >= 0 and words[j] in AUX:
                j -= 1
        doer = "<you>" if addressed and k == 0 else None
        if j >= 0 and words[j] == "to":
            doer = _caused(words, j) or _wanting(words, j) or _implied(words, j)
        elif j >= 0 and words[j] == "and":
            doer = last_doer  # two acts of one doer
        elif j >= 0:
            x = words[j]
            doer = PERSON[x] if x in _SUBJECT else (
                stem(x) if x not in STOP and x not in PERSON else None)
        # the one the act goes to may come after "to", "on" or "at": "we owe [to] suppliers",
        # "my friend cancelled [on] me"
        at = k + 2 if words[k + 1:k + 2] in (["to"], ["on"], ["at"]) else k + 1
        nxt = words[at] if at < len(words) else ""
        pronoun = nxt in _OBJECT and (nxt != "her" or at + 1 >= len(words) or words[at + 1] in STOP)
        done_to = {PERSON[nxt]} if pronoun else _noun_phrase_heads(words, at)
        if nxt in POSSESSIVE and done_to:
            done_to.add(PERSON[nxt])  # "covering [my] shift" is done for me
        # or after "to" behind the thing given: "I send [money] to someone"
        to = next((m for m in range(at + 1, min(at + 5, len(words))) if words[m] == "to"), None)
        if not pronoun and to is not None and words[to + 1:to + 2] and \
                all(x not in STOP or x in DETERMINERS for x in words[at:to]):
            after = words[to + 1]
            done_to |= {PERSON[after]} if after in _OBJECT else _noun_phrase_heads(words, to + 1)
        for done in done_to:
            # two nouns only around a verb of giving, whose two ways of naming the one given
            # to ("give dogs a cold" / "give a cold to dogs") no other reading shares
            if doer and doer != done and (doer.startswith("<") or done.startswith("<") or
                                          stem(w) in _GIVING):
                out.add((doer, stem(w), done))
        last_doer = doer or last_doer
    return out


_GIVING = frozenset(stem(w) for w in "give pass send lend loan pay owe sell teach show hand "
                    "transmit spread offer donate mail email text forward transfer".split())

# Verbs whose subject does the "-ing" verb after them: "can my ex [stop] paying me".
_GERUND_TAKERS = frozenset("stop stops stopped start starts started keep keeps kept quit quits "
                           "avoid avoids finish finishes begin begins continue continues".split())

# Verbs whose subject does the next one: "my landlord needs [to] send me" (the landlord sends).
_WANTING = frozenset("need needs needed want wants wanted have has had going plan plans "
                     "planned try tries tried hope hopes like ought".split())


def _wanting(words: list[str], to: int) -> str | None:
    """The doer of the verb after ``words[to]`` == "to" when a wanting verb and its subject
    come before: "does [my landlord] need to send" -> landlord, "[I] want to pay" -> <i>."""
    if to < 2 or words[to - 1] not in _WANTING:
        return None
    x = words[to - 2]
    if x in _SUBJECT:
        return PERSON[x]
    return stem(x) if x not in STOP and x not in PERSON else None


# Subject pronouns that name a definite party (not "you", which often means anybody).
_DOER = frozenset("i we he she they".split())
_BEFORE_DOER = frozenset("the a an my our his her their".split())  # "if [the] landlord ends"


def doer_replaced(named: Text, other: Text, noun: str) -> bool:
    """``noun``, the one word ``named`` has over ``other``, does a verb that a pronoun of
    ``other`` does in its place: "do I get my deposit back if [the landlord] ends the lease"
    / "... if I end the lease" asks about another party's act."""
    if noun not in named.words or noun in GENERIC:
        return False  # "how does [one] deal with X" / "how do I deal with X": anybody
    k = named.words.index(noun)
    verb = named.words[k + 1] if k + 1 < len(named.words) else ""
    if not verb or verb in STOP or k + 1 in named.breaks:
        return False
    before = named.words[k - 1] if k else ""
    if before and before not in _BEFORE_DOER and before not in STOP:
        return False  # a modifier: "the [landlord] rules" is no doer
    extra = {w: other.words.count(w) - named.words.count(w) for w in _DOER}
    return any(other.words[j] in _DOER and extra[other.words[j]] > 0 and
               stem(other.words[j + 1]) == stem(verb) for j in range(len(other.words) - 1))


# How often an act happens: no act or doer itself ("why does my husband [always] beat me").
_FREQUENCY = frozenset("always often usually sometimes constantly seldom ever".split())


def _adverb(word: str) -> bool:
    return word in _FREQUENCY or manner_adverb(word)


def manner_adverb(word: str) -> bool:
    """An "-ly" adverb, which sits anywhere around a verb and is no act itself ("remove pet
    hair from my couch [quickly]", "who was [musically] influenced by X")."""
    return len(word) > 4 and word.endswith("ly") and word not in STOP


def _doers(t: Text) -> dict[str, str]:
    """Each verb's doer where the text says it plainly: a subject pronoun or a noun after
    "the", "my", ... right before the verb ("[the bank] sent", "[I] sent", "does [the bank]
    have", "do [I] have"), as verb stem -> the doer (a pronoun as its person)."""
    w, out = t.words, {}
    for k in range(len(w) - 1):
        x, verb = w[k], w[k + 1]
        if verb in STOP and verb not in BE or k + 1 in t.breaks or k in t.breaks or \
                manner_adverb(verb):
            continue
        if x in _DOER:
            out.setdefault(stem(verb), PERSON[x])
        elif x not in STOP and k and w[k - 1] in _BEFORE_DOER:
            out.setdefault(stem(verb), stem(x))
    return out


_ASKER = frozenset({PERSON["i"], PERSON["we"]})


def doer_changed_among_named(a: Text, b: Text) -> bool:
    """One act done to the same party by another person, both named on both sides: "my
    daughter's friend is bullying her" / "my daughter is bullying her friend"."""
    sa, sb = [stem(w) for w in a.words], [stem(w) for w in b.words]
    rb = _person_roles(b.words, b.addressed)

    def named(words: list[str], stems: list[str], doer: str, act: str, after: bool) -> bool:
        """``doer`` after ``act`` ("bullying her [friend]") or before it ("[my daughter's]
        friend is bullying"), with a determiner: a party, not a word of a quote."""
        k = stems.index(act) if act in stems else (0 if after else len(stems))
        span = range(k + 1, len(stems)) if after else range(1, k)
        return any(stems[j] == doer and words[j - 1] in DETERMINERS for j in span)
    return any(v == v2 and o == o2 and s != s2 and s[0] != "<" and s2[0] != "<" and
               named(b.words, sb, s, v, True) and named(a.words, sa, s2, v, False)
               for s, v, o in _person_roles(a.words, a.addressed) for s2, v2, o2 in rb)


def doers_exchanged(a: Text, b: Text) -> bool:
    """Two verbs each keep their place and trade doers, the asker and a named party: "the bank
    sent money to my account, do I have to return it" / "I sent money to the wrong account,
    does the bank have to return it". A third person's pronoun may be the named party itself
    ("if my son misses the bus, can he ..." / "can my son ..., if he misses the bus")."""
    da, db = _doers(a), _doers(b)
    shared = [v for v in da if v in db and da[v] != db[v]]
    return any(da[v] == db[u] and da[u] == db[v] and
               len({da[v], da[u]} & _ASKER) == 1 and not {da[v], da[u]} <= set(PERSON.values())
               for i, v in enumerate(shared) for u in shared[i + 1:])



# Prepositions that name whom an act is for or done to: "co-sign a loan [for] my brother".
_FOR_PARTY = frozenset("for to from with against".split())


def _named_as_party(t: Text, noun: str) -> bool:
    """``noun`` (a stem) follows one of ``_FOR_PARTY``, a determiner between or not: "for
    my brother"; not "as a teenager" (the asker's own role) nor "my English speaking"."""
    w = t.words
    return any(stem(x) == noun and (k and w[k - 1] in _FOR_PARTY or k > 1 and
                                    w[k - 1] in DETERMINERS and w[k - 2] in _FOR_PARTY)
               for k, x in enumerate(w))


def doer_turned_party(a: Text, b: Text) -> bool:
    """One verb done by the asker on one side and, on the other, by a party the first side
    names only as whom the act is for or done to: "what happens to my credit if [I] co-sign
    a loan for my brother" / "... if [my brother] co-signs a loan for me" ("for me" may go as
    a filler)."""
    da, db = _doers(a), _doers(b)
    for mine, theirs, t in ((da, db, a), (db, da, b)):
        for verb, who in mine.items():
            party = theirs.get(verb)
            if who in _ASKER and party and party not in PERSON.values() and \
                    party not in mine.values() and _named_as_party(t, party):
                return True
    return False


def _with_whom(t: Text) -> list[str]:
    """The word after each "with", a determiner or possessive passed over: "in with [us]",
    "in with my [mother-in-law]"."""
    w = t.words
    out = []
    for k, x in enumerate(w[:-1]):
        if x == "with":
            j = k + 2 if w[k + 1] in DETERMINERS and k + 2 < len(w) else k + 1
            out.append(w[j])
    return out


def joined_turned(a: Text, b: Text) -> bool:
    """Who joins whom, turned: the asker is the one "with" names on one side, and on the
    other a party the first side names elsewhere: "we're moving my mother-in-law in [with
    us]" / "we're moving in [with my mother-in-law]"; "can my sister stay with us" / "can
    we stay with my sister"."""
    for x, y in ((a, b), (b, a)):
        wx, wy = _with_whom(x), _with_whom(y)
        if not any(party(o) == "asker" for o in wx) or any(party(o) == "asker" for o in wy):
            continue
        named = {stem(o) for o in x.words if o not in STOP and o not in wx}
        if any(party(o) is None and o not in STOP and stem(o) in named for o in wy):
            return True
    return False


def doer_moved(a: Text, b: Text) -> bool:
    """One act done by another named party, the party of the first side's other act: "can a
    [landlord] back out of a lease before the tenant moves in" / "can a [tenant] back out of
    a lease before moving in". The first side's doer is gone from the second."""
    da, db = _doers(a), _doers(b)
    for mine, theirs, other in ((da, db, b), (db, da, a)):
        stems = {stem(w) for w in other.words}
        if any(v in theirs and who != theirs[v] and theirs[v] in mine.values() and
               who not in PERSON.values() and theirs[v] not in PERSON.values() and
               not any(distance(who, x, 2) <= 2 for x in stems)  # gone, not misspelt
               for v, who in mine.items()):
            return True
    return False
