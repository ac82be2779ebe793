"""`json.loads` for the plain case without importing the json package, whose `re` (and enum) cost a
cold plugin start more than parsing its configuration: the C scanner json.loads itself uses, with
the same settings. Anything unusual (a byte-order mark, an error, data after the value) goes to
json.loads, which then says what is wrong; what both accept, they parse alike."""

from __future__ import annotations

_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _Settings:
    strict = True
    object_hook = object_pairs_hook = None
    parse_int = int

    def __init__(self, parse_float, parse_constant) -> None:
        self.parse_float, self.parse_constant = parse_float, parse_constant


def loads(text: str, parse_float=float, parse_constant=_CONSTANTS.__getitem__):
    """json.loads(text, parse_float=parse_float, parse_constant=parse_constant)."""
    try:
        import _json
    except ImportError:
        _json = None
    if _json is not None and not text.startswith("\ufeff"):
        body = text.strip(" \t\n\r")
        try:
            value, end = _json.make_scanner(_Settings(parse_float, parse_constant))(body, 0)
        except (StopIteration, ValueError, SystemError):
            pass  # json.loads raises its own error (a hook's ValueError is raised again there; the
            # scanner's own errors need json.decoder loaded, else CPython 3.11 says SystemError)
        else:
            if end == len(body):
                return value
    import json

    return json.loads(text, parse_float=parse_float, parse_constant=parse_constant)


class _Unusual(Exception):
    """A value dumps() leaves to json."""


def dumps(obj) -> str:
    """json.dumps(obj, indent=4), written here for dicts with string keys, lists, tuples, strings,
    ints, booleans and None (with json's own C string quoting); anything else by json itself."""
    try:
        from _json import encode_basestring_ascii as quote
    except ImportError:
        quote = None
    if quote is not None:
        try:
            return _indented(obj, quote, "\n")
        except _Unusual:
            pass
    import json

    return json.dumps(obj, indent=4)


def _indented(obj, quote, newline: str) -> str:
    if isinstance(obj, str):
        return quote(obj)
    if obj is None or obj is True or obj is False:
        return {None: "null", True: "true", False: "false"}[obj]
    if isinstance(obj, int):
        return int.__repr__(obj)
    inner = newline + "    "
    if isinstance(obj, dict):
        if any(type(key) is not str for key in obj):
            raise _Unusual
        parts = [f"{quote(key)}: {_indented(value, quote, inner)}" for key, value in obj.items()]
        return "{" + inner + ("," + inner).join(parts) + newline + "}" if parts else "{}"
    if isinstance(obj, (list, tuple)):
        parts = [_indented(value, quote, inner) for value in obj]
        return "[" + inner + ("," + inner).join(parts) + newline + "]" if parts else "[]"
    raise _Unusual
