"""The structural comparison (``clawhost.plugins.semantic_cache.contrast``), one contrast kind at a time.

Pairs written for these tests, not taken from the eval data. Each kind has pairs that must
be rejected and rewordings that must not be: a rule that rejected everything, or nothing,
fails here.
"""

from __future__ import annotations

import functools
import re

import pytest

from clawhost.plugins.semantic_cache.contrast import Comparer, parse
from clawhost.plugins.semantic_cache.normalize import canonical

# A stand-in for the embedding model's vocabulary: real words, so "pyhton" is not one.
VOCAB = frozenset("""how do i install python on windows what is the capital of norway sweden
slovenia slovakia austria australia sell tell reset my password delete remove git tag
read a file in rust fly from madrid to rome population bake bread sourdough""".split())
C = Comparer(VOCAB)


def kind(a: str, b: str) -> tuple[str, str]:
    v = C.compare(a, b)
    return v.kind, v.why


@pytest.mark.parametrize("a,b", [
    ("How do I fly from Madrid to Rome?", "How do I fly from Rome to Madrid?"),
    ("Convert kilograms to pounds", "Convert pounds to kilograms"),
    ("Is Rust faster than Go?", "Is Go faster than Rust?"),
    ("Copy files from the server to my laptop", "Copy files from my laptop to the server"),
    ("EUR -> USD exchange rate", "USD -> EUR exchange rate"),
    ("How do I redirect www to the bare domain?", "How do I redirect the bare domain to www?"),
])
def test_a_swapped_direction_is_rejected(a, b):
    assert kind(a, b) == ("reject", "direction")


@pytest.mark.parametrize("a,b", [
    ("How do I fly from Madrid to Rome?", "How do I fly to Rome from Madrid?"),
    ("From Madrid to Rome, how do I fly?", "how do i fly from madrid to rome"),
    ("What is the difference between TCP and UDP?", "What is the difference between UDP and TCP?"),
])
def test_the_same_direction_reordered_is_not(a, b):
    assert kind(a, b)[0] == "same"


@pytest.mark.parametrize("a,b,why", [
    ("How do I serialize an object to JSON?", "How do I deserialize an object to JSON?", "antonym"),
    ("How do I encode a URL in JavaScript?", "How do I decode a URL in JavaScript?", "antonym"),
    ("Should I buy Tesla stock now?", "Should I sell Tesla stock now?", "antonym"),
    ("How do I enable two-factor login?", "How do I disable two-factor login?", "antonym"),
    ("How do I lock my phone screen?", "How do I unlock my phone screen?", "antonym"),
    ("What are the advantages of solar panels?", "What are the disadvantages of solar panels?",
     "antonym"),
    ("How do I import contacts into Gmail?", "How do I export contacts from Gmail?", "antonym"),
    ("What is the maximum heart rate while running?",
     "What is the minimum heart rate while running?", "antonym"),
])
def test_an_opposite_is_rejected(a, b, why):
    assert kind(a, b) == ("reject", why)


@pytest.mark.parametrize("a,b", [
    ("Should I use a VPN on public wifi?", "Should I not use a VPN on public wifi?"),
    ("Why doesn't my laptop charge?", "Why does my laptop charge?"),
    ("Which fruits can parrots eat?", "Which fruits can parrots never eat?"),
])
def test_a_negation_on_one_side_is_rejected(a, b):
    assert kind(a, b) == ("reject", "negation")


def test_a_negation_spelled_two_ways_is_not_a_difference():
    assert kind("Why doesn't my laptop charge?", "why does my laptop not charge") == ("same", "")


@pytest.mark.parametrize("a,b", [
    ("How many calories are in 2 eggs?", "How many calories are in 3 eggs?"),
    ("What's new in Django 4.2?", "What's new in Django 5.0?"),
    ("Give me three tips for sleeping", "Give me four tips for sleeping"),
    ("What happened in 1989 in Berlin?", "What happened in 1991 in Berlin?"),
])
def test_a_different_number_or_version_is_rejected(a, b):
    assert kind(a, b) == ("reject", "number")


def test_a_misspelt_number_word_is_a_typo_not_a_number():
    assert kind("Who was the first king of Norway?", "Who was the frist king of Norway?") == (
        "same", "")


@pytest.mark.parametrize("a,b,why", [
    ("How many cups are in a liter?", "How many cups are in a gallon?", "unit"),
    ("Convert 10 miles to km", "Convert 10 km to miles", "direction"),
    ("What is 30 Celsius in Fahrenheit?", "What is 30 Fahrenheit in Celsius?", "direction"),
    ("How do you say good night in Italian?", "How do you say good night in Spanish?", "unit"),
])
def test_a_unit_or_a_target_language_is_rejected(a, b, why):
    assert kind(a, b) == ("reject", why)


@pytest.mark.parametrize("a,b", [
    ("What is the population of Norway?", "What is the population of Sweden?"),
    ("What is the capital of Slovenia?", "What is the capital of Slovakia?"),
    ("What is the population of Austria?", "what is the population of australia"),
])
def test_a_different_name_is_rejected(a, b):
    assert kind(a, b) == ("reject", "entity")


def test_a_lowercase_replaced_word_is_left_to_the_learned_score():
    # no capital letter to say it is a name: not served on structure, not rejected either
    assert kind("who founded nvidia", "who founded intel")[0] == "unsure"


@pytest.mark.parametrize("a,b", [
    ("In Rust, how do I read a file?", "How do I read a file in Rust?"),
    ("Please tell me how to bake sourdough bread", "How do I bake sourdough bread?"),
    ("How do I delete a git tag?", "How do I remove a git tag?"),
    ("What is the capital of Norway?", "Which city is the capital of Norway?"),
    ("What is the capital of Norway?", "Tell me the capital of Norway."),
    ("How do I reset my password?", "how can I reset my password"),
])
def test_rewordings_are_the_same_question(a, b):
    assert kind(a, b) == ("same", "")


def test_a_typo_matches_only_when_one_spelling_is_not_a_word():
    v = C.compare("How do I install Python on Windows?", "How do I install Pyhton on Windows?")
    assert (v.kind, v.typos) == ("same", 1)
    # "sell" and "tell", both real words: a different word, not a typo
    assert C.compare("Who can sell me a car?", "Who can tell me a car?").kind != "same"
    # without a vocabulary, only distance 1 on words of 5+ letters
    bare = Comparer(None)
    assert bare.compare("reset my pasword", "reset my password").kind == "same"
    assert bare.compare("Who can sell me a car?", "Who can tell me a car?").kind != "same"
    # no typo matching at all when it is turned off
    assert Comparer(VOCAB, typos=False).compare("reset my pasword", "reset my password").kind \
        == "unsure"


def test_remembered_verdicts_stay_with_their_comparer():
    """Each comparer memoises its verdicts: asked again, it answers the same; a comparer
    with another vocabulary or typo setting, asked in between, keeps its own answer."""
    pair = ("reset my pasword", "reset my password")
    typo, off, real = Comparer(VOCAB), Comparer(VOCAB, typos=False), Comparer(VOCAB | {"pasword"})
    for _ in range(2):
        assert [c.compare(*pair).kind for c in (typo, off, real)] == ["same", "unsure", "unsure"]
    assert typo.compare(*pair) == typo._compare(*pair)
    assert typo.compare(*reversed(pair)).kind == "same"


def test_question_words_that_ask_for_other_things():
    assert kind("When was the Eiffel Tower built?", "Why was the Eiffel Tower built?") == (
        "reject", "question")
    # how vs why is not named by a rule, but it is not served on structure either
    assert kind("How are databases used?", "Why are databases used?")[0] == "unsure"
    assert kind("Can cats eat cheese?", "Should cats eat cheese?")[0] == "unsure"


@pytest.mark.parametrize("a,b", [
    ("", ""), ("", "What is Python?"), ("🙂", "🙂🙂"), ("東京の天気は？", "大阪の天気は？"),
    ("Как дела? 🙂", "как дела"), ("x" * 50_000, "x" * 49_999 + "y"),
    ("?!?!", "..."), ("مرحبا كيف حالك", "مرحبا كيف حالك؟"),
])
def test_odd_input_gives_a_verdict_never_an_error(a, b):
    assert C.compare(a, b).kind in ("same", "unsure", "reject")


def test_other_scripts_are_compared_by_their_own_words():
    assert C.compare("東京の天気は？", "大阪の天気は？").kind != "same"
    assert C.compare("Как дела?", "как дела").kind == "same"
    assert parse("東京の天気").content  # characters of a script without spaces count


def test_canonical_folds_only_what_does_not_change_the_question():
    assert canonical("  What IS the capital of France ?! ") == "what is the capital of france"
    assert canonical("Ｗｈａｔ ｉｓ ＡＩ？") == "what is ai"  # NFKC full-width
    assert canonical("Hey, can you please tell me what AI is? Thanks!") == "what ai is"
    assert canonical("Please, explain recursion.", fillers=False) == "please, explain recursion"
    # numbers, negations, inner punctuation and order are kept
    assert canonical("Is 3.12 out?") != canonical("Is 3.11 out?")
    assert canonical("Is it not safe?") != canonical("Is it safe?")
    assert canonical("C++ or C?") == "cpp or c"  # the symbols are written out, not dropped
    assert canonical("a 5GB disk") == canonical("a 5 GB disk") == canonical("A 5 gb disk")
    assert canonical("") == "" and canonical("?!…") == "" and canonical("🙂🙂") == ""


# -- the structure inside the verifier's decision ------------------------------------------
def _judge(threshold: float = 0.9):
    """A cross-encoder stand-in that scores every pair 0.5 (below its threshold) and
    records what it was asked: whatever is served below was served on structure."""
    import numpy as np

    from clawhost.plugins.semantic_cache.verifier import Settings, Verifier
    seen: list = []

    def scorer(pairs):
        seen.extend(pairs)
        return np.full(len(pairs), 0.5)
    v = Verifier(Settings(min_similarity=0.75)).with_scorer(scorer, {"threshold": threshold})
    v.comparer = C
    return v, seen


def test_the_verifier_serves_rewordings_on_structure_and_rejects_look_alikes_unscored():
    from clawhost.plugins.semantic_cache.verifier import Candidate
    v, seen = _judge()
    d = v.choose("how can I reset my password", [Candidate(1, 0.97, "How do I reset my password?",
                                                           "x")])
    assert (d.reason, d.entry_id) == ("hit", 1) and seen == []
    d = v.choose("How do I fly from Rome to Madrid?",
                 [Candidate(1, 0.99, "How do I fly from Madrid to Rome?", "x")])
    assert d.reason == "rejected" and seen == []
    # a reworded question below same_floor is no longer served on structure: scored (0.5)
    d = v.choose("how can I reset my password", [Candidate(1, 0.8, "How do I reset my password?",
                                                           "x")])
    assert d.reason == "rejected" and len(seen) == 1


def test_a_typo_variant_is_served_over_a_nearer_look_alike():
    from clawhost.plugins.semantic_cache.verifier import Candidate
    v, _ = _judge()
    cands = [Candidate(1, 0.78, "How do I reset my router?", "router"),
             Candidate(2, 0.62, "How do I reset my password?", "password")]
    d = v.choose("How do I reset my pasword?", cands)
    assert (d.reason, d.entry_id) == ("hit", 2)
    # two stored questions the structure calls the same, with different answers: ambiguous
    cands.append(Candidate(3, 0.61, "how do i reset my password", "other"))
    assert v.choose("How do I reset my pasword?", cands).reason == "ambiguous"
    # a misspelt topic word moves MiniLM far ("crikcet": 0.48, "camle": 0.39), and is still
    # served ...
    assert v.choose("How do I reset my pasword?",
                    [Candidate(2, 0.35, "How do I reset my password?", "p")]).reason == "hit"
    # ... but below typo_floor it is not
    assert v.choose("How do I reset my pasword?",
                    [Candidate(2, 0.25, "How do I reset my password?", "p")]).reason == "miss"


def test_fillers_are_whole_leading_wrappers_not_first_words():
    assert canonical("Question marks in Spanish?") == "question marks in spanish"
    assert canonical("Well water: is it safe?") == "well water: is it safe"
    assert canonical("Pleased to meet you") == "pleased to meet you"
    assert canonical("By the way, what is X?") == canonical("what is x")


@pytest.mark.parametrize("a,b", [
    ("Why do dogs dig holes in the garden?", "Why do dogs dig holes in the yard?"),
    ("Where can I buy a cup of good coffee?", "Where can I buy a mug of good coffee?"),
])
def test_a_unit_that_is_also_a_plain_noun_replacing_another_word_is_left_to_the_score(a, b):
    assert kind(a, b) == ("unsure", "replaced")


@pytest.mark.parametrize("a,b", [
    ("What is 5 megabytes in kilobytes?", "What is 5 megabytes in gigabytes?"),
    ("How many yards are in a mile?", "How many feet are in a mile?"),
    ("How many milliseconds are in a minute?", "How many microseconds are in a minute?"),
])
def test_one_unit_in_place_of_another_is_rejected(a, b):
    assert kind(a, b) == ("reject", "unit")


def test_wordnet_gives_antonyms_and_synonyms_nobody_listed_by_hand():
    from clawhost.plugins.semantic_cache import lexicon, wordlists
    synonyms, antonyms = lexicon.load()
    assert len(synonyms) > 500 and len(antonyms) > 200
    # from WordNet's antonym pointers, not the hand-written list
    assert ["guilty", "innocent"] in antonyms and "innocent" not in wordlists._OPPOSITES
    assert kind("Was the defendant found guilty?", "Was the defendant found innocent?") == (
        "reject", "antonym")
    # a shared most frequent sense; a word's rare sense does not count ("get" for "begin")
    assert ["alter", "change"] in synonyms and ["begin", "get"] not in synonyms
    assert kind("How do I alter a shirt?", "How do I change a shirt?")[0] == "same"
    # an opposite is never served as a synonym, whichever list holds the pair
    assert not any(y in wordlists.SYNONYMS.get(x, ()) for x, ys in wordlists.OPPOSITES.items()
                   for y in ys)


def _own_sets() -> list[str]:
    """Every own check set in benchmarks/data, in the order they were written."""
    from pathlib import Path
    files = (Path(__file__).resolve().parents[1] / "benchmarks" / "data").glob("paraphrase_own*.jsonl")
    return sorted((f.name for f in files), key=lambda n: int(re.sub(r"\D", "", n) or 1))


OWN_SETS = _own_sets()


@functools.lru_cache(maxsize=None)
def _folded_texts(path: str) -> frozenset[str]:
    """A check set's texts, case and end punctuation folded; each file is read once (there
    are hundreds, each compared with every other)."""
    import json
    with open(path, encoding="utf-8") as fh:
        return frozenset(t.casefold().strip("?!. ") for x in fh
                         for t in (json.loads(x)["a"], json.loads(x)["b"]))


@pytest.mark.parametrize("name", OWN_SETS)
def test_the_own_check_sets_are_no_copy_of_the_dev_file(name):
    """benchmarks/data/paraphrase_own*.jsonl are the own check sets (written for issue 19,
    same 17 kinds, without reading the dev rows): no text of them may come from
    paraphrase_dev.jsonl, even with case and end punctuation folded, nor from each other."""
    import json
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    own = [json.loads(x) for x in (root / "benchmarks/data" / name).open()]
    assert all(set(r) == {"a", "b", "duplicate", "kind"} for r in own)
    assert len({r["kind"] for r in own}) == 17 and all(
        sum(r["kind"] == k for r in own) >= 5 for k in {r["kind"] for r in own})
    mine = _folded_texts(str(root / "benchmarks/data" / name))
    for other in OWN_SETS:
        if other != name:
            assert not mine & _folded_texts(str(root / "benchmarks/data" / other))
    dev_file = root.parent / "shared" / "eval" / "paraphrase_dev.jsonl"
    if dev_file.is_file():
        assert not mine & _folded_texts(str(dev_file))


# -- session 9: rules for gaps a second own check set showed (a kind each, never a row) ----
@pytest.mark.parametrize("a,b", [
    ("Is Berlin east of Paris?", "Is Paris east of Berlin?"),
    ("How does stress affect blood pressure?", "How does blood pressure affect stress?"),
    ("Is Kotlin a superset of Java?", "Is Java a superset of Kotlin?"),
    ("Does the frontend call the backend directly?", "Does the backend call the frontend directly?"),
    ("Is a tomato a fruit?", "Is a fruit a tomato?"),
    ("Is Tokyo ahead of Sydney in time?", "Is Sydney ahead of Tokyo in time?"),
])
def test_two_things_swapped_around_the_same_relation_are_a_direction(a, b):
    """No "from"/"to"/"than" to read roles from: the same words, with two spans exchanged
    around a middle that stays."""
    assert kind(a, b) == ("reject", "direction")


@pytest.mark.parametrize("a,b", [
    ("Which is cheaper, Lisbon or Porto?", "Which is cheaper, Porto or Lisbon?"),
    ("Is grilled salmon or baked salmon healthier?", "Is baked salmon or grilled salmon healthier?"),
    ("What is the difference between yeast and baking powder?",
     "What is the difference between baking powder and yeast?"),
    ("Before a long flight, what should I eat?", "What should I eat before a long flight?"),
    ("What is the integral of u with respect to u?", "With respect to u, what is the integral of u?"),
    ("How do I rotate logs in nginx on Debian?", "On Debian, how do I rotate logs in nginx?"),
])
def test_a_moved_phrase_or_a_symmetric_pair_is_no_swap(a, b):
    assert kind(a, b) == ("same", "")


@pytest.mark.parametrize("a,b", [
    ("Why is my bread getting harder?", "Why is my bread getting softer?"),
    ("Which cities are getting cheaper to live in?", "Which cities are getting more expensive to live in?"),
    ("Does my battery drain faster in winter?", "Does my battery drain slower in winter?"),
    ("Why is the euro gaining against the dollar?", "Why is the euro losing against the dollar?"),
    ("How do I make the terminal font bigger?", "How do I make the terminal font smaller?"),
    ("Why are the nights getting longer?", "Why are the nights getting shorter?"),
])
def test_an_inflected_or_compared_opposite_is_rejected(a, b):
    assert kind(a, b) == ("reject", "antonym")


def test_inflected_forms_of_one_word_are_no_opposites():
    assert kind("What are the pros and cons of Kotlin?",
                "What are the pro's and con's of Kotlin?") == ("same", "")
    assert kind("Which is the faster route to the airport?",
                "Which is the quicker route to the airport?")[0] != "reject"
    assert kind("Why is my laptop getting slower?", "why is my laptop getting slower")[0] == "same"


@pytest.mark.parametrize("a,b", [
    ("why does my vpn connect on hotel wifi", "why doesnt my vpn connect on hotel wifi"),
    ("i want the bot to reply in threads", "i dont want the bot to reply in threads"),
    ("is my cat eating enough", "isnt my cat eating enough"),
    ("Can I deduct my home office?", "cant I deduct my home office"),
])
def test_a_negation_typed_without_its_apostrophe_is_a_negation(a, b):
    assert kind(a, b) == ("reject", "negation")


