"""ask and embed: call the running host's models from the command line."""

from __future__ import annotations

import json

import click

from .common import as_click_error, client_for_path, config_option


@click.command()
@config_option
@click.argument("prompt")
@click.option("-m", "--model", help="model id (default: the first chat model)")
@click.option("-s", "--system", help="system prompt")
@click.option("--stream", is_flag=True, help="print tokens as they arrive")
@click.option("--max-tokens", type=int, default=None)
@click.option("--temperature", type=float, default=None)
def ask(config_path, prompt, model, system, stream, max_tokens, temperature):
    """Ask a chat model and print its answer."""
    client = client_for_path(config_path)
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}]
    kw = {k: v for k, v in {"max_tokens": max_tokens, "temperature": temperature}.items() if v is not None}
    if stream:
        for piece in as_click_error(lambda: list(client.chat_stream(messages, model=model, **kw))):
            click.echo(piece, nl=False)
        click.echo()
    else:
        click.echo(as_click_error(lambda: client.chat(messages, model=model, **kw)))


@click.command()
@config_option
@click.argument("texts", nargs=-1, required=True)
@click.option("-m", "--model", help="model id (default: the first embedding model)")
def embed(config_path, texts, model):
    """Print the embedding of each text as a JSON list."""
    client = client_for_path(config_path)
    for vec in as_click_error(lambda: client.embed(list(texts), model=model)):
        click.echo(json.dumps(vec))
