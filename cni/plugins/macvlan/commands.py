"""macvlan ADD/DEL/CHECK/STATUS/GC: the code shared with ipvlan (sublink.py) for the macvlan kind."""

from __future__ import annotations

from functools import partial

from . import sublink
from .config import MACVLAN

add = partial(sublink.add, kind=MACVLAN)
delete = partial(sublink.delete, kind=MACVLAN)
check = partial(sublink.check, kind=MACVLAN)
status = partial(sublink.status, kind=MACVLAN)
gc = partial(sublink.gc, kind=MACVLAN)