def test_a_negation_with_or_without_its_apostrophe_is_the_same():
    assert kind("Why don't my tests run?", "why dont my tests run") == ("same", "")
    assert kind("why doesnt my vpn connect", "Why doesn't my VPN connect?") == ("same", "")


@pytest.mark.parametrize("a,b", [
    ("What happens in the seventh week of pregnancy?", "What happens in the ninth week of pregnancy?"),
    ("Which films were big in the nineties?", "Which films were big in the sixties?"),
    ("Who won the twelfth season of the show?", "Who won the eleventh season of the show?"),
    ("Which films were big in the 90s?", "Which films were big in the sixties?"),
])
def test_ordinals_and_decades_in_words_are_numbers(a, b):
    assert kind(a, b) == ("reject", "number")


def test_a_decade_in_words_or_digits_is_the_same_number():
    # the same number, so no veto; a number word against digits is left to the learned score
    # as "three" / "3" always was
    assert kind("Which films were big in the nineties?", "Which films were big in the 90s?")[0] \
        == "unsure"
    assert parse("big in the 90s").numbers == parse("big in the nineties").numbers == ("90s",)


def test_chat_fillers_at_the_start_are_folded():
    key = canonical("How do I undo a git stash?")
    assert canonical("ok so basically how do I undo a git stash") == key
    assert canonical("Honestly, how do I undo a git stash?") == key
    # a spaced dash after a filler separates it as a comma does; a hyphen joins words
    assert canonical("actually - how do I undo a git stash?") == key
    assert canonical("so-called experts undo a git stash") == "so-called experts undo a git stash"
    assert canonical("Actually, how do I undo a git stash?") == key
    assert canonical("Basically speaking, what is X?") != canonical("what is x")


@pytest.mark.parametrize("a,b", [
    ("How do I reverse a linked list in C?", "Reverse a linked list in C."),
    ("How can I convert a PDF to text on Linux?", "convert a pdf to text on linux"),
    ("How to boil an egg?", "Please boil an egg"),
])
def test_the_bare_imperative_of_a_how_to_question_is_the_same(a, b):
    assert kind(a, b) == ("same", "")


@pytest.mark.parametrize("a,b", [
    ("How can I really earn money from blogging?", "Can you really earn money from blogging?"),
    ("Why do I reverse a linked list in C?", "Reverse a linked list in C."),
    ("How do I reverse a linked list in C?", "Can I reverse a linked list in C?"),
])
def test_a_yes_no_question_or_another_question_word_is_no_imperative(a, b):
    assert kind(a, b)[0] != "same"


def test_a_misspelt_request_or_function_word_is_a_typo():
    """"list" and "what" are no content words, so their misspellings were left over as new
    words; a typo of a word the other side has is a typo wherever that word is counted."""
    c = Comparer(VOCAB | {"list", "lost", "the", "planets", "open", "ports", "weather", "oslo",
                          "what"})
    v = c.compare("List the open ports on my server", "Lsit the open ports on my server")
    assert (v.kind, v.typos) == ("same", 1)
    assert c.compare("Whats the weather in Oslo?", "What's the weather in Oslo?").kind == "same"
    assert c.compare("List the planets", "Lost the planets").kind != "same"  # two real words


def test_shipped_verifier_weights_were_fit_on_todays_feature_word_lists(tmp_path):
    """An edit to wordlists.FEATURE_* or another stemmer changes feature values under weights
    fit on the old ones: the digest stored with each weight file must match, and a stale one
    is refused."""
    import json

    from clawhost.plugins.semantic_cache import verifier
    from clawhost.plugins.semantic_cache.wordlists import feature_words_digest

    for path in verifier.WEIGHT_SETS.values():
        if path.suffix == ".json":
            assert json.loads(path.read_text()).get("feature_words") == feature_words_digest(), path
    stale = json.loads(verifier.INTERACTION_WEIGHTS.read_text())
    stale["feature_words"] = "0" * 64
    (tmp_path / "w.json").write_text(json.dumps(stale))
    with pytest.raises(ValueError, match="word lists or stemmer changed"):
        verifier.Weights.load(tmp_path / "w.json")


def test_the_rules_and_the_lexical_features_fold_words_with_one_stemmer():
    """"eating"/"eat", "parties"/"party": the structural rules and the verifier's lexical
    features see the same words as one (until session 11 the features had a stemmer of their
    own, which kept "eating" apart from "eat" while the rules matched them)."""
    from clawhost.plugins.semantic_cache.features import NAMES, pair_features

    a, b = "Is it safe to eat raw eggs at parties?", "Is eating raw eggs at a party safe?"
    assert Comparer(None).compare(a, b).kind == "same"
    f = dict(zip(NAMES, pair_features(0.9, a, b)))
    assert (f["jaccard"], f["unmatched"]) == (1.0, 0.0)


def _unmatched_pairwise(comparer: Comparer, a: list[str], b: list[str]):
    """``Comparer._unmatched`` as it was until session 12: ``_same_word`` asked of every
    (left-over word, new word) pair. The reference the indexed matching must equal."""
    from collections import Counter

    from clawhost.plugins.semantic_cache.contrast import MAX_TYPO_WORDS
    left = Counter(a)
    rest = []
    for w in b:
        if left[w] > 0:
            left[w] -= 1
        else:
            rest.append(w)
    only_a = list(left.elements())
    only_b = []
    for w in rest:
        hit = next((k for k, x in enumerate(only_a) if comparer._same_word(x, w, False)), None)
        if hit is None:
            only_b.append(w)
        else:
            del only_a[hit]
    typos = 0
    if comparer.typos and only_b and len(only_a) <= MAX_TYPO_WORDS and len(only_b) <= MAX_TYPO_WORDS:
        still = []
        for w in only_b:
            hit = next((k for k, x in enumerate(only_a) if comparer._typo(x, w)), None)
            if hit is None:
                still.append(w)
            else:
                del only_a[hit]
                typos += 1
        only_b = still
    return only_a, only_b, typos


def test_indexed_word_matching_leaves_the_same_words_as_asking_every_pair():
    """``_unmatched`` finds each new word's first match among the cached side's left-over
    words through an index of stems and synonym stems (issue 19: pairwise it cost 0.4 ms for
    two ~40-word statements). Which words are left, in which order, and the typo count must
    be what the pairwise search gives: on word lists crowded with synonyms (asymmetric ones
    too), inflections, repeats and typos, and on the own check sets' texts (each pair, and
    each text beside the next)."""
    import json
    import random
    from pathlib import Path

    from clawhost.plugins.semantic_cache import wordlists
    rng = random.Random(12)
    groups = [(w, sorted(g)) for w, g in sorted(wordlists.SYNONYMS.items())]
    pool = []
    for w, g in rng.sample(groups, 60):
        pool += [w, *g[:2], w + "s", w + "ing"]
    pool += ["pyhton", "python", "instal", "install", "bread", "breads", "paris", "london"]
    cases = []
    for _ in range(3000):
        a = [rng.choice(pool) for _ in range(rng.randint(0, 12))]
        b = [rng.choice(pool) for _ in range(rng.randint(0, 12))]
        cases.append((a, b))
    root = Path(__file__).resolve().parents[1]
    texts = [t for name in ("paraphrase_own.jsonl", "paraphrase_own2.jsonl")
             for x in (root / "benchmarks/data" / name).open()
             for t in (json.loads(x)["a"], json.loads(x)["b"])]
    cases += [(parse(x).content, parse(y).content) for x, y in zip(texts, texts[1:] + texts[:1])]
    cases += [(parse(x).content, parse(y).content) for x, y in zip(texts[::2], texts[1::2])]
    matched = 0
    for comparer in (C, Comparer(None), Comparer(VOCAB, typos=False)):
        for a, b in cases:
            got = comparer._unmatched(list(a), list(b))
            assert got == _unmatched_pairwise(comparer, list(a), list(b)), (a, b)
            matched += len(a) - len(got[0])
    assert matched > 5000  # the cases do match words, not only leave them


# -- long, agent-written texts and the spellings quick typists use -------------------------

@pytest.mark.parametrize("a,b,why", [
    # the two things exchanged around a verb, not around "and" alone
    ("Write a function that takes a CSV file and returns a JSON object, with tests.",
     "Write a function that takes a JSON object and returns a CSV file, with tests.",
     "direction"),
    # a function word written as a name ("the US") keeps its place in an exchange
    ("Why did the US impose sanctions on Cuba in 1962?",
     "Why did Cuba impose sanctions on the US in 1962?", "direction"),
    ("Sync every folder to the backup disk, including the cache folders.",
     "Sync every folder to the backup disk, except the cache folders.", "negation"),
    ("Give me the strongest arguments for a four-day work week.",
     "Give me the strongest arguments against a four-day work week.", "antonym"),
    ("Draft a speech in favour of building the new bridge.",
     "Draft a speech against building the new bridge.", "antonym"),
])
def test_long_and_agent_written_contrasts_are_rejected(a, b, why):
    assert kind(a, b) == ("reject", why)


def test_joined_alternatives_and_lower_case_function_words_are_no_exchange():
    assert kind("Which is healthier, brown rice or white rice?",
                "Which is healthier, white rice or brown rice?")[0] == "same"
    # "us" in lower case on both sides is the pronoun: no name, nothing exchanged
    assert kind("Can you send us the invoice for March?",
                "can you send us the invoice for march")[0] == "same"
    # one side writes "US", the other "us": the same word, a name on both sides
    assert kind("How do I pay taxes in the US as a student?",
                "how do i pay taxes in the us as a student")[0] == "same"


LONG = ("Write a bash script that backs up the home directory to the external drive every "
        "night, keeps the last seven copies and emails me a short report when it finishes.")


def test_a_qualifier_inserted_inside_a_long_text_is_a_narrower_scope():
    narrower = LONG.replace("the home directory", "the encrypted home directory")
    assert kind(LONG, narrower) == ("reject", "scope")
    assert kind(narrower, LONG) == ("reject", "scope")
    # words added at the edges are fillers and wrappers, for the learned verifier
    assert kind(LONG, "Quick question, thanks in advance: " + LONG)[0] != "reject"
    # in a question of three content words the learned verifier weighs an inserted word
    assert kind("How do I delete all Docker containers?",
                "How do I delete all stopped Docker containers?") == ("unsure", "added")


def test_other_units_in_a_reworded_text_are_rejected_and_the_same_units_are_not():
    a = ("Write a Python function that turns a byte count into a readable size in KiB, MiB "
         "or GiB, with one decimal place.")
    b = ("I need a Python helper: given a number of bytes, return a human-friendly string in "
         "kB, MB or GB, rounded to one decimal.")
    assert kind(a, b) == ("reject", "unit")
    same_units = b.replace("kB, MB or GB", "KiB, MiB or GiB")
    assert kind(a, same_units) == ("unsure", "reworded")


@pytest.mark.parametrize("a,b", [
    ("What's the cleanest way to group a DataFrame by month?",
     "whats the cleanest way to group a dataframe by month"),
    ("I'm flying to Lisbon with a 90-minute layover; is that enough time?",
     "Im flying to Lisbon with a 90-minute layover, is that enough time"),
    ("You're sure there's no fee for this?", "youre sure theres no fee for this"),
])
def test_contractions_typed_without_the_apostrophe_are_the_same(a, b):
    assert kind(a, b)[0] == "same"


@pytest.mark.parametrize("a,b,why", [
    ("Convert $250 to yen", "Convert £250 to yen", "unit"),
    ("My plan says 300 Mb/s but I only see 30 MB/s downloads, why?",
     "My plan says 300 Mb/s but I only see 30 Mb/s downloads, why?", "unit"),
    # two units are never typos of each other, however long the text
    ("Archive every bucket in eu-west-2 older than 90 days and report any bucket above 2 GB.",
     "Archive every bucket in eu-west-2 older than 90 days and report any bucket above 2 MB.",
     "unit"),
    ("Quicksort implementation in C", "Quicksort implementation in C#", "unit"),
    ("How do I parse JSON in Python?", "How do I parse JSON in Rust?", "unit"),
    ("Port this module from Python to Go", "Port this module from Go to Python", "direction"),
    ("Our rent is 1,800 a month; what share of our monthly income is that?",
     "Our rent is 1,800 a month; what share of our weekly income is that?", "unit"),
    ("Strip leading spaces from each line with sed",
     "Strip trailing spaces from each line with sed", "antonym"),
    ("What repairs is the landlord responsible for in Ontario?",
     "What repairs is the tenant responsible for in Ontario?", "antonym"),
    # who does what to whom, said by pronouns alone
    ("We split the hotel bill; write a note saying how much they owe us.",
     "We split the hotel bill; write a note saying how much we owe them.", "direction"),
    ("Should I forgive him for lying?", "Should he forgive me for lying?", "direction"),
])
def test_symbols_units_and_roles_that_change_the_request_are_rejected(a, b, why):
    assert kind(a, b) == ("reject", why)


@pytest.mark.parametrize("a,b", [
    ("Is Python or Rust better for a CLI tool?", "Is Rust or Python better for a CLI tool?"),
    ("What is the annual fee of this card?", "What is the yearly fee of this card?"),
    # a condition in front: the yes/no question is the clause after it
    ("If I take ibuprofen, can I drink coffee?", "Can I drink coffee if I take ibuprofen?"),
    # chat fillers and calculator wrappers
    ("Sorry if this is a dumb question, but what does APR mean?", "what does APR mean?"),
    ("What's 12% of 450?", "Calculate 12% of 450."),
    ("Recommend some shade plants for a balcony.",
     "Could you suggest some shade plants for a balcony?"),
    # two sentences joined by "because" or by a colon
    ("Help me write an appeal because my parking ticket was issued on a Sunday.",
     "Help me write an appeal: my parking ticket was issued on a Sunday."),
    ("How do I tell them I quit?", "how do i tell them i quit"),
])
def test_rewordings_around_symbols_fillers_and_conditions_are_the_same(a, b):
    assert kind(a, b)[0] == "same"


def test_the_normalised_key_keeps_what_symbols_and_letter_case_say():
    assert canonical("bubble sort in C#") != canonical("bubble sort in C")
    assert canonical("learn C++!!") == canonical("learn c++") != canonical("learn C")
    assert canonical("is 60 Mb/s fast?") != canonical("is 60 MB/s fast?")
    assert canonical("is 60 MB/s fast?") == canonical("IS 60 mb/s FAST")
    assert canonical("What is it?!") == "what is it"


def test_a_pair_the_structure_serves_is_not_vetoed_by_the_cruder_feature_rules():
    """The feature rules' frozen negation list has "didn't" but not "didnt"; the structure
    knows both, so a structurally-same pair is served and a negation flip still is not."""
    from clawhost.plugins.semantic_cache.verifier import Candidate, Settings, Verifier
    v = Verifier(Settings(min_similarity=0.75, rules=("number", "negation", "antonym")))
    cached = "My landlord didn't return the deposit after 30 days; what can I do?"
    same = v.choose("my landlord didnt return the deposit after 30 days - what can i do",
                    [Candidate(1, 0.98, cached, "x")])
    assert same.entry_id == 1
    flipped = v.choose("My landlord did return the deposit after 30 days; what can I do?",
                       [Candidate(1, 0.98, cached, "x")])
    assert flipped.entry_id is None


@pytest.mark.parametrize("a,b,why", [
    ("The ledger says Acme owes us 500 euros; draft a polite reminder to their accounts team.",
     "The ledger says we owe Acme 500 euros; draft a polite reminder to their accounts team.",
     "direction"),
    ("How long should salmon bake at 180°C?", "How long should salmon bake at 180°F?", "unit"),
])
def test_roles_told_by_a_name_and_a_pronoun_and_degree_signs_are_rejected(a, b, why):
    assert kind(a, b) == ("reject", why)


@pytest.mark.parametrize("a,b", [
    ("Why won't my cat stop scratching the sofa?", "why wont my cat stop scratching the sofa"),
    ("Can't get the printer online, it's an HP, any tips?",
     "cant get the printer online. its an HP. any tips"),
    ("Is a company car a taxable benefit in the UK?",
     "Is a company car a taxable benefit in the U.K.?"),
    ("quick lunch ideas with lentils and feta", "fast lunch ideas with lentils and feta"),
    ("What are the steps to descale an espresso machine?",
     "Walk me through descaling an espresso machine."),
    # clauses moved around a comma: a reordering, not two things exchanged
    ("In badminton, can the shuttle touch the net if the serve still lands in the box?",
     "If the serve still lands in the box, can the shuttle touch the net in badminton?"),
])
def test_spellings_and_clause_orders_people_type_are_the_same(a, b):
    assert kind(a, b)[0] == "same"


def test_a_request_word_replaced_in_a_long_text_is_no_inserted_qualifier():
    a = ("For my physics lab report on pendulums, how should I present the uncertainty of "
         "each period measurement and the final value of g?")
    b = a.replace("present", "show")
    assert kind(a, b) != ("reject", "scope")


def test_chat_fillers_at_the_end_leave_the_normalised_key():
    base = canonical("How do I renew a TLS certificate with certbot?")
    for tail in ("no rush", "just curious haha", "asking for a friend", "tia"):
        assert canonical(f"How do I renew a TLS certificate with certbot? {tail}") == base
    # "no" inside the question is kept: it is a negation there
    assert canonical("Is there no way to renew it?") != canonical("Is there a way to renew it?")


def test_one_property_asked_in_place_of_another_is_rejected():
    assert kind("For a 2 TB restore from Glacier Deep Archive, what is the retrieval time?",
                "For a 2 TB restore from Glacier Deep Archive, what is the retrieval cost?") == (
        "reject", "attribute")
    assert kind("Which of the two routes takes less time?", "Which of the two routes costs less?"
                ) == ("reject", "attribute")
    # the same property in other words is no other property
    assert kind("What is the price of a monthly pass?", "What's the cost of a monthly pass?"
                )[0] == "same"


@pytest.mark.parametrize("a,b,why", [
    ("Export every table except audit_log to CSV", "Export only the table audit_log to CSV",
     "negation"),
    ("Write SQL that finds order ids present in table B but missing from table A.",
     "Write SQL that finds order ids present in table A but missing from table B.", "direction"),
    ("Our copy editor charges 0.08 euro per word for a 30,000-word manuscript; what's the total?",
     "Our copy editor charges 0.08 euro per page for a 30,000-word manuscript; what's the total?",
     "unit"),
    # a qualifier inserted after a shared opening, or hung on the last word
    ("What are the side effects of the ibuprofen gel?",
     "What are the rare side effects of the ibuprofen gel?", "scope"),
    ("Explain my options for the security deposit refund",
     "Explain my options for the security deposit refund and the move-out inspection", "scope"),
])
def test_exclusions_letter_names_rates_and_short_qualifiers_are_rejected(a, b, why):
    assert kind(a, b) == ("reject", why)


