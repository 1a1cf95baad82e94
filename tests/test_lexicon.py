"""plugins/semantic_cache/lexicon.json is generated (WordNet 3.0 and the embedding model's
vocabulary, by ``lexicon.main``): the checked-in file must be exactly what the generator
writes, so a hand edit or a changed rule without a rerun fails here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from clawhost.plugins.semantic_cache import lexicon

WORDNET = Path("/usr/share/wordnet")  # Debian's wordnet-base (.ci/run installs it)
needs_wordnet = pytest.mark.skipif(not (WORDNET / "index.noun").is_file(),
                                   reason="WordNet is not installed (apt-get install -y wordnet-base)")


@needs_wordnet
def test_the_checked_in_lexicon_is_what_its_generator_writes(packaged_minilm):
    vocabulary = lexicon.vocabulary_of(packaged_minilm)
    assert vocabulary, f"no tokenizer.json vocabulary in {packaged_minilm}"
    regenerated = lexicon.render(lexicon.build(WORDNET, vocabulary, frozenset()))
    assert regenerated == lexicon.LEXICON.read_text(), (
        "lexicon.json differs from its generator's output: run "
        f"python -m clawhost.plugins.semantic_cache.lexicon {WORDNET} {packaged_minilm}")


def test_the_lexicon_matches_the_hash_recorded_beside_its_generator():
    """Runs without WordNet too: the file is the one ``main`` last wrote and recorded."""
    digest = hashlib.sha256(lexicon.LEXICON.read_bytes()).hexdigest()
    assert digest == lexicon.SHA256, "lexicon.json changed without its generator (see lexicon.py)"


def test_the_lexicon_keeps_the_generators_schema_and_invariants():
    text = lexicon.LEXICON.read_text()
    data = json.loads(text)
    assert set(data) == {"source", "synonyms", "antonyms"}
    assert "WordNet 3.0" in data["source"] and "Princeton" in data["source"]  # its licence
    assert text == lexicon.render(data)  # written by render, not by hand or another dumper
    for name in ("synonyms", "antonyms"):
        pairs = data[name]
        assert pairs == sorted(pairs) and len({tuple(p) for p in pairs}) == len(pairs), name
        for pair in pairs:
            # two different whole words, in order; the kept words are alphabetic, lower-case
            # and at least three letters long (``build``'s keep rule)
            assert len(pair) == 2 and pair[0] < pair[1], (name, pair)
            assert all(w.isalpha() and w.islower() and len(w) >= 3 for w in pair), (name, pair)
    # an opposite is never also listed as a synonym
    assert not {tuple(p) for p in data["synonyms"]} & {tuple(p) for p in data["antonyms"]}
    assert lexicon.load() == (data["synonyms"], data["antonyms"])


@needs_wordnet
def test_the_regeneration_check_sees_a_changed_rule(packaged_minilm, monkeypatch):
    """The comparison above is not vacuous: antonyms from the first sense only (a rule
    change nobody reran the generator for) give another file."""
    monkeypatch.setattr(lexicon, "SENSES_FOR_ANTONYMS", 1)
    changed = lexicon.build(WORDNET, lexicon.vocabulary_of(packaged_minilm), frozenset())
    assert lexicon.render(changed) != lexicon.LEXICON.read_text()
    assert len(changed["antonyms"]) < len(lexicon.load()[1])
