"""ipvlan ADD/DEL/CHECK/STATUS/GC: the code shared with macvlan (cni/plugins/sublink) for the ipvlan kind."""

from ..sublink.commands import for_kind
from ..sublink.config import IPVLAN

add, delete, check, status, gc = for_kind(IPVLAN)
