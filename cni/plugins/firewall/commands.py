"""firewall ADD/DEL/CHECK: lets the container's traffic through a host whose forward path is closed.

An accept in pynet's own table cannot override a drop in another table or chain, so the accepts
for the container's addresses (from prevResult) go where the host drops: iptables' FORWARD (policy
DROP, as Docker sets it) through iptables, another firewall's nft base chain at hook forward
(policy drop, or a last rule that drops or rejects: firewalld) directly. DEL removes exactly those.

`backend` (the reference's key): "" or "nftables" use pynet's nftables driver (acts only where the
path is closed now), "iptables" pynet's iptables driver (always through iptables' FORWARD, as the
reference does, and in closed nft chains), "none" adds nothing; "firewalld" is not available (code 2).
"""

from __future__ import annotations

from ...firewall import FORWARD, collect, driver, owner_tag
from ...kernel.undo import UndoLog
from ...spec import CNIError, Request, Result
from ...spec import errors
from ...spec.errors import shown

BACKENDS = {"": "nftables", "nftables": "nftables", "iptables": "iptables", "none": "none"}


def _firewall(request: Request):
    backend = request.config.get("backend") or ""
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise CNIError(errors.UNSUPPORTED_FIELD, f"unsupported backend {shown(backend)}",
                       "pynet's firewall plugin supports backend \"\" (nftables), \"nftables\", \"iptables\" "
                       "or \"none\"")
    return driver(BACKENDS[backend])


def _addresses(request: Request) -> list[str]:
    return [ip.address for ip in request.prev_result(chained=True).ips]


def _owner(request: Request) -> str:
    return owner_tag(request.config.name, request.container_id, request.ifname)


def add(request: Request) -> Result:
    addresses = _addresses(request)
    firewall = _firewall(request)
    with UndoLog() as undo:
        if addresses:
            undo.done("forward accept", firewall.allow_forwarding(_owner(request), addresses))
    return request.config.prev_result


def delete(request: Request) -> None:
    _firewall(request).remove(_owner(request), FORWARD)


def gc(request: Request) -> None:
    """The accepts of attachments not in cni.dev/valid-attachments go."""
    collect(_firewall(request), request.config, FORWARD)


def check(request: Request) -> None:
    missing = _firewall(request).missing(_owner(request), FORWARD, _addresses(request))
    if missing:
        raise CNIError(errors.CHECK_FAILED, "forwarding is not accepted for the container",
                       "missing: " + ", ".join(missing))