@pytest.mark.parametrize("a,b", [
    # a word in place of a function word is a rewording, not an inserted qualifier
    ("How do I get a refund for a delayed flight?", "How do I obtain a refund for a delayed flight?"),
    ("What is the difference between a lease and a rental?",
     "What is the actual difference between a lease and a rental?"),
    # a support ticket's greeting and closing
    ("Dear team, I hope you are well. Kindly advise how I reset my VPN token. Kind regards",
     "How do I reset my VPN token?"),
])
def test_rewordings_and_ticket_greetings_are_no_narrower_request(a, b):
    assert kind(a, b)[0] != "reject"


@pytest.mark.parametrize("a,b", [
    ("When is the 2025/26 self-assessment deadline?", "When is the 2025-26 self-assessment deadline"),
    ("Please, if you don't mind, turn 2 cups of rice into grams. Thank you!",
     "turn 2 cups of rice into grams"),
    ("Thanks in advance! Just wondering, how often should a kettle be descaled?",
     "How often should a kettle be descaled?"),
    ("Agent, please go ahead and delete all drafts older than 30 days, thanks.",
     "Delete all drafts older than 30 days."),
])
def test_politeness_and_year_ranges_written_either_way_are_the_same(a, b):
    assert kind(a, b)[0] == "same"


def test_addressing_by_role_is_dropped_only_before_a_comma_and_dates_keep_their_order():
    assert canonical("Agent Smith: who is he?") != canonical("Smith: who is he?")
    assert kind("Is the invoice due on 12/05/2025?", "Is the invoice due on 05/12/2025?") == (
        "reject", "number")
    assert kind("Plan a day hike for warm weather", "Plan a day hike for cold weather") == (
        "reject", "antonym")


# -- session 16: kinds two more blind sets (own9, own10) showed ---------------------------
@pytest.mark.parametrize("a,b", [
    # WordNet antonyms of a word's third sense ("strength"/"weakness") and of an adjective's
    # head ("mandatory" is like "obligatory", whose opposite is "optional")
    ("List the strengths of the vendor proposal", "List the weaknesses of the vendor proposal"),
    ("Is the safety course mandatory for contractors?",
     "Is the safety course optional for contractors?"),
    ("Which fields are essential in a purchase order?",
     "Which fields are unnecessary in a purchase order?"),
    ("Write a brief summary of the audit report", "Write a long summary of the audit report"),
    ("How do I word an acceptance letter for a job offer?",
     "How do I word a rejection letter for a job offer?"),
])
def test_antonyms_of_later_senses_and_of_an_adjectives_head_are_rejected(a, b):
    assert kind(a, b) == ("reject", "antonym")


@pytest.mark.parametrize("a,b", [
    ("Summarise the warranty terms in our contract with Halden Tools",
     "Summarise the termination terms in our contract with Halden Tools"),
    ("What are the symptoms of Lyme disease in dogs?",
     "What is the treatment of Lyme disease in dogs?"),
    ("Explain the syntax of Python list comprehensions",
     "Explain the performance of Python list comprehensions"),
])
def test_another_aspect_of_the_same_thing_is_another_attribute(a, b):
    assert kind(a, b) == ("reject", "attribute")


def test_an_aspect_said_in_other_words_is_not_rejected():
    # "signs" is no listed aspect: the learned verifier judges it, no rule rejects it
    assert kind("What are the symptoms of Lyme disease in dogs?",
                "What are the signs of Lyme disease in dogs?")[0] != "reject"


def test_the_same_words_with_other_punctuation_are_the_same_request():
    assert kind("The client hasn't paid invoice 88 for $900. Can you draft a reminder?",
                "The client hasnt paid invoice 88 for $900, can you draft a reminder") == (
        "same", "")
    # other words are still another request
    assert kind("The client hasn't paid invoice 88. Can you draft a reminder?",
                "The client has paid invoice 88, can you draft a reminder")[0] == "reject"


@pytest.mark.parametrize("a,b,same", [
    ("Why does my component render twice?", "Why does my component render two times?", True),
    ("Take the tablets twice a day", "Take the tablets 2 times a day", True),
    ("Take the tablets twice a day", "Take the tablets three times a day", False),
    ("Take the tablets twice a day", "Take 2 tablets a day", False),
])
def test_twice_is_two_times_and_no_other_count(a, b, same):
    assert (kind(a, b)[0] == "same") is same
    if not same:
        assert kind(a, b) == ("reject", "number")


def test_a_three_letter_word_with_two_letters_swapped_or_a_key_beside_it_is_a_typo():
    c = Comparer(frozenset("how to fix mix the push git rejected does a bill become law in us"
                           .split()))
    assert c.compare("git push rejected, how to fix", "git push rejected, how to fxi").kind == "same"
    assert c.compare("how does a bill become law in the us", "how does a bill become law in "
                     "tge us").kind == "same"  # "g" is next to "h"
    # two real words are two words, and other edits of a short word are not typos
    assert c.compare("git push rejected, how to fix", "git push rejected, how to mix").kind != "same"
    assert c.compare("git push rejected, how to fix", "git push rejected, how to fip").kind != "same"


def test_urgency_at_the_end_asks_for_no_other_answer():
    assert canonical("what's the process for reporting a workplace injury, kinda urgent") == \
        canonical("What's the process for reporting a workplace injury?")
    assert canonical("How do I reset my VPN token asap") == canonical("How do I reset my VPN token")


def test_an_opposite_negated_on_one_side_only_is_left_to_the_verifier():
    # "not mandatory" is "optional" said another way: no antonym rule rejects it
    assert kind("No, a config file is optional when the flags are given.",
                "A config file is not mandatory when the flags are given.") == (
        "unsure", "replaced")
    # negated on both sides, or on neither, the opposite still decides
    assert kind("Is the course not optional?", "Is the course not mandatory?") == (
        "reject", "antonym")
    assert kind("Turn the heater on", "Turn the heater off") == ("reject", "antonym")


# -- session 16: kinds two further blind sets (own11, own12) showed -----------------------
@pytest.mark.parametrize("a,b,why", [
    ("how to convert a decimal to a percentage", "how to turn a percentage into a decimal",
     "direction"),  # "into" marks the role "to" does
    ("Is the stock market positively correlated with bond yields?",
     "Is the stock market negatively correlated with bond yields?", "antonym"),
    ("Explain exothermic processes for a Year 9 class", "Explain endothermic processes for a "
     "Year 9 class", "antonym"),
    ("Average of a column in Excel ignoring blanks", "Average of a column in Excel including "
     "blanks", "negation"),
    ("Hotels near the Colosseum in Rome for two nights in May",
     "Cheap hotels near the Colosseum in Rome for two nights in May", "scope"),
])
def test_roles_adverb_and_prefix_opposites_exclusions_and_leading_qualifiers(a, b, why):
    assert kind(a, b) == ("reject", why)


@pytest.mark.parametrize("a,b", [
    ("can I fly with a power bank without telling the airline",
     "can I fly with a power bank wihtout telling the airline"),  # a misspelt "without"
    ("User asks: what is a p-value?", "User asks: hi, quick one - what is a p-value? cheers"),
])
def test_misspelt_negations_and_relayed_requests_are_the_same(a, b):
    assert kind(a, b)[0] == "same"


def test_a_unit_word_away_from_any_number_and_less_before_an_opposite_reject_nothing():
    # "day" is a unit only beside a number; the 6 elsewhere does not make it one
    assert kind("why do cats sleep during the day, my 6 year old wants to know",
                "why do cats sleep in the daytime, my 6 year old wants to know")[0] != "reject"
    assert kind("Bake 2 cups of flour", "Bake 2 grams of flour") == ("reject", "unit")
    # "least expensive" is "cheapest" said another way
    assert kind("the cheapest month to fly to Lisbon", "the least expensive month to fly to "
                "Lisbon")[0] != "reject"


# -- session 16: kinds two more blind sets (own13, own14) showed --------------------------
@pytest.mark.parametrize("a,b,why", [
    ("Should the legend sit in front of the chart?", "Should the legend sit behind the chart?",
     "antonym"),
    ("Is optimistic concurrency right for a booking table?",
     "Is pessimistic concurrency right for a booking table?", "antonym"),  # a rarer word
    # capitalised names allow one edit: two programmes, not a typo
    ("Does Medicare pay for dentures?", "Does Medicaid pay for dentures?", "entity"),
    # who gives to whom, told by pronouns and possessives
    ("can i lend my car to my brother", "can my brother lend his car to me", "direction"),
    ("Can I move shares from his account into mine?",
     "Can I move shares from my account into his?", "direction"),
])
def test_spatial_and_rarer_opposites_near_names_and_roles_told_by_persons(a, b, why):
    assert kind(a, b) == ("reject", why)


@pytest.mark.parametrize("a,b", [
    ("my cat ate chocolate what do i do", "pls help asap!! my cat ate chocolate what do i do"),
    ("how do I descale a kettle", "heyyy 👋 how do I descale a kettle pls"),
    ("Tell me why my cron job never runs", "Hey, no rush, but tell me why my cron job never "
     "runs"),
    ("Godot: how to make a sprite follow the mouse", "Godot: how to make a sprite follow the "
     "mouse? Thanks in advance, I'm new to this"),
    # a conjunction is no qualifier
    ("Rewrite this loop as a list comprehension, keeping the order the same.",
     "Can you rewrite this loop as a list comprehension while keeping the order the same?"),
])
def test_chat_asides_emoji_drawn_out_greetings_and_conjunctions_are_the_same(a, b):
    assert kind(a, b)[0] == "same"


def test_phrases_exchanged_between_clauses_that_stay_are_a_swap_and_clauses_moved_to_an_end_are_not():
    # the two places swap while both clauses keep their order (own15's kind, own words)
    assert kind("My bread recipe comes from a bakery in Quito, at 2,850 m, and I now bake at "
                "sea level. What should I change?",
                "My bread recipe comes from a bakery at sea level, and I now bake in Quito, at "
                "2,850 m. What should I change?") == ("reject", "direction")
    # a clause moved to the other end of the question is a reordering
    assert kind("In chess, can a pawn move backwards if it is blocked?",
                "If it is blocked, can a pawn move backwards in chess?")[0] != "reject"


# -- session 16: kinds the last two blind sets (own17, own18) showed -----------------------
@pytest.mark.parametrize("a,b", [
    ("Who did Nadal beat in the 2010 US Open final?", "Who beat Nadal in the 2010 US Open final?"),
    ("Which lake does the Rhone flow into?", "Which lake flows into the Rhone?"),
    ("Which novel is Clueless an adaptation of?", "Which novel is an adaptation of Clueless?"),
    ("Which Norse god was the son of Odin?", "Which Norse god was Odin the son of?"),
    ("Which band did Metallica open for in 1986?", "Which band opened for Metallica in 1986?"),
])
def test_a_question_words_role_reversed_is_a_swap(a, b):
    assert kind(a, b) == ("reject", "direction")


@pytest.mark.parametrize("a,b", [
    # a reordered noun phrase, a passive, a nominalised verb, a symmetric join: same request
    ("What is the salary of a Dutch prime minister?", "What is the Dutch prime minister's salary?"),
    ("Which team did Ajax beat in the final?", "Which team was beaten by Ajax in the final?"),
    ("What is the meaning of EBITDA in a report?", "What does EBITDA mean in a report?"),
    ("What were the causes and effects of the Dust Bowl?",
     "What were the effects and causes of the Dust Bowl?"),
])
def test_reorders_passives_and_nominalisations_are_no_role_reversal(a, b):
    assert kind(a, b) != ("reject", "direction")


@pytest.mark.parametrize("a,b,why", [
    ("Is a p99 of 40 ms fine for a cache read?", "Is a p99 of 40 µs fine for a cache read?", "unit"),
    ("List the reviews where the guest sounds pleased with the room",
     "List the reviews where the guest sounds angry with the room", "antonym"),
    ("Review this module's readability and suggest changes",
     "Review this module's scalability and suggest changes", "attribute"),
])
def test_the_micro_sign_sentiment_opposites_and_review_aspects(a, b, why):
    assert kind(a, b) == ("reject", why)


@pytest.mark.parametrize("a,b", [
    ("Can my grandson visit me in the care home on Sundays?",
     "Can I visit my grandson in the care home on Sundays?"),
    ("my aunt is lending me her van for the move", "I'm lending my aunt my van for the move"),
    ("what should I call my wife's grandparents", "what should my wife's grandparents call me"),
])
def test_a_person_and_a_noun_exchanged_around_the_verb_are_a_swap(a, b):
    assert kind(a, b) == ("reject", "direction")


def test_the_same_act_said_in_the_passive_keeps_its_roles():
    assert kind("Can my aunt claim me as a dependent?",
                "Can I be claimed as a dependent by my aunt?")[0] != "reject"


def test_a_letter_hyphenated_to_a_word_or_a_number_reads_the_same_either_way():
    assert kind("what's an I-9 vs a 1040", "whats an I9 vs a 1040?")[0] == "same"
    assert kind("Can the lease be signed by e-mail?", "Can the lease be signed by email?")[0] == "same"
    # the number in a form's name still tells two forms apart
    assert kind("Do I need an I-9?", "Do I need an I-94?") == ("reject", "number")


# -- session 17: kinds the own21-own24 sets showed ----------------------------------------
@pytest.mark.parametrize("a,b", [
    ("if it is 8pm in Sydney, what time is it in London?",
     "if it is 8pm in London, what time is it in Sydney?"),
    ("When it is noon in Tokyo, what time is it in Paris?",
     "When it is noon in Paris, what time is it in Tokyo?"),
    ("The user asks: if I leave Rome at 9, when do I reach Naples?",
     "The user asks: if I leave Naples at 9, when do I reach Rome?"),
])
def test_two_names_exchanged_between_clauses_that_stay_are_a_swap(a, b):
    """A comma between the two names does not make their exchange a reordering: each
    clause keeps its words, only the names changed places."""
    assert kind(a, b) == ("reject", "direction")


@pytest.mark.parametrize("a,b", [
    ("In chess, can a pawn move backwards if it is blocked?",
     "If it is blocked, can a pawn move backwards in chess?"),
    ("For a vegan, is honey ok to eat?", "Is honey ok to eat for a vegan?"),
])
def test_a_whole_clause_moved_around_a_comma_is_still_a_reordering(a, b):
    assert kind(a, b)[0] == "same"


# -- session 17, second round (own25-own28) ------------------------------------------------
@pytest.mark.parametrize("a,b", [
    ("My brother owes me $2,000, how do I put it in writing?",
     "I owe my brother $2,000, how do I put it in writing?"),
    ("I lent my sister my car", "my sister lent me her car"),
])
def test_a_person_before_two_objects_keeps_the_role_of_the_first(a, b):
    """"owe [my brother] [money]": the verb's first object is the one the act is done to."""
    assert kind(a, b) == ("reject", "direction")


@pytest.mark.parametrize("a,b", [
    ("Which Roman general defeated Hannibal?", "Which Roman general was defeated by Hannibal?"),
    ("Which team beat Spain in 2010", "which team was beaten by Spain in 2010"),
    ("which apps block the firewall", "which apps are blocked by the firewall"),
])
def test_a_verb_turned_passive_in_place_reverses_the_roles(a, b):
    assert kind(a, b) == ("reject", "direction")


def test_a_passive_said_the_other_way_round_keeps_the_question():
    assert kind("Hannibal was defeated by which Roman general?",
                "Which Roman general defeated Hannibal?")[0] != "reject"
    assert kind("Which painter was influenced by Monet?",
                "Which painter has been influenced by Monet?")[0] == "same"


def test_a_unit_that_is_also_a_function_word_counts_beside_a_number():
    assert kind("what does a cpu request of 250m mean",
                "what does a cpu request of 250 mean") == ("reject", "unit")
    assert kind("I'm 25, can I rent a car", "im 25 can I rent a car")[0] == "same"


@pytest.mark.parametrize("a,b", [
    ("restart all deployments in a namespace", "restart all deployments in every namespace"),
    ("Can I delete a message", "Can I delete all messages"),
])
def test_one_thing_against_every_thing_is_a_scope(a, b):
    assert kind(a, b) == ("reject", "scope")


def test_each_and_all_of_one_kind_stay_the_same_question():
    assert kind("How much does each ticket cost", "How much does a ticket cost")[0] == "same"
    assert kind("How do I delete all the files in a folder",
                "How do I delete every file in a folder")[0] == "same"


@pytest.mark.parametrize("a,b", [
    ("pause a kubernetes deployment rollout", "resume a kubernetes deployment rollout"),
    ("What happens to my mortgage if the central bank raises rates?",
     "What happens to my mortgage if the central bank cuts rates?"),
    ("Is an aggressive fund safe for my savings?", "Is a conservative fund safe for my savings?"),
])
def test_opposites_of_operations_and_money(a, b):
    assert kind(a, b) == ("reject", "antonym")


# -- session 17, third round (own29-own32) -------------------------------------------------
def test_a_function_word_opposite_is_counted_not_set_aside_when_it_recurs():
    """"turn [on] Wi-Fi calling on my phone": the other "on" does not hide the change."""
    assert kind("How do I turn on Wi-Fi calling on my iPhone?",
                "How do I turn off Wi-Fi calling on my iPhone?") == ("reject", "antonym")


def test_the_possessive_moved_to_the_other_name_is_a_swap():
    assert kind("Make Rachel Dev's manager in the org chart",
                "Make Dev Rachel's manager in the org chart") == ("reject", "direction")
    assert kind("What is Apple's market cap?", "what is the market cap of Apple")[0] == "same"


def test_a_hex_code_is_a_number_and_digits_are_never_a_typo():
    assert kind("What does error code 0x80070005 mean on Windows Update?",
                "What does error code 0x80070002 mean on Windows Update?") == ("reject", "number")
    assert kind("what does status code ab12cd mean", "what does status code ab13cd mean")[0] != "same"


def test_articles_do_not_hide_two_parties_exchanged():
    assert kind("Can a subtenant sue the original tenant for the deposit?",
                "Can the original tenant sue the subtenant for the deposit?") == ("reject", "direction")


@pytest.mark.parametrize("a,b", [
    ("Is a permanent employee entitled to sick pay?", "Is a temporary employee entitled to sick pay?"),
    ("Is it a good sign when a listing gets a lot of offers?",
     "Is it a good sign when a listing gets few offers?"),
])
def test_permanent_temporary_and_a_lot_few(a, b):
    assert kind(a, b) == ("reject", "antonym")


