"""The clawhost skill's script: ask, embed, models, stats against $CLAWHOST_URL."""

import argparse
import json
import sys

from clawhost.client import Client, ClientError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="clawhost-skill")
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="ask the local chat model")
    ask.add_argument("prompt")
    ask.add_argument("--model")
    ask.add_argument("--max-tokens", type=int, default=256)
    embed = sub.add_parser("embed", help="embed one or more texts")
    embed.add_argument("texts", nargs="+")
    embed.add_argument("--model")
    sub.add_parser("models", help="list the models served")
    sub.add_parser("stats", help="show the runtime's figures")
    args = parser.parse_args(argv)
    client = Client()
    try:
        if args.command == "ask":
            print(client.chat(args.prompt, model=args.model, max_tokens=args.max_tokens,
                              temperature=0))
        elif args.command == "embed":
            for vec in client.embed(args.texts, model=args.model):
                print(json.dumps([round(x, 6) for x in vec]))
        elif args.command == "models":
            for m in client.models():
                print(f"{m['id']}\t{m.get('kind', '')}\t{m.get('status', '')}")
        else:
            try:
                print(json.dumps(client.request("GET", "/v1/stats"), indent=2))
            except ClientError:  # no monitor plugin: readiness still tells the basics
                print(json.dumps(client.health(), indent=2))
    except ClientError as exc:
        print(f"clawhost: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
