"""The exact-match response cache: keys, per-request controls, L1 memory, L2 disk/Redis.

``keys`` and ``controls`` are shared with the semantic cache; they import nothing heavy.
"""