@pytest.mark.parametrize("a,b", [
    ("List the kings of Scotland", "List the Stuart kings of Scotland"),
    ("How do I apply for childcare assistance?",
     "How do I apply for childcare assistance for a child with special needs?"),
])
def test_a_weighty_qualifier_narrows_even_a_short_question(a, b):
    """Below SCOPE_MIN_WORDS a single inserted word is left to the learned verifier (QQP's
    short duplicates insert them freely), but a name or a phrase of two content words or
    more is a qualifier."""
    assert kind(a, b) == ("reject", "scope")


def test_one_plain_word_in_a_short_question_is_still_judged():
    assert kind("How do I cook rice?", "How do I cook fluffy rice?") == ("unsure", "added")
    # a colour is no plain word: it picks a kind ("brown rice" cooks otherwise)
    assert kind("How do I cook rice?", "How do I cook brown rice?") == ("reject", "scope")


# -- session 17, fourth round (own33-own36) ------------------------------------------------
@pytest.mark.parametrize("a,b", [
    ("git find commits that are in branch-a but not in branch-b",
     "git find commits that are in branch-b but not in branch-a"),
    ("Is plan b better than plan a", "Is plan a better than plan b"),
])
def test_a_letter_after_a_word_names_a_thing(a, b):
    """"branch a" is a name, not an article: an article comes before its noun."""
    assert kind(a, b) == ("reject", "direction")


def test_an_auxiliary_agreeing_with_the_other_subject_hides_no_swap():
    assert kind("Does rifampicin reduce the levels of oral contraceptives?",
                "Do oral contraceptives reduce the levels of rifampicin?") == ("reject", "direction")


def test_a_qualifier_of_several_words_before_the_shared_opening_narrows():
    assert kind("World record for the men's 100m freestyle",
                "Short course world record for the men's 100m freestyle") == ("reject", "scope")


# -- session 17, fifth round (own37-own40) -------------------------------------------------
def test_the_one_an_act_goes_to_may_follow_to():
    assert kind("Show the invoices we owe to suppliers",
                "Show the invoices suppliers owe us") == ("reject", "direction")


@pytest.mark.parametrize("a,b,why", [
    ("Customers who gained loyalty points this month",
     "Customers who lost loyalty points this month", "antonym"),
    ("What's the origin of the idiom 'kick the bucket'?",
     "What's the meaning of the idiom 'kick the bucket'?", "attribute"),
])
def test_gained_lost_and_what_is_asked_of_a_word(a, b, why):
    assert kind(a, b) == ("reject", why)


@pytest.mark.parametrize("a,b", [
    ("flights to denver", "nonstop flights to denver"),
    ("passport renewal cost", "expedited passport renewal cost"),
])
def test_a_word_put_before_a_short_query_narrows_it(a, b):
    """A qualifier before the shared opening is judged at any length: search-box queries
    are short, and QQP's duplicates do not add words there."""
    assert kind(a, b) == ("reject", "scope")


def test_chat_interjections_inside_a_long_text_are_no_qualifier():
    assert kind("Our neighbours are having a party on Saturday and invited us. We barely know "
                "them. Is it expected to bring a bottle?",
                "Our neighbours are having a party on Saturday and invited us, haha. We barely "
                "know them tbh. Is it expected to bring a bottle?")[0] == "same"


@pytest.mark.parametrize("a,b", [
    ("How do I get my flatmate to pay me back his half?", "How do I pay my flatmate back my half?"),
    ("How do I ask them to visit us less often?",
     "How do I ask them if we can visit them less often?"),
])
def test_a_causing_verb_makes_its_object_the_doer(a, b):
    """"get [my flatmate] to pay me": the flatmate pays; "pay my flatmate": I do."""
    assert kind(a, b) == ("reject", "direction")


def test_the_same_causing_request_reworded_keeps_its_roles():
    assert kind("How do I get my landlord to fix the boiler?",
                "How can I get my landlord to repair the boiler?")[0] == "same"


# -- session 17, sixth round (own41-own44) -------------------------------------------------
def test_articles_left_out_of_the_role_view_show_an_exchange():
    assert kind("Can I exchange my store credit for a gift card?",
                "Can I exchange my gift card for store credit?") == ("reject", "direction")


def test_off_peak_is_the_opposite_of_peak():
    assert kind("What are the peak hours for electricity in New York?",
                "What are the off-peak hours for electricity in New York?") == ("reject", "antonym")


# -- session 17, seventh round (own45-own48) -----------------------------------------------
def test_the_same_owner_of_another_thing_named_is_a_swap():
    assert kind("My neighbor's tree dropped branches on my car. What should I say to him?",
                "My tree dropped branches on my neighbor's car. What should I say to him?") == \
        ("reject", "direction")


def test_a_contraction_with_s_owns_nothing():
    """"what's" is "what is": no owner, so no possessive moved."""
    assert kind("What is my sister's husband's name?",
                "what's the name of my sister's husband")[0] == "same"


def test_the_one_an_act_goes_to_may_follow_on():
    assert kind("My friend cancelled on me last minute again. How should I handle it?",
                "I cancelled on my friend last minute again. How should I handle it?") == \
        ("reject", "direction")


@pytest.mark.parametrize("a,b", [
    ("Why is the Moon moving away from Earth?", "Why is the Moon moving toward Earth?"),
    ("Do I need to fill in a form when entering Singapore?",
     "Do I need to fill in a form when leaving Singapore?"),
    ("What are the import duties on a new car?", "What are the import duties on a used car?"),
    ("What should I wear to a formal dinner?", "What should I wear to a casual dinner?"),
    ("Is it okay to sit in the front row at a funeral?", "Is it okay to sit in the back row at a funeral?"),
])
def test_away_toward_entering_leaving_new_used_formal_casual_front_back(a, b):
    assert kind(a, b) == ("reject", "antonym")


# -- session 18, eighth round (own49-own52) -----------------------------------------------
def test_the_same_owner_of_one_of_two_like_things_in_a_clause_is_a_swap():
    assert kind("My neighbor's dog bit my dog, who pays the vet bill?",
                "My dog bit my neighbor's dog, who pays the vet bill?") == ("reject", "direction")
    # a clause moved to the front takes its thing along: no swap
    assert kind("In chess, can a pawn capture en passant if the opponent's pawn moved two "
                "squares on the previous turn?",
                "If the opponent's pawn moved two squares on the previous turn, can a pawn "
                "capture en passant in chess?")[0] == "same"


@pytest.mark.parametrize("a,b", [
    ("How much earnest money should I put down on a $400,000 house?",
     "How much earnest money should I put down on a $400000 house"),
    ("what is a co-signer responsible for on a lease", "what is a cosigner responsible for on a lease?"),
    ("how do I back up a data base", "how do I back up a database"),
    ("What's HR's policy on personal phones?", "Whats HRs policy on personal phones"),
])
def test_separators_hyphens_and_apostrophes_left_out_are_the_same_words(a, b):
    assert kind(a, b)[0] == "same"


def test_a_thousands_separator_is_not_a_list():
    assert kind("what is 1,2,3 in roman numerals", "what is 123 in roman numerals") == \
        ("reject", "number")


# -- session 18, ninth round (own53-own56) ------------------------------------------------
@pytest.mark.parametrize("a,b", [
    ("Do I get charged when someone sends me money from abroad?",
     "Do I get charged when I send money to someone abroad?"),
    ("What details does my landlord need to send me money?",
     "What details do I need to send my landlord money?"),
])
def test_someone_and_the_doer_of_a_wanted_act_keep_their_roles(a, b):
    assert kind(a, b) == ("reject", "direction")


def test_the_same_gift_said_with_to_or_without_is_the_same():
    assert kind("how do I send money to my son", "how do I send my son money")[0] == "same"


def test_a_letter_more_at_the_start_is_another_word_not_a_typo():
    assert kind("Draw the structural formula of ethanol",
                "Draw the structural formula of methanol")[0] != "same"
    # a slip onto the key beside the first letter still is one
    assert kind("How do I make a roux for gumbo?", "How do I nake a roux for gumbo?") == \
        ("same", "")


# -- session 18, tenth round (own57-own60) ------------------------------------------------
def test_a_person_inside_a_two_object_phrase_keeps_the_role():
    assert kind("I owe my former employer money for a training course after quitting, is "
                "that legal?",
                "My former employer owes me money for a training course after I quit, is "
                "that legal?") == ("reject", "direction")


@pytest.mark.parametrize("a,b,why", [
    ("What are the signs an interview went well?", "What are the signs an interview went badly?",
     "antonym"),
    ("tips for dropping my kid off at daycare without tears",
     "tips for picking my kid up from daycare without tears", "antonym"),
    ("Update the title of the listing for the rattan chair",
     "Update the description of the listing for the rattan chair", "attribute"),
])
def test_well_badly_drop_pick_and_a_listing_s_fields(a, b, why):
    assert kind(a, b) == ("reject", why)


# -- session 18, eleventh round (own61-own64) ---------------------------------------------
@pytest.mark.parametrize("a,b", [
    ("Can a franchisee terminate a franchise agreement early?",
     "Can a franchisor terminate a franchise agreement early?"),
    ("what does the lessee pay for repairs", "what does the lessor pay for repairs"),
])
def test_the_two_parties_told_by_their_endings_are_opposites(a, b):
    assert kind(a, b) == ("reject", "antonym")


def test_megabits_and_megabytes_per_second_differ_however_typed():
    assert kind("I pay for 100 Mbps but only get 10 Mbps, can I leave?",
                "I pay for 100 Mbps but only get 10 MBps, can I leave?") == ("reject", "unit")
    assert kind("is my speed 100 Mbps", "is my speed 100 Mb/s")[0] == "same"


@pytest.mark.parametrize("a,b,same", [
    ("How much does it cost to file for divorce in Nevada?",
     "How long does it take to file for divorce in Nevada?", False),
    ("how heavy is the human skull", "how thick is the human skull", False),
    ("How old is the Eiffel Tower?", "How tall is the Eiffel Tower?", False),
    ("how often should I water a cactus", "how much should I water a cactus", False),
    # an amount may be a weight; a noun after "how many" is counted, not the measure
    ("how much does a blue whale weigh", "how heavy is a blue whale", True),
    ("How many time zones does Russia span?",
     "Across how many different time zones does Russia stretch?", True),
])
def test_how_and_the_measure_it_asks_for(a, b, same):
    assert (kind(a, b) == ("reject", "attribute")) is not same


def test_conjuncts_with_their_own_particles_are_no_symmetric_pair():
    assert kind("do plants breathe in oxygen and breathe out carbon dioxide",
                "do plants breathe in carbon dioxide and breathe out oxygen") == \
        ("reject", "direction")
    assert kind("brown rice or white rice, which is healthier",
                "white rice or brown rice, which is healthier")[0] == "same"


# -- session 18, twelfth round (own65-own68) ----------------------------------------------
@pytest.mark.parametrize("a,b,why", [
    ("How did academic philosophy change after World War I?",
     "How did academic philosophy change after World War II?", "number"),
    ("How many centuries separate Confucius and Mencius?",
     "How many years separate Confucius and Mencius?", "unit"),
    ("What is the argument of Nozick's experience machine?",
     "What are the main objections to Nozick's experience machine?", "attribute"),
])
def test_roman_numerals_centuries_and_the_case_against(a, b, why):
    assert kind(a, b) == ("reject", why)


def test_a_roman_numeral_is_its_number_and_i_stays_a_pronoun():
    assert kind("what caused World War II", "what caused World War 2")[0] == "same"
    assert kind("Can I bring a laptop?", "Can 1 bring a laptop?")[0] != "same"


def test_the_doer_of_one_act_does_the_next_after_and():
    assert kind("A car pulled out of a driveway and hit me while I was on the main road, who's "
                "liable?",
                "I pulled out of a driveway and hit a car on the main road, who's liable?") == \
        ("reject", "direction")


# -- session 18, thirteenth round (own69-own72) -------------------------------------------
@pytest.mark.parametrize("a,b", [
    ("I'm covering my coworker's shift tomorrow, what should I ask her beforehand",
     "my coworker is covering my shift tomorrow, what should I ask her beforehand"),
    ("is it weird to give my boss a holiday gift", "is it weird for my boss to give me a holiday gift"),
    ("Is it weird to follow my employee on Instagram?",
     "Is it weird for my employee to follow me on Instagram?"),
])
def test_the_asker_implied_and_for_someone_to_act_keep_their_roles(a, b):
    assert kind(a, b) == ("reject", "direction")


def test_for_me_to_act_is_the_asker_acting():
    assert kind("is it ok for me to text my ex", "is it ok to text my ex")[0] == "same"


def test_a_minus_sign_belongs_to_its_number():
    assert kind("Can I pour a concrete footing when it's 5°C outside?",
                "Can I pour a concrete footing when it's -5°C outside?") == ("reject", "number")
    assert kind("pages 5-10", "pages 5 to 10")[0] == "same"


def test_a_rise_and_a_drop_are_opposites():
    assert kind("Which regions saw a rise in returns last month?",
                "Which regions saw a drop in returns last month?") == ("reject", "antonym")


# -- session 18, fourteenth round (own73-own76) -------------------------------------------
@pytest.mark.parametrize("a,b,why", [
    ("My maid of honor owes me $200 for the Airbnb, how do I bring it up?",
     "I owe my maid of honor $200 for the Airbnb, how do I bring it up?", "direction"),
    ("Which muscles abduct the thigh?", "Which muscles adduct the thigh?", "antonym"),
    ("How do I delete my Reddit account?",
     "How do I delete my Reddit account along with all my comments?", "scope"),
])
def test_a_name_with_of_ab_ad_and_a_phrase_hung_on_along_with(a, b, why):
    assert kind(a, b) == ("reject", why)


# -- session 18, fifteenth round (own77-own80) --------------------------------------------
@pytest.mark.parametrize("a,b", [
    ("Translate into French: 'I owe you ten euros'", "Translate into French: 'you owe me ten euros'"),
    ("How do I say 'can you lend me your pen' in Italian?",
     "How do I say 'can I lend you my pen' in Italian?"),
    ("How do I convert a cookie recipe into bars?", "How do I convert a bar recipe into cookies?"),
])
def test_you_as_a_party_and_plurals_in_their_roles(a, b):
    assert kind(a, b) == ("reject", "direction")


@pytest.mark.parametrize("a,b", [
    ("how do you say hello in French", "how do I say hello in French"),
    ("convert party photos to a slideshow", "convert parties photos into slideshows"),
])
def test_the_generic_you_and_a_plural_of_the_same_thing_change_no_role(a, b):
    assert kind(a, b)[0] == "same"


# -- session 18, sixteenth round (own81-own84) --------------------------------------------
@pytest.mark.parametrize("a,b", [
    ("Delete the temp files if the upload succeeds", "Delete the temp files unless the upload succeeds"),
    ("Run the database migration with foreign key checks",
     "Run the database migration w/o foreign key checks"),
])
def test_unless_and_w_o_are_negations(a, b):
    assert kind(a, b) == ("reject", "negation")


def test_w_o_and_w_are_without_and_with():
    assert kind("Run the migration without fk checks", "Run the migration w/o fk checks")[0] == "same"
    assert kind("coffee w/ milk calories", "coffee with milk calories")[0] == "same"


# -- session 18, seventeenth round (own85-own88) ------------------------------------------
def test_two_numbers_written_the_other_way_round_differ():
    assert kind("In Risk, what are the attacker's odds of winning a 10 vs 5 army battle?",
                "In Risk, what are the attacker's odds of winning a 5 vs 10 army battle?") == \
        ("reject", "number")
    assert kind("pages 5-10", "pages 5 to 10")[0] == "same"


def test_a_security_risk_and_a_legal_risk_are_two_aspects():
    assert kind("What's the security risk of giving my assistant my password?",
                "What's the legal risk of giving my assistant my password?") == \
        ("reject", "attribute")


@pytest.mark.parametrize("a,b", [
    ("Who were the members of the Beatles?", "list the members of the beatles"),
    ("Name the six wives of Henry VIII", "Who were the six wives of Henry VIII?"),
    ("Compare the fees of Vanguard and Fidelity index funds.",
     "How do the fees of Vanguard and Fidelity index funds compare?"),
    ("Rank the Great Lakes by size.", "How do the Great Lakes rank by size?"),
    ("How do I read a company's balance sheet?", "Teach me to read a company's balance sheet."),
])
def test_a_command_that_asks_what_the_question_asks_is_the_same(a, b):
    assert kind(a, b)[0] == "same"


@pytest.mark.parametrize("a,b", [
    # the same words, asked for a reason or a place: no command names or compares those
    ("Rank the Great Lakes by size.", "Why do the Great Lakes rank by size?"),
    ("Name the members of the Beatles", "Where were the members of the Beatles?"),
    # "compare" that is not the question's verb
    ("Compare the prices", "How do the prices compare to last year?"),
])
def test_a_command_is_not_a_question_of_another_form(a, b):
    assert kind(a, b)[0] != "same"


@pytest.mark.parametrize("a,b", [
    ("is a python list comprehension faster than a for loop",
     "is a python list comprehension more readable than a for loop"),
    ("What is the cheapest way to fly to Tokyo?", "What is the fastest way to fly to Tokyo?"),
    ("Is Rust faster than Go?", "Is Rust safer than Go?"),
])
def test_two_qualities_compared_are_two_questions(a, b):
    assert kind(a, b) == ("reject", "attribute")


@pytest.mark.parametrize("a,b", [
    # one quality said two ways, or an adjective the list does not know: not rejected
    ("What's the tallest peak in the Alps?", "What's the highest peak in the Alps?"),
    ("what is the most populous city in Africa", "what is the most populated city in Africa"),
    ("How can I make my summary sound less boring?", "How can I make my summary sound less dull?"),
    ("Is the bus cheaper than the train?", "Is the bus less expensive than the train?"),
])
def test_one_quality_compared_in_other_words_is_not_an_attribute_change(a, b):
    assert kind(a, b)[0] != "reject"


def test_all_put_before_a_noun_narrows_the_question_but_all_the_does_not():
    assert kind("when did women get the vote in the uk",
                "when did all women get the vote in the uk") == ("reject", "scope")
    assert kind("list the files in the folder", "list all the files in the folder")[0] == "same"


@pytest.mark.parametrize("a,b", [
    # two nouns around a verb of giving, one way with "to", the other with two objects
    ("can humans give a cold to dogs", "can dogs give humans a cold"),
    ("Does the bank send the statement to the customer?",
     "Does the customer send the statement to the bank?"),
    # "can you" is folded away from the key, but "you" still does the giving
    ("can you give a cold to your dog", "can your dog give you a cold"),
    ("could you give the keys to my neighbor", "could my neighbor give you the keys"),
])
def test_the_giver_and_the_one_given_to_exchanged_is_a_direction(a, b):
    assert kind(a, b) == ("reject", "direction")


@pytest.mark.parametrize("a,b", [
    ("can humans give a cold to dogs", "can humans give dogs a cold"),
    ("can you send me the report", "please send me the report"),
])
def test_one_giving_said_two_ways_is_no_direction(a, b):
    assert kind(a, b)[0] == "same"


