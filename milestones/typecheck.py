"""Checking a value against a type annotation, for config sections and model arguments alike.

`check_type(1, float)` gives 1.0; `check_type("x", int)` raises TypeError("expected int, got str 'x'"). The config
loader (config.py) checks every YAML value against its dataclass field, and models/__init__.py checks `model:`
keys against the builder's own annotations with the same function.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any, Iterable, Literal


SHOWN_CHARS = 80  # the most of a value an error message repeats


def did_you_mean(name: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """"did you mean 'x'? " for the closest of `known` (difflib), or "" when none is close: the hint every
    unknown-name error gives."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return f"did you mean '{close[0]}'? " if close else ""


def shown(value: Any) -> str:
    """repr(value) for an error message, cut to SHOWN_CHARS: a value can be megabytes of YAML."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS - 20]}... ({len(text):,} characters)"


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is typing.Union:
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return f"a list of {_type_name(args[0])}" if args else "a list"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def check_type(value: Any, tp: Any) -> Any:
    """Return `value` (ints widened to float, lists to tuples where asked) if it matches `tp`, else raise TypeError."""
    if tp is Any or tp is typing.Any:
        return value
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
    elif origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        for arg in typing.get_args(tp):
            try:
                return check_type(value, arg)
            except TypeError:
                pass
    elif origin in (list, tuple):
        if isinstance(value, (list, tuple)):
            args = [a for a in typing.get_args(tp) if a is not Ellipsis]
            items = [check_type(v, args[0]) for v in value] if args else list(value)
            return tuple(items) if origin is tuple else items
    elif tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # an int of hundreds of digits
                raise TypeError(f"expected a float, got an int too large for one: {shown(value)}") from None
    elif tp in (str, dict):
        if isinstance(value, tp):
            return value
    else:
        raise TypeError(f"unsupported annotation {tp}")
    raise TypeError(f"expected {_type_name(tp)}, got {type(value).__name__} {shown(value)}")
