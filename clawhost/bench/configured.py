"""What the bench finds configured, and the plugin options each of its hosts gets.

The installed plugins (by entry point), the configured models that are prepared (complete,
and of the configured quantization), and the operator's plugin options with their storage
moved onto the bench's scratch disk.
"""

from __future__ import annotations

import json
from typing import Any

from .hosts import BenchError


class Configured:
    """``Bench``'s reading of the operator's configuration (a base class of ``Bench``).
    ``discover`` reads ``self.config`` and sets ``installed``, ``qm_base``, ``specs``,
    ``source_models``, ``manifests``, ``chat`` and ``embed``; what it leaves out, it says
    in ``self.notes``."""

    config: Any
    notes: list[str]

    def discover(self) -> None:
        from ..pluginmanager import discover  # plugins are found by entry point, never imported by name
        self.installed = discover(plugins_dir=self.config.plugins_dir)
        qm = self.installed.get("quantized_model")
        if qm is None or qm.module is None:
            raise BenchError("the quantized_model plugin is not installed: nothing local to bench")
        raw = dict(self.config.raw_options("quantized_model") or {})
        try:
            opts = qm.module.Options.model_validate(raw)
        except Exception as exc:  # noqa: BLE001 - pydantic's message, one line
            raise BenchError(f"plugins.quantized_model: {str(exc).splitlines()[0]}") from None
        self.qm_base = {k: v for k, v in raw.items() if k != "models"}
        self.qm_base["prepare_on_start"] = False  # never build in the bench's hosts
        self.specs = {mid: s.model_dump(exclude_none=True, exclude={"description"})
                      for mid, s in opts.models.items()}
        self.source_models = self.config.workspace / "models"
        self.manifests: dict[str, dict] = {}
        for mid in self.specs:
            try:
                manifest = json.loads((self.source_models / mid / "manifest.json").read_text())
            except (OSError, ValueError):
                continue
            if manifest.get("complete") and manifest.get("quantization") == self.specs[mid].get(
                    "quantization", manifest.get("quantization")):
                self.manifests[mid] = manifest
        if not self.manifests:
            raise BenchError(f"no prepared model under {self.source_models}: run "
                             "`clawhost model prepare ID` (or `clawhost start`) first")
        kinds = {mid: self.specs[mid]["kind"] for mid in self.manifests}
        self.chat = next((m for m, k in kinds.items() if k == "chat"), None)
        self.embed = next((m for m, k in kinds.items() if k == "embedding"), None)
        for mid in self.specs:
            if mid not in self.manifests:
                self.notes.append(f"{mid}: not prepared in {self.source_models}; left out")

    def qm(self, ids: list[str], **extra: Any) -> dict[str, Any]:
        specs = {**self.specs, **getattr(self, "fp32_specs", {})}
        return {"quantized_model": {**self.qm_base, "models": {i: specs[i] for i in ids},
                                    **extra}}

    def plugin_opts(self, name: str) -> dict[str, Any]:
        return dict(self.config.raw_options(name) or {})

    def cache_opts(self) -> dict[str, Any]:
        """The operator's cache options, kept off production storage: L2 on the scratch disk."""
        opts = self.plugin_opts("cache")
        l2 = dict(opts.get("l2") or {})
        if l2.get("backend", "disk") != "none":
            l2.update(backend="disk", path=".cache/responses.db")
        opts["l2"] = l2
        return opts

    def semantic_opts(self) -> dict[str, Any] | None:
        opts = self.plugin_opts("semantic_cache")
        opts["path"] = ".cache/semantic"
        embed_model = opts.get("embedding_model", "all-minilm-l6-v2")
        if opts.get("embedding_path") is None and embed_model not in self.manifests:
            if self.embed is None:
                return None
            opts["embedding_model"] = self.embed
        verifier = opts.get("verifier_model", "minilm-l6-qqp-verifier")
        if verifier is not None and verifier not in self.manifests and not opts.get("verifier_path"):
            opts["verifier_model"] = None  # the lexical verifier: say so in the row
            self.notes.append(f"semantic cache: verifier model {verifier} is not prepared; "
                              "the bench used the lexical verifier")
        return opts
