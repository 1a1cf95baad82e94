"""Synonyms and antonyms for the structural comparison, derived from WordNet 3.0.

``lexicon.json`` beside this file is what ``contrast`` reads; this module also writes it:

    python -m clawhost.plugins.semantic_cache.lexicon /usr/share/wordnet VOCAB_DIR

(``apt-get install wordnet-base`` gives the folder; VOCAB_DIR is a prepared embedding
artifact whose ``tokenizer.json`` lists the words worth keeping). Rules, by category and
never by example:

* **synonyms**: two single words that share a synset which is the *most frequent sense*
  (WordNet's first-listed) of both, in the same part of speech: "car"/"automobile",
  "begin"/"start", "large"/"big". A word's rarer senses do not count ("get" is a synonym of
  "begin" only in a rare sense), so substituting one for the other keeps what is asked.
* **antonyms**: WordNet's lexical antonym pointers ("!") among the first three senses of
  each word: "increase"/"decrease", "strong"/"weak", "strength"/"weakness"; and for an
  adjective whose first sense is a satellite, its head's ("mandatory" is "similar to"
  "obligatory", whose antonym is "optional").

Both keep only whole words of the embedding model's vocabulary (common words), except an
antonym's second word, which may be rarer ("optimistic"/"pessimistic"); ``contrast``
leaves out pairs with a function word, number, unit or language when it reads them.
WordNet is (c) Princeton University, under the WordNet license (free use, copy and
distribution with its copyright notice; see lexicon.json's "source").

tests/test_lexicon.py regenerates the file from Debian's WordNet (``wordnet-base``, which
.ci/run installs) and the packaged MiniLM's vocabulary and fails if it differs; without
WordNet it still checks the file's schema and invariants and ``SHA256`` below, which
``main`` prints anew whenever it writes a different file.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

LEXICON = Path(__file__).with_name("lexicon.json")
_POS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}
SENSES_FOR_ANTONYMS = 3
# the sha256 of lexicon.json as ``main`` last wrote it: a hand edit (or a regenerated file
# whose hash was not copied here) fails tests/test_lexicon.py even on a box without WordNet
SHA256 = "6bd49deca9d65c74ef6e233aff00ef28259347119e40e6cc6407d2bc1d2d0845"


def load(path: Path = LEXICON) -> tuple[list[list[str]], list[list[str]]]:
    """(synonym pairs, antonym pairs) from ``lexicon.json``; empty when it is missing."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return [], []
    return data.get("synonyms", []), data.get("antonyms", [])


def _index(folder: Path, pos: str) -> tuple[dict[str, list[str]], dict[str, int]]:
    """(lemma -> its synset offsets, most frequent sense first; lemma -> how many of its
    senses were seen in the tagged corpus, a measure of how common the word is in ``pos``)."""
    out, tagged = {}, {}
    for line in (folder / f"index.{pos}").open(encoding="latin-1"):
        if line.startswith(" "):
            continue  # the licence header
        f = line.split()
        lemma, n_syn, n_ptr = f[0], int(f[2]), int(f[3])
        out[lemma] = f[6 + n_ptr:6 + n_ptr + n_syn]
        tagged[lemma] = int(f[5 + n_ptr])
    return out, tagged


def _data(folder: Path, pos: str) -> dict[str, tuple[list[str], list[tuple[int, str, int]], set[str]]]:
    """offset -> (its words as written, its antonym pointers as (source word, target offset,
    target word), the synsets it is "similar to" (adjective clusters))."""
    out = {}
    for line in (folder / f"data.{pos}").open(encoding="latin-1"):
        if line.startswith(" "):
            continue
        f = line.split(" | ")[0].split()
        offset, n = f[0], int(f[3], 16)
        words = [f[4 + 2 * i].split("(")[0] for i in range(n)]
        k = 4 + 2 * n
        n_ptr = int(f[k])
        ants, similar = [], set()
        for i in range(n_ptr):
            sym, target, _tpos, st = f[k + 1 + 4 * i:k + 5 + 4 * i]
            if sym == "!":
                ants.append((int(st[:2], 16), target, int(st[2:], 16)))
            elif sym == "&":
                similar.add(target)
        out[offset] = (words, ants, similar)
    return out