def test_a_negation_moved_to_the_other_clause_is_a_negation_change():
    assert kind("Why can I hear the other person on Zoom but they can't hear me?",
                "Why can't I hear the other person on Zoom but they can hear me?") == \
        ("reject", "negation")
    # one word either way is the same question
    assert kind("Don't you need a visa for Japan?", "Do you not need a visa for Japan?")[0] == "same"
    assert kind("Why can't I hear them?", "Why can I not hear them?")[0] == "same"


@pytest.mark.parametrize("a,b", [
    ("Who trained under Mr. Miyagi in The Karate Kid?",
     "Who did Mr. Miyagi train under in The Karate Kid?"),
    ("what eats spiders", "what do spiders eat"),
    ("who influenced borges", "who did borges influence"),
])
def test_a_question_for_the_doer_is_not_one_for_the_done_to(a, b):
    assert kind(a, b) == ("reject", "direction")


@pytest.mark.parametrize("a,b", [
    # an indirect question keeps the direct one's order
    ("Can you tell me what goblet cells secrete?", "What do goblet cells secrete?"),
    ("Explain what MU-MIMO does on a router", "What does MU-MIMO do on a router?"),
    # both questions asked, in the other order
    ("Who influenced Borges, and whom did Borges influence?",
     "Whom did Borges influence, and who influenced Borges?"),
])
def test_an_indirect_question_or_both_questions_are_no_role_change(a, b):
    assert kind(a, b)[0] == "same"


@pytest.mark.parametrize("a,b", [
    ("What will my $800 TV be worth after 3 years of 20% yearly depreciation?",
     "What will my $800 TV be worth after 3 years of 20% yearly appreciation?"),
    ("Why did the Ku Klux Klan rise in the 1920s?", "Why did the Ku Klux Klan decline in the 1920s?"),
])
def test_growth_and_decline_are_opposites(a, b):
    assert kind(a, b) == ("reject", "antonym")


def test_side_effects_and_dosage_are_two_properties():
    assert kind("side effects of apoquel for dogs", "dosage of apoquel for dogs") == \
        ("reject", "attribute")


def test_a_verb_inflected_between_two_pronouns_keeps_who_does_it():
    assert kind("Who is at fault if I rear-end someone?",
                "Who's at fault if someone rear-ends me?") == ("reject", "direction")


@pytest.mark.parametrize("a,b", [
    # the doer of a verb after "stop"/"keep" ... is the one before them
    ("Can my ex-husband stop paying me child support if I remarry?",
     "Can I stop paying my ex-husband child support if he remarries?"),
    # "who's invited" is the one asked, "who invites" the one asking
    ("Is the person who invites supposed to pay on a first date?",
     "Is the person who's invited supposed to pay on a first date?"),
    # two parties exchanged beside one added word
    ("Does the buyer get the earnest money back if the seller backs out?",
     "Does the seller get the earnest money if the buyer backs out?"),
])
def test_roles_exchanged_through_a_catenative_a_passive_or_beside_an_added_word(a, b):
    assert kind(a, b) == ("reject", "direction")


def test_who_is_written_either_way_is_the_same_question():
    assert kind("Who's the CEO of Apple?", "Who is the CEO of Apple?")[0] == "same"


def test_the_same_words_with_a_comma_moved_are_the_same_question():
    assert kind("If Tom owes Ana $20 and Ana owes Tom $15, who owes whom?",
                "If Tom owes Ana $20, and Ana owes Tom $15 who owes whom")[0] == "same"


@pytest.mark.parametrize("a,b,why", [
    ("is the pct harder northbound", "is the pct harder southbound", "antonym"),
    ("Can I carry cash out of India?", "Can I carry cash into India?", "antonym"),
    ("What's the fine for littering in a national park?",
     "What's the jail time for littering in a national park?", "attribute"),
])
def test_bounds_out_of_and_into_and_a_fine_against_jail_time(a, b, why):
    assert kind(a, b) == ("reject", why)


def test_a_fine_is_a_penalty():
    assert kind("What's the fine for running a red light in California?",
                "What's the penalty for running a red light in California?")[0] == "same"


@pytest.mark.parametrize("a,b", [
    ("cheap flights to Paris", "cheap flights from Paris"),
    ("Tips for subletting my apartment to a student this summer",
     "Tips for subletting an apartment from a student this summer"),
    ("how to transfer microchip ownership to me from the previous owner",
     "how to transfer microchip ownership from me to the new owner"),
])
def test_a_word_moved_from_to_to_from_is_a_direction(a, b):
    assert kind(a, b) == ("reject", "direction")


def test_each_place_keeping_its_marker_is_no_direction():
    assert kind("How do I get to Paris from London", "How do I get from London to Paris")[0] == \
        "same"


@pytest.mark.parametrize("a,b,why", [
    ("Print only the unique lines of a sorted file with uniq",
     "Print only the duplicate lines of a sorted file with uniq", "antonym"),
    ("Decode a JWT in Python", "Decode and verify a JWT in Python", "scope"),
    ("Does the non-custodial parent pay the custodial parent?",
     "Does the custodial parent pay the non-custodial parent?", "direction"),
    ("What are the requirements to become the legal guardian of my niece?",
     "What are the responsibilities of being the legal guardian of my niece?", "attribute"),
])
def test_unique_and_duplicate_a_second_task_a_non_prefix_and_duties(a, b, why):
    assert kind(a, b) == ("reject", why)


@pytest.mark.parametrize("a,b", [
    ("What's the chemical symbol for silver?", "What's the chemical symbol for silver? pls and ty"),
    ("I'm hourly, non-exempt, and work in Illinois", "I'm hourly, non exempt, and work in Illinois"),
    ("is a non-profit tax exempt", "is a nonprofit tax exempt"),
])
def test_chat_abbreviations_and_a_non_prefix_written_three_ways_are_the_same(a, b):
    assert kind(a, b)[0] == "same"


@pytest.mark.parametrize("a,b,why", [
    ("Convert the Roman numeral XLIV to a number", "convert the roman numeral XLVI to a number",
     "entity"),
    ("What's the salary of a dentist in Australia?",
     "How long does it take to become a dentist in Australia?", "attribute"),
    ("How tall is the Eiffel Tower?", "What is the weight of the Eiffel Tower?", "attribute"),
    ("how to thicken gravy", "how to thin gravy", "antonym"),
    ("how do I soften butter fast", "how do I harden butter fast", "antonym"),
    ("Which team traded Wayne Gretzky in 1988?", "Which team was Wayne Gretzky traded to in 1988?",
     "direction"),
    ("Who was the letter sent to?", "Who sent the letter?", "direction"),
])
def test_roman_numerals_a_measure_against_a_property_en_verbs_and_a_stranded_recipient(a, b, why):
    assert kind(a, b) == ("reject", why)


@pytest.mark.parametrize("a,b", [
    ("How long is the Nile?", "What is the length of the Nile?"),
    ("how old is the universe", "what's the age of the universe"),
    ("How much does a dentist earn in Australia?", "What's the salary of a dentist in Australia?"),
    ("Who was Hamlet written by?", "Who wrote Hamlet?"),
    ("What is paper made from?", "What is paper made of?"),
])
def test_a_measure_that_asks_for_the_property_and_a_doer_asked_by_by_are_not_rejected(a, b):
    assert kind(a, b)[0] != "reject"


@pytest.mark.parametrize("a,b", [
    ("In which country is Machu Picchu?", "Machu Picchu is in which country?"),
    ("Is it cheaper to fly or take the train from Boston to New York?",
     "Is it cheaper to take the train or fly from Boston to New York?"),
])
def test_a_question_phrase_moved_and_two_choices_reordered_are_the_same(a, b):
    assert kind(a, b)[0] == "same"


@pytest.mark.parametrize("a,b,why", [
    ("How do I show hidden apps on my iPhone home screen?",
     "How do I hide apps on my iPhone home screen?", "antonym"),
    ("my roommate paid the whole $90 bill, how much do i owe her",
     "i paid the whole $90 bill, how much does my roommate owe me", "direction"),
])
def test_show_against_hide_and_a_pronoun_for_the_person_named_exchanged(a, b, why):
    assert kind(a, b) == ("reject", why)


@pytest.mark.parametrize("a,b", [
    ("What does a DNS server do?", "What is a DNS server for?"),
    ("What can I use Java for?", "What is Java primarily used for?"),
    ("my roommate paid the whole bill, how much do i owe her",
     "my roommate paid the whole bill, how much do i owe my roommate"),
])
def test_a_preposition_left_after_no_act_or_both_stranded_and_her_named_are_no_swap(a, b):
    assert kind(a, b)[0] != "reject"


@pytest.mark.parametrize("a,b,why", [
    ("How much does a pawn shop pay for a gold ring?",
     "How much does a pawn shop charge for a gold ring?", "antonym"),
    ("How old was Priscilla when she met Elvis?", "How old was Elvis when he met Priscilla?",
     "direction"),
    ("How do I make my lights turn off at 11pm with HomeKit?",
     "How do I make my lights turn off at 11am with HomeKit?", "number"),
])
def test_pay_against_charge_two_people_exchanged_with_their_pronouns_and_am_against_pm(a, b, why):
    assert kind(a, b) == ("reject", why)


def test_a_time_of_day_written_apart_or_in_capitals_is_the_same():
    assert kind("turn off the lights at 11pm", "turn off the lights at 11 PM")[0] == "same"


def test_what_year_and_in_what_city_ask_for_different_things():
    assert kind("What year did Jesse Owens win four gold medals?",
                "In what city did Jesse Owens win four gold medals?") == ("reject", "question")


@pytest.mark.parametrize("a,b", [
    ("What year did the Berlin Wall fall?", "When did the Berlin Wall fall?"),
    ("Which country is Machu Picchu in?", "Where is Machu Picchu?"),
])
def test_what_year_asks_when_and_which_country_asks_where(a, b):
    assert kind(a, b)[0] != "reject"


def test_victorious_against_defeated():
    assert kind("Who was victorious at the Battle of Actium?",
                "who was defeated at the Battle of Actium?") == ("reject", "antonym")


@pytest.mark.parametrize("a,b", [
    ("At what age did Pavarotti start singing?",
     "At what age did Pavarotti start singing professionally?"),
    ("Can I work from Spain for a US company?", "Can I work remotely from Spain for a US company?"),
])
def test_an_adverb_that_puts_the_act_in_one_setting_narrows(a, b):
    assert kind(a, b) == ("reject", "scope")


def test_an_adverb_of_manner_alone_is_left_to_the_verifier():
    assert kind("How do I clean my laptop keyboard?",
                "How do I clean my laptop keyboard safely?")[0] != "reject"


@pytest.mark.parametrize("a,b", [
    ("send the invoice to me", "send the invoice to them"),
    ("My friend paid for my order, can the refund go to me?",
     "I paid for my friend's order, can the refund go to them?"),
    ("Can I cancel my friend's order?", "Can my friend cancel my order?"),
    ("Who was Alexander the Great's father?", "Who was Alexander the Great the father of?"),
])
def test_a_recipient_of_another_party_an_owner_moved_and_whose_father_against_father_of(a, b):
    assert kind(a, b) == ("reject", "direction")


@pytest.mark.parametrize("a,b", [
    ("how do I say thanks to him", "how do I say thanks to her"),
    ("Which country is Paris the capital of?", "Which country's capital is Paris?"),
])
def test_him_or_her_is_one_party_and_a_question_that_owns_by_its_question_word(a, b):
    assert kind(a, b)[0] != "reject"


@pytest.mark.parametrize("a,b", [
    ("What snakes live in Florida?", "What venomous snakes live in Florida?"),
    ("Do I need a visa to visit Vietnam?", "Do I need a visa to study in Vietnam?"),
])
def test_an_adjective_that_picks_a_kind_and_another_purpose_of_a_stay_narrow(a, b):
    assert kind(a, b) == ("reject", "scope")


def test_a_third_persons_possessive_may_be_the_named_owners():
    assert kind("Before the intern leaves on Friday, remove her access to the drive",
                "Remove the intern's access to the drive before she leaves on Friday")[0] == "same"


def test_my_thing_against_her_thing_is_another_owner():
    assert kind("Draft a note to Emma asking her to cover my shifts next week",
                "Draft a note to Emma offering to cover her shifts next week") == \
        ("reject", "direction")


def test_the_sender_against_the_recipient():
    assert kind("Does the sender pay a fee for an international wire?",
                "Does the recipient pay a fee for an international wire?") == ("reject", "antonym")


@pytest.mark.parametrize("a,b,why", [
    ("Which languages are spoken in India?", "Which languages are officially recognized in India?",
     "scope"),
    ("How do I get a residence permit in Norway?",
     "How do I get a permanent residence permit in Norway?", "scope"),
    ("What items are allowed in carry-on bags under TSA rules?",
     "What items are prohibited in carry-on bags under TSA rules?", "antonym"),
    ("Which Premier League club has beaten Manchester United the most times?",
     "Which Premier League club has Manchester United beaten the most times?", "direction"),
    ("Write a text asking my roommate to pay me back for groceries",
     "Write a text telling my roommate I'll pay him back for groceries", "direction"),
])
def test_a_narrowing_word_beside_a_reworded_one_allowed_against_prohibited_and_has_x_beaten(
        a, b, why):
    assert kind(a, b) == ("reject", why)


def test_two_places_each_with_its_own_preposition_around_and_are_exchanged():
    assert kind("Is it cheaper to fly into Orlando and out of Miami?",
                "Is it cheaper to fly into Miami and out of Orlando?") == ("reject", "direction")
    assert kind("flights from Paris and from Rome to Oslo",
                "flights from Rome and from Paris to Oslo")[0] == "same"


@pytest.mark.parametrize("a,b", [
    ("In Fahrenheit, what is 25°C?", "What is 25°C in Fahrenheit?"),
    ("How many cups is 1 liter of milk?", "1 liter of milk is how many cups?"),
])
def test_the_unit_asked_for_moved_and_a_question_phrase_across_is_are_reorderings(a, b):
    assert kind(a, b)[0] == "same"


@pytest.mark.parametrize("a,b", [
    ("How many cups in a liter?", "How many liters in a cup?"),
    ("What is 25°F in Celsius?", "What is 25°C in Fahrenheit?"),
])
def test_another_unit_asked_for_is_still_a_direction(a, b):
    assert kind(a, b) == ("reject", "direction")


def test_a_region_of_the_body_narrows():
    assert kind("Stretches for back pain", "Stretches for upper back pain") == ("reject", "scope")


def test_low_light_against_bright_light():
    assert kind("Does the Canon R6 perform well in low light?",
                "Does the Canon R6 perform well in bright light?") == ("reject", "antonym")


def test_a_sunny_spot_against_a_shady_one():
    assert kind("Should I plant tomatoes or peppers in the sunny spot of my yard?",
                "Should I plant tomatoes or peppers in the shady spot of my yard?") == \
        ("reject", "antonym")


def test_two_opposites_exchanged_each_into_its_opposite():
    assert kind("how to thin out a soup that's too thick",
                "how to thicken a soup that's too thin") == ("reject", "antonym")
    assert kind("Is it better to be too hot or too cold?",
                "Is it better to be too cold or too hot?")[0] == "same"


@pytest.mark.parametrize("a,b,why", [
    ("At what price did Kering buy Gucci?", "In what year did Kering buy Gucci?", "question"),
    ("Why did Sears' sales improve after merging with Kmart?",
     "Why did Sears' sales decline after merging with Kmart?", "antonym"),
])
def test_what_price_against_what_year_and_improve_against_decline(a, b, why):
    assert kind(a, b) == ("reject", why)


@pytest.mark.parametrize("a,b", [
    # a relative clause hung on the end restricts what is asked
    ("How do I uninstall apps on my Mac?",
     "How do I uninstall apps on my Mac that came preinstalled?"),
    # a cause hung on the end, after the shared words were reordered
    ("Does travel insurance cover cancelled flights?",
     "Does travel insurance cover flights cancelled due to strikes?"),
])
def test_a_clause_or_a_cause_hung_on_the_end_narrows(a, b):
    assert kind(a, b) == ("reject", "scope")


def test_a_noun_after_a_plural_turned_modifier_asks_about_a_narrower_group():
    assert kind("What did ancient Egyptians eat?",
                "what did ancient egyptian pharaohs eat?") == ("reject", "scope")
    assert kind("What do Germans eat for breakfast?",
                "What do German shepherds eat for breakfast?") == ("reject", "scope")
    # "people" names the same group
    assert kind("Why do Indians eat with their hands?",
                "Why do Indian people eat with their hands?")[0] != "reject"


def test_two_people_of_a_story_are_two_attributes():
    assert kind("Who is the main character of The Great Gatsby?",
                "Who is the narrator of The Great Gatsby?") == ("reject", "attribute")
    # the main character is the protagonist
    assert kind("Who is the protagonist of Dune?", "Who is the main character of Dune?")[0] != \
        "reject"


@pytest.mark.parametrize("a,b", [
    ("Get the owner of a file in bash", "Get the permissions of a file in bash"),
    ("How much does renters insurance usually cost?",
     "How much does renters insurance usually cover?"),
])
def test_the_owner_against_the_permissions_and_the_cost_against_the_cover(a, b):
    assert kind(a, b) == ("reject", "attribute")


def test_official_added_alone_narrows():
    assert kind("What languages are spoken in Nigeria?",
                "What official languages are spoken in Nigeria?") == ("reject", "scope")
    assert kind("Who owns Instagram?", "Who is the owner of Instagram?")[0] != "reject"


def test_a_party_named_on_one_side_and_a_pronoun_on_the_other_do_the_act():
    assert kind("Do I get my deposit back if the landlord ends the lease early?",
                "Do I get my deposit back if I end the lease early?") == ("reject", "direction")
    # "one" is anybody, the asker too
    assert kind("How does one deal with a breakup?", "How do I deal with a breakup?")[0] != \
        "reject"


def test_a_long_condition_hung_on_the_end_narrows():
    assert kind("Can I get out of a timeshare contract?",
                "Can I get out of a timeshare contract after the rescission period has ended?") \
        == ("reject", "scope")


def test_two_parties_exchanged_around_a_verb_where_the_function_words_differ():
    assert kind("Is it rude for a host to ask guests to bring a dish?",
                "Is it rude for guests to ask the host if they can bring a dish?") == \
        ("reject", "direction")
    # a qualifier moved is no exchange
    assert kind("Best way for beginners to learn Python",
                "best way to learn Python for beginners")[0] == "same"


