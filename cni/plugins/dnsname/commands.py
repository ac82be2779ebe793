"""dnsname ADD/DEL/CHECK/GC/STATUS: an attachment's names and addresses become records of the
host's DNS server (cni.dns: one server per host namespace, answering on each network's gateway
addresses); the result points the container's resolver at the gateways, the domain searched. On
an overlay, the records travel to the other hosts through the overlay's store (overlay.names)."""

from __future__ import annotations

import time

from ...dns import daemon, records
from ...dns.message import A, AAAA
from ...log import logger
from ...spec import CNIError, Request, Result
from ...spec import errors
from ...spec.record import replace
from ..overlay import names as overlay_names
from .config import DnsConf, parse
from .gateways import check as check_gateways

READY_WITHIN = 10.0  # seconds a new server (a Python process, slow to start on a busy host) has to answer


def _attachment(request: Request, conf: DnsConf, prev: Result) -> records.Attachment:
    gateways = prev.gateways()
    if not gateways:
        raise CNIError(errors.INVALID_CONFIG, "dnsname needs the network's gateway address",
                       "prevResult has no gateway: the DNS server answers on the gateway (bridge: isGateway true)")
    return records.Attachment(network=request.config.name, containerId=request.container_id, ifname=request.ifname,
                              names=list(conf.names), addresses=prev.container_addresses(), gateways=gateways,
                              domainName=conf.domain)


def _answers(attachment: records.Attachment, timeout: float) -> str:
    """What is wrong with the server's answer for the attachment's first name ("" if it is right;
    without names, any answer will do)."""
    gateway, addresses = attachment.gateways[0], {a.split("/")[0] for a in attachment.addresses}
    name = attachment.names[0] if attachment.names else f"pynet-probe.{attachment.domainName}"
    qtype = AAAA if ":" in gateway else A  # AAAA where the gateway is IPv6
    answer = daemon.probe(gateway, name, qtype, timeout)
    if answer is None:
        return f"no DNS server answers on {gateway}"
    wanted = {a for a in addresses if (":" in a) == (qtype == AAAA)}
    if attachment.names and wanted and not wanted & set(answer[1]):
        return f"{gateway} answers {name} with {answer[1] or 'nothing'}, not {sorted(wanted)}"
    return ""


def _until_served(attachment: records.Attachment) -> None:
    end = time.monotonic() + READY_WITHIN
    while True:
        problem = _answers(attachment, 0.2)
        if not problem:
            return
        if time.monotonic() > end:
            raise CNIError(errors.TRY_AGAIN_LATER, "the DNS server did not answer for the container", problem)
        if daemon.running() is None:
            time.sleep(0.002)  # a server still starting (not serving yet): leave it the CPU


def add(request: Request) -> Result:
    conf = parse(request)
    prev = request.prev_result(chained=True)
    attachment = _attachment(request, conf, prev)
    check_gateways(attachment.gateways, attachment.addresses)
    where = records.directory()
    records.write(where, attachment)
    try:
        daemon.ensure_running(records=where)
        _until_served(attachment)
        overlay_names.after_change(attachment.network)
    except BaseException:
        records.remove(where, attachment.network, attachment.containerId, attachment.ifname)
        _after_change(attachment.network)
        raise
    search = prev.dns.search + (() if conf.domain in prev.dns.search else (conf.domain,))
    return replace(prev, dns=replace(prev.dns, nameservers=tuple(attachment.gateways), search=search))


def delete(request: Request) -> None:
    """The attachment's records go (none: nothing to do); the server leaves with the last."""
    records.remove(records.directory(), request.config.name, request.container_id, request.ifname)
    _after_change(request.config.name)


def _after_change(network: str) -> None:
    """The records of an overlay's network synced with its store, where a store that does not answer
    is no error: the member daemon syncs them later (and other hosts drop them with the lease)."""
    try:
        overlay_names.after_change(network)
    except CNIError as e:
        logger().warning("overlay %s: names not synced with the store (%s); the member daemon will", network, e)


def check(request: Request) -> None:
    """The record is what ADD wrote (its names too when the CHECK names the container: a runtime
    that passes no K8S_POD_NAME, such as the Go libcni's CHECK, checks the rest), and the server
    answers for it."""
    conf = parse(request)
    wanted = _attachment(request, conf, request.prev_result(chained=True))
    have = records.read(f"{records.directory()}/{wanted.file_name()}")
    if have is None:
        raise CNIError(errors.CHECK_FAILED, "the container has no DNS records", f"ADD registered {list(conf.names)}")
    if not conf.named:
        wanted.names = have.names
    if have != wanted:
        raise CNIError(errors.CHECK_FAILED, "the container's DNS records differ from its ADD",
                       f"registered {have.names} {have.addresses} on {have.gateways}, "
                       f"expected {wanted.names} {wanted.addresses} on {wanted.gateways}")
    problem = _answers(wanted, 1.0)
    if problem:
        raise CNIError(errors.CHECK_FAILED, "the DNS server does not answer for the container", problem)


def gc(request: Request) -> None:
    """The records of the network's attachments on this host that are not in
    cni.dev/valid-attachments go (other hosts' are their GC's)."""
    conf = request.config
    valid = {(a.container_id, a.ifname) for a in conf.valid_attachments}
    where = records.directory()
    for attachment in records.load(where).values():
        if attachment.network == conf.name and not attachment.host \
                and (attachment.containerId, attachment.ifname) not in valid:
            records.remove(where, attachment.network, attachment.containerId, attachment.ifname)
    _after_change(conf.name)


def status(request: Request) -> None:
    """Ready: the server is started by the first ADD that needs it."""
