"""Summarise stdin with the runtime's chat model, chunk by chunk for long texts."""

import argparse
import re
import sys

from clawhost.client import Client, ClientError

CHUNK_CHARS = 1500
PROMPT = "Summarise the following text in at most {words} words. Reply with the summary only.\n\n{text}"


def chunks(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Pieces of at most ``size`` characters, cut at paragraph or sentence breaks."""
    parts = [p.strip() for p in re.split(r"\n\s*\n|(?<=[.!?])\s+", text) if p.strip()]
    out, current = [], ""
    for part in parts:
        while len(part) > size:
            out.append(part[:size])
            part = part[size:]
        if current and len(current) + len(part) + 1 > size:
            out.append(current)
            current = ""
        current = f"{current} {part}".strip()
    if current:
        out.append(current)
    return out


def summarise(client: Client, text: str, words: int, model: str | None) -> str:
    ask = lambda t: client.chat(PROMPT.format(words=words, text=t), model=model,
                                temperature=0, max_tokens=max(32, words * 2)).strip()
    pieces = chunks(text)
    if len(pieces) == 1:
        return ask(pieces[0])
    return ask("\n".join(ask(p) for p in pieces))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="summarize")
    parser.add_argument("--max-words", type=int, default=60)
    parser.add_argument("--model")
    args = parser.parse_args(argv)
    text = sys.stdin.read()
    if not text.strip():
        print("summarize: no text on stdin (pipe a file in)", file=sys.stderr)
        return 2
    try:
        print(summarise(Client(), text, args.max_words, args.model))
    except ClientError as exc:
        print(f"summarize: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
