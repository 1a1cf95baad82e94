"""``clawhost semantic-cache eval``: calibrate the semantic cache on labelled pairs.

Imports click only at module level: every CLI call builds this group.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from clawhost.api import config_option

from .options import NAME


@click.group("semantic-cache")
def semantic_group():
    """The semantic cache: stats, clear, and calibration on labelled question pairs."""


def _configured(config_path, config=None):
    from clawhost.api import load_config as load
    from clawhost.api import plugin_options

    from .options import Options
    config = config or load(config_path)
    return config.workspace, plugin_options(config, NAME, Options)


def _index_file(config) -> Path:
    workspace, opts = _configured(None, config)
    return Path(workspace) / opts.path / "index.sqlite"


def _from_file(path: Path, clear: bool = False) -> dict:
    from .index import file_figures
    try:
        return file_figures(path, clear)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _host_said(status: int, body) -> str:
    err = body.get("error") if isinstance(body, dict) else None
    return err.get("message", "") if isinstance(err, dict) else f"HTTP {status}"


@semantic_group.command("stats")
@config_option
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def stats_command(config_path, as_json):
    """Entries and bytes; hits, misses and rejections from a running host."""
    from clawhost.api import fetch_json
    from clawhost.api import load_config as load
    config = load(config_path)
    path = _index_file(config)
    status, body = fetch_json(config, "/v1/semantic-cache/stats")
    live = body if status == 200 else None
    stored = ({k: live[k] for k in ("entries", "bytes")} if live else _from_file(path))
    if as_json:
        click.echo(json.dumps({"index": str(path), **stored, "live": live}))
        return
    click.echo(f"{stored['entries']} entries, {stored['bytes']} bytes ({path})")
    if live is None:
        click.echo("live: no running host answered" if status == 0 else
                   f"live: the running host says: {_host_said(status, body)}")
        return
    click.echo("live: " + ", ".join(f"{k.replace('_', ' ')} {live[k]}" for k in (
        "hits", "misses", "rejected_by_verifier", "ambiguous", "stores", "evictions", "expired")))


@semantic_group.command("clear")
@config_option
def clear_command(config_path):
    """Delete every semantic cache entry (through the running host when there is one)."""
    from clawhost.api import fetch_json
    from clawhost.api import load_config as load
    config = load(config_path)
    status, body = fetch_json(config, "/v1/semantic-cache/clear", method="POST")
    if status == 200:
        click.echo(f"cleared {body['cleared']} entries (running host)")
        return
    if status != 0:  # a host answered but did not clear (off, starting, a token): its file
        # may be about to be opened by it, so leave the file alone and say why
        raise click.ClickException(f"the running host did not clear: {_host_said(status, body)}")
    path = _index_file(config)
    click.echo(f"cleared {_from_file(path, clear=True)['entries']} entries ({path})")
    if config.host.fleet is not None:  # and the fleet's, which every running host follows
        from .fleet_store import clear_in_redis
        try:
            n = clear_in_redis(config.host.fleet)
        except Exception as exc:  # noqa: BLE001 - redis's errors and OSError alike
            raise click.ClickException(f"the fleet's redis was not cleared: "
                                       f"{type(exc).__name__}") from None
        click.echo(f"cleared {n} entries in the fleet's redis")


def _line(f) -> str:
    return (f"hits {f.hits}  precision {f.precision:.3f}  recall {f.recall:.3f}  "
            f"false-hit rate {f.false_hit_rate:.4f}")


def _settings(verifier, opts) -> dict:
    """What the evaluation really ran with: no verifier threshold without a learned score."""
    s = verifier.settings
    judged = verifier.weights is not None
    return {"preset": opts.preset, "normalized": opts.normalized,
            "normalize_fillers": opts.normalize_fillers,
            "min_similarity": s.min_similarity, "verifier": s.verifier,
            "verifier_threshold": verifier.threshold if judged else None,
            "verifier_weights": s.weights if judged and not verifier.cross else None,
            "verifier_model": opts.verifier_model if verifier.cross else None,
            "prescreen": s.prescreen if verifier.screen is not None else None,
            "rules": list(s.rules), "margin": s.margin, "structure": s.structure,
            "same_floor": s.same_floor if s.structure else None,
            "typo_floor": s.typo_floor if s.structure and s.typos else None,
            "typos": s.typos if s.structure else None,
            "vocabulary": verifier.comparer.vocabulary is not None}


def _cross_encoder(verifier, opts, workspace: Path):
    """The verifier the live cache runs: with ``verifier_model``, that prepared rerank model."""
    if not (opts.verifier and opts.verifier_model):
        return verifier
    from .embedder import find_artifacts
    folder = find_artifacts(workspace, opts.verifier_model)
    if folder is None:
        raise click.ClickException(
            f"no prepared rerank model {opts.verifier_model!r} in {workspace / 'models'}: run "
            f"`clawhost model prepare {opts.verifier_model}`, or set verifier_model: null")
    return verifier.with_cross_encoder(folder, threads=2)


def _error(pair, hit: bool, verifier) -> dict:
    """One pair the cache got wrong, and the structure's verdict on it (why it passed or
    was left to the learned score), for finding the kind a rule misses."""
    v = verifier.verdict(pair.a, pair.b)
    return {"error": "served near-miss" if hit else "missed duplicate", "kind": pair.kind,
            "a": pair.a, "b": pair.b,
            "structure": f"{v.kind}/{v.why}" if v is not None and v.why else
            (v.kind if v is not None else "off")}


@semantic_group.command("eval")
@config_option
@click.option("--pairs", "pairs_path", required=True,
              type=click.Path(exists=True, dir_okay=False, readable=True),
              help='JSON lines {"a", "b", "duplicate"}: a is cached, b is the new question')
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
@click.option("--sweep", is_flag=True, help="the curve over thresholds")
@click.option("--target-precision", type=click.FloatRange(0, 1), default=None,
              help="suggest the threshold that reaches this precision")
@click.option("--embeddings", type=click.Path(file_okay=False), default=None,
              help="a prepared embedding folder (default: the workspace's model)")
@click.option("--errors", is_flag=True,
              help="also list each served near-miss and missed duplicate, with what the "
                   "structure said of it")
def eval_command(config_path, pairs_path, as_json, sweep, target_precision, embeddings,
                 errors):
    """Hits, precision, recall and false-hit rate of the configured settings on PAIRS."""
    import numpy as np

    from . import evaluate
    from .embedder import Embedder, find_artifacts
    from .verifier import Settings, Verifier
    workspace, opts = _configured(config_path)
    folder = embeddings or opts.embedding_path or find_artifacts(workspace, opts.embedding_model)
    if folder is None:
        raise click.ClickException(
            f"no prepared embedding model {opts.embedding_model!r} in {workspace / 'models'}: "
            f"run `clawhost model prepare {opts.embedding_model}` or pass --embeddings DIR")
    try:
        pairs = evaluate.load_pairs(Path(pairs_path))
        verifier = _cross_encoder(Verifier(Settings.of(opts)), opts, workspace)
        embedder = Embedder.from_folder(Path(folder), threads=2)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    from .training_pairs import overlap
    verifier = verifier.with_vocabulary(embedder.folder)
    emb = evaluate.embed_pairs(embedder.embed_sync, pairs, embedder.folder)
    # The live cache asks the normalised-exact tier first: so does the evaluation.
    exact = (evaluate.normalized(pairs, opts.normalize_fillers) if opts.normalized
             else np.zeros(len(pairs), bool))
    hit = exact | evaluate.decide(verifier, pairs, emb)
    figs = evaluate.figures(pairs, hit)
    setting = _settings(verifier, opts)
    s = verifier.settings
    judged = verifier.weights is not None  # a learned score decides (else cosine + rules)
    knob = "verifier_threshold" if judged else "min_similarity"
    configured = verifier.threshold if judged else s.min_similarity
    curve = evaluate.sweep(verifier, pairs, emb, exact) if (sweep or target_precision) else []
    pick = evaluate.suggest(curve, target_precision) if target_precision is not None else None
    kinds = evaluate.by_kind(pairs, hit)
    wrong = [_error(p, bool(h), verifier) for p, h in zip(pairs, hit)
             if bool(h) != p.duplicate] if errors else []
    seen = overlap(pairs)
    # Only a trained verifier is flattered by its training rows.
    warning = seen.warning(len(pairs)) if seen and judged else None
    if warning:
        click.echo(warning, err=True)
    if as_json:
        out = {**figs.as_dict(), "settings": setting, "embeddings": str(folder)}
        if kinds:
            out["kinds"] = kinds
        if seen is not None:
            out["training_overlap"] = {"pairs": seen.pairs, "texts": seen.texts}
        if errors:
            out["errors"] = wrong
        if sweep:
            out["sweep"] = [{knob: t, **f.as_dict()} for t, f in curve]
        if target_precision is not None:
            out["suggestion"] = ({knob: pick[0], **pick[1].as_dict(),
                                  "recall_cost": evaluate.cost_of(curve, configured, pick)}
                                 if pick else None)
        click.echo(json.dumps(out))
        return
    click.echo(f"pairs {figs.pairs}  duplicates {figs.duplicates}  embeddings {folder}")
    click.echo("settings " + "  ".join(f"{k} {v}" for k, v in setting.items()))
    click.echo(_line(figs))
    if kinds:
        click.echo(f"\n{'kind':>12}  {'pairs':>5}  result")
        for kind, k in kinds.items():
            res = (f"{k['duplicates_hit']}/{k['duplicates']} duplicates hit "
                   f"({k['hit_rate']:.0%})" if k["duplicates"] else "")
            if k["pairs"] > k["duplicates"]:
                res += ("; " if res else "") + (f"{k['near_misses_served']}/"
                                                f"{k['pairs'] - k['duplicates']} near-misses served")
            click.echo(f"{kind:>12}  {k['pairs']:>5}  {res}")
    if errors:
        click.echo(f"\n{len(wrong)} wrong")
        for e in wrong:
            click.echo(f"{e['error']} [{e['kind'] or '-'}] structure {e['structure']}: "
                       f"{e['a']!r} -> {e['b']!r}")
    if sweep:
        click.echo(f"\n{knob:>18}  {'hits':>6}  precision  recall  false-hit rate")
        for t, f in curve:
            click.echo(f"{t:>18.2f}  {f.hits:>6}  {f.precision:>9.3f}  {f.recall:>6.3f}  "
                       f"{f.false_hit_rate:>14.4f}")
    if target_precision is not None:
        if pick is None:
            click.echo(f"\nno {knob} reaches precision {target_precision}")
        else:
            cost = evaluate.cost_of(curve, configured, pick)
            click.echo(f"\nsuggested: {knob}: {pick[0]}  ({_line(pick[1])})")
            if cost is not None:
                click.echo(f"against the configured {knob} {configured}: recall "
                           + (f"{cost:.3f} lower" if cost > 0 else
                              f"{-cost:.3f} higher" if cost < 0 else "unchanged"))
