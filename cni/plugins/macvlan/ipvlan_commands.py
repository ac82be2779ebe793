"""ipvlan ADD/DEL/CHECK/STATUS/GC: the code shared with macvlan (sublink.py) for the ipvlan kind."""

from __future__ import annotations

from functools import partial

from . import sublink
from .config import IPVLAN

add = partial(sublink.add, kind=IPVLAN)
delete = partial(sublink.delete, kind=IPVLAN)
check = partial(sublink.check, kind=IPVLAN)
status = partial(sublink.status, kind=IPVLAN)
gc = partial(sublink.gc, kind=IPVLAN)
