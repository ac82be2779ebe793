"""The etcd v3 store over etcd's JSON gateway (/v3/kv/*, /v3/lease/*), standard library only.

Each record with a TTL has a lease of its own; `create` is one transaction (create_revision == 0 →
put). An unreachable cluster is CNI code 11 ("try again later").
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

from ...spec import CNIError
from ...spec import errors
from .store import Store

TIMEOUT = 2.0
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via http_proxy


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _prefix_end(prefix: str) -> str:
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return base64.b64encode(bytes(raw)).decode()


class EtcdStore(Store):
    def __init__(self, endpoints) -> None:
        self.endpoints = list(endpoints)

    def _call(self, path: str, body: dict) -> dict:
        data = json.dumps(body).encode()
        problems = []
        for n, endpoint in enumerate(self.endpoints):
            request = urllib.request.Request(endpoint + path, data=data, headers={"Content-Type": "application/json"})
            try:
                with _OPENER.open(request, timeout=TIMEOUT) as response:
                    answer = json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as e:
                raise CNIError(errors.IO_FAILURE, f"etcd refused {path}",
                               f"{endpoint}: {e.code} {e.read()[:200]!r}") from None
            except (OSError, ValueError) as e:
                problems.append(f"{endpoint}: {getattr(e, 'reason', e)}")
                continue
            if n:  # the first endpoint that answers goes first next time
                self.endpoints.insert(0, self.endpoints.pop(n))
            return answer
        raise CNIError(errors.TRY_AGAIN_LATER, "the overlay's etcd store is unreachable", "; ".join(problems))

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
