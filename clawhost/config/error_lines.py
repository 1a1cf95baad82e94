"""pydantic's validation errors as one line each: the YAML path, what is wrong, the value
seen (unless it looks secret), and the closest option name for a misspelt one."""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

# the last part of a YAML path that holds a secret: token, api_key, secret, password ...
SECRET_FIELD = re.compile(r"(^|[._\[])(token|\w*_?key|\w*secret|\w*password|passwd|authorization)\]?$", re.I)
# a URL may carry a password (redis://:pw@host): its value is not echoed in errors either
URL_FIELD = re.compile(r"(^|[._])\w*url$", re.I)


def _fields_at(model: Any, loc: tuple) -> list[str]:
    """The option names a pydantic model accepts at ``loc`` (keys of dict fields skipped)."""
    key_next = False
    for part in loc:
        if key_next:  # this part is a key of a dict[str, Model] field: the model stays
            key_next = False
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        model = field.annotation
        # unwrap Optional[...] / X | None and dict[str, X] down to a model class
        for _ in range(3):
            args = [a for a in typing.get_args(model) if a is not type(None)]
            if typing.get_origin(model) is dict and len(args) == 2:
                model, key_next = args[1], True
            elif args and not (isinstance(model, type) and issubclass(model, BaseModel)):
                model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)),
                             args[0])
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def format_errors(exc: ValidationError, prefix: str, model: Any = None) -> list[str]:
    """pydantic errors as ``path: message (got value)`` lines; secret-looking values hidden.

    With ``model``, a misspelt option gets the closest accepted name as a suggestion."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join([prefix, *map(str, loc)]) if prefix else ".".join(map(str, loc))
        msg = err["msg"].removeprefix("Value error, ")  # our validators' own words
        if err["type"] in ("model_type", "model_attributes_type", "dict_type"):
            msg = "must be an object (a mapping of names to values)"  # not pydantic's class name
        if err["type"] == "extra_forbidden" and model is not None:
            close = difflib.get_close_matches(str(loc[-1]), _fields_at(model, loc[:-1]), 1, 0.6)
            msg = f"unknown option; did you mean {close[0]!r}?" if close else "unknown option"
        line = f"{where}: {msg}"
        # The value pydantic saw (loc can name union branches, "input.str", so it is taken
        # from the error, not looked up). An object is never echoed: a secret could sit in
        # one of its fields, and the path already says which one is meant.
        value = err.get("input")
        # an unknown option's value is not the problem, and a misspelt secret name would
        # slip past the secret check below
        if err["type"] not in ("missing", "extra_forbidden") and not isinstance(value, dict):
            hide = SECRET_FIELD.search(where) or URL_FIELD.search(where)
            shown = "***" if hide else repr(value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            line += f" (got {shown})"
        lines.append(line)
    return lines
