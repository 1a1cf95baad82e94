"""Stored entries as data, never code: the reply body's JSON plus a checksum.

The checksum covers the key, the timestamps and the value, so a torn write, a flipped bit or
a row that ended up under another key is detected and treated as a miss, never served.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

MAGIC = b"CHC1"
_HEAD = struct.Struct("<ddH")  # created, expires, namespace length


@dataclass(slots=True)
class Hit:
    value: bytes       # the reply body, JSON
    created: float     # wall-clock seconds
    expires: float
    namespace: str


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode_body(body: dict[str, Any]) -> bytes:
    return _ENCODER.encode(body).encode("utf-8")


def decode_body(value: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def checksum(key: str, created: float, expires: float, value: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(key.encode())
    h.update(_HEAD.pack(created, expires, 0))
    h.update(value)
    return h.digest()


def pack(key: str, hit: Hit) -> bytes:
    """One self-checking blob (the Redis value)."""
    ns = hit.namespace.encode()
    return b"".join((MAGIC, _HEAD.pack(hit.created, hit.expires, len(ns)), ns,
                     checksum(key, hit.created, hit.expires, hit.value), hit.value))


def unpack(key: str, blob: bytes) -> Hit | None:
    """The entry in a blob, or None when the blob is damaged or belongs to another key."""
    try:
        if blob[:4] != MAGIC:
            return None
        created, expires, nlen = _HEAD.unpack_from(blob, 4)
        at = 4 + _HEAD.size
        ns = blob[at:at + nlen].decode()
        at += nlen
        digest, value = blob[at:at + 16], blob[at + 16:]
    except (struct.error, UnicodeDecodeError, TypeError):
        return None
    if len(digest) != 16 or digest != checksum(key, created, expires, value):
        return None
    return Hit(value, created, expires, ns)


def fresh(hit: Hit, now: float, skew: float, max_age: float | None) -> bool:
    """Not expired, not from the future (the clock went back: the age is unknown), young enough."""
    if now >= hit.expires or now < hit.created - skew:
        return False
    return max_age is None or now - hit.created <= max_age
