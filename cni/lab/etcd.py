"""etcd for a lab: one member, or a cluster of several, in the underlay's namespace, each member on
an address of its own on the underlay bridge; with TLS (a throwaway CA, server and client
certificates, client certificates required) on request.

Member i (0-based) listens on <base>.(254 - i), clients on `port`, peers on `port + 1`; its data,
log and the certificates live under the lab's directory. `start` returns the cluster's description
(kept in lab.json), from which `kill` and `restart` stop and bring back one member.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time

from ..kernel.netns import entered
from .common import LabError, spawn

CLIENT_PORT = 2379


def _spawn(ns: str, argv: list[str], log: str) -> int:
    return spawn(ns, argv, log, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})


def _openssl(*argv: str) -> None:
    done = subprocess.run(["openssl", *argv], capture_output=True, text=True)
    if done.returncode:
        raise LabError(f"openssl {argv[0]}: {done.stderr.strip()[-300:]}")


def make_certificates(directory: str, addresses: list[str]) -> dict:
    """A CA, a server certificate for `addresses` (a client one too: etcd's JSON gateway dials its own
    member with it) and a client certificate (EC P-256, two days):
    {"cacert", "cert", "key"} for clients, and the server's in server.pem/server.key."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = lambda name: os.path.join(directory, name)  # noqa: E731
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "2",
             "-subj", "/CN=pynet lab etcd CA")
    for name, usage, names in (("server", "serverAuth,clientAuth", ",".join(f"IP:{a}" for a in addresses)),
                               ("client", "clientAuth", "DNS:pynet")):
        _openssl("req", *ec, "-keyout", path(f"{name}.key"), "-out", path(f"{name}.csr"), "-subj", f"/CN=pynet-{name}")
        with open(path(f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={names}\nextendedKeyUsage={usage}\n")
        _openssl("x509", "-req", "-in", path(f"{name}.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                 "-CAcreateserial", "-out", path(f"{name}.pem"), "-days", "2", "-extfile", path(f"{name}.ext"))
    return {"cacert": path("ca.pem"), "cert": path("client.pem"), "key": path("client.key")}


def start(ns: str, directory: str, base: str, members: int = 1, tls: bool = False, port: int = CLIENT_PORT,
          wait: bool = True) -> dict:
    """Start the cluster; returns {"members": [...], "endpoints": [...], "tls": {...} or {}}. The
    addresses of members after the first are added to the bridge `ulbr` in `ns`."""
    addresses = [f"{base}.{254 - i}" for i in range(members)]
    for address in addresses[1:]:
        done = subprocess.run(["ip", "-n", ns, "addr", "replace", f"{address}/24", "dev", "ulbr"],
                              capture_output=True, text=True)
        if done.returncode:
            raise LabError(f"cannot add etcd's address {address} to the underlay: {done.stderr.strip()}")
    scheme = "https" if tls else "http"
    cluster = {"ns": ns, "members": [], "tls": make_certificates(os.path.join(directory, "tls"), addresses) if tls
               else {}}
    peers = ",".join(f"m{i}=http://{a}:{port + 1}" for i, a in enumerate(addresses))
    for i, address in enumerate(addresses):
        url = f"{scheme}://{address}:{port}"
        argv = ["etcd", "--name", f"m{i}", "--data-dir", os.path.join(directory, f"etcd{i}"),
                "--listen-client-urls", url, "--advertise-client-urls", url,
                "--listen-peer-urls", f"http://{address}:{port + 1}",
                "--initial-advertise-peer-urls", f"http://{address}:{port + 1}",
                "--initial-cluster", peers, "--initial-cluster-state", "new"]
        if tls:
            server = os.path.join(directory, "tls", "server")
            argv += ["--cert-file", f"{server}.pem", "--key-file", f"{server}.key", "--client-cert-auth",
                     "--trusted-ca-file", cluster["tls"]["cacert"]]
        log = os.path.join(directory, f"etcd{i}.log")
        cluster["members"].append({"name": f"m{i}", "url": url, "argv": argv, "log": log, "pid": _spawn(ns, argv, log)})
    cluster["endpoints"] = [m["url"] for m in cluster["members"]]
    if wait:
        ready(cluster)
    return cluster


def _ask(cluster: dict, member: dict, path: str, body: dict) -> dict | None:
    """The member's answer to a JSON gateway request, None if it gives none."""
    from ..plugins.overlay.etcd import EtcdStore
    from ..spec import CNIError

    with entered(f"/run/netns/{cluster['ns']}"):  # a socket belongs to the namespace it is made in
        try:
            return EtcdStore([member["url"]], **cluster["tls"])._call(path, body)
        except CNIError:
            return None


def healthy(cluster: dict, member: dict) -> bool:
    """Whether the member answers a read through the cluster (it has a leader)."""
    return _ask(cluster, member, "/v3/kv/range", {"key": base64.b64encode(b"/pynet/health").decode()}) is not None


def leader(cluster: dict) -> int:
    """The index of the member that leads the cluster now, as the members that answer say."""
    ids, leaders = {}, set()
    for i, member in enumerate(cluster["members"]):
        status = _ask(cluster, member, "/v3/maintenance/status", {})
        if status is not None:
            ids[status["header"]["member_id"]] = i
            leaders.add(status.get("leader"))
    found = [ids[id_] for id_ in leaders if id_ in ids]
    if len(found) != 1:
        raise LabError(f"the etcd members do not agree on a leader ({len(found)} named)")
    return found[0]


def ready(cluster: dict, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    for member in cluster["members"]:
        while not healthy(cluster, member):
            if time.monotonic() > deadline:
                raise LabError(f"etcd member {member['name']} did not start (see {member['log']})")
            time.sleep(0.1)


def kill(cluster: dict, i: int) -> None:
    """Member i dies (SIGKILL), its data kept."""
    try:
        os.killpg(cluster["members"][i]["pid"], signal.SIGKILL)
    except ProcessLookupError:
        pass


def restart(cluster: dict, i: int) -> None:
    """Member i comes back with its data (it rejoins the cluster)."""
    member = cluster["members"][i]
    member["pid"] = _spawn(cluster["ns"], member["argv"], member["log"])  # (its data dir: the initial flags are ignored)