def test_what_a_number_counts_replaced_is_another_unit():
    assert kind("How long is a 1,500-word presentation speech in minutes?",
                "How long is a 1,500-character presentation speech in minutes?") == \
        ("reject", "unit")
    assert kind("What is a good gift for a 6 year old?",
                "What is a good gift for a 6 month old?") == ("reject", "unit")
    # a spelt number, an ordinal, a year or a number inside a name is not counted this way
    assert kind("What comes first, mathematics or physics?",
                "Which came first: mathematics or physics?")[0] != "reject"
    assert kind("What did the Civil Rights Act of 1964 ban?",
                "What did the Civil Rights Act of 1964 prohibit?")[0] != "reject"
    assert kind("Does the Dyson V15 come with a wall mount?",
                "Does the Dyson V15 include a wall mount?")[0] != "reject"


def test_a_count_after_a_marker_is_passed_over_to_the_thing_counted():
    assert kind("How do I convert my house into two flats?",
                "How do I convert two flats into one house?") == ("reject", "direction")


def test_two_particles_exchanged_around_what_stays_swap_the_roles():
    assert kind("On a narrow mountain road, does the car going down have to yield to the car "
                "going up?",
                "On a narrow mountain road, does the car going up have to yield to the car "
                "going down?") == ("reject", "direction")
    assert kind("Should I stretch before or after running?",
                "Should I stretch after or before running?")[0] == "same"
    # a marker's role ends at a clause break: "belong to: hardware, ..." names no "to" role
    assert kind("Which category does this ticket belong to: hardware, software, or access?",
                "Assign this ticket to one category, hardware, software, or access:")[0] != \
        "reject"


@pytest.mark.parametrize("a,b", [
    # a third person's possessive points back at a party, like an article
    ("Does a mother cat recognize her kittens after months apart?",
     "Do kittens recognize their mother cat after months apart?"),
    # an "-ly" adverb sits anywhere around the verb turned passive
    ("Who influenced David Bowie musically?", "Who was musically influenced by David Bowie?"),
    # a number after a name is part of it
    ("How do I transfer save data from a Switch to a Switch 2?",
     "how do I transfer save data from a Switch 2 to a Switch?"),
])
def test_roles_exchanged_behind_a_possessive_an_adverb_or_a_numbered_name(a, b):
    assert kind(a, b) == ("reject", "direction")


def test_the_one_of_two_named_things_asked_about_changed():
    given = "Take ibuprofen 400 mg every 6 hours and paracetamol 500 mg every 4 hours"
    assert kind(f"{given}: what is the dosage of ibuprofen?",
                f"{given}: what is the dosage of paracetamol?") == ("reject", "entity")
    # with the same text quoted, the tasks decide first
    quote = "'Take ibuprofen 400 mg every 6 hours and paracetamol 500 mg every 4 hours.'"
    assert kind(f"What is the dosage of ibuprofen mentioned in: {quote}",
                f"What is the dosage of paracetamol mentioned in: {quote}")[0] == "reject"


def test_simplified_against_traditional_and_keeping_against_leaving_out():
    assert kind("Summarize this email in simplified Chinese: 'Delivery of 500 units by Friday.'",
                "Summarize this email in traditional Chinese: 'Delivery of 500 units by Friday.'"
                ) == ("reject", "antonym")
    # "leave out" is one verb: excluding
    assert kind("Summarize this email, keeping the technical details: 'The TLS cert expired.'",
                "Summarize this email, leaving out the technical details: 'The TLS cert expired.'"
                )[0] == "reject"
    # "leave" alone is no opposite of "keep"
    assert kind("Is it safe to leave an electric blanket on all night?",
                "Is it safe to keep an electric blanket on all night?")[0] != "reject"


def test_what_a_count_or_a_limit_counts_replaced_is_another_unit():
    assert kind("Tell me the word count of this sentence: 'The fox jumps.'",
                "Tell me the character count of this sentence: 'The fox jumps.'") == \
        ("reject", "unit")
    assert kind("What is the character limit on Twitter?",
                "What is the word limit on Twitter?") == ("reject", "unit")


@pytest.mark.parametrize("a,b", [
    ("Do clocks go forward in the UK in March?", "Do clocks go back in the UK in March?"),
    ("Why does my oven run hotter than the set temperature?",
     "why does my oven run cooler than the set temperature?"),
])
def test_forward_against_back_and_hotter_against_cooler(a, b):
    assert kind(a, b) == ("reject", "antonym")


def test_a_name_with_its_number_hyphenated_or_not_is_one_name():
    assert kind("Can I use WD-40 on a squeaky door hinge?",
                "Can I use WD40 on a squeaky door hinge???")[0] == "same"
    assert kind("How do I convert mp3 to mp4?", "How do I convert mp4 to mp3?")[0] == "reject"


def test_share_with_marks_the_receiver_as_to_does():
    assert kind("How do I share my grocery list with my partner in Google Keep?",
                "How do I open the grocery list my partner shared with me in Google Keep?") == \
        ("reject", "direction")
    assert kind("How do I share my location with my family on iPhone?",
                "How can I share my location with my family on my iPhone?")[0] == "same"


def test_two_verbs_that_trade_their_doers():
    assert kind("The bank sent money to my account by mistake, do I have to return it?",
                "I sent money to the wrong account by mistake, does the bank have to return it?"
                ) == ("reject", "direction")
    assert kind("The store sent me the wrong item, do I have to pay for return shipping?",
                "The store sent me the wrong item, do I need to pay for return shipping?")[0] \
        != "reject"
    # a third person's pronoun may be the named party itself
    assert kind("If my roommate breaks my lamp, should she replace it?",
                "Should my roommate replace my lamp if she breaks it?")[0] != "reject"


def test_which_date_or_rate_is_asked_for_is_an_attribute():
    assert kind("What's the interest rate on unpaid IRS balances?",
                "What's the penalty rate on unpaid IRS balances?") == ("reject", "attribute")
    # a launch is a release
    assert kind("What is the launch date of the iPhone 16?",
                "What is the release date of the iPhone 16?")[0] == "same"


QUOTE = '"The annual awards dinner is at the Grand Mercure on 22 November, dress code black tie."'


def test_beside_one_quoted_text_the_tasks_decide():
    assert kind(f"Extract the event venue: {QUOTE}", f"Extract the event dress code: {QUOTE}") \
        == ("reject", "attribute")
    review = '"The food was excellent, but the service was painfully slow."'
    assert kind(f"Classify the sentiment of this review: {review}",
                f"Classify the sentiment toward the food in this review: {review}") == \
        ("reject", "scope")
    # the same task in other case and punctuation is the same request
    assert kind(f"Extract the event venue: {QUOTE}", f"extract the event venue {QUOTE}")[0] == "same"


def test_a_short_quote_or_one_inside_a_longer_statement_is_no_text_worked_on():
    from clawhost.plugins.semantic_cache.payload import tasks_of_one_quote
    assert tasks_of_one_quote('What is the perfect way to answer "Tell me about yourself"?',
                              'What should I say to "Tell me about yourself"?') is None
    assert tasks_of_one_quote(
        'Datasets can be installed with conda by running "conda install -c huggingface -c '
        'conda-forge datasets" in a terminal window.',
        'The command "conda install -c huggingface -c conda-forge datasets" can be used to '
        'install the library with conda.') is None
    # an opening that only asks to find something is no part of the task
    assert tasks_of_one_quote(f"Extract the event venue: {QUOTE}",
                              f"What's the dress code: {QUOTE}") == \
        ("the event venue:", "the dress code:")
    assert tasks_of_one_quote(f"Extract the event venue: {QUOTE}",
                              f"Extarct the event venue: {QUOTE}") == \
        ("Extract the event venue:", "Extarct the event venue:")
    assert kind(f"Pick out the event venue: {QUOTE}", f"Extract the event venue: {QUOTE}")[0] \
        == "same"


def test_other_code_in_backticks_is_another_request():
    assert kind("What does `tar -xzf backup.tgz` do?", "What does `tar -czf backup.tgz` do?") \
        == ("reject", "entity")
    # the two paths of a copy in the other order: the same words, another command
    assert kind("Explain this command: `rsync -a build/ web01:/srv/site/`",
                "Explain this command: `rsync -a web01:/srv/site/ build/`") == \
        ("reject", "entity")
    # the same code in lower case, or the same spans in another order, is the same request
    assert kind("How do I fix `ValueError: Invalid Literal` in Python?",
                "how do i fix `valueerror: invalid literal` in python")[0] == "same"
    assert kind("When should I use `map` rather than `forEach`?",
                "When should I use `map` rather than `forEach`")[0] == "same"
    from clawhost.plugins.semantic_cache.payload import code_spans
    assert code_spans("use `a  b` or `C`") == frozenset({"a b", "c"})


def test_compile_time_and_run_time_are_opposites():
    assert kind("What is the compile-time cost of C++ templates?",
                "What is the runtime cost of C++ templates?") == ("reject", "antonym")


def test_only_with_what_it_keeps_narrows_the_request():
    assert kind("Sum these amounts: rent 900, food 300, travel 120",
                "Sum these amounts for rent and food only: rent 900, food 300, travel 120") == \
        ("reject", "scope")
    assert kind("List the open issues in the repo", "List only the open issues in the repo")[0] \
        != "same"


def test_a_verb_inflected_for_the_other_subject_swaps_who_does_it():
    assert kind("Which accounts follow @nasa on this list?",
                "Which accounts @nasa follows on this list?") == ("reject", "direction")
    assert kind("Which players beat Nadal in 2010?", "Which players Nadal beats in 2010?") == \
        ("reject", "direction")
    # reordered with the verb's form kept: the same question
    assert kind("In SQL, how do I find rows that reference a deleted user?",
                "How do I find rows that reference a deleted user in SQL?")[0] == "same"


def test_the_same_verb_done_to_another_person():
    assert kind("Text my sister this: 'call me when you land'",
                "Text my sister this: 'I'll call you when you land'") == ("reject", "direction")
    assert kind("Draft a note to my neighbour: 'please wake me at seven'",
                "Draft a note to my neighbour: 'please wake him at seven'") == ("reject", "direction")
    # one side names no object: nothing to compare
    assert kind("Can you remind me to water the plants?",
                "Remind me to water the plants")[0] != "reject"
    # a generic "you", and "someone" taken up as "them", are no other person
    assert kind("Can yoga make you sleep better?", "Can yoga make me sleep better?")[0] \
        != "reject"
    assert kind("Would you hire someone who lies on a CV?",
                "Would you hire them if they lie on a CV?")[0] != "reject"
    # "them" for things, "her" before what she owns
    assert kind("Fish oil and magnesium: can my aunt take them at the same time as her "
                "blood pressure pill?", "Can my aunt take her blood pressure pill at the same "
                "time as fish oil and magnesium?")[0] != "reject"


def test_a_quote_after_the_question_mark_is_a_text_worked_on():
    note = "'Our flight lands at 9:40 and the shuttle leaves from gate B at ten.'"
    assert kind(f"What time does the flight land? {note}",
                f"Where does the shuttle leave from? {note}")[0] == "reject"
    assert kind(f"What's the mood of this message? {note}",
                f"What's the point of this message? {note}") == ("reject", "attribute")
    assert kind(f"What's the mood of this message? {note}",
                f"what's the mood of this message {note}")[0] == "same"


def test_other_comparison_operators_are_other_rules():
    assert kind("Is this alert rule right: 'expr: errors > 5'",
                "Is this alert rule right: 'expr: errors < 5'") == ("reject", "antonym")
    assert kind("Does 'status == 200' mean success here?",
                "Does 'status != 200' mean success here?") == ("reject", "negation")
    from clawhost.plugins.semantic_cache.payload import operators
    assert operators("a -> b => c <div>") == ()
    assert operators("x >= 3 and y != 2") == (">=", "!=")


def test_received_and_transmitted_are_opposites():
    assert kind("Graph the bytes received per interface", "Graph the bytes transmitted per "
                "interface") == ("reject", "antonym")


def test_two_pairs_of_opposites_traded_among_the_same_words():
    assert kind("is it a surplus if Japan buys less from Korea than it sells to Korea",
                "is it a surplus if Japan sells less to Korea than it buys from Korea") == \
        ("reject", "direction")
    # the same choice in the other order is the same question
    assert kind("Is it better to buy or to sell gold now?",
                "Is it better to sell or to buy gold now?")[0] != "reject"
    # a phrase moved across "on"/"off" or "in"/"out" is a reordering
    assert kind("How do I switch off captions on Hulu?",
                "On Hulu, how do I switch off captions?")[0] == "same"
    assert kind("Are the winters here getting warmer or colder?",
                "Are the winters here getting colder or warmer?")[0] != "reject"


def test_a_negation_moved_to_the_clause_that_left_its_auxiliary_out():
    assert kind("Why can my laptop see the network but not join it?",
                "Why can't my laptop see the network but can join it?") == ("reject", "negation")
    # within one clause it is the same question
    assert kind("Why doesn't my laptop charge?", "Why does my laptop not charge?")[0] != "reject"


def test_the_thing_asked_about_among_two_a_quoted_text_names():
    offer = "'Basic: $9/mo, 3 users, 20 GB storage'"
    assert kind(f"Given {offer}, how many users does it allow?",
                f"Given {offer}, how much storage does it allow?") == ("reject", "entity")


def test_an_act_turned_into_its_reverse_in_a_reworded_request():
    assert kind("How do I compress a whole folder of photos into one archive on Windows?",
                "How do I decompress an archive back into separate photo files on Windows?") \
        == ("reject", "direction")


def test_full_and_part_extended_and_shortened_during_and_outside():
    assert kind("Do full-time students pay council tax?",
                "Do part-time students pay council tax?") == ("reject", "antonym")
    assert kind("Was the warranty extended to two years?",
                "Was the warranty shortened to two years?") == ("reject", "antonym")
    assert kind("Is it cheap to fly during school holidays?",
                "Is it cheap to fly outside school holidays?") == ("reject", "antonym")


def test_a_quoted_text_that_reads_as_code_is_compared_exactly():
    assert kind("Explain this command: 'rsync -av src/ backup@nas:/vol1/'",
                "Explain this command: 'rsync -avn src/ backup@nas:/vol1/'") == ("reject", "entity")
    assert kind("What does this rule allow: 'allow tcp 10.0.0.0 0.0.0.255 any eq 22'",
                "What does this rule allow: 'allow tcp any 10.0.0.0 0.0.0.255 eq 22'") == \
        ("reject", "entity")
    # the same code in other case, or a quote that reads as prose, is no code to compare
    assert kind("Explain this command: 'rsync -av src/ backup@nas:/vol1/'",
                "EXPLAIN THIS COMMAND: 'RSYNC -AV SRC/ BACKUP@NAS:/VOL1/'")[0] == "same"
    from clawhost.plugins.semantic_cache.payload import code_spans
    assert code_spans("Summarize: 'The meeting moved to Friday.'") == frozenset()


def test_the_fix_of_an_error_is_another_attribute_than_its_cause():
    assert kind("What's the cause of this printer error: 'Paper jam in tray 2'",
                "What's the fix for this printer error: 'Paper jam in tray 2'") == \
        ("reject", "attribute")


def test_of_my_after_the_question_word_narrows_to_mine():
    assert kind("Which invoices are overdue?", "Which of my invoices are overdue?") == \
        ("reject", "scope")
    assert kind("How many meetings are on Monday?", "How many of our meetings are on Monday?") \
        == ("reject", "scope")


def test_which_date_a_longer_modifier_names():
    assert kind("When is the launch date of Ubuntu 24.04?",
                "When is the end-of-support date of Ubuntu 24.04?") == ("reject", "attribute")
    # a verb before a plural is no modifier: "cast dates" / "convert dates"
    assert kind("The option is used to cast dates to strings.",
                "The option serves to convert dates into strings.")[0] != "reject"


def test_severity_added_and_growing_against_shrinking():
    assert kind("what are the symptoms of anemia in teens",
                "what are the symptoms of severe anemia in teens") == ("reject", "scope")
    assert kind("Pitch our tool to a growing agency.", "Pitch our tool to a shrinking agency.") \
        == ("reject", "antonym")


def test_previous_against_next_and_opposites_in_the_past_tense():
    assert kind("pandas: fill missing values with the previous row's value",
                "pandas: fill missing values with the next row's value") == ("reject", "antonym")
    # the stemmer folds no irregular past ("rose", "fell"): they are listed
    assert kind('Summarize this sales update: "Sales in the northern region rose sharply in '
                'the third quarter."',
                'Summarize this sales update: "Sales in the northern region fell sharply in '
                'the third quarter."') == ("reject", "antonym")
    assert kind("Why was the market down when rates rose?",
                "Why was the market down when rates fell?") == ("reject", "antonym")


def test_a_phrase_hung_on_with_inside_using_or_via_narrows():
    assert kind("How to handle errors in JavaScript promises",
                "how to handle errors in javascript promises inside Promise.all") == \
        ("reject", "scope")
    assert kind("how do I parse JSON in bash", "how do I parse JSON in bash using jq") == \
        ("reject", "scope")
    # a filler hung on is no qualifier
    assert kind("How do I keep basil alive indoors?",
                "how do I keep basil alive indoors, thanks")[0] == "same"


def test_a_colour_added_picks_a_kind():
    assert kind("what does a panda eat", "what does a red panda eat") == ("reject", "scope")
    assert kind("how long do I cook rice", "how long do I cook brown rice") == ("reject", "scope")



def test_a_call_written_out_is_compared_exactly():
    given = "P(A) = 0.4, P(B) = 0.5 and P(A and B) = 0.2."
    assert kind(f"{given} Find P(A|B).", f"{given} Find P(B|A).") == ("reject", "entity")
    assert kind("what is log(2, 8)", "what is log(8, 2)") == ("reject", "entity")
    # spacing and case are no other call
    assert kind("what is the derivative of f(x) = x^2", "What's the derivative of F(x)=x^2?")[0] \
        == "same"


def test_more_opposites_and_the_aspects_of_a_study_or_a_text():
    assert kind("Why does a hot air balloon rise?", "Why does a hot air balloon descend?") == \
        ("reject", "antonym")
    assert kind("Summarize the evidence that supports the Out of Africa hypothesis.",
                "Summarize the evidence that contradicts the Out of Africa hypothesis.") == \
        ("reject", "antonym")
    tote = "A sturdy canvas tote with a zippered inner pocket and reinforced handles."
    assert kind(f"Expand this product description: {tote}",
                f"Shorten this product description: {tote}") == ("reject", "antonym")
    study = "We surveyed 1,200 nurses across 40 hospitals about shift length and burnout."
    assert kind(f"Summarize the methodology of this study: {study}",
                f"Summarize the limitations of this study: {study}") == ("reject", "attribute")
    email = "As I mentioned yesterday, the link works fine on my end."
    assert kind(f"Check the tone of this email: {email}",
                f"Check the grammar of this email: {email}") == ("reject", "attribute")


def test_whose_thing_an_added_adjective_picks():
    assert kind("Can my employer read my emails?", "Can my employer read my personal emails?") \
        == ("reject", "scope")
    assert kind("Do I need a passport for flights?", "Do I need a passport for domestic flights?") \
        == ("reject", "scope")


