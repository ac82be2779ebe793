"""firewall ADD/DEL/CHECK: the container's addresses (from prevResult) become elements of pynet's
forward-accept sets, so forwarding to and from the container is accepted by pynet's table.

`backend` (the reference's key): "" or "nftables" use pynet's nftables driver, "none" adds nothing;
"iptables" uses pynet's iptables driver; "firewalld" is not available (code 2). A rule that drops in another table is not
overridden by an accept in pynet's: nftables evaluates every table's hooks.
"""

from __future__ import annotations

from ...firewall import FORWARD, driver, owner_tag
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


def check(request: Request) -> None:
    addresses = _addresses(request)
    have = {key.split(": ", 1)[1] for key in _firewall(request).owned(_owner(request), FORWARD)}
    missing = [a for a in addresses if a.split("/")[0] not in have]
    if missing and request.config.get("backend") != "none":
        raise CNIError(errors.CHECK_FAILED, "forwarding is not accepted for the container",
                       "missing: " + ", ".join(missing))
