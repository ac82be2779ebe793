"""macvlan ADD/DEL/CHECK/STATUS/GC: the code shared with ipvlan (cni/plugins/sublink) for the macvlan kind."""

from ..sublink.commands import for_kind
from ..sublink.config import MACVLAN

add, delete, check, status, gc = for_kind(MACVLAN)