def test_a_noun_after_the_question_words_noun_makes_it_a_modifier():
    assert kind("What symbols are associated with the goddess Athena?",
                "What animal symbols are associated with the goddess Athena?") == \
        ("reject", "scope")
    # the question word's own noun still asks what the bare question word asks
    assert kind("Which city is the capital of Italy?", "what is the capital of italy")[0] != \
        "reject"


def test_the_askers_act_done_by_the_party_it_was_for():
    assert kind("What happens to my credit if I co-sign a loan for my brother?",
                "What happens to my credit if my brother co-signs a loan for me?") == \
        ("reject", "direction")
    # the asker in a role of their own ("as a teenager") or a noun phrase before a verb
    # form ("my English speaking") is no other party
    assert kind("How can a teenager gain some weight?",
                "How do I gain weight as a teenager?")[0] != "reject"
    assert kind("How do I improve my English speaking?",
                "How do I speak English fluently?")[0] != "reject"
    # an "-ly" adverb after a noun is no act that noun does
    assert kind("how do I remove pet hair from my couch quickly",
                "how do I quickly remove pet hair from my couch")[0] == "same"


def test_an_identifiers_underscores_join_it():
    assert kind("Write a query to copy all rows from orders_archive into orders.",
                "Write a query to copy all rows from orders into orders_archive.") == \
        ("reject", "direction")
    from clawhost.plugins.semantic_cache.question import parse
    assert "snake_case" in parse("snake_case or camelCase for python names?").words


def test_an_object_put_before_the_verb_with_its_preposition_stranded():
    assert kind("Write a query that shows which teams owe cloud cost credits to the platform team.",
                "Write a query that shows which teams the platform team owes cloud cost credits to.") \
        == ("reject", "direction")
    # the question word as the stranded preposition's object asks the same
    assert kind("Who do I send the expense report to?",
                "To whom do I send the expense report?")[0] == "same"
    # the object given the same preposition on both sides is a reordering
    assert kind("what houseplants are safe for cats and easy to care for",
                "what houseplants are easy to care for and safe for cats")[0] == "same"


def test_what_a_setting_costs_in_durability_against_performance():
    assert kind("What's the durability impact of turning synchronous_commit off?",
                "What's the performance impact of turning synchronous_commit off?") == \
        ("reject", "attribute")


def test_forbidding_against_requiring():
    assert kind("Write a custom lint rule that forbids default exports",
                "Write a custom lint rule that requires default exports") == ("reject", "antonym")
    assert kind("Are helmets prohibited on the ride?", "Are helmets required on the ride?") == \
        ("reject", "antonym")


def test_tiny_against_huge_and_how_a_food_was_made_or_kept():
    assert kind("Why is my ice maker making tiny cubes?", "Why is my ice maker making huge cubes?") \
        == ("reject", "antonym")
    assert kind("Do I need to refrigerate hot sauce?",
                "Do I need to refrigerate homemade hot sauce?") == ("reject", "scope")
    assert kind("how long do I boil peas", "how long do I boil frozen peas") == ("reject", "scope")


def test_a_property_named_against_the_thing_itself():
    word = "the English word 'salary'"
    assert kind(f"What's the etymology of {word}?", f"What's the definition of {word}?") == \
        ("reject", "attribute")
    assert kind("what are the symptoms of flu", "what is flu") == ("reject", "attribute")
    # the meaning of a thing is the thing itself
    assert kind("What is the meaning of specific gravity?", "What is specific gravity?")[0] != \
        "reject"
    phrase = "the Korean phrase '수고하셨습니다'"
    assert kind(f"What's the literal meaning of {phrase}?",
                f"What's the proper usage of {phrase}?") == ("reject", "attribute")


def test_landing_against_taking_off():
    assert kind("Which side of the plane should I sit on for the best view landing in Rio?",
                "Which side of the plane should I sit on for the best view taking off from Rio?") \
        == ("reject", "antonym")


def test_she_is_covering_for_him_against_he_is_covering_for_her():
    assert kind("Let Priscilla know she's covering for Anton on Monday.",
                "Let Priscilla know Anton is covering for her on Monday.") == ("reject", "direction")
    from clawhost.plugins.semantic_cache.question import parse
    assert parse("she's late").words == ["she", "is", "late"]


def test_morning_against_evening():
    assert kind("Find a time in the morning for the Krakow and Denver folks.",
                "Find a time in the evening for the Krakow and Denver folks.") == \
        ("reject", "antonym")


def test_whose_n_a_person_is_against_that_persons_n():
    assert kind("Who was Mary Shelley's mother?", "Whose mother was Mary Shelley?") == \
        ("reject", "direction")


def test_from_whom_against_who_with_the_same_verb():
    assert kind("Who inherited the Russian throne from Peter the Great?",
                "From whom did Peter the Great inherit the Russian throne?") == \
        ("reject", "direction")


def test_a_value_some_years_ago_against_in_some_years():
    assert kind("A car worth $30,000 loses 15% a year. What will it be worth in 3 years?",
                "A car loses 15% a year and is worth $30,000 now. What was it worth 3 years ago?") \
        == ("reject", "direction")
    # weeks after a past event are weeks ago: no other time
    assert kind("Why is my husband still coughing three weeks after his pneumonia treatment?",
                "My husband finished pneumonia treatment three weeks ago but the cough hasn't "
                "gone away, why?")[0] != "reject"


def test_lent_against_borrowed_limited_against_expanded_rejected_against_confirmed():
    assert kind("my daughter lent her friend £2 and the friend paid back 50p, how much does the "
                "friend still owe her",
                "my daughter borrowed £2 from her friend and paid back 50p, how much does she "
                "still owe her friend") == ("reject", "antonym")
    assert kind("What post-Watergate laws limited presidential power?",
                "What post-Watergate laws expanded presidential power?") == ("reject", "antonym")
    assert kind("Why did the Senate reject Robert Bork?",
                "Why did the Senate confirm Robert Bork?") == ("reject", "antonym")


def test_a_relative_clause_without_its_pronoun_turns_the_roles():
    assert kind("List the people who report to Jessica Moore.",
                "List the people Jessica Moore reports to.") == ("reject", "direction")
    assert kind("Find the vendors that sell to Acme.", "Find the vendors Acme sells to.") == \
        ("reject", "direction")
    # the pronoun dropped, the roles kept
    assert kind("List the people who report to Jessica Moore.",
                "list the people that report to jessica moore")[0] == "same"


def test_approving_against_denying_and_a_roles_qualifications_against_its_duties():
    assert kind("What are the rules for approving a leave extension?",
                "What are the rules for denying a leave extension?") == ("reject", "antonym")
    assert kind("Describe the responsibilities of the Staff Data Scientist role.",
                "Describe the qualifications required for the Staff Data Scientist role.") == \
        ("reject", "attribute")


def test_a_phrase_hung_after_the_function_words_both_texts_end_with():
    assert kind("What jobs can a 14 year old do?",
                "What jobs can a 14 year old do during term time?") == ("reject", "scope")
    assert kind("Check the recipients of the 'Price change' announcement.",
                "Check the attachments of the 'Price change' announcement.") == \
        ("reject", "attribute")


def test_renting_out_against_renting():
    assert kind("How do you say 'I'm renting out my apartment' in Dutch?",
                "How do you say 'I'm renting an apartment' in Dutch?") == ("reject", "direction")
    assert kind("How do I lease out farmland?", "How do I lease farmland?") == \
        ("reject", "direction")
    # "out" after the object gives the flat out all the same; "out of" is a place
    assert kind("Can I rent out my flat on Airbnb?", "can i rent my flat out on airbnb")[0] == \
        "same"
    from clawhost.plugins.semantic_cache.question import parse
    from clawhost.plugins.semantic_cache.swaps import letting_turned
    assert not letting_turned(parse("can I rent a car out of town"), parse("can I rent a car"))


def test_which_implications_a_change_has():
    assert kind("What are the tax implications of converting my home into a rental?",
                "what are the insurance implications of converting my home into a rental?") == \
        ("reject", "attribute")


def test_broadest_against_narrowest():
    assert kind("Which roles have the broadest permissions in our AWS org?",
                "Which roles have the narrowest permissions in our AWS org?") == \
        ("reject", "antonym")


def test_a_question_of_the_past_against_the_same_of_the_future():
    assert kind("who won the ballon d'or", "who will win the ballon d'or") == ("reject", "tense")
    assert kind("when did the store open", "when will the store open") == ("reject", "tense")
    assert kind("which team played in the final", "which team is going to play in the final") \
        == ("reject", "tense")
    assert kind("who'll win the election", "who won the election") == ("reject", "tense")
    # supposing in either tense, a will (the document), "will" on both sides: no tense turned
    assert kind("What will you do if you found out that your boyfriend is still in love with "
                "his ex?", "What would you do if you found out that your boyfriend was still "
                "in love with his ex?")[0] != "reject"
    assert kind("how do I write a will", "how do I write my will")[0] == "same"
    assert kind("What will happen if Pakistan is declared a terrorist state?",
                "What will happen to Pakistan if it is declared a terrorist state?")[0] != \
        "reject"


def test_an_irregular_past_form_is_its_verb_among_synonyms():
    assert kind("who bought chelsea fc in 2022", "who purchased chelsea fc in 2022")[0] == "same"
    assert kind("Who began the Protestant Reformation?",
                "Who started the Protestant Reformation?")[0] == "same"
    # and still not its opposite
    assert kind("who bought chelsea fc in 2022", "who sold chelsea fc in 2022") == \
        ("reject", "antonym")


def test_a_phrase_put_in_after_a_shared_word_or_a_part_named():
    assert kind("What are my rights if a used car breaks down soon after I buy it?",
                "What are my rights if a used car I bought from a private seller breaks down "
                "soon after?") == ("reject", "scope")
    assert kind("how do i groom a schnauzer at home", "how do i groom a schnauzer's face at home") \
        == ("reject", "scope")
    # one word put in is left to the learned verifier
    assert kind("Who is the most important person in your life?",
                "Who is the most important person in yours life?")[0] != "reject"


def test_a_possessive_traded_with_an_article():
    assert kind("what to do if a big dog attacks my small dog",
                "what to do if my big dog attacks a small dog") == ("reject", "direction")
    assert kind("Explain Foucault's idea of the panopticon",
                "Explain Foucault's concept of the panopticon")[0] != "reject"


def test_two_clauses_that_trade_their_doers():
    a = ("i paid 340 euros for the airbnb and my friend paid 120 for the car, how much does she "
         "owe me")
    assert kind(a, "i paid 120 euros for the car and my friend paid 340 for the airbnb, how much "
                   "does she owe me") == ("reject", "direction")
    # the same clauses in the other order
    assert kind(a, "my friend paid 120 for the car and i paid 340 euros for the airbnb, how much "
                   "does she owe me")[0] == "same"


def test_a_month_beside_a_day_is_part_of_the_date_may_too():
    assert kind("List all home claims filed between 1 March and 31 March 2024.",
                "List all home claims filed between 1 March and 31 May 2024.") == \
        ("reject", "number")
    assert kind("what's due on the 2nd of may", "what's due on the 2nd of june") == \
        ("reject", "number")
    from clawhost.plugins.semantic_cache.question import parse
    assert parse("due Sept 3").numbers == parse("due September 3").numbers
    assert not [n for n in parse("may I plant tomatoes in march").numbers if "month" in n]
    # a misspelt month is the same date
    assert kind("Calculate the final paycheck for Ingrid Larsen, last day November 30.",
                "Calculate the final paychek for Ingrid Larsen, last day Novmber 30.")[0] == \
        "same"


def test_a_phrase_hung_on_with_away_from():
    assert kind("Does the homeowner policy cover theft?",
                "Does the homeowner policy cover theft away from the home?") == ("reject", "scope")


def test_several_pairs_exchanged_and_nothing_else():
    assert kind("Convert a right-to-left Arabic layout to left-to-right for the English version: "
                "what CSS changes are needed?",
                "Convert a left-to-right English layout to right-to-left for the Arabic version: "
                "what CSS changes are needed?") == ("reject", "direction")
    # pairs joined by "and" are lists in another order
    assert kind("compare python and java for web and mobile",
                "compare java and python for mobile and web")[0] == "same"
    # two stretches moved past each other: a reordering
    assert kind("After Mao died, who led China?", "Who led China after Mao died?")[0] != \
        "reject"


def test_success_against_failure_benefits_against_harms_and_a_tests_two_rates():
    assert kind("Translate 'Login successful' into Polish.",
                "Translate 'Login failed' into Polish.") == ("reject", "antonym")
    assert kind("What are the documented benefits of HIIT for older adults?",
                "What are the documented harms of HIIT for older adults?") == ("reject", "antonym")
    assert kind("What is the sensitivity of HPV testing in the FOCAL trial?",
                "What is the specificity of HPV testing in the FOCAL trial?") == \
        ("reject", "attribute")
    assert kind("what goes in a bloody mary", "what goes in a virgin bloody mary") == \
        ("reject", "scope")
    assert kind("What's the expiry date of the code-signing cert used in the release job?",
                "What's the issuer of the code-signing cert used in the release job?") == \
        ("reject", "attribute")


def test_the_asker_doing_to_a_thing_of_theirs_what_it_did_to_them():
    assert kind("my mother-in-law doesn't like me, how do i handle it",
                "i don't like my mother-in-law, how do i handle it") == ("reject", "direction")
    assert kind("my best friend has a crush on me, what do i do",
                "i have a crush on my best friend, what do i do??") == ("reject", "direction")
    # the same clauses in another order
    assert kind("how do I tell my boss I'm quitting", "I'm quitting, how do I tell my boss")[0] \
        == "same"


def test_mitigating_against_aggravating_and_starting_against_leaving():
    assert kind("Summarize the mitigating factors in the sentencing of Tyler Reese.",
                "Summarize the aggravating factors in the sentencing of Tyler Reese.") == \
        ("reject", "antonym")
    assert kind("what to write in a card for a coworker who is starting a new job",
                "what to write in a card for a coworker who is leaving a job") == \
        ("reject", "antonym")


def test_a_possessive_name_is_a_name():
    assert kind("What was Microsoft's revenue in 2020?", "What was Google's revenue in 2020?") \
        == ("reject", "entity")
    assert kind("Notify Dad's phone when the garage opens",
                "Notify Mom's phone when the garage opens") == ("reject", "entity")


def test_what_one_text_waits_for_the_other_does():
    assert kind("When the back door opens, turn on the garden light",
                "When the garden light turns on, open the back door") == ("reject", "direction")
    # the condition put after its act keeps it
    assert kind("When the back door opens, turn on the garden light",
                "turn on the garden light when the back door opens")[0] == "same"


def test_a_scale_written_as_its_letter_after_degrees():
    assert kind("its around 10 degrees c there in winter, what should i bring",
                "its around 10 degrees f there in winter, what should i bring") == \
        ("reject", "unit")
    assert kind("is 30 degrees c hot", "is 30 degrees celsius hot")[0] == "same"


def test_who_joins_whom_turned_around_the_asker():
    assert kind("we're moving my mother-in-law in with us, what should we plan for",
                "we're moving in with my mother-in-law, what should we plan for") == \
        ("reject", "direction")
    assert kind("can my sister stay with us for a month",
                "can we stay with my sister for a month") == ("reject", "direction")
    # "with" naming the same party on both sides, or the asker on both, moves nothing
    assert kind("is it ok to travel with my dog on a plane",
                "is it ok to travel on a plane with my dog")[0] == "same"
    assert kind("can you help me with my taxes", "help me with my taxes please")[0] == "same"


# -- session 25, second round (own335-own338) ----------------------------------------------
def test_a_misspelt_negation_against_none_is_a_negation():
    assert kind("Format the totals with a thousands separator",
                "Format the totals wihtout a thousands separator") == ("reject", "negation")
    # against the negation spelt right it is a typo; a short word is read as a negation only
    # against one spelt right ("cast" is no "cant")
    assert kind("Format the totals without a thousands separator",
                "Format the totals wihtout a thousands separator")[0] == "same"
    assert kind("why do my orchids never bloom", "why do my orchids nevr bloom")[0] == "same"
    assert kind("The option is used to cast dates to strings.",
                "The option serves to convert dates into strings.")[0] != "reject"
    # a misspelling of the other side's own word is that word ("withold" / "withhold")
    assert kind("Can I withhold rent until repairs are done?",
                "Can I withold rent until repairs are done?")[0] == "same"


def test_a_condition_clause_moved_whole_without_a_comma_is_a_reordering():
    assert kind("when the ball hits the net on a serve in volleyball is it a fault",
                "is it a fault in volleyball when the ball hits the net on a serve")[0] == "same"
    # the clause's own things exchanged stay a swap
    assert kind("when the ball hits the net is it a fault",
                "when the net hits the ball is it a fault") == ("reject", "direction")


def test_an_act_done_by_the_party_of_the_other_act():
    assert kind("Can a landlord back out of a signed lease before the tenant moves in?",
                "Can a tenant back out of a signed lease before moving in?") == \
        ("reject", "direction")
    # a doer misspelt is the same doer
    assert kind("Can I get a refund on a train ticket if the train was delayed by an hour?",
                "Can I get a refnd on a train ticket if the tran was delayed by an hour?")[0] \
        == "same"


def test_the_state_a_thing_is_in_and_a_head_noun_hung_on_the_end_narrow_it():
    assert kind("Can I exchange shoes?", "Can I exchange worn shoes?") == ("reject", "scope")
    assert kind("What are the rules for capitalizing titles in German?",
                "What are the rules for capitalizing titles in German legal documents?") == \
        ("reject", "scope")
    assert kind("how to store homemade bread", "how to store homemade bread long term") == \
        ("reject", "scope")
    # a tail after a clause break is a filler, and one a preposition opens is read elsewhere
    assert kind("How do I store homemade bread?", "How do I store homemade bread? pls help")[0] \
        != "reject"
    assert kind("What is the scope of mechanical engineering around world?",
                "What is the scope of Mechanical Engineering?")[0] != "reject"


# -- session 25, third round (own339-own342) -----------------------------------------------
def test_two_acts_exchanged_around_after_with_their_verbs_inflected():
    assert kind("Can I give blood after getting a tattoo?",
                "Can I get a tattoo after giving blood?") == ("reject", "direction")


def test_how_much_against_how_long_and_staying_against_leaving():
    assert kind("What is the refund timeline for a cancelled Eurostar ticket?",
                "What is the refund amount for a cancelled Eurostar ticket?") == \
        ("reject", "attribute")
    assert kind("What is the refund timeline for a cancelled Eurostar ticket?",
                "What is the refund timeframe for a cancelled Eurostar ticket?")[0] == "same"
    assert kind("top reasons employees stay at a company",
                "top reasons employees leave a company") == ("reject", "antonym")


