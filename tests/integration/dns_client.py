"""Run in a namespace: `python -m tests.integration.dns_client JSON` asks each of the queries
[server, name, type, transport (udp, edns, tcp, send: no waiting)] with cni.dns.message and prints the answers as
JSON: [rcode, flags, [[type, value] ...], seconds] or "timeout". `--storm SERVER COUNT` sends
malformed datagrams; `--poll SERVER NAME RCODE SECONDS` asks until the answer comes; `--steady SERVER NAME COUNT` asks
COUNT times and counts the answers."""

from __future__ import annotations

import json
import random
import socket
import struct
import sys
import time

from cni.dns import message as m


def ask(server: str, name: str, qtype: int, transport: str = "udp", timeout: float = 3.0):
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    id = random.randrange(65536)  # (the server's ready answers must take each query's own)
    query = m.query(name, qtype, id=id, edns=transport == "edns")
    start = time.monotonic()
    try:
        if transport == "tcp":
            with socket.create_connection((server, 53), timeout=timeout) as s:
                s.sendall(struct.pack("!H", len(query)) + query)
                size = struct.unpack("!H", s.recv(2, socket.MSG_WAITALL))[0]
                data = s.recv(size, socket.MSG_WAITALL)
        elif transport == "send":  # no waiting for the answer
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.sendto(query, (server, 53))
            return "sent"
        else:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                s.sendto(query, (server, 53))
                data = s.recv(4096)
    except (socket.timeout, ConnectionError, struct.error):
        return "timeout"
    got, flags, _, found = m.answers(data)
    assert got == id
    return [flags & 0xF, flags, sorted(found), round(time.monotonic() - start, 3)]


def flip(case) -> bytes:
    """(query, cut, bits): the query cut after `cut` bytes, with the bits `bits` flipped."""
    query, cut, bits = case
    data = bytearray(query[:cut])
    for bit in bits:
        if bit // 8 < len(data):
            data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


def storm(server: str, count: int, seed: int = 17) -> int:
    """Send `count` malformed datagrams: random bytes, truncated and bit-flipped queries, pointer loops."""
    rng = random.Random(seed)
    valid = [m.query("web", m.A), m.query("web.dns.podman", m.AAAA, edns=True), m.query("x.example", m.A)]
    loop = bytes.fromhex("abcd01000001000000000000") + b"\x03web\xc0\x0c\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM) as s:
        for n in range(count):
            kind = n % 4
            if kind == 0:
                data = rng.randbytes(rng.randrange(0, 300))
            elif kind == 1:
                data = rng.choice(valid)[:rng.randrange(0, 40)]
            elif kind == 2:
                query = rng.choice(valid)
                data = flip((query, len(query), [rng.randrange(8 * len(query)) for _ in range(rng.randrange(1, 6))]))
            else:
                data = loop
            s.sendto(data, (server, 53))
            if n % 200 == 0:
                time.sleep(0.005)  # a storm, not a flood the socket buffer drops
    return count


def poll(server: str, name: str, rcode: int, within: float) -> float | None:
    """Ask every 20 ms until the answer has `rcode` (with answers if 0); the monotonic time it came."""
    print("go", flush=True)
    end = time.monotonic() + within
    while time.monotonic() < end:
        got = ask(server, name, m.A, timeout=0.2)
        if got != "timeout" and got[0] == rcode and (rcode or got[2]):
            return time.monotonic()
        time.sleep(0.02)
    return None


def steady(server: str, name: str, count: int) -> int:
    """Ask `count` times in a row (1 s each at most); how many got their answer."""
    print("go", flush=True)
    return sum(1 for _ in range(count) if (got := ask(server, name, m.A, timeout=1.0)) != "timeout" and got[2])


if __name__ == "__main__" and sys.argv[1] == "--steady":
    print(json.dumps(steady(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
elif __name__ == "__main__" and sys.argv[1] == "--storm":
    print(json.dumps(storm(sys.argv[2], int(sys.argv[3]))))
elif __name__ == "__main__" and sys.argv[1] == "--poll":
    print(json.dumps(poll(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))))
elif __name__ == "__main__":
    print(json.dumps([ask(*q) for q in json.loads(sys.argv[1])]))
