"""The etcd v3 store over etcd's JSON gateway (/v3/kv/*, /v3/lease/*, /v3/watch), standard library only.

Each record with a TTL has a lease of its own; `create` is one transaction (create_revision == 0 →
put). Every endpoint (cluster member) is tried before giving up: one that does not answer, or
answers with a server error (a member cut off from the leader), sends the request to the next, and
the one that answered goes first next time (in this process). None answering is CNI code 11
("try again later"). https:// endpoints speak TLS, with the CA and the client certificate given
(as etcdctl's --cacert/--cert/--key).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

from ...spec import CNIError
from ...spec import errors
from .store import Store

TIMEOUT = 2.0  # seconds for one endpoint's answer
RETRY_FOR, RETRY_PAUSE = 5.0, 0.2  # seconds to keep asking while no endpoint answers (an election takes 1-2 s)
_ORDER: dict[tuple, list[str]] = {}  # endpoints -> the order that worked last (a resident agent keeps it)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _prefix_end(prefix: str) -> str:
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return base64.b64encode(bytes(raw)).decode()


def _opener(cacert: str, cert: str, key: str):
    """An opener that never goes through http_proxy, with the TLS settings (ssl imported only then)."""
    handlers = [urllib.request.ProxyHandler({})]
    if cacert or cert:
        import ssl

        try:
            context = ssl.create_default_context(cafile=cacert or None)
            if cert:
                context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as e:
            raise CNIError(errors.INVALID_CONFIG, "cannot use the etcd TLS files",
                           f"{cacert or 'system CAs'}, {cert or 'no client certificate'}: {e}") from None
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


def _kind(error) -> str:
    """What a failed connection says of its endpoint (see EtcdStore._try_each)."""
    import ssl  # (on a failure only: nothing to import on the hot path)

    return "tls" if isinstance(error, ssl.SSLError) else "busy" if isinstance(error, TimeoutError) else "down"


class EtcdStore(Store):
    def __init__(self, endpoints, cacert: str = "", cert: str = "", key: str = "") -> None:
        self.endpoints = _ORDER.setdefault(tuple(endpoints), list(endpoints))
        self.opener = _opener(cacert, cert, key)
        self.revision = 0  # the store's revision as of the last answer (where a watch starts)

    def _open(self, path: str, body: dict, timeout: float = TIMEOUT):
        """(endpoint, open response) of the first endpoint that answers, asking them all again for
        up to RETRY_FOR s while a member is up but cannot answer (the cluster elects a leader, or has
        lost most of its members); code 11 if none does, 7 if TLS failed where a member was up."""
        data = json.dumps(body).encode()
        deadline = time.monotonic() + RETRY_FOR
        while True:
            answered, problems = self._try_each(path, data, timeout)
            if answered is not None:
                return answered
            text, kinds = "; ".join(problem for problem, _ in problems), {kind for _, kind in problems}
            if "tls" in kinds and "busy" not in kinds:
                raise CNIError(errors.INVALID_CONFIG, "etcd's TLS handshake failed", f"{text} (store.cacert, "
                               "store.cert and store.key: etcdctl's --cacert, --cert and --key)")
            if "busy" not in kinds or time.monotonic() + RETRY_PAUSE > deadline:
                raise CNIError(errors.TRY_AGAIN_LATER, "the overlay's etcd store is unreachable",
                               f"{text} (a cluster needs most of its members up)")
            time.sleep(RETRY_PAUSE)

    def _try_each(self, path: str, data: bytes, timeout: float):
        """((endpoint, response) or None, [(problem, kind)]): each endpoint in turn. A kind is "down"
        (no connection), "busy" (a server error or no answer in time, as while the cluster has no
        leader) or "tls" (the handshake failed)."""
        problems = []
        for n, endpoint in enumerate(list(self.endpoints)):
            request = urllib.request.Request(endpoint + path, data=data, headers={"Content-Type": "application/json"})
            try:
                response = self.opener.open(request, timeout=timeout)
            except urllib.error.HTTPError as e:
                if e.code < 500:
                    raise CNIError(errors.IO_FAILURE, f"etcd refused {path}",
                                   f"{endpoint}: {e.code} {e.read()[:200]!r}") from None
                problems.append((f"{endpoint}: {e.code} {e.read()[:120]!r}", "busy"))  # another may have a leader
                continue
            except OSError as e:
                cause = e.reason if isinstance(e, urllib.error.URLError) else e  # (an SSLError's reason is a word)
                problems.append((f"{endpoint}: {cause}", _kind(cause)))
                continue
            if n:  # the first endpoint that answers goes first next time
                self.endpoints.insert(0, self.endpoints.pop(self.endpoints.index(endpoint)))
            return (endpoint, response), problems
        return None, problems

    def _call(self, path: str, body: dict) -> dict:
        endpoint, response = self._open(path, body)
        try:
            with response:
                answer = json.loads(response.read() or b"{}")
        except (OSError, ValueError) as e:
            raise CNIError(errors.TRY_AGAIN_LATER, f"etcd's answer to {path} was cut off", f"{endpoint}: {e}") from None
        self.revision = max(self.revision, int(answer.get("header", {}).get("revision", 0)))
        return answer

    def watch(self, prefix: str, timeout: float) -> bool:
        """Wait up to `timeout` s for a change under `prefix` after the revision last read; True if
        one came (or the watch could not tell: look again), False if the time ran out quietly."""
        start = {"key": _b64(prefix), "range_end": _prefix_end(prefix), "start_revision": str(self.revision + 1)}
        try:
            _, response = self._open("/v3/watch", {"create_request": start}, timeout=timeout)
        except CNIError:
            return True
        try:
            with response:
                while line := response.readline():
                    result = json.loads(line).get("result", {})
                    if result.get("events") or result.get("canceled") or result.get("compact_revision"):
                        return True
        except TimeoutError:
            return False
        except (OSError, ValueError):
            pass
        return True

    def _grant(self, ttl: int | None) -> str:
        return self._call("/v3/lease/grant", {"TTL": ttl})["ID"] if ttl else "0"

    def _revoke(self, lease: str) -> None:
        if lease and lease != "0":
            self._call("/v3/lease/revoke", {"ID": lease})

    def _kvs(self, key: str, prefix: bool = False) -> list[dict]:
        body = {"key": _b64(key)}
        if prefix:
            body["range_end"] = _prefix_end(key)
        return self._call("/v3/kv/range", body).get("kvs", [])

    def list(self, prefix: str) -> dict[str, dict]:
        found = {}
        for kv in self._kvs(prefix, prefix=True):
            try:
                found[base64.b64decode(kv["key"]).decode()] = json.loads(base64.b64decode(kv.get("value", "")))
            except ValueError:
                continue  # not ours
        return found

    def create(self, key: str, value: dict, ttl: int | None = None) -> bool:
        lease = self._grant(ttl)
        put = {"key": _b64(key), "value": _b64(json.dumps(value)), "lease": lease}
        answer = self._call("/v3/kv/txn", {"compare": [{"key": _b64(key), "target": "CREATE", "create_revision": "0"}],
                                           "success": [{"request_put": put}]})
        if not answer.get("succeeded"):
            self._revoke(lease)
            return False
        return True

    def put(self, key: str, value: dict, ttl: int | None = None) -> None:
        old = [kv.get("lease", "0") for kv in self._kvs(key)]
        lease = self._grant(ttl)
        self._call("/v3/kv/put", {"key": _b64(key), "value": _b64(json.dumps(value)), "lease": lease})
        for stale in old:
            self._revoke(stale)

    def refresh(self, key: str, ttl: int) -> bool:
        kvs = self._kvs(key)
        if not kvs:
            return False
        lease = kvs[0].get("lease", "0")
        if lease == "0":
            return True  # no TTL: nothing to renew
        answer = self._call("/v3/lease/keepalive", {"ID": lease}).get("result", {})
        return int(answer.get("TTL", 0)) > 0

    def delete(self, key: str) -> None:
        kvs = self._kvs(key)
        self._call("/v3/kv/deleterange", {"key": _b64(key)})
        for kv in kvs:
            self._revoke(kv.get("lease", "0"))