# -- session 25, fourth round (own343-own346) ----------------------------------------------
def test_one_kind_of_a_thing_for_another():
    assert kind("vegetarian pad thai recipe", "vegan pad thai recipe") == ("reject", "scope")
    assert kind("how long to cook brown rice", "how long to cook white rice") == \
        ("reject", "scope")


# -- session 25, fifth round (own347-own350) -----------------------------------------------
def test_two_things_exchanged_with_one_of_them_reworded():
    assert kind("How do I introduce a new puppy to my resident cat?",
                "How do I introduce a new cat to my resident dog?") == ("reject", "direction")
    # the synonym in the same place is a rewording
    assert kind("How do I introduce a new puppy to my resident cat?",
                "How do I introduce a new dog to my resident cat?")[0] == "same"


# -- session 25, sixth round (own351-own354) -----------------------------------------------
def test_two_parties_exchanged_with_the_act_said_from_the_other_side():
    assert kind("Write a post where the bakery thanks the farm for supplying its flour",
                "Write a post where the farm thanks the bakery for buying its flour") == \
        ("reject", "direction")
    # a word reworded inside what moved is a rewording around it
    assert kind("The function to apply data augmentations to a dataset is `set_transform()`.",
                "The `set_transform()` is used to apply data augmentations to a dataset.")[0] \
        != "reject"


def test_strict_loose_fixed_variable_and_an_exclusion_said_as_a_verb():
    assert kind("Make the limitation of liability clause stricter for the supplier.",
                "Make the limitation of liability clause looser for the supplier.") == \
        ("reject", "antonym")
    assert kind("Add a clause making the interest rate on the loan fixed.",
                "Add a clause making the interest rate on the loan variable.") == \
        ("reject", "antonym")
    assert kind("Draft a delivery clause where deadlines count weekends and public holidays.",
                "Draft a delivery clause where deadlines exclude weekends and public "
                "holidays.") == ("reject", "antonym")
    # leaving a thing out said two ways is no opposite
    assert kind("how do I exclude a folder from git", "how do I ignore a folder in git")[0] \
        != "reject"


def test_what_came_of_a_thing_and_a_property_put_before_a_noun():
    assert kind("What were the causes of the Seven Years' War?",
                "What were the consequences of the Seven Years' War?") == \
        ("reject", "attribute")
    assert kind("What were the effects of the Seven Years' War?",
                "What were the consequences of the Seven Years' War?")[0] == "same"
    assert kind("What warranties should a SaaS vendor give?",
                "What security warranties should a SaaS vendor give?") == ("reject", "scope")
    assert kind("What does having sex for the first time feel like?",
                "What does having sex for the first feel like?")[0] != "reject"


# -- session 25, seventh round (own355-own358) ---------------------------------------------
def test_a_letter_named_for_another_and_serious_against_lighthearted():
    assert kind("Export all open POs for Supplier A to a spreadsheet.",
                "Export all open POs for Supplier B to a spreadsheet.") == ("reject", "entity")
    assert kind("benefits of vitamin C", "benefits of vitamin D") == ("reject", "entity")
    assert kind("Rewrite the charity gala headline to sound more serious.",
                "Rewrite the charity gala headline to sound more lighthearted.") == \
        ("reject", "antonym")


# -- session 25, eighth round (own359-own362) ----------------------------------------------
def test_how_much_of_it_most_against_fewest_and_who_did_it_against_who_underwent_it():
    assert kind("Which expenses on this invoice are deductible?",
                "Which expenses on this invoice are fully deductible?") == ("reject", "scope")
    assert kind("Which pods have the most restarts in the queue-workers deployment?",
                "Which pods have the fewest restarts in the queue-workers deployment?") == \
        ("reject", "antonym")
    assert kind("On a date, should the person who did the inviting pay?",
                "On a date, should the person who was invited pay?") == ("reject", "direction")
    # "got invited" is "was invited"
    assert kind("who was invited to the Yalta conference",
                "who got invited to the Yalta conference")[0] == "same"


# -- session 25, ninth round (own363-own366) -----------------------------------------------
def test_the_doer_named_by_by_turned_into_the_one_done_to_and_drop_against_grow():
    assert kind("songs sampled by Daft Punk", "songs that sample Daft Punk") == \
        ("reject", "direction")
    # the name before the verb stays its doer; "by" after a noun is a means
    assert kind("songs sampled by Daft Punk", "songs Daft Punk sampled")[0] == "same"
    assert kind("How can I earn money by a website?",
                "How can I earn money through a website?")[0] != "reject"
    assert kind("why did cd sales drop so fast", "why did cd sales grow so fast") == \
        ("reject", "antonym")


# -- session 26, first round (own367-own370) -----------------------------------------------
def test_a_loan_term_a_token_scope_and_a_label_are_properties_of_their_own():
    assert kind("What's the maximum loan amount for a Discover personal loan?",
                "What's the maximum repayment term for a Discover personal loan?") == \
        ("reject", "attribute")
    assert kind("Check the expiry date of the deploy token for the staging cluster.",
                "Check the scopes of the deploy token for the staging cluster.") == \
        ("reject", "attribute")
    assert kind("List the titles of the open pull requests for the mobile repo.",
                "List the labels of the open pull requests for the mobile repo.") == \
        ("reject", "attribute")
    # a loan's term is how long it runs
    assert kind("What is the loan term?", "How long is the loan?")[0] != "reject"


def test_an_identifier_for_another_is_an_entity_and_a_slip_inside_one_a_typo():
    assert kind("Copy the products table from the shop_eu database to the shop_test database.",
                "Copy the products table from the shop_us database to the shop_test database.") \
        == ("reject", "entity")
    assert kind("Drop the user_sessions table", "Drop the user_sesions table")[0] == "same"
    # the letters of a hyphened id name it: "JX-3310" / "JK-3310" are two employees
    assert kind("Which manager approved the overtime for employee JX-3310?",
                "Which manager approved the overtime for employee JK-3310?") == \
        ("reject", "entity")


# -- session 26, third round (own375-own378) -----------------------------------------------
def test_a_code_with_digits_is_never_misspelt_and_a_misspelt_opposite_is_one():
    assert kind("Can I change my booking reference AB12CD to a later flight?",
                "Can I change my booking reference AB12CE to a later flight?") == \
        ("reject", "entity")
    assert kind("aprove the discount request on quote Q-3321",
                "reject the discount request on quote Q-3321") == ("reject", "antonym")
    # misspelt against itself it is the same request
    assert kind("approve the discount request on quote Q-3321",
                "aprove the discount request on quote Q-3321")[0] == "same"


# -- session 26, fourth round (own379-own382) ----------------------------------------------
def test_a_possessive_without_its_apostrophe_a_dotted_user_and_a_status():
    # "neighbors dog" tells two dogs apart as "neighbor's dog" does
    assert kind("my neighbors dog bit my dog, what should i do",
                "my dog bit my neighbors dog, what should i do") == ("reject", "direction")
    assert kind("my neighbors dog bit my dog", "my neighbor's dog bit my dog")[0] == "same"
    assert kind("Give user maria.lopez read access to the billing console.",
                "Give user daria.lopez read access to the billing console.") == \
        ("reject", "entity")
    assert kind("What's the refund amount on TCK-44837?",
                "What's the refund status on TCK-44837?") == ("reject", "attribute")


# -- session 26, fifth round (own383-own386) -----------------------------------------------
def test_a_rating_is_a_property_of_its_own():
    assert kind("What is the average price of listings in the airbnb_nyc sheet?",
                "What is the average rating of listings in the airbnb_nyc sheet?") == \
        ("reject", "attribute")


# -- session 26, sixth round (own387-own390) -----------------------------------------------
@pytest.mark.parametrize("a,b", [
    ("Which vendors did we overpay in 2023?", "Which vendors overpaid us in 2023?"),
    ("Who did we pay last month?", "Who paid us last month?"),
    ("who did i email yesterday", "who emailed me yesterday"),
])
def test_the_question_word_done_to_by_a_pronoun_or_doing_it_to_the_pronoun(a, b):
    assert kind(a, b) == ("reject", "direction")


def test_the_pronoun_kept_in_its_role_is_one_question_and_a_threshold_a_property():
    assert kind("Which vendors did we pay in 2023?",
                "Which vendors have we paid in 2023?")[0] != "reject"
    assert kind("What is the overtime rate for hourly workers in Oregon?",
                "What is the overtime threshold for hourly workers in Oregon?") == \
        ("reject", "attribute")


# -- session 26, seventh round (own391-own394) ---------------------------------------------
def test_mine_against_all_in_a_command_an_id_blocked_by_another_and_a_reviewer():
    assert kind("Delete the comments on SPAM-3.", "Delete my comments on SPAM-3.") == \
        ("reject", "scope")
    # one thing, or a question: the asker's is the one meant
    assert kind("Cancel the subscription", "Cancel my subscription")[0] == "same"
    assert kind("How do I reset the password?", "How do I reset my password?")[0] == "same"
    assert kind("Link CX-300 as blocking CX-301.", "Link CX-300 as blocked by CX-301.") == \
        ("reject", "direction")
    assert kind("change the reviewer of CODE-61 to Ilse",
                "change the assignee of CODE-61 to Ilse") == ("reject", "attribute")


# -- session 26, eighth round (own395-own398) ----------------------------------------------
def test_a_relative_clause_turned_and_a_pod_named_for_another():
    assert kind("list the accounts that follow @nasa", "list the accounts that @nasa follows") \
        == ("reject", "direction")
    assert kind("list the accounts that follow @nasa",
                "list the accounts following @nasa")[0] == "same"
    assert kind("Show the logs for pod redis-master-0 in namespace cache.",
                "Show the logs for pod redis-replica-0 in namespace cache.") == \
        ("reject", "entity")
    # a word returned by a name far after it is no doer of that word
    assert kind("The return type of the `to_string` method is not specified in the document.",
                "The document does not specify what type of value is returned by the "
                "`to_string` method.")[0] != "reject"


# -- session 26, ninth round (own399-own402) -----------------------------------------------
def test_a_relative_clause_with_a_pronoun_turned():
    assert kind("List the creators who tagged us in October",
                "List the creators we tagged in October") == ("reject", "direction")
    assert kind("the people who emailed me", "the people I emailed") == ("reject", "direction")
    assert kind("List the creators who tagged us in October",
                "List the creators that tagged us in October")[0] == "same"


# -- session 26, tenth round (own403-own406) -----------------------------------------------
def test_an_address_for_another_is_an_entity():
    assert kind("Why does git log not show commits by alice@example.com?",
                "Why does git log not show commits by bob@example.com?") == ("reject", "entity")


def test_a_dash_between_spaces_ends_a_clause():
    assert kind("My colleague was promoted over me - how do I handle it?",
                "I was promoted over my colleague - how do I handle it?") == ("reject", "direction")


# -- session 26, eleventh round (own407-own410) --------------------------------------------
def test_a_short_code_is_never_misspelt_and_the_files_i_shared_are_mine():
    assert kind("Move the files for client ACC-204 into the Closed folder.",
                "Move the files for client ACD-204 into the Closed folder.") == \
        ("reject", "entity")
    assert kind("List the files shared with external users.",
                "List the files I shared with external users.") == ("reject", "scope")
    assert kind("List the files I shared with external users.",
                "list the files i shared with external users")[0] == "same"


# -- session 26, twelfth round (own411-own414) ---------------------------------------------
def test_full_against_partial_delay_against_accelerate_greater_against_less_and_a_budget():
    assert kind("Is a full refund possible if I cancel my trip insurance?",
                "Is a partial refund possible if I cancel my trip insurance?") == \
        ("reject", "antonym")
    assert kind("Find studies showing that bilingualism delays the onset of dementia.",
                "Find studies showing that bilingualism accelerates the onset of dementia.") == \
        ("reject", "antonym")
    assert kind("Which diets produced greater weight loss in women?",
                "Which diets produced less weight loss in women?") == ("reject", "antonym")
    assert kind("What was the budget of the Human Brain Project when it launched?",
                "What was the planned duration of the Human Brain Project when it launched?") \
        == ("reject", "attribute")


# -- session 27, first round (own415-own418) -----------------------------------------------
def test_the_things_the_asker_made_are_fewer_than_all():
    assert kind("List all dashboards in the workspace.",
                "List all dashboards in the workspace that I created.") == ("reject", "scope")
    assert kind("Show the repos on GitHub.", "Show the repos we maintain on GitHub.") == \
        ("reject", "scope")
    # a clause that points back at the one thing meant picks nothing out
    assert kind("Summarize the report I mentioned.", "Summarize the report.")[0] != "reject"


def test_everyone_against_only_some():
    assert kind("Remind everyone about the dry run at 4.",
                "Remind only the presenters about the dry run at 4.") == ("reject", "scope")


def test_a_frequency_adverb_is_no_doer():
    assert kind("Why does my husband always beat me at Scrabble?",
                "Why do I always beat my husband at Scrabble?") == ("reject", "direction")
    assert kind("Why does my husband always beat me at Scrabble?",
                "why does my husband always beat me at scrabble")[0] == "same"


@pytest.mark.parametrize("a,b", [
    ("how to make shadows brighter in iphone photos", "how to make shadows darker in iphone photos"),
    ("Why does my yarn feel so soft after washing?", "Why does my yarn feel so rough after washing?"),
])
def test_bright_against_dark_and_soft_against_rough(a, b):
    assert kind(a, b) == ("reject", "antonym")


# -- session 27, second round (own419-own422) ----------------------------------------------
def test_a_cache_hit_against_a_miss():
    assert kind("Why does the cache return a hit on the first request?",
                "Why does the cache return a miss on the first request?") == ("reject", "antonym")


# -- session 27, third round (own423-own426) -----------------------------------------------
@pytest.mark.parametrize("a,b", [
    ("my daughters friend is bullying her, how do i talk to the school",
     "my daughter is bullying her friend, how do i talk to the school"),
    ("my kid's friend is bullying him", "my kid is bullying his friend"),
])
def test_one_act_done_by_another_person_both_sides_name(a, b):
    assert kind(a, b) == ("reject", "direction")


def test_the_same_doer_named_again_is_one_question():
    assert kind("my sister's husband hit her", "my sister's husband hit my sister")[0] != "reject"


def test_an_id_whose_letters_differ_before_its_number_is_another():
    assert kind("What is Google Cloud's list price for an n2-standard-8 in Iowa?",
                "What is Google Cloud's list price for an e2-standard-8 in Iowa?") == \
        ("reject", "entity")


def test_required_against_optional_and_utilization_a_property():
    assert kind("Which tags are required on resources in the prod subscription?",
                "Which tags are optional on resources in the prod subscription?") == \
        ("reject", "antonym")
    assert kind("Show the expiration date of our reserved instances in eu-west-1.",
                "Show the utilization of our reserved instances in eu-west-1.") == \
        ("reject", "attribute")


# -- session 27, fourth round (own427-own430) ----------------------------------------------
@pytest.mark.parametrize("a,b", [
    ("Should my kid eat the same portions as me?", "Should I eat the same portions as my kid?"),
    ("Is my brother as tall as me?", "Am I as tall as my brother?"),
])
def test_the_two_sides_of_an_equal_comparison_exchanged(a, b):
    assert kind(a, b) == ("reject", "direction")


def test_a_name_after_a_title_with_a_full_stop_is_a_name():
    assert kind("Rebook Ms. Tanaka onto the next flight to Osaka.",
                "Rebook Ms. Nakamura onto the next flight to Osaka.") == ("reject", "entity")
    assert kind("Rebook Ms. Tanaka onto the next flight to Osaka.",
                "rebook ms tanaka onto the next flight to osaka")[0] == "same"


def test_the_negation_in_the_clause_of_another_party():
    assert kind("My wife is vegan and I'm not, how do I cook for her?",
                "I'm vegan and my wife is not, how do I cook for her?") == ("reject", "negation")
    # the two clauses swapped whole, each with its own negation, is one question
    assert kind("I can't sleep and my partner snores, what do I do?",
                "My partner snores and I can't sleep, what do I do?")[0] == "same"


# -- session 27, fifth round (own431-own434) -----------------------------------------------
def test_two_parties_trade_their_clauses():
    assert kind("Why does my partner get annoyed when I'm stressed?",
                "Why do I get annoyed when my partner is stressed?") == ("reject", "direction")
    # the condition put first keeps each party's clause
    assert kind("Why does my partner get annoyed when I'm stressed?",
                "When I'm stressed, why does my partner get annoyed?")[0] == "same"


def test_names_after_doctor_exchanged_all_against_any_and_each_night_against_each_week():
    assert kind("Did Dr. Ibrahim refer the patient to Dr. Cole?",
                "Did Dr. Cole refer the patient to Dr. Ibrahim?") == ("reject", "direction")
    assert kind("Do all sleep trackers measure REM sleep?",
                "Do any sleep trackers measure REM sleep?") == ("reject", "scope")
    assert kind("How much sleep do I lose if I scroll for 1 hour each night?",
                "How much sleep do I lose if I scroll for 1 hour each week?") == ("reject", "unit")
    assert kind("How much sleep do I lose if I scroll for 1 hour each night?",
                "How much sleep do I lose if I scroll for 1 hour every night?")[0] == "same"


# -- session 27, sixth round (own435-own438) -----------------------------------------------
def test_a_part_of_a_year_named_after_it_is_narrower():
    assert kind("How many three-pointers did Steph Curry make in the 2016 playoffs?",
                "How many three-pointers did Steph Curry make in 2016?") == ("reject", "scope")
    assert kind("Who won the 2018 World Cup?", "Who won the World Cup in 2018?")[0] == "same"


# -- session 27: what the gate showed the new readings must leave alone --------------------
@pytest.mark.parametrize("a,b", [
    # a third person's pronoun stands for the party the other side names
    ("If my sister isn't in the bridal party, should she still get a corsage?",
     "Should my sister still get a corsage if she isn't in the bridal party?"),
    ("if my son misses the school bus in the morning, can he still get a late pass",
     "can my son still get a late pass if he misses the school bus in the morning"),
    # a clause without its own doer, and a quote moved about
    ("when my friend's husband passed away i didn't reach out, how do i apologize now",
     "how do i apologize now, i didn't reach out when my friend's husband passed away"),
    ("Translate into Korean: 'thank you for dinner'.",
     "Translate 'thank you for dinner' into Korean."),
    ("slugs and snails are eating my seedlings, what can I do",
     "snails and slugs are eating my seedlings, what can I do"),
    # things alike, not people compared; a price, not a year
    ("The loading script should have the same name as the dataset repository.",
     "The loading script should have the same name as the repository of the dataset."),
])
def test_reordered_clauses_quotes_and_lists_keep_their_parties(a, b):
    assert kind(a, b)[0] != "reject"


def test_a_price_is_no_year():
    assert kind("What are the best earphones under 1000Rs?",
                "What are the best earphones under 1000?")[0] != "reject"
