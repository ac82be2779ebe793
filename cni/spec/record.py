"""Frozen records for what plugins parse and answer: `dataclass(frozen=True)` without its cost.

A plugin run in its own process pays for every import: the dataclasses module imports inspect (with
ast, dis, tokenize and re), ~20 ms of a cold start here, and compiles an __init__ for each class.
`@record` gives a class the same behaviour from its annotations: the fields in order, the class
attributes of the same names as their defaults; __init__ by position or keyword, __repr__, __eq__
and __hash__ over the fields, no assignment afterwards; `replace()` makes a changed copy. (The
runtime's long-lived state keeps dataclasses: its processes are not started per request.)
"""

from __future__ import annotations

_MISSING = object()


def record(cls):
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults = tuple(cls.__dict__.get(name, _MISSING) for name in names)
    for earlier, later in zip(defaults, defaults[1:]):
        if earlier is not _MISSING and later is _MISSING:
            raise TypeError(f"{cls.__name__}: a field without a default follows one with a default")
    title = cls.__qualname__

    def __init__(self, *args, **kwargs):
        if len(args) > len(names):
            raise TypeError(f"{title}() takes {len(names)} arguments but {len(args)} were given")
        for name, default, value in zip(names, defaults, args + (_MISSING,) * (len(names) - len(args))):
            if value is _MISSING:
                value = kwargs.pop(name, default)
                if value is _MISSING:
                    raise TypeError(f"{title}() missing argument: {name!r}")
            elif name in kwargs:
                raise TypeError(f"{title}() got multiple values for argument {name!r}")
            object.__setattr__(self, name, value)
        if kwargs:
            raise TypeError(f"{title}() got an unexpected keyword argument {next(iter(kwargs))!r}")

    def values(self) -> tuple:
        return tuple(getattr(self, name) for name in names)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return values(self) == values(other)

    def __repr__(self) -> str:
        return f"{title}({', '.join(f'{name}={getattr(self, name)!r}' for name in names)})"

    def frozen(self, name, value=None):
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {title}")

    cls.__init__, cls.__eq__, cls.__repr__ = __init__, __eq__, __repr__
    cls.__hash__ = lambda self: hash(values(self))
    cls.__setattr__ = cls.__delattr__ = frozen
    cls.__record_fields__ = names
    return cls


def replace(obj, **changes):
    """A copy of the record `obj` with `changes` (field name -> new value)."""
    unknown = set(changes) - set(obj.__record_fields__)
    if unknown:
        raise TypeError(f"{type(obj).__qualname__} has no field {sorted(unknown)[0]!r}")
    return type(obj)(**{name: changes.get(name, getattr(obj, name)) for name in obj.__record_fields__})