def build(wordnet: Path, vocabulary: frozenset[str], skip: frozenset[str]) -> dict:
    def keep(w: str) -> bool:
        return w.isalpha() and len(w) >= 3 and w in vocabulary and w not in skip

    def rare_ok(w: str) -> bool:  # an antonym's other word may be a rarer one ("pessimistic")
        return w.isalpha() and len(w) >= 3 and w not in skip

    synonyms: set[tuple[str, str]] = set()
    antonyms: set[tuple[str, str]] = set()
    parsed = {name: (*_index(wordnet, name), _data(wordnet, name)) for name in _POS}
    # A word's usual part of speech: the one with the most senses seen in the tagged corpus
    # ("dog" is a noun: its verb sense "to chase" does not make "chase" a synonym).
    usual: dict[str, tuple[int, str]] = {}
    for name, (_, tagged, _) in parsed.items():
        for w, n in tagged.items():
            if n > usual.get(w, (-1, ""))[0]:
                usual[w] = (n, name)
    for name, (index, tagged, data) in parsed.items():
        first = {w: s[0] for w, s in index.items() if s}

        def common(w: str) -> bool:  # a kept word, used mostly as this part of speech
            return keep(w) and usual.get(w, (0, ""))[1] == name and tagged.get(w, 0) > 0

        for w, offsets in index.items():
            if not common(w):
                continue
            words, _, similar = data[offsets[0]]
            near = {offsets[0]} | similar  # its first sense, and (adjectives) those like it
            for off in near:
                for v in data[off][0]:
                    if v != w and v.islower() and common(v) and first.get(v) in near:
                        synonyms.add(tuple(sorted((w, v))))
            # direct antonyms of the word's first senses, and (an adjective whose first
            # sense is a satellite, "mandatory" ~ "obligatory") its head's: "optional"
            heads = [(off, None) for off in data[offsets[0]][2]]
            for off, word in [(off, w) for off in offsets[:SENSES_FOR_ANTONYMS]] + heads:
                words, ants, _ = data[off]
                for src, target, dst in ants:
                    if src and (word is None or words[src - 1].lower() == word) \
                            and target in data:
                        v = data[target][0][dst - 1]
                        if v != w and v.islower() and rare_ok(v) and \
                                target in index.get(v, [])[:SENSES_FOR_ANTONYMS]:
                            antonyms.add(tuple(sorted((w, v))))
    synonyms -= antonyms
    return {"source": "WordNet 3.0 (c) 2006 Princeton University, WordNet license; derived "
                      "by clawhost.plugins.semantic_cache.lexicon",
            "synonyms": sorted(map(list, synonyms)), "antonyms": sorted(map(list, antonyms))}


def render(lexicon: dict) -> str:
    """``build``'s output as lexicon.json's text (compact: it is read, not edited)."""
    return json.dumps(lexicon, separators=(",", ":")) + "\n"


def vocabulary_of(folder) -> frozenset[str] | None:
    """Whole words of an embedding artifact's tokenizer (``tokenizer.json``), or None."""
    try:
        vocab = json.loads((Path(folder) / "tokenizer.json").read_text())["model"]["vocab"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return frozenset(w for w in vocab if w.isalpha() and not w.startswith("##"))


def main(argv: list[str]) -> None:
    wordnet, vocab_dir = Path(argv[0]), Path(argv[1])
    vocab = vocabulary_of(vocab_dir)
    if vocab is None:
        raise SystemExit(f"no tokenizer.json vocabulary in {vocab_dir}")
    # function words, numbers and units have rules of their own: ``contrast`` drops any
    # pair that holds one when it loads the lists
    out = build(wordnet, vocab, frozenset())
    text = render(out)
    LEXICON.write_text(text)
    print(f"{LEXICON}: {len(out['synonyms'])} synonym pairs, {len(out['antonyms'])} antonym pairs")
    digest = hashlib.sha256(text.encode()).hexdigest()
    if digest != SHA256:
        print(f"the file changed: set SHA256 in {Path(__file__).name} to {digest!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
